"""The stand-in's configuration-file rules (tests/standin/options.py) against the option
definitions of MongoDB 8.0: which binary knows an option, and the values it refuses."""

from __future__ import annotations

import pytest

from standin import options


@pytest.mark.parametrize(
    ("role", "config", "unknown"),
    [
        # mongos_options.idl only.
        ("mongod", {"sharding": {"configDB": "cfg/h:1"}}, "sharding.configDB"),
        ("mongod", {"replication": {"localPingThresholdMs": 15}}, "replication.localPingThresholdMs"),
        # mongod_options_*.idl only.
        ("mongos", {"storage": {"dbPath": "/data"}}, "storage.dbPath"),
        ("mongos", {"replication": {"replSetName": "rs"}}, "replication.replSetName"),
        ("mongos", {"operationProfiling": {"mode": "off"}}, "operationProfiling.mode"),
        ("mongos", {"security": {"authorization": "enabled"}}, "security.authorization"),
        # Removed in 6.1.
        ("mongod", {"storage": {"journal": {"enabled": True}}}, "storage.journal.enabled"),
    ],
)
def test_options_of_the_other_binary_are_unrecognized(role, config, unknown):
    assert options.first_problem(role, "8.0.17", config) == f"Unrecognized option: {unknown}"


@pytest.mark.parametrize(
    ("role", "config"),
    [
        ("mongos", {"replication": {"localPingThresholdMs": 15}, "sharding": {"configDB": "cfg/h:1"}}),
        ("mongod", {"replication": {"replSetName": "rs", "oplogSizeMB": 50}}),
        ("mongod", {"storage": {"journal": {"commitIntervalMs": 500}, "engine": "wiredTiger"}}),
        ("mongod", {"net": {"maxIncomingConnections": 2_000_000}}),
        ("mongos", {"security": {"javascriptEnabled": False}}),
    ],
)
def test_valid_options_pass(role, config):
    assert options.first_problem(role, "8.0.17", config) is None


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"replication": {"oplogSizeMB": 0}}, "bad --oplogSize"),
        ({"storage": {"journal": {"commitIntervalMs": 501}}}, "storage.journal.commitIntervalMs"),
        ({"storage": {"syncPeriodSecs": -1}}, "storage.syncPeriodSecs"),
        ({"storage": {"wiredTiger": {"engineConfig": {"cacheSizeGB": 0.1}}}}, "cacheSizeGB"),
        ({"net": {"port": 70000}}, "net.port"),
        ({"net": {"port": "27017"}}, "net.port"),
    ],
)
def test_values_out_of_range_or_of_the_wrong_type_are_refused(config, fragment):
    problem = options.first_problem("mongod", "8.0.17", config)
    assert problem is not None and fragment in problem
