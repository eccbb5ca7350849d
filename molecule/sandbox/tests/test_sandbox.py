"""What an operator would check by hand on each sandbox process after site.yml."""

from __future__ import annotations

import os
import re
import shlex

import pymongo
import pytest
import yaml

# The scenario's own sandbox, or one that tests/integration/test_site_sandbox.py converged
# and hands over (MONGODB_VERIFY_SANDBOX_ROOT) so that the suite converges it once.
SANDBOX_ROOT = os.environ.get("MONGODB_VERIFY_SANDBOX_ROOT") or os.environ["MONGODB_SANDBOX_ROOT"]
# The sandbox's ports (hosts.yml) moved by MONGODB_SANDBOX_PORT_OFFSET, as the inventory does.
OFFSET = int(os.environ.get("MONGODB_SANDBOX_PORT_OFFSET") or 0)
# Set when the sandbox was converged with tests/inventories/advertised-address.yml: every
# process also listens on, and is known by, this non-loopback address, and the last
# member of shard 02 is an arbiter.
ADVERTISED = os.environ.get("MONGODB_TEST_ADVERTISED_ADDRESS") or ""
ADDRESS = ADVERTISED or "127.0.0.1"
ARBITER_PORT = 28203
# Set when the sandbox requires TLS (mongodb_tls_mode), its certificates from the project
# CA: every client trusts that CA and presents a certificate it issued (the router's).
TLS = (
    {
        "tls": True,
        "tlsCAFile": f"{SANDBOX_ROOT}/tls-ca/ca.crt",
        "tlsCertificateKeyFile": f"{SANDBOX_ROOT}/sandbox-mongos-1/tls/mongos-{28017 + OFFSET}.pem",
    }
    if os.environ.get("MONGODB_VERIFY_TLS")
    else {}
)


def port(base: int) -> int:
    return base + OFFSET


def _inventory_port(value) -> int:
    """hosts.yml writes each port as "{{ <base> + mongodb_sandbox_port_offset | int }}", and
    testinfra reads the inventory without templating it."""
    if isinstance(value, int):
        return value
    return port(int(re.search(r"\d+", str(value)).group()))


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
        "port": _inventory_port(variables["mongodb_port"]),
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
    assert config["net"]["bindIp"] == ",".join(["127.0.0.1"] + ([ADVERTISED] if ADVERTISED else []))
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
    assert config["sharding"]["configDB"] == f"sandbox-cfg/{ADDRESS}:{port(28019)}"
    assert "storage" not in config


def test_data_directory_belongs_to_the_service_account(host, process):
    if process["kind"] != "mongod":
        pytest.skip("mongos has no data directory")
    data = host.file(f"{process['home']}/data")
    assert data.is_directory
    assert data.mode == 0o700
    assert data.user == USER


def test_process_listens_on_its_port_only_on_its_bound_addresses(host, process):
    assert host.socket(f"tcp://127.0.0.1:{process['port']}").is_listening
    if ADVERTISED:
        assert host.socket(f"tcp://{ADVERTISED}:{process['port']}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{process['port']}").is_listening


def test_process_answers_ping(process):
    client = pymongo.MongoClient(
        "127.0.0.1", process["port"], directConnection=True, serverSelectionTimeoutMS=5000, **TLS
    )
    try:
        assert client.admin.command("ping")["ok"] == 1
    finally:
        client.close()


# -- the cluster: replica sets, authentication, sharding, schema ----------------------


def _secret(name: str) -> str:
    with open(f"{SANDBOX_ROOT}/secrets/{name}") as handle:
        return handle.read().split()[0]


def _client(port: int, user: str | None = None, password: str | None = None, **options) -> pymongo.MongoClient:
    credentials = {"username": user, "password": password} if user else {}
    return pymongo.MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=5000, **credentials, **TLS, **options)


def _admin(port: int, **options) -> pymongo.MongoClient:
    return _client(port, "admin", _secret("admin"), **options)


@pytest.fixture(scope="module")
def mongos():
    client = _admin(port(28017))
    yield client
    client.close()


@pytest.mark.parametrize(
    ("base_port", "set_name", "members"),
    [
        (28019, "sandbox-cfg", {28019: 1}),
        (28101, "sandbox-shard-01", {28101: 2, 28102: 1, 28103: 1}),
        (28201, "sandbox-shard-02", {28201: 2, 28202: 1, 28203: 1}),
    ],
)
def test_replica_sets_have_the_inventory_members_and_priorities(base_port, set_name, members):
    client = _admin(port(base_port), directConnection=True)
    members = {
        f"{ADDRESS}:{port(base)}": 0 if ADVERTISED and base == ARBITER_PORT else priority
        for base, priority in members.items()
    }
    try:
        config = client.admin.command("replSetGetConfig")["config"]
        status = client.admin.command("replSetGetStatus")
    finally:
        client.close()
    assert config["_id"] == set_name
    assert {m["host"]: m["priority"] for m in config["members"]} == members
    primaries = [m["name"] for m in status["members"] if m["stateStr"] == "PRIMARY"]
    assert primaries == [max(members, key=members.get)]


def test_anonymous_clients_are_refused():
    client = _client(port(28017))
    try:
        with pytest.raises(pymongo.errors.OperationFailure) as refused:
            client.admin.command("listShards")
        assert refused.value.code == 13
    finally:
        client.close()


def test_declared_users_log_in_with_their_roles():
    app = _client(port(28017), "monitoring_app", _secret("app"))
    monitor = _client(port(28017), "monitor", _secret("monitor"))
    try:
        app.monitoring.assets.replace_one(
            {"_id": "vm-verify"}, {"_id": "vm-verify", "asset_type": "vm", "data": {}}, upsert=True
        )
        with pytest.raises(pymongo.errors.OperationFailure):
            app.other.things.insert_one({"x": 1})
        assert monitor.admin.command("serverStatus")["ok"] == 1
        with pytest.raises(pymongo.errors.OperationFailure):
            monitor.monitoring.assets.insert_one({"_id": "nope", "asset_type": "vm", "data": {}})
    finally:
        app.close()
        monitor.close()
    wrong = _client(port(28017), "monitoring_app", "not-the-password")
    try:
        with pytest.raises(pymongo.errors.OperationFailure):
            wrong.admin.command("listDatabases")
    finally:
        wrong.close()


def test_mongos_lists_both_shards_and_the_chunk_size(mongos):
    shards = {shard["_id"] for shard in mongos.admin.command("listShards")["shards"]}
    assert shards == {"sandbox-shard-01", "sandbox-shard-02"}
    assert mongos.config.settings.find_one({"_id": "chunksize"})["value"] == 32
    assert mongos.admin.command("balancerStatus")["mode"] == "full"


def test_schema_is_in_place_and_sharded_through_mongos(mongos):
    db = mongos.monitoring
    info = {c["name"]: c for c in db.list_collections()}
    assert info["metrics"]["type"] == "timeseries"
    assert info["metrics"]["options"]["expireAfterSeconds"] == 90 * 86400
    assert {"asset_time_idx", "metric_time_idx"} <= {i["name"] for i in db.metrics.list_indexes()}
    assert {"asset_type_idx", "hostname_text_idx", "parent_asset_idx", "last_updated_idx"} <= {
        i["name"] for i in db.assets.list_indexes()
    }
    sharded = {c["_id"]: dict(c["key"]) for c in mongos.config.collections.find()}
    # MongoDB 8.0 records a sharded time-series collection under its buckets collection,
    # the key on bucket fields (src/mongo/db/s/README_timeseries.md).
    assert sharded["monitoring.system.buckets.metrics"] == {"meta.asset_id": 1, "control.min.timestamp": 1}
    assert sharded["monitoring.assets"] == {"_id": "hashed"}


def test_the_backup_job_is_scheduled_with_a_private_password_file(host):
    """site.yml's last play: the cron entries (written to a file under the sandbox root,
    which nothing runs here) call the job's command; the tools' password file is 0600."""
    if "mongodb_backup" not in host.ansible.get_variables()["group_names"]:
        pytest.skip("not the backup host")
    wrapper = f"{SANDBOX_ROOT}/backup/mongodb-backup"
    cron = host.file(f"{SANDBOX_ROOT}/cron.d/mongodb-backup").content_string
    entries = [line.split(maxsplit=6) for line in cron.splitlines() if line and not line.startswith("#")]
    # The user, then the command as sh splits it (the path is quoted where it needs to be).
    assert [(fields[5], shlex.split(fields[6])) for fields in entries] == [
        (USER, [wrapper, "backup"]),
        (USER, [wrapper, "capture-oplog"]),
    ], cron
    assert host.file(wrapper).mode & 0o111
    assert host.file(f"{SANDBOX_ROOT}/backup/etc/tools.yml").mode == 0o600
