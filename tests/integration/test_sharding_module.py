"""The mongodb_sharding module against a minimal sharded cluster.

A one-member config server replica set, a one-member shard replica set and one mongos,
no access control. Each change runs in check mode (planned, changed, no write), for
real (exactly the planned commands, in order), then again (no change, no write). The
module talks to mongos through a recording proxy (support/proxy.py): a real mongos has
no profiler and the stand-in's mongos no command log, and the proxy counts what was
sent the same way on real binaries and on the stand-in.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pytest
from support import servers
from support.ansible import command_names, run_module
from support.proxy import RecordingProxy

SHARD = "shard-a"
# Commands the module may send that change the cluster; a command's name is found
# among these because Ansible's json callback prints results with sorted keys.
ASSETS = {"namespace": "monitoring.assets", "key": [{"_id": "hashed"}]}
METRICS = {"namespace": "monitoring.metrics", "key": [{"meta.asset_id": 1}, {"timestamp": 1}]}


@dataclass
class Cluster:
    router: pymongo.MongoClient
    proxy: RecordingProxy
    shard: dict  # the declared shard: name and connection


def start_member(root: Path, set_name: str, role: str) -> tuple[int, int]:
    """A forked mongod of a one-member replica set with a cluster role: (port, pid)."""
    root.mkdir()
    config = servers.base_config(root, servers.free_port())
    config["replication"] = {"replSetName": set_name}
    config["sharding"] = {"clusterRole": role}
    started = servers.run_binary("mongod", "--config", str(servers.write_config(root / "mongod.conf", config)))
    assert started.returncode == 0, started.stdout + started.stderr
    return config["net"]["port"], int((root / "mongod.pid").read_text().strip())


@pytest.fixture
def cluster(tmp_path):
    """A started cluster with no shard yet and its balancer stopped, so that the
    declaration below has one operation of each kind to plan."""
    pids: list[int] = []
    clients: list[pymongo.MongoClient] = []
    proxy = None
    try:
        members = {}
        for set_name, role in (("cfg", "configsvr"), (SHARD, "shardsvr")):
            port, pid = start_member(tmp_path / set_name, set_name, role)
            pids.append(pid)
            members[set_name] = port
        for set_name, port in members.items():
            client = pymongo.MongoClient("127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=5000)
            clients.append(client)
            client.admin.command(
                "replSetInitiate", {"_id": set_name, "members": [{"_id": 0, "host": f"127.0.0.1:{port}"}]}
            )
        for client in clients:
            servers.wait_for(lambda c=client: c.admin.command("hello").get("isWritablePrimary"), 60)
        router_port = servers.start_mongos(tmp_path, f"cfg/127.0.0.1:{members['cfg']}")
        pid = int((tmp_path / "mongos.pid").read_text().strip())
        pids.append(pid)
        router = pymongo.MongoClient("127.0.0.1", router_port, serverSelectionTimeoutMS=20000)
        clients.append(router)
        router.admin.command("balancerStop")
        proxy = RecordingProxy(router_port)
        yield Cluster(router, proxy, {"name": SHARD, "connection": f"{SHARD}/127.0.0.1:{members[SHARD]}"})
    finally:
        if proxy is not None:
            proxy.close()
        for client in clients:
            client.close()
        stop(pids)


def stop(pids: list[int]) -> None:
    """Stop the processes side by side: signal each, then wait for each to exit."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in pids:
        servers.wait_for(lambda pid=pid: servers.exited(pid), 60, interval=0.05)


def sharding(proxy: RecordingProxy, *flags: str, **params) -> dict:
    return run_module("mongodb_sharding", {"login_port": proxy.port, **params}, *flags)


def check_apply_again(proxy: RecordingProxy, **params) -> tuple[dict, dict]:
    """Check mode (changed, no write), apply (changed, exactly the planned commands in
    order), again (unchanged, no write); returns the plan and the applied result."""
    proxy.mark()
    planned = sharding(proxy, "--check", "--diff", **params)
    assert planned.get("changed") is True, planned
    assert proxy.writes() == []
    applied = sharding(proxy, **params)
    assert applied.get("changed") is True, applied
    assert [entry["command"] for entry in proxy.writes()] == command_names(planned)
    proxy.mark()
    again = sharding(proxy, "--diff", **params)
    assert again.get("changed") is False, again
    assert again["operations"] == [] and again["diff"]["before"] == again["diff"]["after"]
    assert proxy.writes() == []
    return planned, applied


def refused_with_no_write(proxy: RecordingProxy, **params) -> str:
    proxy.mark()
    refused = sharding(proxy, **params)
    assert refused.get("failed") and refused["changed"] is False, refused
    assert "nothing was sent" in refused["msg"]
    assert proxy.writes() == []
    return refused["msg"]


def shard_keys(router: pymongo.MongoClient) -> dict[str, list]:
    return {entry["_id"]: list(entry["key"].items()) for entry in router.config.collections.find()}


def test_shards_chunk_size_balancer_and_a_shard_key_check_apply_rerun(cluster):
    declared = {"shards": [cluster.shard], "chunk_size_mb": 32, "balancer_enabled": True, "collections": [ASSETS]}
    planned, _ = check_apply_again(cluster.proxy, **declared)
    assert command_names(planned) == ["addShard", "update", "balancerStart", "shardCollection"]
    assert SHARD not in json.dumps(planned["diff"]["before"]) and SHARD in json.dumps(planned["diff"]["after"])

    router = cluster.router
    assert [shard["_id"] for shard in router.admin.command("listShards")["shards"]] == [SHARD]
    assert router.config.settings.find_one({"_id": "chunksize"})["value"] == 32
    assert router.admin.command("balancerStatus")["mode"] == "full"
    assert shard_keys(router)["monitoring.assets"] == [("_id", "hashed")]


def test_time_series_shard_key_check_apply_rerun_and_keys_refused_with_no_write(cluster):
    router = cluster.router
    router.admin.command("addShard", cluster.shard["connection"], name=SHARD)
    router.admin.command("shardCollection", ASSETS["namespace"], key={"_id": "hashed"})
    router.monitoring.create_collection("metrics", timeseries={"timeField": "timestamp", "metaField": "meta"})
    declared = {"shards": [cluster.shard], "collections": [ASSETS, METRICS]}

    # A time-series key with the timeField first, and a new key for a sharded collection
    # (not changed in place), beside a change that is allowed: all refused, none sent,
    # and the run does not report a change it did not make.
    wrong_order = {**METRICS, "key": [{"timestamp": 1}, {"meta.asset_id": 1}]}
    ranged = {**ASSETS, "key": [{"_id": 1}]}
    cluster.proxy.mark()
    refused = sharding(cluster.proxy, shards=[cluster.shard], chunk_size_mb=64, collections=[ranged, wrong_order])
    assert refused.get("failed") and "nothing was sent" in refused["msg"], refused
    assert "monitoring.metrics" in refused["msg"] and "monitoring.assets" in refused["msg"]
    assert cluster.proxy.writes() == []
    assert refused["changed"] is False, refused
    assert router.config.settings.find_one({"_id": "chunksize"}) is None

    planned, _ = check_apply_again(cluster.proxy, **declared)
    assert command_names(planned) == ["shardCollection"]
    # MongoDB 8.0 records it under the buckets collection, with the key on bucket fields.
    keys = shard_keys(router)
    assert keys["monitoring.system.buckets.metrics"] == [("meta.asset_id", 1), ("control.min.timestamp", 1)]
    assert keys["monitoring.assets"] == [("_id", "hashed")]


@pytest.mark.parametrize(
    "key",
    [[{"_id": -1}], [{"asset_id": "hashed"}, {"site": "hashed"}]],
    ids=["descending", "two-hashed-fields"],
)
def test_a_bad_shard_key_is_refused_before_anything_is_sent(key):
    """Refused from the declaration alone: the module does not even connect, so the
    proxy in front of an unused port sees no connection."""
    proxy = RecordingProxy(servers.free_port())
    try:
        refused = sharding(proxy, collections=[{"namespace": "monitoring.assets", "key": key}])
        assert refused.get("failed") and refused["changed"] is False, refused
        assert "nothing was sent" in refused["msg"] and "monitoring.assets" in refused["msg"]
        assert proxy.connections == 0 and proxy.commands() == []
    finally:
        proxy.close()
