"""filter_plugins/mongodb_topology.py and mongodb_storage.py."""

from __future__ import annotations

import base64

import bson
from mongodb_storage import mongodb_storage_options
from mongodb_topology import mongodb_colocated, mongodb_data_bearing, mongodb_member_addresses

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
