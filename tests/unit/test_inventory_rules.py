"""Topology rules of filter_plugins/mongodb_inventory.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from mongodb_inventory import (
    RECORD_DEFAULTS,
    mongodb_inventory_problems,
    mongodb_inventory_records,
    mongodb_unreachable_problems,
)

PROJECT = Path(__file__).resolve().parents[2]


def record(name, port, replset="rs0", kind="mongod", role="", address="10.0.0.1", **member):
    return {
        "name": name,
        "address": address,
        "port": port,
        "kind": kind,
        "replset": replset,
        "cluster_role": role,
        "member": member,
    }


def replica_set(prefix="m", size=3, replset="rs0", role="", **member):
    return [
        record(f"{prefix}{i}", 27017, replset, role=role, address=f"{prefix}{i}.lan", **member) for i in range(size)
    ]


def test_a_three_member_replica_set_is_sound():
    assert mongodb_inventory_problems(replica_set(), {}) == []


def test_two_processes_on_one_port_of_one_machine_are_named():
    problems = mongodb_inventory_problems([record("a", 27017), record("b", 27017)], {})
    assert any("a and b both listen on 10.0.0.1:27017" in p for p in problems)


@pytest.mark.parametrize("size", [2, 4])
def test_an_even_number_of_voters_is_refused(size):
    problems = mongodb_inventory_problems(replica_set(size=size), {})
    assert any(f"has {size} voting members" in p for p in problems)


def test_a_non_voting_member_makes_an_even_set_odd():
    members = replica_set(size=4)
    members[3]["member"] = {"votes": 0, "priority": 0}
    assert mongodb_inventory_problems(members, {}) == []


def test_member_rules_are_left_to_the_replica_set_planner():
    # 9 voters and no possible primary: mongodb_replset's validate_only refuses these in
    # the first play (tests/unit/test_cluster_plans.py); the inventory rules do not repeat them.
    assert mongodb_inventory_problems(replica_set(size=9), {}) == []
    assert mongodb_inventory_problems(replica_set(size=3, arbiter_only=True, priority=0), {}) == []


def _sharded(shard_hosts=None):
    cfg = replica_set("c", replset="cfg", role="configsvr")
    s1 = replica_set("s", replset="shard1", role="shardsvr")
    router = [record("r0", 27017, "", kind="mongos", address="r0.lan")]
    groups = {
        "mongodb_config_servers": [r["name"] for r in cfg],
        "mongodb_shard_01": [r["name"] for r in s1] if shard_hosts is None else shard_hosts,
        "mongodb_mongos": ["r0"],
    }
    return cfg + s1 + router, groups


def test_a_sharded_layout_is_sound():
    records, groups = _sharded()
    assert mongodb_inventory_problems(records, groups) == []


def test_an_empty_shard_group_is_named():
    records, groups = _sharded(shard_hosts=[])
    groups["mongodb_shard_02"] = []
    problems = mongodb_inventory_problems(records, groups)
    assert "shard group mongodb_shard_01 has no hosts" in problems
    assert "shard group mongodb_shard_02 has no hosts" in problems


def test_routers_need_config_servers():
    records, groups = _sharded()
    groups["mongodb_config_servers"] = []
    problems = mongodb_inventory_problems([r for r in records if r["replset"] != "cfg"], groups)
    assert any("needs config servers" in p for p in problems)


def test_config_servers_cannot_have_an_arbiter():
    records, groups = _sharded()
    records[2]["member"] = {"arbiter_only": True}
    assert any("cannot be an arbiter" in p for p in mongodb_inventory_problems(records, groups))


def test_shard_members_need_the_shardsvr_role():
    records, groups = _sharded()
    for r in records:
        if r["replset"] == "shard1":
            r["cluster_role"] = ""
    assert any("need mongodb_cluster_role: shardsvr" in p for p in mongodb_inventory_problems(records, groups))


def test_records_fall_back_to_the_common_role_defaults():
    hostvars = {
        "a": {"group_names": ["mongodb_mongod"]},
        "b": {"group_names": ["mongodb_mongos"], "mongodb_port": "28017"},
    }
    records = mongodb_inventory_records(["a", "b"], hostvars)
    assert records[0] == {
        "name": "a",
        "address": "a",
        "port": 27017,
        "kind": "mongod",
        "replset": "",
        "cluster_role": "",
        "member": {},
    }
    assert records[1]["kind"] == "mongos" and records[1]["port"] == 28017


def test_record_defaults_equal_the_mongodb_defaults():
    defaults = yaml.safe_load((PROJECT / "roles/mongodb_common/defaults/main.yml").read_text())
    assert {name: defaults[name] for name in RECORD_DEFAULTS} == RECORD_DEFAULTS


@pytest.mark.parametrize("inventory", ["sandbox", "staging", "production"])
def test_shipped_inventories_are_sound(inventory):
    """The inventories as written (group and host variables only) pass the rules."""
    import json
    import subprocess

    output = subprocess.run(
        [str(PROJECT / ".venv/bin/ansible-inventory"), "-i", str(PROJECT / "inventories" / inventory), "--list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT,
    ).stdout
    data = json.loads(output)
    hostvars = data["_meta"]["hostvars"]
    groups = {}

    def walk(group):
        hosts = list(data.get(group, {}).get("hosts", []))
        for child in data.get(group, {}).get("children", []):
            hosts += walk(child)
        groups[group] = hosts
        return hosts

    walk("all")
    for host, variables in hostvars.items():
        variables["group_names"] = [g for g, members in groups.items() if host in members and g != "all"]
        # ansible-inventory does not template: the sandbox writes each port as its base
        # plus MONGODB_SANDBOX_PORT_OFFSET, which is 0 unless set.
        port = re.fullmatch(
            r"\{\{ (\d+) \+ mongodb_sandbox_port_offset \| int \}\}", str(variables.get("mongodb_port"))
        )
        if port:
            variables["mongodb_port"] = int(port.group(1))
    records = mongodb_inventory_records(groups["mongodb"], hostvars)
    assert mongodb_inventory_problems(records, groups) == []


# -- hosts that cannot be reached (mongodb_unreachable_problems) ---------------------


def probes(*holding_data: str) -> dict:
    """hostvars as the first play leaves them when each mongod has a machine of its own:
    the data directory each named, and its machine's read of the storage.bson there."""
    names = ["m0", "m1", "m2", "r0", "r1"]
    return {
        name: {
            "__mongodb_mongod_dbpath_to_read": f"/var/lib/mongodb/{name}",
            "__mongodb_mongod_machine_read": {
                "contents_base64": {f"/var/lib/mongodb/{name}/storage.bson": "eA==" if name in holding_data else None}
            },
        }
        for name in names
    }


def test_a_down_member_of_a_running_set_with_a_majority_lets_the_run_go_on():
    assert mongodb_unreachable_problems(replica_set(), ["m2"], probes("m0", "m1"), {}) == []


def test_the_read_of_a_shared_machine_tells_which_of_its_members_hold_data():
    """Co-located members (the sandbox): the first mongod of the machine read the
    storage.bson of each; the others registered a skipped read."""
    records = [record(f"m{i}", 27017 + i, address="127.0.0.1") for i in range(3)]
    found = {"/data/m0/storage.bson": "eA==", "/data/m1/storage.bson": "eA==", "/data/m2/storage.bson": None}
    hostvars = {
        "m0": {
            "__mongodb_mongod_dbpath_to_read": "/data/m0",
            "__mongodb_mongod_machine_read": {"contents_base64": found},
        },
        "m1": {"__mongodb_mongod_dbpath_to_read": "/data/m1", "__mongodb_mongod_machine_read": {"skipped": True}},
        "m2": {"__mongodb_mongod_dbpath_to_read": "/data/m2", "__mongodb_mongod_machine_read": {"skipped": True}},
    }
    assert mongodb_unreachable_problems(records, ["m2"], hostvars, {}) == []
    found["/data/m1/storage.bson"] = None
    assert mongodb_unreachable_problems(records, ["m2"], hostvars, {}) == [
        "m2 cannot be reached, and replica set rs0 holds no data yet: a new replica set needs every member."
    ]


def test_a_down_member_of_a_new_set_stops_the_run():
    problems = mongodb_unreachable_problems(replica_set(), ["m2"], probes(), {})
    assert problems == [
        "m2 cannot be reached, and replica set rs0 holds no data yet: a new replica set needs every member."
    ]


def test_a_set_left_without_a_majority_stops_the_run():
    problems = mongodb_unreachable_problems(replica_set(), ["m1", "m2"], probes("m0"), {})
    assert any("keeps 1 of its 3 voting members: no majority" in p for p in problems)


def test_a_down_non_voting_member_keeps_the_majority():
    records = [*replica_set(size=2), record("m2", 27017, address="m2.lan", votes=0, priority=0)]
    assert mongodb_unreachable_problems(records, ["m2"], probes("m0", "m1"), {}) == []


def test_only_the_first_router_is_needed():
    routers = [record("r0", 27017, replset="", kind="mongos"), record("r1", 27017, replset="", kind="mongos")]
    groups = {"mongodb_mongos": ["r0", "r1"]}
    assert mongodb_unreachable_problems(routers, ["r1"], probes(), groups) == []
    assert mongodb_unreachable_problems(routers, ["r0"], probes(), groups) == [
        "r0 cannot be reached, and the cluster-wide steps run through this first router."
    ]
