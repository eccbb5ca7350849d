"""Replica sets across stand-in processes.

Each member keeps the set's config, its term and the current primary in its state. The
member that accepts replSetInitiate or replSetReconfig validates the config with
MongoDB's rules, then pushes it to every member with an internal command. At initiation
and at each reconfig the primary is set to the reachable electable member with the
highest priority (the lowest _id among equals), which is where
MongoDB's elections and priority takeover settle; after that, heartbeats and elections
(elections.py) move it, and writes reach the other members through the oplog
(replication.py).

Rules and codes follow https://www.mongodb.com/docs/manual/reference/replica-configuration/,
.../reference/command/replSetInitiate/, .../replSetReconfig/ and the server's
error_codes.yml: 23 AlreadyInitialized, 93 InvalidReplicaSetConfig, 94
NotYetInitialized, 103 NewReplicaSetConfigurationIncompatible, 74 NodeNotFound,
10107 NotWritablePrimary.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import logging
import socket
import threading
import time
from typing import Any

import pymongo
from bson import ObjectId, Timestamp

from . import membership, tls
from .errors import CommandError
from .server import Context, Server, now
from .storage import Collection

log = logging.getLogger("standin")

MAX_MEMBERS = 50
MAX_VOTERS = 7
MEMBER_FIELDS = {
    "_id",
    "host",
    "arbiterOnly",
    "buildIndexes",
    "hidden",
    "priority",
    "tags",
    "secondaryDelaySecs",
    "votes",
}
CONFIG_FIELDS = {
    "_id",
    "version",
    "term",
    "protocolVersion",
    "members",
    "settings",
    "configsvr",
    "writeConcernMajorityJournalDefault",
}
INTERNAL_KEY_FIELD = "$standinClusterKey"
# Commands that change data: only the primary takes them, and it forwards each one.
REPLICATED = {
    "applyOps",
    "setFeatureCompatibilityVersion",
    "create",
    "drop",
    "dropDatabase",
    "collMod",
    "createIndexes",
    "dropIndexes",
    "insert",
    "update",
    "delete",
    "createUser",
    "updateUser",
    "dropUser",
    "grantRolesToUser",
    "revokeRolesFromUser",
}
STATES = {
    1: "PRIMARY",
    2: "SECONDARY",
    3: "RECOVERING",
    5: "STARTUP2",
    7: "ARBITER",
    8: "(not reachable/healthy)",
    10: "REMOVED",
}
# Failpoint that holds a member in initial sync (src/mongo/db/repl/initial_syncer.cpp).
INITIAL_SYNC_FAILPOINT = "initialSyncHangBeforeFinish"


# -- identity ------------------------------------------------------------------------


def set_name(server: Server) -> str | None:
    return server.settings.parsed_options.get("replication", {}).get("replSetName")


def cluster_key(server: Server) -> str:
    """What members present to each other: a digest of the shared keyfile content, read
    once, as mongod reads its keyfile at start-up (heartbeats call this constantly)."""
    if "cluster_key" not in server.extra_state:
        path = server.settings.parsed_options.get("security", {}).get("keyFile")
        key = ""
        if path:
            with open(path) as handle:
                key = hashlib.sha256("".join(handle.read().split()).encode()).hexdigest()
        server.extra_state["cluster_key"] = key
    return server.extra_state["cluster_key"]


def _local_names(server: Server) -> set[str]:
    return {"127.0.0.1", "localhost", socket.gethostname(), socket.getfqdn(), *server.settings.bind_ip}


def is_me(server: Server, host: str) -> bool:
    name, _, port = host.rpartition(":")
    return port.isdigit() and int(port) == server.settings.port and name in _local_names(server)


def state(server: Server) -> dict:
    return server.store.extra.setdefault("replset", {})


def config(server: Server) -> dict | None:
    return state(server).get("config")


def my_member(server: Server) -> dict | None:
    current = config(server)
    if not current:
        return None
    return next((m for m in current["members"] if is_me(server, m["host"])), None)


def is_primary(server: Server) -> bool:
    member = my_member(server)
    return member is not None and state(server).get("primary") == member["host"]


def term(server: Server) -> int:
    """The current term: raised by each election (elections.py)."""
    return int(state(server).get("term") or (config(server) or {}).get("term", 0))


def election_id(value: int) -> ObjectId:
    """OID::fromTerm: 0x7fffffff, then the term as a big-endian 64-bit integer (src/mongo/bson/oid_test.cpp)."""
    return ObjectId(b"\x7f\xff\xff\xff" + value.to_bytes(8, "big"))


# -- talking to other members --------------------------------------------------------


_CLIENTS: dict[tuple[str, int], pymongo.MongoClient] = {}
_CLIENTS_LOCK = threading.Lock()


def _client(host: str, timeout_ms: int = 2000) -> pymongo.MongoClient:
    """One client per member and timeout, kept for the life of the process (heartbeats are
    frequent; a new client per call costs a handshake and monitor threads). A reply that
    does not come within five times the timeout fails the call rather than hang it."""
    with _CLIENTS_LOCK:
        key = (host, timeout_ms)
        if key not in _CLIENTS:
            _CLIENTS[key] = pymongo.MongoClient(
                host,
                directConnection=True,
                serverSelectionTimeoutMS=timeout_ms,
                connectTimeoutMS=timeout_ms,
                socketTimeoutMS=timeout_ms * 5,
                **tls.INTERNAL_CLIENT_OPTIONS,
            )
        return _CLIENTS[key]


def reachable(host: str) -> bool:
    try:
        _client(host, 1000).admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False


def internal_credential(server: Server) -> str:
    """What this member's commands to other members carry (membership.py)."""
    return membership.credential(server, cluster_key(server))


def peers(server: Server) -> dict:
    """What this member's last heartbeat round heard from each other member (elections.py):
    {host: {"healthy": bool, "state": int, ...}}; empty before the first round."""
    return server.extra_state.setdefault("peers", {})


def send_internal(server: Server, host: str, command: dict, timeout_ms: int = 2000) -> dict:
    return _client(host, timeout_ms).admin.command({**command, INTERNAL_KEY_FIELD: internal_credential(server)})


def check_internal(server: Server, ctx: Context) -> None:
    if not membership.accepts(server, ctx, ctx.body.get(INTERNAL_KEY_FIELD, ""), cluster_key(server)):
        raise CommandError(18, "Authentication failed: cluster key mismatch")


# -- config validation ---------------------------------------------------------------


def _member_defaults(member: dict) -> dict:
    full = {
        "_id": member["_id"],
        "host": member["host"],
        "arbiterOnly": bool(member.get("arbiterOnly", False)),
        "buildIndexes": bool(member.get("buildIndexes", True)),
        "hidden": bool(member.get("hidden", False)),
        "priority": float(member.get("priority", 0 if member.get("arbiterOnly") else 1)),
        "tags": dict(member.get("tags", {})),
        "secondaryDelaySecs": int(member.get("secondaryDelaySecs", 0)),
        "votes": int(member.get("votes", 1)),
    }
    return full


def validate_config(server: Server, candidate: Any, action: str) -> dict:
    """The config as the server stores it, or CommandError 93 naming the rule it breaks."""

    def invalid(message: str) -> CommandError:
        return CommandError(93, message)

    if not isinstance(candidate, dict):
        raise invalid(f"{action} needs a config document")
    unknown = sorted(set(candidate) - CONFIG_FIELDS)
    if unknown:
        raise invalid(f"Unexpected field {unknown[0]} in replica set configuration")
    if candidate.get("_id") != set_name(server):
        raise invalid(
            f"Rejecting {action} with a set name that differs from command line set name, "
            f"initiation set name: {candidate.get('_id')}, command line set name: {set_name(server)}"
        )
    members = candidate.get("members")
    if not isinstance(members, list) or not members:
        raise invalid("Replica set configuration must contain at least one member")
    if len(members) > MAX_MEMBERS:
        raise invalid(f"Replica set configuration contains {len(members)} members, but must have at most 50")
    normalised = []
    ids, hosts = set(), set()
    for raw in members:
        if "newlyAdded" in raw:
            # repl_set_config_checks.cpp (ensureNoNewlyAddedMembers) and processReplSetReconfig.
            raise invalid("Cannot provide newlyAdded field to member config during reconfig.")
        unknown = sorted(set(raw) - MEMBER_FIELDS)
        if unknown:
            raise invalid(f"Unexpected field {unknown[0]} in replica set member configuration")
        if "_id" not in raw or "host" not in raw:
            raise invalid("Replica set member configuration needs _id and host")
        member = _member_defaults(raw)
        if member["_id"] in ids:
            raise invalid(f"Found two member configurations with same _id field, members.{member['_id']}")
        if member["host"] in hosts:
            raise invalid(f"Found two member configurations with same host field, {member['host']}")
        ids.add(member["_id"])
        hosts.add(member["host"])
        if not 0 <= member["priority"] <= 1000:
            raise invalid(f"priority field value of {member['priority']} is out of range")
        if member["votes"] not in (0, 1):
            raise invalid(f"votes field value is {member['votes']} but must be 0 or 1")
        if member["votes"] == 0 and member["priority"] > 0:
            raise invalid(f"priority must be 0 when non-voting (votes:0) for member {member['host']}")
        if member["arbiterOnly"] and member["priority"] > 0:
            raise invalid(f"Arbiter {member['host']} must have priority 0")
        if member["hidden"] and member["priority"] > 0:
            raise invalid(f"priority must be 0 when hidden=true for member {member['host']}")
        if member["secondaryDelaySecs"] and member["priority"] > 0:
            raise invalid(f"priority must be 0 when secondaryDelaySecs is set for member {member['host']}")
        normalised.append(member)
    voters = sum(m["votes"] for m in normalised)
    if voters > MAX_VOTERS:
        raise invalid(f"Replica set configuration contains {voters} voting members, but must be at most 7")
    if voters == 0:
        raise invalid("Replica set configuration must contain at least one voting member")
    if not any(m["priority"] > 0 and not m["arbiterOnly"] for m in normalised):
        raise invalid("Replica set configuration must contain at least one member that can become primary")
    if not any(is_me(server, m["host"]) for m in normalised):
        raise invalid(
            f"No host described in new configuration with version {candidate.get('version', 1)} "
            f"for replica set {candidate['_id']} maps to this node"
        )
    stored = {
        "_id": candidate["_id"],
        "version": int(candidate.get("version", 1)),
        "term": 1,
        "protocolVersion": 1,
        "members": normalised,
        "settings": copy.deepcopy(candidate.get("settings", {})),
    }
    if "configsvr" in candidate:
        stored["configsvr"] = bool(candidate["configsvr"])
    return stored


def choose_primary(server: Server, members: list[dict]) -> str | None:
    candidates = [m for m in members if electable(m) and (is_me(server, m["host"]) or reachable(m["host"]))]
    if not candidates:
        return None
    best = max(m["priority"] for m in candidates)
    return min((m for m in candidates if m["priority"] == best), key=lambda m: m["_id"])["host"]


def _push(
    server: Server, new_config: dict, primary: str | None, removed: list[str], joining: frozenset = frozenset()
) -> None:
    """Send the config to every member; the joining ones (added by a reconfig) start an initial sync."""
    for member in new_config["members"]:
        if is_me(server, member["host"]):
            apply_locally(server, new_config, primary)
        else:
            message = {"standinReplSetApply": 1, "config": new_config, "primary": primary}
            if member["host"] in joining and not member["arbiterOnly"]:
                message["initialSync"] = True
            send_internal(server, member["host"], message)
    for host in removed:
        if reachable(host):
            send_internal(server, host, {"standinReplSetApply": 1, "config": None, "primary": None})


def apply_locally(server: Server, new_config: dict | None, primary: str | None) -> None:
    replset = state(server)
    replset["config"] = copy.deepcopy(new_config)
    replset["primary"] = primary
    if new_config:
        replset["term"] = max(term(server), new_config["term"])
    server.store.save()
    server.bump_topology()


# -- commands ------------------------------------------------------------------------


def _require_replset(server: Server) -> None:
    if not set_name(server):
        raise CommandError(76, "not running with --replSet", "NoReplicationEnabled")


def require_initiated(server: Server) -> dict:
    _require_replset(server)
    current = config(server)
    if not current:
        raise CommandError(94, "no replset config has been received")
    return current


def repl_set_initiate(server: Server, ctx: Context) -> dict:
    _require_replset(server)
    if config(server):
        raise CommandError(23, "already initialized")
    candidate = ctx.body.get("replSetInitiate")
    if not isinstance(candidate, dict):
        host = f"{socket.gethostname()}:{server.settings.port}"
        candidate = {"_id": set_name(server), "members": [{"_id": 0, "host": host}]}
    new_config = validate_config(server, candidate, "initiate")
    if server.settings.parsed_options.get("sharding", {}).get("clusterRole") == "configsvr":
        new_config["configsvr"] = True
    unreachable = [
        m["host"] for m in new_config["members"] if not is_me(server, m["host"]) and not reachable(m["host"])
    ]
    if unreachable:
        raise CommandError(
            74,
            "replSetInitiate quorum check failed because not all proposed set members responded affirmatively: "
            + ", ".join(f"{host} failed with Connection refused" for host in unreachable),
        )
    _push(server, new_config, choose_primary(server, new_config["members"]), [])
    return {}


def _voters(members: list[dict]) -> set[str]:
    """Voting members; a newlyAdded member does not vote yet (MemberConfig::isVoter)."""
    return {m["host"] for m in members if m["votes"] == 1 and not m.get("newlyAdded")}


def mark_newly_added(current: dict, new_config: dict, force: bool) -> None:
    """A non-force reconfig adds voting members as newlyAdded, and keeps the flags it had.

    SERVER-46344: the member counts as a non-voter until it is SECONDARY, then the
    primary removes the flag with a reconfig of its own (version + 1), one member at a
    time (jstests/replsets/newly_added_member_id_vs_index.js).
    """
    flagged = {m["_id"] for m in current["members"] if m.get("newlyAdded")}
    old_ids = {m["_id"] for m in current["members"]}
    for member in new_config["members"]:
        joining = member["_id"] not in old_ids and member["votes"] == 1 and not member["arbiterOnly"] and not force
        if member["_id"] in flagged or joining:
            member["newlyAdded"] = True


def repl_set_reconfig(server: Server, ctx: Context) -> dict:
    current = require_initiated(server)
    force = bool(ctx.body.get("force"))
    if not force and not is_primary(server):
        raise CommandError(10107, "replSetReconfig should only be run on a writable PRIMARY", "NotWritablePrimary")
    candidate = ctx.body.get("replSetReconfig")
    new_config = validate_config(server, candidate, "reconfig")
    if new_config["version"] <= current["version"] and not force:
        # validateOldAndNewConfigsCompatible (repl_set_config_checks.cpp).
        raise CommandError(
            103,
            f"New replica set configuration version and term must be greater than old, but "
            f"{{version: {new_config['version']}, term: {current['term']}}} is not greater than "
            f"{{version: {current['version']}, term: {current['term']}}} for replica set {current['_id']}",
        )
    old_by_id = {m["_id"]: m for m in current["members"]}
    for member in new_config["members"]:
        old = old_by_id.get(member["_id"])
        if old is None:
            continue
        if old["host"] != member["host"] and any(m["host"] == member["host"] for m in current["members"]):
            raise CommandError(103, f"member {member['host']} cannot change its _id")
        for fixed in ("arbiterOnly", "buildIndexes"):
            if old[fixed] != member[fixed]:
                raise CommandError(
                    103,
                    f"New and old configurations differ in the setting of the {fixed} field for member "
                    f"{member['host']}; to make this change, remove then re-add the member",
                )
    mark_newly_added(current, new_config, force)
    if not force:
        changed = _voters(current["members"]) ^ _voters(new_config["members"])
        if len(changed) > 1:
            # validateSingleNodeChange; _doReplSetReconfig answers it as 103.
            raise CommandError(103, "Non force replica set reconfig can only add or remove at most 1 voting member.")
    if (
        not force
        and default_rw_concern(server) is None
        and implicit_write_concern(current["members"]) != implicit_write_concern(new_config["members"])
    ):
        raise CommandError(
            103,
            "Reconfig attempted to install a config that would change the implicit default write concern. Use the "
            "setDefaultRWConcern command to set a cluster-wide write concern and try the reconfig again.",
        )
    old_hosts = {m["host"] for m in current["members"]}
    new_hosts = {m["host"] for m in new_config["members"]}
    unreachable = [h for h in sorted(new_hosts - old_hosts) if not is_me(server, h) and not reachable(h)]
    if unreachable:
        raise CommandError(
            74,
            f"Quorum check failed because not all proposed set members responded "
            f"affirmatively: {', '.join(unreachable)} failed with Connection refused",
        )
    if server.settings.parsed_options.get("sharding", {}).get("clusterRole") == "configsvr":
        new_config["configsvr"] = True
    primary = choose_primary(server, new_config["members"])
    # The config carries the primary's term; a primary that moves does so by an election.
    new_config["term"] = term(server) + (0 if primary == state(server).get("primary") else 1)
    _push(
        server,
        new_config,
        primary,
        sorted(old_hosts - new_hosts),
        frozenset(new_hosts - old_hosts),
    )
    return {}


def repl_set_get_config(server: Server, ctx: Context) -> dict:
    """The config without newlyAdded flags unless $_internalIncludeNewlyAdded (test commands only).

    CmdReplSetGetConfig (src/mongo/db/repl/repl_set_commands.cpp) and
    MemberConfig::toBSONWithoutNewlyAdded; jstests/replsets/test_only_repl_commands.js.
    """
    current = require_initiated(server)
    include_flags = bool(ctx.body.get("$_internalIncludeNewlyAdded"))
    if include_flags and not test_commands_enabled(server):
        raise CommandError(
            72, "The '$_internalIncludeNewlyAdded' option is only supported when testing commands are enabled"
        )
    shown = copy.deepcopy(current)
    if not include_flags:
        for member in shown["members"]:
            member.pop("newlyAdded", None)
    reply: dict = {"config": shown}
    if ctx.body.get("commitmentStatus"):
        if not is_primary(server):
            raise CommandError(10107, "commitmentStatus is only supported on the primary", "NotWritablePrimary")
        reply["commitmentStatus"] = True  # configs are pushed to every member synchronously
    return reply


def implicit_write_concern(members: list[dict]) -> str:
    """mongodb-defaults: w:1 when the data-bearing voters are not more than a voting majority."""
    voters = [m for m in members if m["votes"]]
    majority = len(voters) // 2 + 1
    data_voters = [m for m in voters if not m["arbiterOnly"]]
    if any(m["arbiterOnly"] for m in members) and len(data_voters) <= majority:
        return "1"
    return "majority"


def default_rw_concern(server: Server) -> dict | None:
    return state(server).get("defaultWriteConcern")


def set_default_rw_concern(server: Server, ctx: Context) -> dict:
    if ctx.db != "admin":
        raise CommandError(13, "setDefaultRWConcern may only be run against the admin database.")
    if set_name(server) and not ctx.body.get(INTERNAL_KEY_FIELD):
        if server.settings.parsed_options.get("sharding", {}).get("clusterRole") == "shardsvr":
            raise CommandError(
                51301, "setDefaultRWConcern is not supported on shard servers; run it on a mongos", "Location51301"
            )
        if not is_primary(server):
            raise CommandError(10107, "not primary", "NotWritablePrimary")
    concern = ctx.body.get("defaultWriteConcern")
    if not isinstance(concern, dict) or concern.get("w") == 0:
        raise CommandError(2, "defaultWriteConcern must be a write concern document other than w:0")
    concern = stored_write_concern(concern)
    state(server)["defaultWriteConcern"] = concern
    current = config(server)
    if current and is_primary(server):
        for member in current["members"]:
            if not is_me(server, member["host"]) and reachable(member["host"]):
                send_internal(server, member["host"], {"setDefaultRWConcern": 1, "defaultWriteConcern": concern})
    return rw_concern_reply(concern, "majority")


def stored_write_concern(concern: dict) -> dict:
    """A write concern as the server keeps and reports it: w, j only when given, wtimeout always.

    WriteConcernOptions::toBSON (src/mongo/db/write_concern_options.cpp): a stored
    {w: "majority"} reads back as {w: "majority", wtimeout: 0}.
    """
    stored: dict = {"w": concern.get("w", 1)}
    if "j" in concern:
        stored["j"] = bool(concern["j"])
    stored["wtimeout"] = int(concern.get("wtimeout", 0))
    return stored


def rw_concern_reply(concern: dict | None, implicit: str) -> dict:
    """getDefaultRWConcern's answer (ReadWriteConcernDefaults::getDefault, rwc_defaults_commands.cpp).

    Without a global default, the implicit one is shown only when it is majority.
    """
    reply: dict = {"defaultReadConcern": {"level": "local"}, "defaultReadConcernSource": "implicit"}
    if concern:
        reply.update(defaultWriteConcern=concern, defaultWriteConcernSource="global")
    else:
        reply["defaultWriteConcernSource"] = "implicit"
        if implicit == "majority":
            reply["defaultWriteConcern"] = {"w": "majority", "wtimeout": 0}
    reply["localUpdateWallClockTime"] = now()
    return reply


def get_default_rw_concern(server: Server, ctx: Context) -> dict:
    current = config(server)
    implicit = implicit_write_concern(current["members"]) if current else "majority"
    return rw_concern_reply(default_rw_concern(server), implicit)


def _last_counter(server: Server) -> int:
    return int((state(server).get("optime") or {}).get("ts", 0))


def own_state(server: Server) -> int:
    """This member's state: PRIMARY, ARBITER, STARTUP2 during initial sync, else SECONDARY."""
    me = my_member(server)
    if me is None:
        return 10
    if me["arbiterOnly"]:
        return 7
    if syncing(server):
        return 5
    if state(server).get("recovering"):
        return 3
    return 1 if state(server).get("primary") == me["host"] else 2


def _member_answer(server: Server, member: dict) -> dict | None:
    """A member's heartbeat answer (state, term, optime), or None when it does not answer."""
    from .elections import heartbeat_reply

    if is_me(server, member["host"]):
        return heartbeat_reply(server)
    try:
        return send_internal(server, member["host"], {"standinReplState": 1}, timeout_ms=1000)
    except pymongo.errors.PyMongoError:
        return None


def repl_set_get_status(server: Server, ctx: Context) -> dict:
    current = require_initiated(server)
    members = []
    for member in current["members"]:
        answer = _member_answer(server, member)
        code = answer["state"] if answer else 8
        entry = {
            "_id": member["_id"],
            "name": member["host"],
            "health": 1.0 if answer else 0.0,
            "state": code,
            "stateStr": STATES[code],
            "uptime": 1 if answer else 0,
            "configVersion": current["version"],
            "configTerm": current["term"],
        }
        if answer and not member["arbiterOnly"]:
            entry["optime"] = {"ts": Timestamp(answer["optime"]["ts"], 0), "t": answer["optime"]["t"]}
            entry["optimeDate"] = answer["optimeDate"]
        elif not member["arbiterOnly"]:
            # A member that does not answer: its heartbeat applied optime is cleared
            # (MemberData::setDownValues, src/mongo/db/repl/member_data.cpp).
            entry["optime"] = {"ts": Timestamp(0, 0), "t": -1}
            entry["optimeDate"] = datetime.datetime.fromtimestamp(0, datetime.UTC)
        if is_me(server, member["host"]):
            entry["self"] = True
        members.append(entry)
    return {
        "set": current["_id"],
        "date": now(),
        "myState": own_state(server),
        "term": term(server),
        "members": members,
    }


def standin_repl_set_apply(server: Server, ctx: Context) -> dict:
    check_internal(server, ctx)
    apply_locally(server, ctx.body.get("config"), ctx.body.get("primary"))
    if ctx.body.get("initialSync"):
        state(server)["initialSync"] = "running"
        server.store.save()
        start_initial_sync(server)
    return {}


def electable(member: dict) -> bool:
    """Priority above 0 and not newlyAdded (MemberConfig::getPriority is 0 while newly added)."""
    return member["priority"] > 0 and not member["arbiterOnly"] and not member.get("newlyAdded")


def topology_fields(server: Server, ctx: Context) -> dict | None:
    """hello fields of a replica set member, or None for a standalone."""
    name = set_name(server)
    if not name:
        return None
    primary_key = "isWritablePrimary" if ctx.name == "hello" else "ismaster"
    current = config(server)
    if not current:
        return {
            primary_key: False,
            "secondary": False,
            "isreplicaset": True,
            "info": "Does not have a valid replica set config",
        }
    me = my_member(server)
    if me is None:
        return {primary_key: False, "secondary": False, "info": "removed from the replica set"}
    primary = state(server).get("primary")
    visible = [m for m in current["members"] if not m["hidden"]]
    fields: dict[str, Any] = {
        "setName": name,
        "setVersion": current["version"],
        "hosts": [m["host"] for m in visible if electable(m)],
        "me": me["host"],
        # A primary stepping down says it is not writable while it waits
        # (replication_coordinator_impl.cpp, _waitingForRSTLAtStepDown).
        primary_key: me["host"] == primary and not server.extra_state.get("stepping_down"),
        "secondary": me["host"] != primary and not me["arbiterOnly"],
        "lastWrite": {"lastWriteDate": now(), "opTime": {"ts": Timestamp(_last_counter(server), 0), "t": term(server)}},
    }
    passives = [m["host"] for m in visible if not electable(m) and not m["arbiterOnly"]]
    arbiters = [m["host"] for m in current["members"] if m["arbiterOnly"]]
    if passives:
        fields["passives"] = passives
    if arbiters:
        fields["arbiters"] = arbiters
    if primary:
        fields["primary"] = primary
    if me["host"] == primary:
        fields["electionId"] = election_id(term(server))
    for flag in ("arbiterOnly", "hidden"):
        if me[flag]:
            fields[flag] = True
    if not electable(me) and not me["arbiterOnly"]:
        fields["passive"] = True
    if syncing(server):
        fields["secondary"] = False
    if me["tags"]:
        fields["tags"] = me["tags"]
    return fields


def guard_write(server: Server, ctx: Context) -> None:
    """Writes go to the primary only, as on a real replica set."""
    if ctx.name not in REPLICATED or ctx.db == "local":
        return
    if set_name(server) and (not is_primary(server) or server.extra_state.get("stepping_down")):
        raise CommandError(10107, "not primary", "NotWritablePrimary")


# -- test commands and failpoints ----------------------------------------------------


def test_commands_enabled(server: Server) -> bool:
    value = server.settings.parsed_options.get("setParameter", {}).get("enableTestCommands")
    return str(value).lower() in ("1", "true")


def failpoint_on(server: Server, name: str) -> bool:
    """A failpoint set at start-up (setParameter failpoint.<name>) or by configureFailPoint.

    Start-up failpoints need enableTestCommands, as in the jstests that use them
    (jstests/replsets/newly_added_member_id_vs_index.js).
    """
    points = server.extra_state.setdefault("failpoints", {})
    if name not in points:
        raw = server.settings.parsed_options.get("setParameter", {}).get(f"failpoint.{name}")
        points[name] = bool(raw) and test_commands_enabled(server) and "off" not in str(raw)
    return points[name]


def configure_fail_point(server: Server, ctx: Context) -> dict:
    """configureFailPoint: registered only with enableTestCommands (else CommandNotFound, 59)."""
    if not test_commands_enabled(server):
        raise CommandError(59, f"no such command: '{ctx.name}'")
    if ctx.db != "admin":
        raise CommandError(13, "configureFailPoint may only be run against the admin database.")
    mode = ctx.body.get("mode")
    if mode not in ("alwaysOn", "off") and not isinstance(mode, dict):
        raise CommandError(2, f"Unrecognized mode {mode!r} for failpoint {ctx.target}")
    was_on = failpoint_on(server, ctx.target)
    server.extra_state["failpoints"][ctx.target] = mode != "off"
    return {"count": int(was_on)}


# -- initial sync and the primary's own reconfig ---------------------------------------


def syncing(server: Server) -> bool:
    return state(server).get("initialSync") == "running"


def start_initial_sync(server: Server) -> None:
    threading.Thread(target=_initial_sync, args=(server,), daemon=True).start()


def _initial_sync(server: Server) -> None:
    """STARTUP2 until the failpoint lets go, copy the primary's data, then SECONDARY.

    A member added to a set goes through initial sync (state STARTUP2, 5) before it is
    SECONDARY (https://www.mongodb.com/docs/manual/core/replica-set-sync/). When it is,
    the primary learns it by heartbeat and, if the member is newlyAdded, removes the
    flag with a reconfig of its own, version + 1 and the same term
    (replication_coordinator_impl_heartbeat.cpp, _reconfigToRemoveNewlyAddedField).
    """
    while failpoint_on(server, INITIAL_SYNC_FAILPOINT) and not server.shutting_down.is_set():
        time.sleep(0.1)
    while not server.shutting_down.is_set():
        primary = state(server).get("primary")
        try:
            with server.lock:
                if primary and not is_me(server, primary):
                    snapshot = send_internal(server, primary, {"standinSnapshot": 1}, timeout_ms=10000)
                    server.store.databases = {
                        db: {name: Collection(**entry) for name, entry in collections.items()}
                        for db, collections in snapshot["databases"].items()
                    }
                    state(server)["oplog"] = snapshot["oplog"]
                    state(server)["optime"] = snapshot["optime"]
                state(server)["initialSync"] = "done"
                server.store.save()
            break
        except pymongo.errors.PyMongoError as error:
            # A failed attempt starts again, as initial sync does (numInitialSyncAttempts).
            log.warning("initial sync from %s failed, trying again: %s", primary, error)
            time.sleep(1)
    else:
        return
    server.bump_topology()
    me = my_member(server)
    if primary and me and not is_me(server, primary):
        try:
            send_internal(server, primary, {"standinMemberSecondary": me["_id"]})
        except pymongo.errors.PyMongoError:
            log.warning("primary %s did not hear that member %s is SECONDARY", primary, me["host"])


def standin_snapshot(server: Server, ctx: Context) -> dict:
    """The data an initial sync copies: every database except local."""
    check_internal(server, ctx)
    return {
        "databases": {
            db: {
                name: {"kind": c.kind, "options": c.options, "indexes": c.indexes, "documents": c.documents}
                for name, c in collections.items()
            }
            for db, collections in server.store.databases.items()
            if db != "local"
        },
        "oplog": state(server).get("oplog", []),
        "optime": state(server).get("optime") or {"t": 0, "ts": 0},
    }


def standin_member_secondary(server: Server, ctx: Context) -> dict:
    """On the primary: a member reached SECONDARY; drop its newlyAdded flag (one member per reconfig)."""
    check_internal(server, ctx)
    current = config(server)
    if not current or not is_primary(server):
        return {}
    member = next((m for m in current["members"] if m["_id"] == ctx.target), None)
    if member is None or not member.get("newlyAdded"):
        return {}
    new_config = copy.deepcopy(current)
    new_config["version"] = current["version"] + 1
    for each in new_config["members"]:
        if each["_id"] == ctx.target:
            each.pop("newlyAdded")
    _push(server, new_config, state(server).get("primary"), [])
    return {}


HANDLERS = {
    "replSetInitiate": (repl_set_initiate, True),
    "replSetReconfig": (repl_set_reconfig, True),
    "replSetGetConfig": (repl_set_get_config, False),
    "replSetGetStatus": (repl_set_get_status, False),
    "setDefaultRWConcern": (set_default_rw_concern, True),
    "getDefaultRWConcern": (get_default_rw_concern, False),
    "standinReplSetApply": (standin_repl_set_apply, True),
    "standinSnapshot": (standin_snapshot, False),
    "standinMemberSecondary": (standin_member_secondary, True),
    "configureFailPoint": (configure_fail_point, False),
}


def resume(server: Server) -> None:
    """At start-up: an initial sync that a restart interrupted starts again."""
    if syncing(server):
        start_initial_sync(server)
