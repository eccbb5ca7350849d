"""Replica set membership as declared vs as configured: validation and safe steps.

Pure functions, tested without a server. ``plan_replset`` turns the declared members
and the current config (None before initiation) into either one replSetInitiate config
or the sequence of replSetReconfig configs that reaches the declaration while keeping
MongoDB's safe-reconfig rule: each non-forced reconfig adds or removes at most one
voting member (MongoDB 4.4+, https://www.mongodb.com/docs/manual/reference/command/replSetReconfig/).
Member fields MongoDB cannot change in place (arbiterOnly, buildIndexes) are refused.

Member rules: https://www.mongodb.com/docs/manual/reference/replica-configuration/
(50 members, 7 voters, priority 0-1000; arbiters, hidden, delayed and non-voting
members have priority 0). Default write concern: since 5.0 the implicit default is
w:1 when the data-bearing voters are not more than a voting majority (a PSA set), else
w:majority; a reconfig that changes it needs an explicit cluster-wide default first
(https://www.mongodb.com/docs/manual/reference/mongodb-defaults/#default-write-concern).
"""

from __future__ import annotations

import copy
from typing import Any

from ansible.module_utils.mongodb_plan import DeclarationError, Operation, Plan

MAX_MEMBERS = 50
MAX_VOTERS = 7
MEMBER_OPTIONS = {
    "host",
    "priority",
    "votes",
    "arbiter_only",
    "hidden",
    "secondary_delay_secs",
    "tags",
    "build_indexes",
}
# Declared name -> replica set config field, with MongoDB's default.
FIELD_DEFAULTS = {
    "arbiter_only": ("arbiterOnly", False),
    "build_indexes": ("buildIndexes", True),
    "hidden": ("hidden", False),
    "priority": ("priority", None),  # 1, or 0 for arbiters, hidden, delayed and non-voting members
    "tags": ("tags", {}),
    "secondary_delay_secs": ("secondaryDelaySecs", 0),
    "votes": ("votes", 1),
}
FIELD_DEFAULTS_BY_CONFIG = {config_name: default for config_name, default in FIELD_DEFAULTS.values()}
FIXED_FIELDS = ("arbiterOnly", "buildIndexes")


def _fail(message: str) -> None:
    raise DeclarationError(message)


def normalise_member(raw: dict) -> dict:
    """A declared member as replica set config fields (without _id)."""
    unknown = sorted(set(raw) - MEMBER_OPTIONS)
    if unknown:
        _fail(f"member {raw.get('host', '?')}: unknown option {unknown[0]}")
    host = raw.get("host")
    if not isinstance(host, str) or ":" not in host:
        _fail(f"member {host!r}: host must be host:port")
    member: dict[str, Any] = {"host": host}
    for name, (config_name, default) in FIELD_DEFAULTS.items():
        value = raw.get(name)
        member[config_name] = default if value is None else value
    member["votes"] = int(member["votes"])
    if member["votes"] not in (0, 1):
        _fail(f"member {host}: votes must be 0 or 1")
    if member["priority"] is None:
        passive = member["arbiterOnly"] or member["hidden"] or member["secondaryDelaySecs"] or member["votes"] == 0
        member["priority"] = 0 if passive else 1
    member["priority"] = float(member["priority"])
    if member["priority"].is_integer():
        member["priority"] = int(member["priority"])
    if not 0 <= member["priority"] <= 1000:
        _fail(f"member {host}: priority must be between 0 and 1000")
    for reason, applies in (
        ("an arbiter", member["arbiterOnly"]),
        ("a hidden member", member["hidden"]),
        ("a delayed member", member["secondaryDelaySecs"]),
        ("a non-voting member", member["votes"] == 0),
    ):
        if applies and member["priority"] != 0:
            _fail(f"member {host}: {reason} must have priority 0")
    if member["arbiterOnly"] and (member["hidden"] or member["secondaryDelaySecs"]):
        _fail(f"member {host}: an arbiter cannot be hidden or delayed")
    return member


def validate_members(name: str, members: list[dict]) -> list[dict]:
    if not members:
        _fail(f"replica set {name}: no members declared")
    normalised = [normalise_member(raw) for raw in members]
    hosts = [member["host"] for member in normalised]
    duplicates = sorted({host for host in hosts if hosts.count(host) > 1})
    if duplicates:
        _fail(f"replica set {name}: member {duplicates[0]} is declared twice")
    if len(normalised) > MAX_MEMBERS:
        _fail(f"replica set {name}: {len(normalised)} members; MongoDB allows {MAX_MEMBERS}")
    voters = sum(member["votes"] for member in normalised)
    if voters > MAX_VOTERS:
        _fail(f"replica set {name}: {voters} voting members; MongoDB allows {MAX_VOTERS}")
    if voters == 0:
        _fail(f"replica set {name}: no voting member")
    if not any(m["priority"] > 0 and not m["arbiterOnly"] for m in normalised):
        _fail(f"replica set {name}: no member can become primary (every one has priority 0 or is an arbiter)")
    return normalised


def implicit_write_concern(members: list[dict]) -> str:
    """MongoDB 5.0+'s implicit default write concern for this membership."""
    voters = [m for m in members if m.get("votes", 1)]
    majority = len(voters) // 2 + 1
    data_voters = [m for m in voters if not m.get("arbiterOnly")]
    if any(m.get("arbiterOnly") for m in members) and len(data_voters) <= majority:
        return "1"
    return "majority"


def _comparable(member: dict) -> dict:
    view = {key: member.get(key, FIELD_DEFAULTS_BY_CONFIG[key]) for key in FIELD_DEFAULTS_BY_CONFIG}
    view["host"] = member["host"]
    view["priority"] = float(member.get("priority", 1))
    view["tags"] = dict(member.get("tags") or {})
    return view


def _initiate_config(name: str, members: list[dict], configsvr: bool) -> dict:
    config: dict[str, Any] = {"_id": name, "version": 1, "members": []}
    if configsvr:
        config["configsvr"] = True
    for index, member in enumerate(members):
        config["members"].append({"_id": index, **member})
    return config


def next_config(current: dict, members: list[dict]) -> dict:
    """The replSetReconfig document that moves the config as read (current) to these members.

    Its version is the one read plus one, so a reconfig the primary ran itself since the
    plan was made (it drops newlyAdded flags: SERVER-46344) is never undone or refused
    for a stale version. The server keeps newlyAdded itself and refuses it from a client,
    and sets the term of a non-force reconfig, so neither is sent
    (src/mongo/db/repl/replication_coordinator_impl.cpp, processReplSetReconfig).
    """
    config = {key: copy.deepcopy(value) for key, value in current.items() if key != "term"}
    config["version"] = current["version"] + 1
    config["members"] = [{key: value for key, value in m.items() if key != "newlyAdded"} for m in members]
    return config


def _declared(member: dict) -> dict:
    """A config member back in declared form, to validate an intermediate step."""
    declared = {"host": member["host"]}
    for name, (config_name, default) in FIELD_DEFAULTS.items():
        declared[name] = member.get(config_name, default)
    return declared


def _voter(member: dict) -> bool:
    return int(member.get("votes", 1)) == 1


def _step_summary(name: str, before: list[dict], after: list[dict]) -> str:
    old = {m["host"]: _comparable(m) for m in before}
    new = {m["host"]: _comparable(m) for m in after}
    changes = [f"add {host}" for host in new if host not in old]
    changes += [f"remove {host}" for host in old if host not in new]
    changes += [f"change {host}" for host in new if host in old and new[host] != old[host]]
    return f"replica set {name}: {', '.join(changes) or 'no member change'}"


def plan_replset(name: str, declared: list[dict], current: dict | None, configsvr: bool = False) -> Plan:
    """One replSetInitiate, or the safe replSetReconfig steps from current to declared.

    Each operation's command holds the config as planned; the module sends each step
    with the version it reads just before (next_config).
    """
    desired = validate_members(name, declared)
    plan = Plan(before=describe(current))
    voters = sum(m["votes"] for m in desired)
    if voters % 2 == 0:
        plan.warnings.append(
            f"replica set {name} declares {voters} voting members: an odd number keeps a majority through a "
            "network split"
        )
    if current is None:
        config = _initiate_config(name, desired, configsvr)
        plan.operations.append(
            Operation(
                "admin", {"replSetInitiate": config}, f"replica set {name}: initiate with {len(desired)} members", name
            )
        )
        plan.after = describe(config)
        return plan
    if current.get("_id") != name:
        plan.refusals.append(f"the members belong to replica set {current.get('_id')}, not {name}")
        return plan

    by_host = {member["host"]: member for member in current["members"]}
    for member in desired:
        old = by_host.get(member["host"])
        if old is None:
            continue
        for fixed in FIXED_FIELDS:
            if bool(old.get(fixed, FIELD_DEFAULTS_BY_CONFIG[fixed])) != bool(member[fixed]):
                plan.refusals.append(
                    f"member {member['host']}: {fixed} is {bool(old.get(fixed, FIELD_DEFAULTS_BY_CONFIG[fixed]))} "
                    f"and would become {member[fixed]}; MongoDB cannot change {fixed} in place: remove the "
                    "member, then add it back"
                )
    if plan.refusals:
        return plan

    next_id = max([m["_id"] for m in current["members"]] + [-1]) + 1
    target: dict[str, dict] = {}
    for member in desired:
        old = by_host.get(member["host"])
        if old is not None:
            target[member["host"]] = {"_id": old["_id"], **member}
        else:
            target[member["host"]] = {"_id": next_id, **member}
            next_id += 1

    working = [copy.deepcopy(m) for m in current["members"]]
    config = current

    def commit(members: list[dict]) -> None:
        nonlocal config, working
        try:
            validate_members(name, [_declared(m) for m in members])
        except DeclarationError as error:
            raise DeclarationError(
                f"no safe path from the current configuration: a step would be invalid ({error})"
            ) from error
        summary = _step_summary(name, working, members)
        working = members
        config = next_config(config, members)
        plan.operations.append(Operation("admin", {"replSetReconfig": config}, summary, name))

    # Step 1: every change that does not add or remove a voter.
    first: list[dict] = []
    for member in working:
        goal = target.get(member["host"])
        if goal is None:
            if not _voter(member):
                continue  # a non-voting member leaves here
            first.append(member)
        elif _voter(goal) == _voter(member):
            first.append(goal)
        else:
            first.append(member)
    first += [goal for host, goal in target.items() if host not in by_host and not _voter(goal)]
    if [_comparable(m) for m in first] != [_comparable(m) for m in working] or len(first) != len(working):
        commit(first)

    # Then one voter at a time: additions first (up to 7 voters), then removals.
    def voter_changes() -> tuple[list[str], list[str]]:
        present = {m["host"]: m for m in working}
        add = [h for h, g in target.items() if _voter(g) and not (h in present and _voter(present[h]))]
        remove = [m["host"] for m in working if _voter(m) and not (m["host"] in target and _voter(target[m["host"]]))]
        return add, remove

    add, remove = voter_changes()
    while add or remove:
        voters_now = sum(1 for m in working if _voter(m))
        if add and (voters_now < MAX_VOTERS or not remove):
            host = add.pop(0)
            members = [target[host] if m["host"] == host else m for m in working]
            if host not in {m["host"] for m in working}:
                members.append(target[host])
        else:
            host = remove.pop(0)
            if host in target:
                members = [target[host] if m["host"] == host else m for m in working]
            else:
                members = [m for m in working if m["host"] != host]
        commit(members)
    plan.after = describe(config)
    return plan


def describe(config: dict | None) -> dict:
    """A config as a diff shows it: members by host with their settings."""
    if not config:
        return {}
    return {
        "set": config["_id"],
        "members": {m["host"]: {k: v for k, v in m.items() if k not in ("host",)} for m in config["members"]},
    }
