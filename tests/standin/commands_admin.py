"""Handshake, diagnostics and process commands."""

from __future__ import annotations

import os
import socket
import time

from . import auth, replset
from .diagnostics import cache_section
from .errors import CommandError
from .server import MAX_WIRE_VERSION, Context, Server, now

MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH_SIZE = 100_000


def hello(server: Server, ctx: Context) -> dict:
    """Standalone hello; awaitable when the client sends topologyVersion + maxAwaitTimeMS.

    https://github.com/mongodb/specifications/blob/master/source/server-discovery-and-monitoring/server-monitoring.md
    """
    known = ctx.body.get("topologyVersion")
    wait_ms = ctx.body.get("maxAwaitTimeMS")
    if known is not None and wait_ms is not None:
        with server.topology_changed:
            if known.get("processId") == server.process_id and known.get("counter") == server.topology_counter:
                server.topology_changed.wait(timeout=wait_ms / 1000)
    with server.lock:
        reply = topology_fields(server, ctx)
    reply.update(
        {
            "topologyVersion": {"processId": server.process_id, "counter": server.topology_counter},
            "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
            "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
            "localTime": now(),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": ctx.connection_id,
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION[server.version_series],
            "readOnly": False,
        }
    )
    if ctx.body.get("helloOk"):
        reply["helloOk"] = True
    if isinstance(ctx.body.get("saslSupportedMechs"), str):
        mechanisms = auth.sasl_supported_mechs(server, ctx.body["saslSupportedMechs"])
        if mechanisms:
            reply["saslSupportedMechs"] = mechanisms
    return reply


def topology_fields(server: Server, ctx: Context) -> dict:
    """The part of hello that says what this process is."""
    member = replset.topology_fields(server, ctx)
    if member is not None:
        return member
    primary_key = "isWritablePrimary" if ctx.name == "hello" else "ismaster"
    fields: dict = {primary_key: True}
    if server.settings.role == "mongos":
        fields["msg"] = "isdbgrid"
    return fields


def ping(server: Server, ctx: Context) -> dict:
    return {}


def build_info(server: Server, ctx: Context) -> dict:
    version = server.settings.version
    parts = [int(part) for part in version.split(".")]
    return {
        "version": version,
        "gitVersion": "0000000000000000000000000000000000000000",
        "modules": [],
        "allocator": "tcmalloc-google",
        "javascriptEngine": "mozjs",
        "sysInfo": "deprecated",
        "versionArray": parts + [0] * (4 - len(parts)),
        "bits": 64,
        "debug": False,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "storageEngines": ["devnull", "wiredTiger"],
        # Not sent by a real server: lets a test tell which kind it is talking to.
        "standin": True,
    }


def get_cmd_line_opts(server: Server, ctx: Context) -> dict:
    if ctx.db != "admin":
        raise CommandError(13, "getCmdLineOpts may only be run against the admin database.")
    return {"argv": server.settings.argv, "parsed": server.settings.parsed_options}


def server_status(server: Server, ctx: Context) -> dict:
    uptime = time.monotonic() - server.started
    status = {
        "host": f"{socket.gethostname()}:{server.settings.port}",
        "version": server.settings.version,
        "process": server.settings.role,
        "pid": os.getpid(),
        "uptime": int(uptime),
        "uptimeMillis": int(uptime * 1000),
        "localTime": now(),
        "connections": {
            "current": server.connections,
            "available": _max_connections(server) - server.connections,
            "totalCreated": server.total_connections,
        },
        "opcounters": dict(server.opcounters),
    }
    if server.settings.role == "mongod":
        engine = server.settings.parsed_options.get("storage", {})
        status["storageEngine"] = {
            "name": "wiredTiger",
            "persistent": True,
            "supportsCommittedReads": True,
        }
        cache = cache_section(server)
        cache_gb = engine.get("wiredTiger", {}).get("engineConfig", {}).get("cacheSizeGB")
        if cache_gb is not None:
            cache["maximum bytes configured"] = int(cache_gb * 1024**3)
        status["wiredTiger"] = {"cache": cache}
    return status


def _max_connections(server: Server) -> int:
    return server.settings.parsed_options.get("net", {}).get("maxIncomingConnections", 1_000_000)


def list_databases(server: Server, ctx: Context) -> dict:
    if ctx.db != "admin":
        raise CommandError(13, "listDatabases may only be run against the admin database.")
    databases = []
    for name in sorted(server.store.databases):
        size = sum(len(coll.documents) for coll in server.store.databases[name].values()) * 256
        entry: dict = {"name": name}
        if not ctx.body.get("nameOnly"):
            entry.update({"sizeOnDisk": size + 4096, "empty": False})
        databases.append(entry)
    reply: dict = {"databases": databases}
    if not ctx.body.get("nameOnly"):
        reply["totalSize"] = sum(entry["sizeOnDisk"] for entry in databases)
        reply["totalSizeMb"] = reply["totalSize"] // (1024 * 1024)
    return reply


def end_sessions(server: Server, ctx: Context) -> dict:
    return {}


def shutdown(server: Server, ctx: Context) -> dict:
    """Like mongod, the command closes the connection instead of answering."""
    if ctx.db != "admin":
        raise CommandError(13, "shutdown must run from localhost when running db without auth")
    server.request_shutdown()
    return {"$closeConnection": True}


HANDLERS = {
    "hello": (hello, False),
    "isMaster": (hello, False),
    "ping": (ping, False),
    "buildInfo": (build_info, False),
    "buildinfo": (build_info, False),
    "getCmdLineOpts": (get_cmd_line_opts, False),
    "serverStatus": (server_status, False),
    "listDatabases": (list_databases, False),
    "endSessions": (end_sessions, False),
    "shutdown": (shutdown, False),
}
