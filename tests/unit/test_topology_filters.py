"""filter_plugins/mongodb_topology.py and mongodb_storage.py."""

from __future__ import annotations

import base64

import bson
from mongodb_storage import mongodb_storage_options
from mongodb_topology import (
    mongodb_colocated,
    mongodb_data_bearing,
    mongodb_host_with_address,
    mongodb_machine_read,
    mongodb_member_addresses,
    mongodb_replica_sets,
    mongodb_shard_connections,
)

HOSTVARS = {
    "a": {"ansible_host": "10.0.0.1", "mongodb_port": 27017},
    "b": {"ansible_host": "10.0.0.1", "mongodb_port": 27018, "mongodb_replset_member": {"arbiter_only": True}},
    "c": {"ansible_host": "10.0.0.2"},
    "d": {"mongodb_advertised_host": "d.example.internal", "mongodb_port": "27019"},
}


def test_colocated_hosts_share_ansible_host():
    assert mongodb_colocated(["a", "b", "c", "d"], HOSTVARS, "b") == ["a", "b"]
    assert mongodb_colocated(["a", "b", "c", "d"], HOSTVARS, "d") == ["d"]


def test_arbiters_are_not_data_bearing():
    assert mongodb_data_bearing(["a", "b", "c"], HOSTVARS) == ["a", "c"]


def test_member_addresses_prefer_the_advertised_host():
    assert mongodb_member_addresses(["a", "c", "d"], HOSTVARS) == [
        "10.0.0.1:27017",
        "10.0.0.2:27017",
        "d.example.internal:27019",
    ]


def test_storage_options_are_read_from_storage_bson():
    document = {"storage": {"engine": "wiredTiger", "options": {"directoryPerDB": False, "directoryForIndexes": True}}}
    content = base64.b64encode(bson.encode(document)).decode()
    assert mongodb_storage_options(content) == {"directoryPerDB": False, "directoryForIndexes": True}
    assert mongodb_storage_options("") == {}


def test_shard_seeds_leave_out_hidden_members_and_arbiters():
    # addShard checks each seed against the hosts the set advertises; hidden members
    # are not advertised (sharding_catalog_manager_shard_operations.cpp).
    groups = {"mongodb_shard_01": ["a", "b", "c", "d"]}
    hostvars = {
        "a": {"mongodb_replset_name": "s1", "mongodb_port": 1},
        "b": {"mongodb_replset_name": "s1", "mongodb_port": 2},
        "c": {"mongodb_replset_name": "s1", "mongodb_port": 3, "mongodb_replset_member": {"hidden": True}},
        "d": {"mongodb_replset_name": "s1", "mongodb_port": 4, "mongodb_replset_member": {"arbiter_only": True}},
    }
    assert mongodb_shard_connections(groups, hostvars) == [{"name": "s1", "connection": "s1/a:1,b:2"}]


def test_the_inventory_host_of_a_member_address():
    hostvars = {"a": {"mongodb_advertised_host": "10.0.0.1", "mongodb_port": 27018}, "b": {"mongodb_port": 27018}}
    assert mongodb_host_with_address(["a", "b"], hostvars, "10.0.0.1:27018") == "a"
    assert mongodb_host_with_address(["a", "b"], hostvars, "b:27018") == "b"
    assert mongodb_host_with_address(["a", "b"], hostvars, None) is None


def test_replica_sets_list_their_data_bearing_members_and_role():
    hostvars = {
        "c": {"mongodb_replset_name": "cfg", "mongodb_cluster_role": "configsvr", "mongodb_port": 1},
        "a": {"mongodb_replset_name": "s1", "mongodb_cluster_role": "shardsvr", "mongodb_port": 2},
        "b": {"mongodb_replset_name": "s1", "mongodb_port": 3, "mongodb_replset_member": {"arbiter_only": True}},
        "m": {"mongodb_port": 4},
    }
    assert mongodb_replica_sets(["c", "a", "b", "m"], hostvars) == [
        {"name": "cfg", "role": "configsvr", "members": ["c:1"]},
        {"name": "s1", "role": "shardsvr", "members": ["a:2"]},
    ]


def test_the_read_of_a_machine_is_found_on_whichever_of_its_mongods_made_it():
    """The first mongod that answered reads the machine; the others registered a skip."""
    read = {"contents": {"/sys/fs/cgroup/memory.max": "max\n"}, "contents_base64": {}}
    hostvars = {
        "a": {"__mongodb_mongod_machine_read": {"skipped": True}},
        "b": {"__mongodb_mongod_machine_read": read},
        "c": {},
    }
    assert mongodb_machine_read(["a", "b", "c"], hostvars) == read
    assert mongodb_machine_read(["a", "c"], hostvars) == {}
