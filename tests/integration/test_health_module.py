"""The mongodb_health module against a secured replica set, as the monitoring account.

A healthy set is all green; then each of the guide's six measures is pushed past its
threshold and the report names it. Where a test can make the value itself cross the
threshold on any server (connections, slow operations, lag, the cache, an unused
index), it does; the disk's use is not a test's to change, so that test lowers the
threshold under it instead. Everything here runs unchanged against real binaries.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pymongo
import pytest
from pymongo.write_concern import WriteConcern
from support import servers
from support.ansible import run_module

SET = "rs-health"
ADMIN = {"username": "admin", "password": "admin-password-1"}
MONITOR = {"login_user": "monitor", "login_password": "monitor-password-1"}
COLLECTIONS = ["monitoring.assets"]


@pytest.fixture
def secured(start_mongod, tmp_path):
    """Start members of one secured replica set; the first is initiated with the
    administrator and the monitoring account, and holds monitoring.assets."""
    keyfile = servers.write_keyfile(tmp_path / "keyfile")

    def start(count: int = 1, **net) -> list[servers.MongoProcess]:
        processes = []
        for number in range(count):
            config = servers.base_config(tmp_path / f"m{number}", servers.free_port())
            config["net"].update(net)
            config["replication"] = {"replSetName": SET}
            config["security"] = {"keyFile": str(keyfile), "authorization": "enabled"}
            processes.append(start_mongod(config, name=f"m{number}.conf"))
        members = [
            {"_id": i, "host": f"127.0.0.1:{p.port}", "priority": 2 if i == 0 else 1} for i, p in enumerate(processes)
        ]
        anonymous = processes[0].client()
        anonymous.admin.command("replSetInitiate", {"_id": SET, "members": members})
        servers.wait_for(lambda: anonymous.admin.command("hello").get("isWritablePrimary"), 60)
        anonymous.admin.command("createUser", "admin", pwd=ADMIN["password"], roles=["root"])
        admin = processes[0].client(**ADMIN)
        admin.admin.command("createUser", "monitor", pwd=MONITOR["login_password"], roles=["clusterMonitor"])
        admin.monitoring.assets.insert_many([{"_id": f"a{i}", "asset_type": "vm"} for i in range(50)])
        admin.monitoring.assets.create_index("asset_type", name="asset_type_idx")
        for process in processes[1:]:
            member = process.client(**ADMIN)
            servers.wait_for(lambda m=member: m.admin.command("hello").get("secondary"), 60)
        return processes

    return start


def health(processes, **params) -> dict:
    members = [f"127.0.0.1:{p.port}" for p in processes]
    args = {**MONITOR, "groups": [{"name": SET, "members": members}], "collections": COLLECTIONS,
            "cache_sample_seconds": 1, **params}  # fmt: skip
    result = run_module("mongodb_health", args)
    assert not result.get("failed"), result.get("msg")
    return result


def alerts(result: dict, check: str) -> list[dict]:
    return [f for f in result["findings"] if f["check"] == check and f["status"] == "alert"]


def test_a_healthy_set_is_all_green_and_says_what_it_measured(secured):
    [member] = secured()
    result = health([member])
    assert result["ok"] is True, result["alerts"]
    assert result["changed"] is False and result["operations"] == []
    checks = {f["check"] for f in result["findings"]}
    assert {"connections", "slow_operations", "disk", "oplog_window", "cache_hit_ratio", "unused_indexes"} <= checks
    assert "mongodb_ss_connections{" in result["textfile"]
    assert 'mongodb_health_disk_ok{subject="127.0.0.1:' in result["textfile"]
    assert result["table"][0].split() == ["check", "subject", "value", "threshold", "status"]


def test_connections_in_use_above_the_share_are_named(secured):
    [member] = secured(maxIncomingConnections=30)
    admin = member.client(**ADMIN)
    held = []
    try:
        while admin.admin.command("serverStatus")["connections"]["current"] < 26:
            client = pymongo.MongoClient(member.uri, **ADMIN)
            client.admin.command("ping")
            held.append(client)
        [alert] = alerts(health([member]), "connections")
        assert alert["subject"] == f"127.0.0.1:{member.port}" and alert["value"] > 0.8
    finally:
        for client in held:
            client.close()


def test_slow_operations_above_the_rate_are_named(secured):
    [member] = secured()
    admin = member.client(**ADMIN)
    admin.monitoring.command("profile", 2)  # every operation is profiled, with its millis
    for _ in range(12):
        list(admin.monitoring.assets.find({"asset_type": "vm"}))
    [alert] = alerts(health([member], slow_op_ms=0), "slow_operations")
    assert alert["value"] >= 12 and "in the last minute" in alert["message"]


def test_a_member_behind_its_primary_is_named(secured):
    """Three members, so that the primary keeps a majority while one is stopped."""
    primary, _, secondary = secured(3)
    assets = primary.client(**ADMIN).monitoring.get_collection("assets", write_concern=WriteConcern(w=1))
    pid = int(Path(secondary.config["processManagement"]["pidFilePath"]).read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        assets.insert_one({"_id": "while-stopped-1", "asset_type": "vm"})
        time.sleep(3)
        assets.insert_one({"_id": "while-stopped-2", "asset_type": "vm"})
        result = health([primary], max_replication_lag_seconds=1, collections=[])
    finally:
        os.kill(pid, signal.SIGCONT)
    [alert] = alerts(result, "replication_lag")
    assert alert["subject"] == f"127.0.0.1:{secondary.port}"


def test_a_cold_cache_below_the_ratio_is_named(secured):
    """Right after a restart nothing is in the cache: a scan during the sampling window
    reads what it asks for from disk."""
    [member] = secured()
    admin = member.client(**ADMIN)
    admin.monitoring.readings.insert_many([{"n": i, "pad": "x" * 200} for i in range(1000)])
    member.stop()
    assert member.start().returncode == 0
    reader = member.client(**ADMIN)
    scan = threading.Timer(8, lambda: list(reader.monitoring.readings.find({})))
    scan.start()
    try:
        result = health([member], cache_sample_seconds=12, collections=[])
    finally:
        scan.join()
    [alert] = alerts(result, "cache_hit_ratio")
    assert alert["value"] < 0.95


def test_the_disk_use_above_the_share_is_named(secured):
    [member] = secured()
    [alert] = alerts(health([member], max_disk_ratio=0.0), "disk")
    assert alert["subject"] == f"127.0.0.1:{member.port}" and 0 < alert["value"] <= 1


def test_an_index_no_member_used_is_named_and_a_used_one_is_not(secured):
    [member] = secured()
    [alert] = alerts(health([member], unused_index_min_age_hours=0), "unused_indexes")
    assert alert["subject"] == "monitoring.assets.asset_type_idx"
    member.client(**ADMIN).monitoring.assets.find_one({"asset_type": "vm"})
    assert alerts(health([member], unused_index_min_age_hours=0), "unused_indexes") == []
    # Too recently watched to judge at the default age (the counts restart with the member).
    assert alerts(health([member]), "unused_indexes") == []


def test_a_member_that_does_not_answer_is_named(secured):
    [member] = secured()
    members = [f"127.0.0.1:{member.port}", "127.0.0.1:1"]
    result = health([member], groups=[{"name": SET, "members": members}], connect_timeout=2)
    assert [f["subject"] for f in alerts(result, "reachable")] == ["127.0.0.1:1"]
