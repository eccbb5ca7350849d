"""The stand-in's TCP server: connection handling, command dispatch, command log."""

from __future__ import annotations

import datetime
import logging
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bson import ObjectId

from . import wire
from .errors import CommandError
from .storage import CommandLog, Store

log = logging.getLogger("standin")

# Wire versions: https://github.com/mongodb/mongo/blob/master/src/mongo/db/wire_version.h
MAX_WIRE_VERSION = {"7.0": 21, "8.0": 25}
# Commands that wait, and take the catalogue lock themselves only for what they change:
# awaitable hello, and replSetStepDown, which waits for the secondaries to catch up (the
# real one releases the RSTL meanwhile: replication_coordinator_impl.cpp, stepDown).
OUTSIDE_THE_LOCK = {"hello", "ismaster", "replsetstepdown"}

Handler = Callable[["Server", "Context"], dict]


@dataclass
class Context:
    """One command as received: its name, database, body and sequences."""

    name: str
    db: str
    body: dict
    sequences: dict
    connection_id: int
    peer_host: str
    # The verified TLS client certificate's subject, as (name, value) pairs (membership.py).
    peer_subject: tuple = ()
    # The oplog entry a replicated write was given on the primary (replication.py), and
    # the target's documents before that write, from which its oplog documents are made.
    oplog_entry: dict | None = None
    documents_before: dict | None = None

    @property
    def target(self):
        """The command's first value, e.g. the collection name of {create: "x"}."""
        return self.body[self.name]

    def documents(self, key: str) -> list[dict]:
        """Documents sent inline in the body or as an OP_MSG document sequence."""
        return self.body.get(key) or self.sequences.get(key, [])


@dataclass
class ServerSettings:
    role: str  # "mongod" or "mongos"
    version: str
    port: int
    bind_ip: list[str]
    dbpath: Path | None
    parsed_options: dict
    argv: list[str]


class Server:
    """State shared by all connections of one stand-in process."""

    def __init__(self, settings: ServerSettings, handlers: dict[str, tuple[Handler, bool]]):
        self.settings = settings
        self.handlers = handlers
        self.store = Store(settings.dbpath)
        self.command_log = CommandLog(settings.dbpath)
        self.lock = threading.RLock()
        self.topology_changed = threading.Condition(self.lock)
        self.topology_counter = 0
        self.process_id = ObjectId()
        self.started = time.monotonic()
        self.connections = 0
        self.total_connections = 0
        self.opcounters = {"insert": 0, "query": 0, "update": 0, "delete": 0, "getmore": 0, "command": 0}
        self.shutting_down = threading.Event()
        # Per-connection state (authenticated users, SASL conversations).
        self.sessions: dict[int, dict] = {}
        # Working objects of optional parts (e.g. mongos's cluster connections).
        self.extra_state: dict = {}
        self.shutdown_signalled = False
        # What a new connection must speak (tls.py): the socket to serve, or None to close it.
        self.wrap_connection: Callable[[socket.socket], socket.socket | None] | None = None
        # Where users live when not in this process's own store (mongos: config servers).
        self.user_source: Callable[[], list[dict]] | None = None
        # Checks every command passes first (authorization), then hooks around writes:
        # checks before and records after (under the lock, with the reply), then work
        # after the lock is released (which may add to the reply, e.g. a write concern error).
        self.gates: list[Callable[[Server, Context], None]] = []
        self.before_write: list[Callable[[Server, Context], None]] = []
        self.on_write: list[Callable[[Server, Context, dict], None]] = []
        self.after_write: list[Callable[[Server, Context, dict], None]] = []
        # After every command that succeeded, with how long it took in ms (the profiler).
        self.after_command: list[Callable[[Server, Context, int], None]] = []
        # Work between a shutdown request and the listeners closing (a primary's handoff).
        self.before_shutdown: list[Callable[[Server], None]] = []
        self._listeners: list[socketserver.ThreadingTCPServer] = []

    @property
    def version_series(self) -> str:
        return ".".join(self.settings.version.split(".")[:2])

    def bump_topology(self) -> None:
        with self.topology_changed:
            self.topology_counter += 1
            self.topology_changed.notify_all()

    def execute(self, request: wire.Request, connection_id: int, peer_host: str, peer_subject: tuple = ()) -> dict:
        body = request.body
        name = next(iter(body), "")
        db = body.get("$db", "admin")
        handler_entry = self._find_handler(name)
        ctx = Context(name, db, body, request.sequences, connection_id, peer_host, peer_subject)
        writes = handler_entry[1] if handler_entry else False
        started = time.monotonic()
        try:
            if handler_entry is None:
                raise CommandError(59, f"no such command: '{name}'")
            self.opcounters["command"] += 1
            for gate in self.gates:
                gate(self, ctx)
            if name.lower() in OUTSIDE_THE_LOCK:
                reply = handler_entry[0](self, ctx)
            else:
                with self.lock:
                    for check in self.before_write if writes else ():
                        check(self, ctx)
                    reply = handler_entry[0](self, ctx)
                    for record in self.on_write if writes else ():
                        record(self, ctx, reply)
                    if writes:
                        self.store.save()
        except CommandError as error:
            self._record(name, db, writes, False, error.code)
            return error.reply()
        self._record(name, db, writes, True, None)
        for follow_up in self.after_write if writes else ():
            follow_up(self, ctx, reply)
        if self.after_command and name.lower() not in ("hello", "ismaster"):
            # Outside the catalogue lock: a hook takes it only when it has something to write.
            millis = int((time.monotonic() - started) * 1000)
            for hook in self.after_command:
                hook(self, ctx, millis)
        reply.setdefault("ok", 1.0)
        return reply

    def _find_handler(self, name: str) -> tuple[Handler, bool] | None:
        if name in self.handlers:
            return self.handlers[name]
        # Legacy spellings the drivers may use (isMaster/ismaster).
        lowered = {key.lower(): value for key, value in self.handlers.items()}
        return lowered.get(name.lower()) if name.lower() == "ismaster" else None

    def _record(self, name: str, db: str, writes: bool, ok: bool, code: int | None) -> None:
        if name.lower() in ("hello", "ismaster"):
            # Monitoring heartbeats arrive every few hundred milliseconds; logging them
            # would bury what tests count.
            return
        self.command_log.record(name, db, writes, ok, code)

    # -- networking -----------------------------------------------------------------

    def listen(self) -> None:
        """Bind every address in bindIp; raises OSError if one is taken."""
        server = self

        class ConnectionHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server.serve_connection(self.request, self.client_address[0])

        class Listener(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        for address in self.settings.bind_ip:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            Listener.address_family = family
            self._listeners.append(Listener((address, self.settings.port), ConnectionHandler))

    def serve_forever(self) -> None:
        threads = [
            threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
            for listener in self._listeners
        ]
        for thread in threads:
            thread.start()
        # A timed wait: the kernel may deliver SIGTERM to any thread, and Python runs the
        # handler only when the main thread wakes; an untimed wait could sleep through it.
        # The handler only raises a flag (signal_shutdown): it runs on this thread, maybe
        # inside the Event's own lock, and setting the Event there would deadlock.
        while not self.shutting_down.wait(0.1):
            if self.shutdown_signalled:
                self.request_shutdown()
        for hook in self.before_shutdown:
            try:
                hook(self)
            except Exception:  # a failed handoff must not stop the shutdown
                log.exception("shutdown hook failed")
        for listener in self._listeners:
            listener.shutdown()
            listener.server_close()
        with self.lock:
            self.store.save()

    def signal_shutdown(self) -> None:
        """For a signal handler: takes no lock."""
        self.shutdown_signalled = True

    def request_shutdown(self) -> None:
        log.info("shutdown requested")
        self.shutting_down.set()
        self.bump_topology()

    def serve_connection(self, sock: socket.socket, peer_host: str) -> None:
        with self.lock:
            self.connections += 1
            self.total_connections += 1
            connection_id = self.total_connections
        reply_id = 0
        peer_subject: tuple = ()
        try:
            if self.wrap_connection is not None:
                served = self.wrap_connection(sock)
                if served is None:
                    return
                sock = served
                if isinstance(sock, ssl.SSLSocket):
                    peer = sock.getpeercert() or {}
                    peer_subject = tuple(pair for name in peer.get("subject", ()) for pair in name)
            while not self.shutting_down.is_set():
                try:
                    request = wire.read_request(sock)
                except (ConnectionError, OSError):
                    return
                except wire.ProtocolError as error:
                    log.warning("closing connection %s: %s", connection_id, error)
                    return
                reply = self.execute(request, connection_id, peer_host, peer_subject)
                if reply.pop("$closeConnection", False):
                    return
                if request.more_to_come:
                    continue
                reply_id += 1
                sock.sendall(wire.encode_reply(request, reply, reply_id))
        finally:
            with self.lock:
                self.connections -= 1
                self.sessions.pop(connection_id, None)
            sock.close()


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
