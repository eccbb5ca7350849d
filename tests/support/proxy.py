"""A recording TCP proxy between a module and a MongoDB process.

A module under test is pointed at the proxy's port; every byte goes on to the server
unchanged, and the name, database and first value of each command the module sends
are recorded. servers.CommandRecorder cannot do this everywhere: a real mongos has no
profiler ("You cannot enable the database profiler on a mongos instance", docs
reference/command/profile), and on a mongod with access control the profiler can
neither be turned on before the first user exists nor read anonymously. The proxy
works the same for a real or stand-in mongod or mongos, with or without access
control, and sees exactly what the client sent.

Framing: https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/
(OP_MSG: flagBits, then sections, kind 0 is the command body; OP_QUERY: only drivers'
first handshake uses it). The server sees the proxy's loopback address as its client,
so MongoDB's localhost exception applies as it would to the module itself.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

import bson

from standin.wire import recv_exact

OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013
HEADER = struct.Struct("<iiii")

# Commands that change nothing on a server. Everything else counts as a write, so an
# unknown command makes "sends no write" fail rather than pass unnoticed.
READS = {
    "hello",
    "isMaster",
    "ismaster",
    "ping",
    "buildInfo",
    "buildinfo",
    "saslStart",
    "saslContinue",
    "connectionStatus",
    "endSessions",
    "usersInfo",
    "replSetGetStatus",
    "replSetGetConfig",
    "listShards",
    "balancerStatus",
    "getDefaultRWConcern",
    "find",
    "getMore",
    "killCursors",
    "listCollections",
    "listIndexes",
    "listDatabases",
}
# Driver monitoring sends these every few hundred milliseconds; they are not recorded.
HEARTBEATS = {"hello", "isMaster", "ismaster"}


def command_of(op_code: int, payload: bytes) -> dict | None:
    """{"command", "db", "target"} of one client message, or None if it carries none."""
    if op_code == OP_MSG:
        offset = 4  # flagBits
        while offset < len(payload):
            kind = payload[offset]
            offset += 1
            (size,) = struct.unpack_from("<i", payload, offset)
            if kind == 0:
                body = bson.decode(payload[offset : offset + size])
                return _entry(body, body.get("$db", ""))
            offset += size  # kind 1: a document sequence, size includes itself
        return None
    if op_code == OP_QUERY:
        end = payload.index(b"\x00", 4)
        collection = payload[4:end].decode()
        offset = end + 1 + 8  # numberToSkip, numberToReturn
        (size,) = struct.unpack_from("<i", payload, offset)
        query = bson.decode(payload[offset : offset + size])
        return _entry(query.get("$query", query), collection.split(".", 1)[0])
    # OP_COMPRESSED or anything else: not a read this proxy can vouch for.
    return {"command": f"<opCode {op_code}>", "db": "", "target": None}


def _entry(body: dict, db: str) -> dict:
    name = next(iter(body), "")
    target = body.get(name)
    return {"command": name, "db": db, "target": target if isinstance(target, str) else None}


class RecordingProxy:
    """Listens on a free loopback port and forwards each connection to 127.0.0.1:upstream_port."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._records: list[dict] = []
        self._offset = 0
        self._sockets: list[socket.socket] = []
        self._closed = False
        self.connections = 0  # every connection a client opened, whatever it sent
        threading.Thread(target=self._accept, daemon=True).start()

    # -- what the tests read ----------------------------------------------------------

    def mark(self) -> None:
        """Forget everything sent so far."""
        with self._lock:
            self._offset = len(self._records)

    def commands(self) -> list[dict]:
        """Commands sent since the last mark, heartbeats left out: [{"command", "db", "target"}]."""
        with self._lock:
            return [dict(entry) for entry in self._records[self._offset :]]

    def writes(self) -> list[dict]:
        """Commands sent since the last mark that are not known reads."""
        return [entry for entry in self.commands() if entry["command"] not in READS]

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    # -- forwarding -------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._client_to_server, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(upstream, client), daemon=True).start()

    def _client_to_server(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while True:
                header = recv_exact(client, HEADER.size)
                length, _request_id, _response_to, op_code = HEADER.unpack(header)
                payload = recv_exact(client, length - HEADER.size)
                try:
                    entry = command_of(op_code, payload)
                except Exception as error:  # recorded, so that a test counting writes fails
                    entry = {"command": f"<unparsed opCode {op_code}: {error}>", "db": "", "target": None}
                if entry is not None and entry["command"] not in HEARTBEATS:
                    with self._lock:
                        self._records.append(entry)
                upstream.sendall(header + payload)
        except (OSError, ConnectionError):
            pass
        finally:
            _close_both(client, upstream)

    def _server_to_client(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close_both(client, upstream)


def _close_both(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
