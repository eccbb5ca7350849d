"""Configurations rendered for every production and staging host, without touching them.

Each one carries the tuned values of the seed guide (as corrected in the docs), and a
server started from it (paths and port moved to a scratch directory, nothing else
changed) accepts every option in it, as it refuses unknown ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import certificates, servers
from support.ansible import run_playbook

FACTS = {"memtotal_mb": 65536, "default_ipv4": {"address": "10.0.0.10"}}
INVENTORIES = ("production", "staging")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, dict[str, dict]]:
    """{inventory: {host: config}}, rendered by tests/playbooks/render-configs.yml."""
    configs: dict[str, dict[str, dict]] = {}
    for inventory in INVENTORIES:
        out = tmp_path_factory.mktemp(inventory)
        facts_file = out / "facts.yml"
        facts_file.write_text(yaml.safe_dump({"facts": FACTS}))
        result = run_playbook(
            "tests/playbooks/render-configs.yml",
            "-i",
            f"inventories/{inventory}",
            "-e",
            f"mongodb_render_dir={out}",
            "-e",
            f"@{facts_file}",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        configs[inventory] = {path.stem: yaml.safe_load(path.read_text()) for path in out.glob("*.conf")}
    return configs


def _all(rendered, kind):
    return [
        (inventory, host, config)
        for inventory, hosts in rendered.items()
        for host, config in hosts.items()
        if ("sharding" in config and "configDB" in config["sharding"]) == (kind == "mongos")
    ]


def test_every_host_is_rendered(rendered):
    assert len(rendered["production"]) == 11
    assert len(rendered["staging"]) == 3


def test_staging_and_production_require_tls_with_each_process_own_certificate(rendered):
    for inventory, host, config in _all(rendered, "mongod") + _all(rendered, "mongos"):
        tls = config["net"]["tls"]
        assert tls["mode"] == "requireTLS", f"{inventory}/{host}"
        assert tls["CAFile"] == "/etc/mongodb/tls/ca.pem"
        assert tls["certificateKeyFile"] == f"/etc/mongodb/tls/{'mongos' if 'mongos' in host else 'mongod'}-27017.pem"
        assert "allowConnectionsWithoutCertificates" not in tls


def test_mongod_configs_carry_the_tuned_values(rendered):
    for inventory, host, config in _all(rendered, "mongod"):
        engine = config["storage"]["wiredTiger"]
        where = f"{inventory}/{host}"
        assert engine["collectionConfig"]["blockCompressor"] == "snappy", where
        assert engine["indexConfig"]["prefixCompression"] is True, where
        assert engine["engineConfig"]["directoryForIndexes"] is True, where
        assert config["operationProfiling"]["mode"] == "slowOp", where
        assert config["operationProfiling"]["slowOpThresholdMs"] == 100, where
        assert config["net"]["maxIncomingConnections"] == 1000, where
        assert "0.0.0.0" not in config["net"]["bindIp"], where
        assert config["security"]["authorization"] == "enabled", where
        assert config["security"]["keyFile"] == "/etc/mongodb/keyfile", where
        assert config["replication"]["oplogSizeMB"] == 10240, where


def test_cache_follows_mongodb_default_share_not_the_guides_75_percent(rendered):
    # 64 GB host, one mongod: 50% of (64 GB - 1 GB); an arbiter holds no data.
    production = rendered["production"]
    assert (
        production["shard01-a.mongodb.example.internal"]["storage"]["wiredTiger"]["engineConfig"]["cacheSizeGB"] == 31.5
    )
    arbiter = production["shard02-arbiter.mongodb.example.internal"]
    assert arbiter["storage"]["wiredTiger"]["engineConfig"]["cacheSizeGB"] == 0.25


def test_cluster_roles_and_replica_sets(rendered):
    production = rendered["production"]
    assert production["cfg-1.mongodb.example.internal"]["sharding"]["clusterRole"] == "configsvr"
    assert production["shard02-b.mongodb.example.internal"]["replication"]["replSetName"] == "monitoring-shard-02"
    assert production["shard01-c.mongodb.example.internal"]["sharding"]["clusterRole"] == "shardsvr"
    assert "sharding" not in rendered["staging"]["stg-mongo-1.example.internal"]
    assert rendered["staging"]["stg-mongo-1.example.internal"]["replication"]["replSetName"] == "monitoring-rs"


def test_routers_list_every_config_server(rendered):
    router = rendered["production"]["mongos-1.mongodb.example.internal"]
    assert router["sharding"]["configDB"] == (
        "monitoring-cfg/cfg-1.mongodb.example.internal:27017,cfg-2.mongodb.example.internal:27017,"
        "cfg-3.mongodb.example.internal:27017"
    )
    assert "storage" not in router
    assert "mode" not in router["operationProfiling"]  # the profiler cannot run on mongos


def _runnable(config: dict, root: Path, port: int) -> dict:
    """The same options with paths and port moved into root, and --fork for the harness."""
    runnable = yaml.safe_load(yaml.safe_dump(config))
    runnable["net"].update(port=port, bindIp="127.0.0.1")
    runnable["systemLog"]["path"] = str(root / "server.log")
    runnable["processManagement"] = {
        **runnable["processManagement"],
        "fork": True,
        "pidFilePath": str(root / "server.pid"),
    }
    if "tls" in runnable["net"]:  # the certificate and CA files, made for the scratch copy
        ca = certificates.authority(root, "ca")
        certificates.issue(ca, root / "server.pem", "server")
        runnable["net"]["tls"].update(certificateKeyFile=str(root / "server.pem"), CAFile=str(ca.ca_file))
    key_file = root / "keyfile"
    key_file.write_text("k" * 64)
    key_file.chmod(0o400)
    runnable["security"]["keyFile"] = str(key_file)
    if "storage" in runnable:
        (root / "data").mkdir()
        runnable["storage"]["dbPath"] = str(root / "data")
        runnable["storage"]["wiredTiger"]["engineConfig"]["cacheSizeGB"] = 0.25
    return runnable


def test_a_server_accepts_every_rendered_mongod_config(rendered, tmp_path, start_mongod):
    for index, (inventory, host, config) in enumerate(_all(rendered, "mongod")):
        root = tmp_path / f"{inventory}-{host}"
        root.mkdir()
        process = start_mongod(_runnable(config, root, servers.free_port()), name=f"{index}.conf")
        tls = config["net"].get("tls")
        options = {"tls": True, "tlsCAFile": str(root / "ca.pem"), "tlsCertificateKeyFile": str(root / "server.pem")}
        assert process.client(**(options if tls else {})).admin.command("ping")["ok"] == 1, f"{inventory}/{host}"
        process.stop()


@pytest.mark.skipif(not servers.using_standin(), reason="a real mongos waits for its config servers")
def test_the_stand_in_accepts_every_rendered_mongos_config(rendered, tmp_path):
    for inventory, host, config in _all(rendered, "mongos"):
        root = tmp_path / f"{inventory}-{host}"
        root.mkdir()
        path = servers.write_config(root / "mongos.conf", _runnable(config, root, servers.free_port()))
        result = servers.run_binary("mongos", "--config", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
        pid = int((root / "server.pid").read_text())
        servers.terminate(pid)
