"""Replication between stand-in members: the oplog, catch-up, write concern, retryable writes.

- The primary gives each write an optime, (term, a counter that only grows), and appends
  it to its oplog, then pushes the entry to every reachable data-bearing member. A member
  applies an entry only right after the one before it; one that missed entries (it was
  down, or unreachable) fetches them from the primary at its next heartbeat
  (elections.py), as a real secondary fetches the primary's oplog after restart
  (https://www.mongodb.com/docs/manual/core/replica-set-sync/).
- A member whose last entry is not in the primary's oplog has diverged (it was primary and
  wrote what nobody received): a real member rolls back to the common point and saves
  the removed documents in a rollback directory (docs "Rollbacks During Replica Set
  Failover"); the stand-in copies the primary's data instead. One whose next entry has
  left the primary's oplog is too stale: RECOVERING (3) until resynced (docs "Resync a
  Member of a Replica Set").
- Write concern: the primary answers once the write's optime is on enough members; with
  wtimeout, an ok reply with writeConcernError 64 after that time
  (src/mongo/db/write_concern.cpp, CommandHelpers::appendCommandWCStatus in
  src/mongo/db/commands.cpp: errInfo.wtimeout). "majority" is a majority of the voting
  members, acknowledged by data-bearing voting members (docs "Write Concern", w:
  "majority"); without a writeConcern the cluster-wide default applies, else the implicit
  one (docs "Default MongoDB Read Concerns/Write Concerns").
- local.oplog.rs: each replicated entry also carries the oplog documents a real member
  writes for it, in the shape of src/mongo/db/repl/oplog_entry.idl (op, ns, ui, o, o2,
  ts, t, v, wall): one per inserted ("i"), changed ("u", the whole new document, as a
  replacement update is logged) or deleted ("d") document, and one "c" per catalogue
  command (create, drop, dropDatabase, collMod, and createIndexes once per index, in
  the form mongorestore's oplog replay reads, mongorestore/oplog.go). ts is a
  Timestamp(seconds, increment) that only grows. Backup tools read these documents
  (mongodump --oplog, the backup role's oplog capture); the stand-in's own replication
  still ships whole commands. Not modelled: writes to a time-series collection are
  logged on the collection, not on its system.buckets collection; user and role
  commands are not logged (a real member logs writes to admin.system.users).
- Retryable writes: an insert/update/delete sent with lsid and txnNumber is recorded with
  its reply, on every member that applies it, so a retry of the same txnNumber after a
  failover answers the recorded reply instead of running twice; an older txnNumber is
  TransactionTooOld (225) (docs "Retryable Writes";
  src/mongo/db/transaction/transaction_participant.cpp; jstests/replsets/
  retryable_writes_failover.js).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import time

import bson
import pymongo
from bson import json_util

from . import replset, rules
from .errors import CommandError
from .server import Context, Server
from .storage import Collection

OPLOG_LIMIT = 10000
RETRYABLE = {"insert", "update", "delete"}
# What mongos passes a shard as the client's session id (the stand-in's router link
# cannot send an lsid of its own choosing through a driver).
ROUTED_SESSION_FIELD = "$standinLsid"
SESSION_FIELDS = ("lsid", "$clusterTime", "$readPreference", "$db")

# The oplog size the stand-in reports until replSetResizeOplog (MongoDB's own default is 5%
# of the data disk, at least 990 MB and at most 50 GB: docs "Replica Set Oplog").
DEFAULT_OPLOG_MB = 990


# -- optimes and the oplog -----------------------------------------------------------


def optime(server: Server) -> tuple[int, int]:
    """(term, counter) of the last entry this member applied."""
    last = replset.state(server).get("optime") or {"t": 0, "ts": 0}
    return last["t"], last["ts"]


def optime_document(value: tuple[int, int]) -> dict:
    return {"ts": value[1], "t": value[0]}


def _set_optime(server: Server, value: tuple[int, int]) -> None:
    replset.state(server)["optime"] = optime_document(value)


def oplog(server: Server) -> list[dict]:
    return replset.state(server).setdefault("oplog", [])


EPOCH = datetime.datetime.fromtimestamp(0, datetime.UTC)


def last_applied_wall(server: Server) -> datetime.datetime:
    """The wall clock time of this member's last applied entry, replSetGetStatus's
    optimeDate (the initiating no-op's before any write; the epoch before that)."""
    entries = oplog(server)
    if entries and entries[-1].get("wall"):
        return entries[-1]["wall"]
    start = replset.state(server).get("oplog_start")
    return datetime.datetime.fromtimestamp(start[0], datetime.UTC) if start else EPOCH


def _append(server: Server, entry: dict) -> None:
    entries = oplog(server)
    entries.append(entry)
    del entries[:-OPLOG_LIMIT]
    _set_optime(server, (entry["t"], entry["ts"]))


# -- local.oplog.rs ------------------------------------------------------------------

DOCUMENT_WRITES = {"insert", "update", "delete"}
CATALOG_COMMANDS = {"create", "drop", "dropDatabase", "collMod", "createIndexes", "dropIndexes"}


def _document_key(document: dict) -> str:
    return json_util.dumps(document.get("_id"), json_options=json_util.CANONICAL_JSON_OPTIONS)


def remember_documents(server: Server, ctx: Context) -> None:
    """Before a write on the primary: the target's documents, to tell what it changed."""
    if ctx.name not in DOCUMENT_WRITES or ctx.db == "local":
        return
    if not replset.config(server) or not replset.is_primary(server):
        return
    coll = server.store.collection(ctx.db, ctx.target)
    ctx.documents_before = {} if coll is None else {_document_key(d): copy.deepcopy(d) for d in coll.documents}


def _next_timestamp(server: Server) -> bson.Timestamp:
    seconds, increment = replset.state(server).get("last_oplog_timestamp") or (0, 0)
    now = int(time.time())
    stamp = (now, 1) if now > seconds else (seconds, increment + 1)
    replset.state(server)["last_oplog_timestamp"] = list(stamp)
    return bson.Timestamp(*stamp)


def _changes(server: Server, ctx: Context) -> tuple[str, list[dict]]:
    """The namespace and the oplog operations (without their times) of one write."""
    if ctx.name in DOCUMENT_WRITES:
        coll = server.store.collection(ctx.db, ctx.target)
        before = ctx.documents_before or {}
        after = {} if coll is None else {_document_key(d): d for d in coll.documents}
        ui = {} if coll is None else {"ui": bson.Binary.from_uuid(coll.uuid)}
        changes = [{"op": "d", **ui, "o": {"_id": doc["_id"]}} for key, doc in before.items() if key not in after]
        for key, doc in after.items():
            if key not in before:
                changes.append({"op": "i", **ui, "o": copy.deepcopy(doc)})
            elif before[key] != doc:
                changes.append({"op": "u", **ui, "o": copy.deepcopy(doc), "o2": {"_id": doc["_id"]}})
        return f"{ctx.db}.{ctx.target}", changes
    command = {key: value for key, value in ctx.body.items() if key not in SESSION_FIELDS and not key.startswith("$")}
    command.pop("writeConcern", None)
    if ctx.name == "createIndexes":
        indexes = command.pop("indexes", None) or ctx.sequences.get("indexes", [])
        return f"{ctx.db}.$cmd", [{"op": "c", "o": {"createIndexes": ctx.target, "v": 2, **spec}} for spec in indexes]
    return f"{ctx.db}.$cmd", [{"op": "c", "o": command}]


def oplog_documents(server: Server, ctx: Context) -> list[dict]:
    """What a real member writes to local.oplog.rs for this write."""
    if ctx.name == "applyOps":
        # Each operation applied is logged as itself, with this member's own times.
        changes = [
            {key: value for key, value in operation.items() if key not in ("ts", "t", "v", "wall", "ui")}
            for operation in ctx.body["applyOps"]
            if operation.get("op") != "n"
        ]
    elif ctx.name in DOCUMENT_WRITES | CATALOG_COMMANDS:
        namespace, changes = _changes(server, ctx)
        changes = [{"op": change.pop("op"), "ns": namespace, **change} for change in changes]
    else:
        return []
    wall = datetime.datetime.now(datetime.UTC)
    term = replset.term(server)
    return [{**change, "ts": _next_timestamp(server), "t": term, "v": 2, "wall": wall} for change in changes]


def _first_document(server: Server, documents: list[dict]) -> dict:
    """The no-op a member's oplog starts with ({msg: "initiating set"}, written by
    replSetInitiate, src/mongo/db/repl/repl_set_commands.cpp), kept once made: just before
    the member's first entry, or now. Not modelled: the periodic no-op a primary writes
    when idle (src/mongo/db/repl/noop_writer.cpp)."""
    state = replset.state(server)
    if "oplog_start" not in state:
        stamp = (documents[0]["ts"].time, 0) if documents else (int(time.time()), 0)
        state["oplog_start"] = list(stamp)
    seconds, increment = state["oplog_start"]
    wall = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return {
        "op": "n",
        "ns": "",
        "o": {"msg": "initiating set"},
        "ts": bson.Timestamp(seconds, increment),
        "t": 1,
        "v": 2,
        "wall": wall,
    }


def oplog_collection(server: Server) -> Collection | None:
    """local.oplog.rs, made from the entries this member holds (replica set members only)."""
    if not replset.config(server):
        return None
    documents = [document for entry in oplog(server) for document in entry.get("ops", [])]
    entries = oplog(server)
    if not entries or entries[0]["ts"] == 1:  # the start is still there (not yet truncated)
        documents.insert(0, _first_document(server, documents))
    size_mb = replset.state(server).get("oplog_size_mb", DEFAULT_OPLOG_MB)
    return Collection(kind="collection", options={"capped": True, "size": size_mb * 1024 * 1024}, documents=documents)


def repl_set_resize_oplog(server: Server, ctx: Context) -> dict:
    """replSetResizeOplog (src/mongo/db/commands/resize_oplog.idl, resize_oplog.cpp): admin
    only (13); size (MB) a number (14) within the IDL's {gte: 990, lte: 1073741824};
    minRetentionHours not below 0; NamespaceNotFound (26) without an oplog. Allowed on a
    secondary (secondaryAllowed kAlways) and not replicated: each member is resized on
    its own (docs "Change the Size of the Oplog")."""
    if ctx.db != "admin":
        raise CommandError(13, "replSetResizeOplog may only be run against the admin database.", "Unauthorized")
    for name, low, high in (("size", 990, 1073741824), ("minRetentionHours", 0, float("inf"))):
        value = ctx.body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CommandError(
                14,
                f"BSON field 'replSetResizeOplog.{name}' is the wrong type '{type(value).__name__}', "
                "expected types '[long, int, decimal, double]'",
                "TypeMismatch",
            )
        if not low <= value <= high:
            raise rules.idl_range_error(server.version_series, f"replSetResizeOplog.{name}", value, low, high)
    if not replset.config(server):
        raise CommandError(26, "oplog does not exist", "NamespaceNotFound")
    if "size" in ctx.body:
        replset.state(server)["oplog_size_mb"] = int(ctx.body["size"])
    return {}


def log_write(server: Server, ctx: Context, reply: dict) -> None:
    """On the primary, under the lock: give the write its oplog entry and push it.

    Writes a mongos routes here count like any client's; entries applied from the oplog
    never pass through here (apply_entry calls the handler directly).
    """
    if ctx.name not in replset.REPLICATED or ctx.db == "local":
        return
    if not replset.config(server) or not replset.is_primary(server):
        return
    command = {key: value for key, value in ctx.body.items() if key not in SESSION_FIELDS}
    command.update(ctx.sequences)
    session = session_key(ctx)
    if session is not None:
        command[ROUTED_SESSION_FIELD] = session
    _, counter = optime(server)
    wall = datetime.datetime.now(datetime.UTC)
    entry = {"ts": counter + 1, "t": replset.term(server), "db": ctx.db, "command": command, "wall": wall}
    entry["ops"] = oplog_documents(server, ctx)
    _append(server, entry)
    ctx.oplog_entry = entry
    acknowledged = server.extra_state.setdefault("member_optimes", {})
    # A member the last heartbeat round found down is not waited for: a real primary never
    # sends its writes to a member at all; each secondary pulls the oplog from its sync
    # source (src/mongo/db/repl/README.md, "Life as a Secondary";
    # src/mongo/db/repl/oplog_fetcher.cpp) and applies it asynchronously (docs "Replica
    # Set Secondary Members"), and w: "majority" waits for a majority only (this file's
    # await_write_concern). The member fetches what it missed once it is back (catch_up).
    # Trying it with each write held every write on a set with a member down for a second
    # under the lock.
    down = {host for host, peer in replset.peers(server).items() if not peer.get("healthy")}
    for member in replset.config(server)["members"]:
        if replset.is_me(server, member["host"]) or member["arbiterOnly"] or member["host"] in down:
            continue
        try:
            pushed = replset.send_internal(server, member["host"], {"standinApplyEntry": 1, "entry": entry}, 1000)
        except pymongo.errors.PyMongoError:
            continue
        if pushed.get("applied"):
            acknowledged[member["host"]] = (entry["t"], entry["ts"])


def apply_entry(server: Server, entry: dict) -> None:
    """Run one oplog entry's command on this member (the lock is held)."""
    command = dict(entry["command"])
    name = next(iter(command))
    inner = Context(name, entry["db"], {**command, replset.INTERNAL_KEY_FIELD: True}, {}, 0, "internal")
    handler, _ = server.handlers[name]
    with contextlib.suppress(CommandError):  # it failed the same way on the primary, which answered
        handler(server, inner)
    _append(server, entry)


def standin_apply_entry(server: Server, ctx: Context) -> dict:
    """A pushed entry: applied only when it follows this member's last one."""
    replset.check_internal(server, ctx)
    entry = ctx.body["entry"]
    if replset.syncing(server) or replset.own_state(server) == 3 or entry["ts"] != optime(server)[1] + 1:
        return {"applied": False}
    apply_entry(server, entry)
    return {"applied": True}


def standin_oplog_since(server: Server, ctx: Context) -> dict:
    """On the primary: the entries after the caller's last one, or why it cannot have them."""
    replset.check_internal(server, ctx)
    last_term, last_ts = ctx.body["after"]["t"], ctx.body["after"]["ts"]
    entries = oplog(server)
    known = last_ts == 0 or any(e["ts"] == last_ts and e["t"] == last_term for e in entries)
    if not known:
        if entries and last_ts < entries[0]["ts"] - 1:
            return {"tooStale": True}
        return {"diverged": True}
    if entries and entries[0]["ts"] > last_ts + 1:
        return {"tooStale": True}
    return {"entries": [e for e in entries if e["ts"] > last_ts]}


def catch_up(server: Server, primary: str) -> None:
    """A secondary behind the primary fetches and applies what it missed."""
    if replset.syncing(server) or replset.own_state(server) == 3:
        return
    try:
        reply = replset.send_internal(
            server, primary, {"standinOplogSince": 1, "after": optime_document(optime(server))}, 5000
        )
        if reply.get("diverged"):
            snapshot = replset.send_internal(server, primary, {"standinSnapshot": 1}, 10000)
    except pymongo.errors.PyMongoError:
        return
    with server.lock:
        if reply.get("tooStale"):
            replset.state(server)["recovering"] = "too stale to catch up"
        elif reply.get("diverged"):
            server.store.databases = {
                db: {name: Collection(**entry) for name, entry in collections.items()}
                for db, collections in snapshot["databases"].items()
            }
            replset.state(server)["oplog"] = copy.deepcopy(snapshot["oplog"])
            _set_optime(server, (snapshot["optime"]["t"], snapshot["optime"]["ts"]))
        else:
            for entry in reply["entries"]:
                if entry["ts"] == optime(server)[1] + 1:
                    apply_entry(server, entry)
        server.store.save()
    server.bump_topology()


# -- applyOps (what mongorestore --oplogReplay sends) -------------------------------

# The command each kind of operation runs as, for its privileges and its effect.
APPLY_AS = {"i": "insert", "u": "update", "d": "delete"}


def operation_commands(operation: dict, always_upsert: bool) -> list[tuple[str, str]]:
    """(database, command name) pairs whose privileges one operation needs: since
    SERVER-25994 applyOps checks each operation, not anyAction (DOCS-11010); an insert or
    update that may upsert needs both insert and update."""
    kind = operation.get("op")
    db = str(operation.get("ns", "")).partition(".")[0]
    if kind == "c":
        return [(db, next(iter(operation.get("o") or {"": 0})))]
    if kind in ("i", "u") and always_upsert:
        return [(db, "insert"), (db, "update")]
    return [(db, APPLY_AS[kind])] if kind in APPLY_AS else []


def _run(server: Server, name: str, db: str, body: dict) -> dict:
    handler, _ = server.handlers[name]
    reply = handler(server, Context(name, db, {name: body.pop(name), **body}, {}, 0, "internal"))
    if reply.get("writeErrors"):
        first = reply["writeErrors"][0]
        raise CommandError(first["code"], first["errmsg"])
    return reply


def apply_ops(server: Server, ctx: Context) -> dict:
    """applyOps: each operation in order, as oplog application does
    (https://www.mongodb.com/docs/manual/reference/command/applyOps/): "i" and "u" upsert
    unless alwaysUpsert is false (src/mongo/db/repl/apply_ops.cpp), "d" removes by _id,
    "c" runs its command, "n" does nothing. Its reply counts what was applied. Not
    modelled: $v: 2 update diffs (the stand-in logs replacements), atomic groups, ui."""
    operations = ctx.body.get("applyOps")
    if not isinstance(operations, list):
        raise CommandError(14, "applyOps must be an array")
    always_upsert = bool(ctx.body.get("alwaysUpsert", True))
    results = []
    for operation in operations:
        kind, namespace = operation.get("op"), str(operation.get("ns", ""))
        db, _, collection = namespace.partition(".")
        if kind == "n":
            results.append(True)
            continue
        if kind == "c":
            command = dict(operation["o"])
            _run(server, next(iter(command)), db, command)
        elif kind in ("i", "u"):
            document = operation["o"]
            query = operation.get("o2") or {"_id": document.get("_id")}
            if kind == "u" and any(key.startswith("$") for key in document) and "$v" in document:
                raise CommandError(2, "the stand-in does not model $v: 2 update diffs in applyOps")
            exists = server.store.collection(db, collection) is not None and any(
                d.get("_id") == query.get("_id") for d in server.store.collection(db, collection).documents
            )
            if kind == "i" and not exists:
                _run(server, "insert", db, {"insert": collection, "documents": [document]})
            else:
                _run(
                    server,
                    "update",
                    db,
                    {"update": collection, "updates": [{"q": query, "u": document, "upsert": always_upsert}]},
                )
        elif kind == "d":
            _run(server, "delete", db, {"delete": collection, "deletes": [{"q": operation["o"], "limit": 1}]})
        else:
            raise CommandError(14, f"unknown oplog operation type: {kind}")
        results.append(True)
    return {"applied": len(results), "results": results}


# -- write concern -------------------------------------------------------------------


def wanted_write_concern(server: Server, ctx: Context) -> dict:
    stated = ctx.body.get("writeConcern")
    if isinstance(stated, dict) and "w" in stated:
        return stated
    default = replset.default_rw_concern(server)
    if default:
        return {**default, **(stated or {})}
    w = replset.implicit_write_concern(replset.config(server)["members"])
    return {"w": "majority" if w == "majority" else 1, **(stated or {})}


def satisfied(server: Server, concern: dict, written: tuple[int, int]) -> bool:
    members = replset.config(server)["members"]
    known = server.extra_state.get("member_optimes", {})

    def has_it(member: dict) -> bool:
        if replset.is_me(server, member["host"]):
            return optime(server) >= written
        return tuple(known.get(member["host"], (0, 0))) >= written

    data_bearing = [m for m in members if not m["arbiterOnly"]]
    w = concern.get("w", 1)
    if w == "majority":
        # A newly added member does not vote yet (MemberConfig::isVoter).
        voters = [m for m in members if m["votes"] and not m.get("newlyAdded")]
        needed = len(voters) // 2 + 1
        return sum(1 for m in data_bearing if m in voters and has_it(m)) >= needed
    if isinstance(w, (int, float)) and not isinstance(w, bool):
        return sum(1 for m in data_bearing if has_it(m)) >= int(w)
    return True  # tag sets are not modelled


def await_write_concern(server: Server, ctx: Context, reply: dict) -> None:
    """After the lock is released: wait until the write concern holds, or wtimeout passes."""
    entry = ctx.oplog_entry
    if entry is None:
        return
    concern = wanted_write_concern(server, ctx)
    if concern.get("w") in (0, 1):
        return
    written = (entry["t"], entry["ts"])
    timeout_ms = int(concern.get("wtimeout") or 0)
    deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms else None
    while not satisfied(server, concern, written):
        if server.shutting_down.is_set() or (deadline is not None and time.monotonic() > deadline):
            reply["writeConcernError"] = {
                "code": 64,
                # 64 is WriteConcernFailed up to 7.0, WriteConcernTimeout in 8.0's error_codes.yml.
                "codeName": "WriteConcernTimeout" if server.version_series >= "8.0" else "WriteConcernFailed",
                "errmsg": "waiting for replication timed out",
                "errInfo": {"wtimeout": True, "writeConcern": concern},
            }
            return
        time.sleep(0.05)


# -- retryable writes ----------------------------------------------------------------


def session_key(ctx: Context) -> dict | None:
    """The session of a retryable write: the client's lsid, or the one mongos passed on."""
    if "txnNumber" not in ctx.body:
        return None
    lsid = ctx.body.get(ROUTED_SESSION_FIELD) or ctx.body.get("lsid")
    return lsid if isinstance(lsid, dict) else None


def retryable(handler):
    """Wrap insert/update/delete: a retried txnNumber answers the recorded reply."""

    def run(server: Server, ctx: Context) -> dict:
        session = session_key(ctx)
        if session is None:
            return handler(server, ctx)
        key = repr(sorted((k, str(v)) for k, v in session.items()))
        sessions = replset.state(server).setdefault("sessions", {})
        recorded = sessions.get(key)
        number = int(ctx.body["txnNumber"])
        if recorded is not None and number < recorded["txnNumber"]:
            raise CommandError(
                225,
                f"Retryable write with txnNumber {number} is prohibited on session {session} because a newer "
                f"retryable write with txnNumber {recorded['txnNumber']} has already started on this session.",
                "TransactionTooOld",
            )
        if recorded is not None and number == recorded["txnNumber"]:
            return copy.deepcopy(recorded["reply"])
        reply = handler(server, ctx)
        sessions[key] = {"txnNumber": number, "reply": copy.deepcopy(reply)}
        return reply

    return run


HANDLERS = {
    "replSetResizeOplog": (repl_set_resize_oplog, True),
    "applyOps": (apply_ops, True),
    "standinApplyEntry": (standin_apply_entry, True),
    "standinOplogSince": (standin_oplog_since, False),
}
