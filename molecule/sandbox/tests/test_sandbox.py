"""What an operator would check by hand on each sandbox process after site.yml."""

from __future__ import annotations

import os

import pymongo
import pytest
import yaml

SANDBOX_ROOT = os.environ["MONGODB_SANDBOX_ROOT"]
USER = os.environ.get("USER") or "root"


@pytest.fixture
def process(host):
    """This inventory host's process: its kind, port, files and group variables."""
    variables = host.ansible.get_variables()
    if "mongodb" not in variables["group_names"]:
        pytest.skip("not a MongoDB process (the scenario's platform entry)")
    name = variables["inventory_hostname"]
    kind = "mongos" if "mongodb_mongos" in variables["group_names"] else "mongod"
    home = f"{SANDBOX_ROOT}/{name}"
    return {
        "name": name,
        "kind": kind,
        "port": int(variables["mongodb_port"]),
        "home": home,
        "config": f"{home}/{kind}.conf",
        "replset": variables.get("mongodb_replset_name"),
        "cluster_role": variables.get("mongodb_cluster_role"),
    }


@pytest.fixture
def config(host, process):
    return yaml.safe_load(host.file(process["config"]).content_string)


def test_config_file_is_private_to_the_service_account(host, process):
    config_file = host.file(process["config"])
    assert config_file.is_file
    assert config_file.mode == 0o640
    assert config_file.user == USER


def test_keyfile_is_readable_by_the_owner_only(host, process):
    keyfile = host.file(f"{process['home']}/keyfile")
    assert keyfile.is_file
    assert keyfile.mode == 0o400
    assert keyfile.user == USER


def test_network_settings(config, process):
    assert config["net"]["port"] == process["port"]
    assert config["net"]["bindIp"] == "127.0.0.1"
    assert config["net"]["maxIncomingConnections"] == 1000
    assert config["security"]["keyFile"] == f"{process['home']}/keyfile"


def test_mongod_storage_and_profiling_are_tuned(config, process):
    if process["kind"] != "mongod":
        pytest.skip("mongos has no storage")
    wired_tiger = config["storage"]["wiredTiger"]
    assert config["storage"]["dbPath"] == f"{process['home']}/data"
    assert wired_tiger["engineConfig"]["cacheSizeGB"] == 0.25
    assert wired_tiger["engineConfig"]["directoryForIndexes"] is True
    assert wired_tiger["collectionConfig"]["blockCompressor"] == "snappy"
    assert wired_tiger["indexConfig"]["prefixCompression"] is True
    assert config["operationProfiling"] == {"mode": "slowOp", "slowOpThresholdMs": 100, "slowOpSampleRate": 1.0}
    assert config["security"]["authorization"] == "enabled"


def test_mongod_replica_set_and_cluster_role(config, process):
    if process["kind"] != "mongod":
        pytest.skip("mongos is not a replica set member")
    assert config["replication"]["replSetName"] == process["replset"]
    assert config["sharding"]["clusterRole"] == process["cluster_role"]


def test_mongos_points_at_the_config_servers(config, process):
    if process["kind"] != "mongos":
        pytest.skip("only mongos has configDB")
    assert config["sharding"]["configDB"] == "sandbox-cfg/127.0.0.1:28019"
    assert "storage" not in config


def test_data_directory_belongs_to_the_service_account(host, process):
    if process["kind"] != "mongod":
        pytest.skip("mongos has no data directory")
    data = host.file(f"{process['home']}/data")
    assert data.is_directory
    assert data.mode == 0o700
    assert data.user == USER


def test_process_listens_on_its_port_only_on_loopback(host, process):
    assert host.socket(f"tcp://127.0.0.1:{process['port']}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{process['port']}").is_listening


def test_process_answers_ping(process):
    client = pymongo.MongoClient("127.0.0.1", process["port"], directConnection=True, serverSelectionTimeoutMS=5000)
    try:
        assert client.admin.command("ping")["ok"] == 1
    finally:
        client.close()
