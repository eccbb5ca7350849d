"""Inventory rules for MongoDB topologies, as an Ansible filter.

`groups['mongodb'] | mongodb_inventory_records(hostvars) | mongodb_inventory_problems(groups)`
returns one sentence per problem (an empty list when the inventory is sound). A record
describes one inventory host: {"name", "address", "port", "kind", "replset",
"cluster_role", "member"}. Records are read from hostvars for every host of the
inventory, not only the hosts of the current play, so a run limited to some hosts
still checks the whole topology; a variable an inventory does not set takes the
mongodb role default (RECORD_DEFAULTS, kept equal by a unit test).

Here are the rules that need the whole inventory: ports unique per machine, an odd
number of voters per replica set (MongoDB's "Replica Set Members" advises it; this
project requires it), one cluster role per set, and the sharded cluster's groups
following "Config Servers" (no arbiters or delayed members in the config server
replica set). MongoDB's own member rules (50 members, 7 voters, a member that can
become primary, priorities) live once, in module_utils/mongodb_replset_plan.py, and
run in the first play through mongodb_replset's validate_only.
"""

from __future__ import annotations

import re
from collections import defaultdict

SHARD_GROUP = re.compile(r"^mongodb_shard_\w+$")
CONFIG_GROUP = "mongodb_config_servers"
MONGOS_GROUP = "mongodb_mongos"


# Defaults of mongodb for the variables a record reads.
RECORD_DEFAULTS = {
    "mongodb_port": 27017,
    "mongodb_replset_name": "",
    "mongodb_cluster_role": "",
    "mongodb_replset_member": {},
}


def mongodb_inventory_records(hosts: list[str], hostvars) -> list[dict]:
    """One record per host, from its inventory variables."""
    records = []
    for host in hosts:
        variables = hostvars[host]

        def get(name, variables=variables):
            return variables.get(name, RECORD_DEFAULTS[name])

        records.append(
            {
                "name": host,
                "address": str(variables.get("ansible_host", host)),
                "port": int(get("mongodb_port")),
                "kind": "mongos" if MONGOS_GROUP in variables.get("group_names", []) else "mongod",
                "replset": get("mongodb_replset_name"),
                "cluster_role": get("mongodb_cluster_role"),
                "member": dict(get("mongodb_replset_member") or {}),
            }
        )
    return records


def _votes(record: dict) -> int:
    return int(record.get("member", {}).get("votes", 1))


def _port_clashes(records: list[dict]) -> list[str]:
    seen: dict[tuple, str] = {}
    problems = []
    for record in records:
        where = (record["address"], int(record["port"]))
        if where in seen:
            problems.append(
                f"{seen[where]} and {record['name']} both listen on {where[0]}:{where[1]} "
                "(mongodb_port must be unique per machine)"
            )
        else:
            seen[where] = record["name"]
    return problems


def _replica_set_problems(name: str, members: list[dict]) -> list[str]:
    problems = []
    hosts = ", ".join(sorted(m["name"] for m in members))
    voters = sum(_votes(m) for m in members)
    if voters % 2 == 0:
        problems.append(
            f"replica set {name} ({hosts}) has {voters} voting members: use an odd number "
            "(mongodb_replset_member.votes)"
        )
    roles = {m.get("cluster_role", "") for m in members}
    if len(roles) > 1:
        problems.append(f"replica set {name} mixes mongodb_cluster_role values {sorted(roles)}")
    return problems


def _sharding_problems(records: list[dict], groups: dict) -> list[str]:
    by_name = {record["name"]: record for record in records}
    problems = []
    shard_groups = {group: hosts for group, hosts in groups.items() if SHARD_GROUP.match(group)}
    config_hosts = groups.get(CONFIG_GROUP, [])
    sharded = bool(groups.get(MONGOS_GROUP)) or bool(shard_groups) or bool(config_hosts)
    if not sharded:
        return problems
    if not config_hosts:
        problems.append(f"a sharded cluster needs config servers, but group {CONFIG_GROUP} is empty")
    if not groups.get(MONGOS_GROUP):
        problems.append(f"a sharded cluster needs at least one router, but group {MONGOS_GROUP} is empty")
    if not shard_groups:
        problems.append("a sharded cluster needs at least one shard group (mongodb_shard_<name>)")
    shard_sets: dict[str, str] = {}
    for group, hosts in sorted(shard_groups.items()):
        if not hosts:
            problems.append(f"shard group {group} has no hosts")
            continue
        members = [by_name[host] for host in hosts if host in by_name]
        names = {m["replset"] for m in members}
        if len(names) != 1 or "" in names:
            problems.append(
                f"shard group {group} must name one replica set (mongodb_replset_name), found {sorted(names)}"
            )
            continue
        replset = names.pop()
        if replset in shard_sets:
            problems.append(f"shard groups {shard_sets[replset]} and {group} both use replica set {replset}")
        shard_sets[replset] = group
        if any(m.get("cluster_role") != "shardsvr" for m in members):
            problems.append(f"members of shard group {group} need mongodb_cluster_role: shardsvr")
    config_members = [by_name[host] for host in config_hosts if host in by_name]
    if config_members:
        names = {m["replset"] for m in config_members}
        if len(names) != 1 or "" in names:
            problems.append(
                f"group {CONFIG_GROUP} must name one replica set (mongodb_replset_name), found {sorted(names)}"
            )
        if any(m.get("cluster_role") != "configsvr" for m in config_members):
            problems.append(f"members of {CONFIG_GROUP} need mongodb_cluster_role: configsvr")
        for member in config_members:
            settings = member.get("member", {})
            if settings.get("arbiter_only") or settings.get("secondary_delay_secs"):
                problems.append(f"config server {member['name']} cannot be an arbiter or a delayed member")
    return problems


def mongodb_inventory_problems(records: list[dict], groups: dict) -> list[str]:
    """Every problem of the topology described by records and the inventory groups."""
    mongod = [record for record in records if record["kind"] == "mongod"]
    problems = _port_clashes(records)
    replica_sets: dict[str, list[dict]] = defaultdict(list)
    for record in mongod:
        if record["replset"]:
            replica_sets[record["replset"]].append(record)
    for name, members in sorted(replica_sets.items()):
        problems.extend(_replica_set_problems(name, members))
    problems.extend(_sharding_problems(records, groups))
    return problems


def _holds_data(records: list[dict], hostvars, host: str) -> bool:
    """Whether the first play found MongoDB data in this host's data directory.

    mongodb_mongod's validate reads each machine once, on its first mongod
    (__mongodb_mongod_machine_read): the storage.bson in the data directory each mongod of
    the machine named (__mongodb_mongod_dbpath_to_read).
    """
    dbpath = hostvars[host].get("__mongodb_mongod_dbpath_to_read")
    if not dbpath:
        return False
    address = next(record["address"] for record in records if record["name"] == host)
    for record in records:
        if record["address"] == address:
            read = hostvars[record["name"]].get("__mongodb_mongod_machine_read") or {}
            if (read.get("contents_base64") or {}).get(f"{dbpath}/storage.bson"):
                return True
    return False


def mongodb_unreachable_problems(records: list[dict], unreachable: list[str], hostvars, groups: dict) -> list[str]:
    """Why the run cannot go on without the unreachable hosts (empty when it can).

    It can without a member of a replica set that already holds data on every member
    that answered and keeps a majority of its voting members (a machine down in a
    running cluster: the set still has a primary), and without a router other than the
    first, through which the cluster-wide steps run. A new replica set needs every member
    to be initiated, and a set without a majority has no primary.
    """
    down = set(unreachable)
    replica_sets: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record["kind"] == "mongod" and record["replset"]:
            replica_sets[record["replset"]].append(record)
    routers = groups.get(MONGOS_GROUP, [])
    problems = []
    for record in records:
        name = record["name"]
        if name not in down:
            continue
        if record["kind"] == "mongos":
            if name == routers[0]:
                problems.append(f"{name} cannot be reached, and the cluster-wide steps run through this first router.")
            continue
        if not record["replset"]:
            problems.append(f"{name} cannot be reached.")
            continue
        members = replica_sets[record["replset"]]
        answering = [m["name"] for m in members if m["name"] not in down]
        if not answering or not all(_holds_data(records, hostvars, member) for member in answering):
            problems.append(
                f"{name} cannot be reached, and replica set {record['replset']} holds no data yet: a new replica "
                "set needs every member."
            )
        voters = [m for m in members if _votes(m)]
        voting_up = [m for m in voters if m["name"] not in down]
        if len(voting_up) * 2 <= len(voters):
            problems.append(
                f"{name} cannot be reached, and replica set {record['replset']} keeps {len(voting_up)} of its "
                f"{len(voters)} voting members: no majority, so no primary."
            )
    return problems


class FilterModule:
    def filters(self):
        return {
            "mongodb_inventory_records": mongodb_inventory_records,
            "mongodb_inventory_problems": mongodb_inventory_problems,
            "mongodb_unreachable_problems": mongodb_unreachable_problems,
        }
