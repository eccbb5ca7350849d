"""What monitoring reads from a mongod: the profiler, dbStats, $indexStats and the
WiredTiger cache counters of serverStatus.

- The profiler (https://www.mongodb.com/docs/manual/tutorial/manage-the-database-profiler/):
  operationProfiling.mode (off, slowOp, all: levels 0, 1, 2) sets every database's level
  at start-up and operationProfiling.slowOpThresholdMs the server-wide slowms (100); the
  profile command reads them ({profile: -1}) or sets a database's level and the
  server-wide slowms, and answers the previous level in `was` with the slowms and
  sampleRate in force before it ran (docs "profile"); a level other than -1, 0, 1
  or 2 is not refused (not modelled). Level 2 records every operation,
  level 1 those that took at least slowms (CurOp::shouldDBProfile in
  src/mongo/db/curop.h: elapsed >= slowMS), into <db>.system.profile with op, ns,
  command, millis, ts and client (docs "Database Profiler Output"). Profile entries are
  not replicated: each member profiles what it runs. Not modelled: sampleRate below 1,
  filter, the collection's 1 MB cap, and operations on system.profile itself.
- dbStats (https://www.mongodb.com/docs/manual/reference/command/dbStats/): counts and
  sizes of the database, and fsUsedSize/fsTotalSize of the filesystem holding the
  dbPath; a database that does not exist reports 0 for both, as real replies show.
  Sizes are the stand-in's estimate (256 bytes a document); fsUsedSize is the
  filesystem's size less what an unprivileged user may still use (statvfs).
- $indexStats (https://www.mongodb.com/docs/manual/reference/operator/aggregation/indexStats/):
  the first stage of a pipeline; one document per index with name, key, host, spec and
  accesses {ops, since}, since being when this process started or the index was
  created, whichever is later (statistics are per member and reset on restart). It
  needs the indexStats action (clusterMonitor; builtin_roles.yml). Works on a
  time-series collection (SERVER-54800) with the indexes as listIndexes shows them.
  Not modelled: the query planner. An index counts one access for each query (find,
  count, or an aggregate's first $match) whose filter names its first key field.
- serverStatus wiredTiger.cache "pages requested from the cache" and "pages read into
  cache" (docs "serverStatus", wiredTiger.cache): the stand-in keeps every document in
  memory and counts one page per document scanned; a collection's first scan after
  start-up reads its documents into the cache, later scans find them there.
"""

from __future__ import annotations

import os

from bson.int64 import Int64

from .server import Context, Server, now
from .storage import Collection

LEVELS = {"off": 0, "slowOp": 1, "all": 2}
DEFAULT_SLOW_MS = 100
OPS = {"find": "query", "insert": "insert", "update": "update", "delete": "remove", "getMore": "getmore"}
QUERIES = {"find": "filter", "count": "query"}


def state(server: Server) -> dict:
    found = server.extra_state.get("diagnostics")
    if found is None:
        profiling = server.settings.parsed_options.get("operationProfiling", {})
        found = {
            "level": LEVELS.get(profiling.get("mode", "off"), 0),
            "levels": {},
            "slowms": int(profiling.get("slowOpThresholdMs", DEFAULT_SLOW_MS)),
            "sampleRate": float(profiling.get("slowOpSampleRate", 1.0)),
            "requested": 0,
            "read": 0,
            "warm": set(),
            "accesses": {},
            "created": {},
            "started": now(),
        }
        server.extra_state["diagnostics"] = found
    return found


# -- the profiler -------------------------------------------------------------------


def profile(server: Server, ctx: Context) -> dict:
    diagnostics = state(server)
    was = diagnostics["levels"].get(ctx.db, diagnostics["level"])
    reply = {"was": was, "slowms": diagnostics["slowms"], "sampleRate": diagnostics["sampleRate"]}
    if ctx.target != -1:
        diagnostics["levels"][ctx.db] = int(ctx.target)
    if "slowms" in ctx.body:
        diagnostics["slowms"] = int(ctx.body["slowms"])
    return reply


def record(server: Server, ctx: Context, millis: int) -> None:
    """After a command on a mongod: the profile entry its database's level asks for."""
    diagnostics = state(server)
    level = diagnostics["levels"].get(ctx.db, diagnostics["level"])
    if level == 0 or ctx.name in ("profile", "hello", "isMaster", "ismaster") or ctx.name.startswith("standin"):
        return
    target = ctx.body.get(ctx.name)
    if isinstance(target, str) and target == "system.profile":
        return
    if level == 1 and millis < diagnostics["slowms"]:
        return
    command = {key: value for key, value in ctx.body.items() if not key.startswith("$") and key != "lsid"}
    entry = {
        "op": OPS.get(ctx.name, "command"),
        "ns": f"{ctx.db}.{target}" if isinstance(target, str) else f"{ctx.db}.$cmd",
        "command": command,
        "millis": millis,
        "ts": now(),
        "client": ctx.peer_host,
    }
    with server.lock:
        coll = server.store.collection(ctx.db, "system.profile")
        if coll is None:
            coll = Collection("collection", {"capped": True, "size": 1024 * 1024})
            server.store.add_collection(ctx.db, "system.profile", coll)
        coll.documents.append(entry)


# -- reads: cache counters and index accesses --------------------------------------


def note_read(server: Server, db: str, name: str, coll, query: dict | None) -> None:
    """A scan of a collection by a query with this filter."""
    if coll is None:
        return
    diagnostics = state(server)
    pages = len(coll.documents)
    diagnostics["requested"] += pages
    if (db, name) not in diagnostics["warm"]:
        diagnostics["read"] += pages
        diagnostics["warm"].add((db, name))
    fields = set(query or {})
    for spec in getattr(coll, "indexes", []):
        first = next(iter(spec["key"]), None)
        if first in fields:
            key = (db, name, spec["name"])
            diagnostics["accesses"][key] = diagnostics["accesses"].get(key, 0) + 1


def note_index_created(server: Server, ctx: Context, reply: dict) -> None:
    """on_write hook: when each new index of createIndexes began to gather statistics."""
    if ctx.name != "createIndexes":
        return
    for spec in ctx.body.get("indexes", []):
        state(server)["created"].setdefault((ctx.db, ctx.target, spec.get("name")), now())


def cache_section(server: Server) -> dict:
    diagnostics = state(server)
    return {
        "pages requested from the cache": Int64(diagnostics["requested"]),
        "pages read into cache": Int64(diagnostics["read"]),
    }


def index_stats(server: Server, ctx: Context, coll) -> list[dict]:
    """The $indexStats documents of a collection on this process."""
    diagnostics = state(server)
    host = f"{server.settings.bind_ip[0] if server.settings.bind_ip else 'localhost'}:{server.settings.port}"
    documents = []
    for spec in coll.indexes:
        key = (ctx.db, ctx.target, spec["name"])
        since = max(diagnostics["started"], diagnostics["created"].get(key, diagnostics["started"]))
        documents.append(
            {
                "name": spec["name"],
                "key": dict(spec["key"]),
                "host": host,
                "accesses": {"ops": Int64(diagnostics["accesses"].get(key, 0)), "since": since},
                "spec": dict(spec),
            }
        )
    return documents


# -- dbStats --------------------------------------------------------------------------


def db_stats(server: Server, ctx: Context) -> dict:
    collections = server.store.collections_of(ctx.db)
    scale = int(ctx.body.get("scale", 1)) or 1
    real = [c for c in collections.values() if c.kind != "view"]
    objects = sum(len(c.documents) for c in real)
    data_size = objects * 256
    indexes = sum(len(c.indexes) for c in real)
    reply = {
        "db": ctx.db,
        "collections": len(real),
        "views": len(collections) - len(real),
        "objects": objects,
        "avgObjSize": 256 if objects else 0,
        "dataSize": data_size / scale,
        "storageSize": (data_size + 4096 * len(real)) / scale,
        "indexes": indexes,
        "indexSize": 4096 * indexes / scale,
        "totalSize": (data_size + 4096 * (len(real) + indexes)) / scale,
        "scaleFactor": scale,
    }
    if server.settings.dbpath is not None and collections:
        space = os.statvfs(server.settings.dbpath)
        total = space.f_blocks * space.f_frsize
        available = space.f_bavail * space.f_frsize
        reply["fsUsedSize"] = (total - available) / scale
        reply["fsTotalSize"] = total / scale
    else:
        reply["fsUsedSize"] = reply["fsTotalSize"] = 0
    return reply


HANDLERS = {
    "profile": (profile, False),
    "dbStats": (db_stats, False),
}
