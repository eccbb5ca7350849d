"""Failover as MongoDB's replica sets do it: elections, step-down, catch-up, write concern,
retried writes; and the feature compatibility version an upgrade steps through.

Each set is three members started here, initiated with a short election timeout
(settings.electionTimeoutMillis 2000, heartbeatIntervalMillis 500, both accepted by
replSetInitiate) so an election takes seconds. Members are killed with SIGKILL, as a crash
would stop them. Runs on MONGODB_BIN_DIR's mongod, or the stand-in when it is unset
(tests/standin/elections.py and replication.py cite the rules).
"""

from __future__ import annotations

import datetime
import time

import pymongo
import pytest
from bson import Int64
from support import servers

SET = "rs0"
FAST = {"electionTimeoutMillis": 2000, "heartbeatIntervalMillis": 500}
MAJORITY = pymongo.WriteConcern("majority", wtimeout=20000)


def host(process) -> str:
    return f"127.0.0.1:{process.port}"


@pytest.fixture
def start_set(start_mongod, tmp_path):
    """start_set(members): started and initiated members; members are replSetInitiate
    member documents without host (index order), e.g. [{"priority": 3}, {}, {"arbiterOnly": True}]."""

    def start(members: list[dict], **settings) -> list:
        processes = []
        for index in range(len(members)):
            root = tmp_path / f"m{index}"
            root.mkdir()
            config = servers.base_config(root, servers.free_port())
            config["replication"] = {"replSetName": SET}
            processes.append(start_mongod(config, name=f"m{index}.conf"))
        pairs = enumerate(zip(processes, members, strict=True))
        config = {
            "_id": SET,
            "members": [{"_id": i, "host": host(p), **extra} for i, (p, extra) in pairs],
            "settings": {**FAST, **settings},
        }
        processes[0].client().admin.command("replSetInitiate", config)
        servers.wait_for(lambda: primary_of(processes) is not None, 60)
        return processes

    return start


def direct(process, **options) -> pymongo.MongoClient:
    return pymongo.MongoClient(process.uri, serverSelectionTimeoutMS=2000, **options)


def hello(process) -> dict | None:
    with direct(process) as client:
        try:
            return client.admin.command("hello")
        except pymongo.errors.PyMongoError:
            return None


def primary_of(processes) -> str | None:
    """The member that says it is writable primary, if exactly one does."""
    primaries = [host(p) for p in processes if (hello(p) or {}).get("isWritablePrimary")]
    return primaries[0] if len(primaries) == 1 else None


def set_client(processes) -> pymongo.MongoClient:
    hosts = ",".join(host(p) for p in processes)
    return pymongo.MongoClient(f"mongodb://{hosts}/?replicaSet={SET}", serverSelectionTimeoutMS=30000)


def documents_on(process) -> set:
    with direct(process, readPreference="secondaryPreferred") as client:
        return {doc["_id"] for doc in client.failover.probe.find()}


def test_a_killed_primary_is_replaced_by_the_highest_priority_healthy_member(start_set):
    members = start_set([{"priority": 3}, {"priority": 2}, {"priority": 1}])
    assert primary_of(members) == host(members[0])
    before = hello(members[0])  # electionId is in the primary's hello only
    servers.kill(members[0])
    # A real set may first elect either survivor; the higher priority one takes over.
    servers.wait_for(lambda: primary_of(members[1:]) == host(members[1]), 60)
    after = hello(members[1])
    assert after["electionId"] > before["electionId"]
    servers.wait_for(lambda: hello(members[2]).get("primary") == host(members[1]), 10)


def test_no_member_is_elected_without_a_majority_and_a_primary_without_one_steps_down(start_set):
    members = start_set([{"priority": 2}, {}, {}])
    servers.kill(members[1])
    servers.kill(members[2])
    # Can't see a majority of the set: the primary steps down after the election timeout.
    servers.wait_for(lambda: (hello(members[0]) or {}).get("secondary"), 30)
    servers.wait_for(lambda: hello(members[0])["isWritablePrimary"] is False, 1)
    assert members[1].start().returncode == 0
    servers.wait_for(lambda: primary_of(members[:2]) is not None, 60)


def test_a_restarted_member_catches_up_and_takes_its_priority_back(start_set):
    members = start_set([{"priority": 2}, {}, {}])
    servers.kill(members[0])
    client = set_client(members)
    probe = client.failover.get_collection("probe", write_concern=MAJORITY)
    probe.insert_many([{"_id": n} for n in range(5)])
    assert members[0].start().returncode == 0
    servers.wait_for(lambda: documents_on(members[0]) == set(range(5)), 60)
    servers.wait_for(lambda: primary_of(members) == host(members[0]), 60)
    probe.insert_one({"_id": 5})
    assert documents_on(members[0]) == set(range(6))
    client.close()


def test_a_majority_write_without_a_majority_reports_a_write_concern_timeout(start_set):
    """Primary-secondary-arbiter with the secondary down: the primary keeps its majority
    of voters (with the arbiter), but only one data-bearing member has the write."""
    members = start_set([{"priority": 2}, {}, {"arbiterOnly": True}])
    servers.kill(members[1])
    primary = members[0].client()
    reply = primary.failover.command(
        "insert", "probe", documents=[{"_id": 1}], writeConcern={"w": "majority", "wtimeout": 1000}
    )
    assert reply["n"] == 1
    assert reply["writeConcernError"]["code"] == 64
    assert reply["writeConcernError"]["errInfo"]["wtimeout"] is True
    assert members[1].start().returncode == 0
    # Back, it catches up, and majority writes are acknowledged again.
    reply = primary.failover.command(
        "insert", "probe", documents=[{"_id": 2}], writeConcern={"w": "majority", "wtimeout": 30000}
    )
    assert "writeConcernError" not in reply
    assert documents_on(members[1]) == {1, 2}


def test_a_retried_write_runs_once_on_the_new_primary(start_set):
    """The same lsid and txnNumber sent again after a failover answers the first result
    instead of inserting twice (docs "Retryable Writes")."""
    members = start_set([{"priority": 2}, {}, {}])
    client = set_client(members)
    session = client.start_session()
    insert = {"insert": "probe", "documents": [{"_id": 1}], "txnNumber": Int64(7), "writeConcern": {"w": "majority"}}
    assert client.failover.command(dict(insert), session=session)["n"] == 1
    servers.kill(members[0])
    servers.wait_for(lambda: primary_of(members[1:]) is not None, 60)
    retried = servers.wait_for(lambda: client.failover.command(dict(insert), session=session), 30)
    assert retried["n"] == 1
    assert "writeErrors" not in retried
    assert client.failover.probe.count_documents({}) == 1
    with pytest.raises(pymongo.errors.OperationFailure) as older:
        client.failover.command({**insert, "txnNumber": Int64(6)}, session=session)
    assert older.value.code == 225
    session.end_session()
    client.close()


def test_a_primary_shut_down_cleanly_hands_over_before_the_election_timeout(start_set):
    """Election handoff (enableElectionHandoff, on by default): a primary that shuts down
    asks a caught-up secondary to stand at once, so the set does not wait for the election
    timeout (10 s here) as it does after a crash."""
    members = start_set([{"priority": 2}, {}, {}], electionTimeoutMillis=10000)
    members[0].stop()
    started = time.monotonic()
    servers.wait_for(lambda: primary_of(members[1:]) is not None, 9)
    assert time.monotonic() - started < 9


def test_a_stepped_down_primary_hands_over_at_once(start_set):
    """replSetStepDown waits for a caught-up secondary and hands it the election
    (enableElectionHandoff), so the set does not wait for the 10 s election timeout."""
    members = start_set([{"priority": 2}, {}, {}], electionTimeoutMillis=10000)
    client = set_client(members)
    client.failover.get_collection("probe", write_concern=MAJORITY).insert_one({"_id": 1})
    started = time.monotonic()
    reply = members[0].client().admin.command("replSetStepDown", 60, secondaryCatchUpPeriodSecs=10)
    assert reply["ok"] == 1
    assert hello(members[0])["isWritablePrimary"] is False
    servers.wait_for(lambda: primary_of(members[1:]) is not None, 9)
    assert time.monotonic() - started < 9
    client.close()


def test_step_down_refusals_use_the_documented_codes(start_set):
    members = start_set([{"priority": 2}, {}, {}])
    primary, secondary = members[0].client(), members[1].client()
    cases = [
        (secondary.admin, {"replSetStepDown": 60}, 10107),  # not primary so can't step down
        (primary.admin, {"replSetStepDown": 5}, 2),  # shorter than the 10 s catch-up period
        (primary.admin, {"replSetStepDown": -1}, 2),
        (primary.admin, {"replSetStepDown": 60, "secondaryCatchUpPeriodSecs": -1}, 2),
        (primary.admin, {"replSetStepDown": 60, "secondaryCatchUpPeriodSecs": "10"}, 14),
        (primary.failover, {"replSetStepDown": 60}, 13),  # admin only
    ]
    for database, command, code in cases:
        # pymongo raises NotPrimaryError (not an OperationFailure) for 10107.
        with pytest.raises(pymongo.errors.PyMongoError) as refused:
            database.command(command)
        assert refused.value.details["code"] == code, (command, refused.value.details)
    assert hello(members[0])["isWritablePrimary"] is True


def test_step_down_without_a_caught_up_majority_times_out_and_stays_primary(start_set):
    """Primary-secondary-arbiter with the secondary down: no majority of the voters can
    hold the primary's last write, so the step-down gives up after the catch-up period."""
    members = start_set([{"priority": 2}, {}, {"arbiterOnly": True}])
    servers.kill(members[1])
    primary = members[0].client()
    primary.failover.command("insert", "probe", documents=[{"_id": 1}], writeConcern={"w": 1})
    with pytest.raises(pymongo.errors.OperationFailure) as refused:
        primary.admin.command("replSetStepDown", 10, secondaryCatchUpPeriodSecs=2)
    assert refused.value.code == 262
    assert "No electable secondaries caught up" in str(refused.value)
    assert hello(members[0])["isWritablePrimary"] is True


# -- the feature compatibility version (tests/standin/fcv.py) --------------------------


def fcv_of(process) -> str:
    with direct(process, readPreference="secondaryPreferred") as client:
        reply = client.admin.command({"getParameter": 1, "featureCompatibilityVersion": 1})
    return reply["featureCompatibilityVersion"]["version"]


def test_the_fcv_changes_only_with_confirm_on_the_primary_and_replicates(start_set):
    members = start_set([{"priority": 2}, {}, {}])
    latest = fcv_of(members[0])  # a new set starts at its binary's version
    binary = members[0].client().admin.command("buildInfo")["version"]
    assert latest == ".".join(binary.split(".")[:2])
    previous = {"8.0": "7.0", "7.0": "6.0"}[latest]
    primary, secondary = members[0].client(), members[1].client()
    cases = [
        (primary.admin, {"setFeatureCompatibilityVersion": previous}, 7369100),  # no confirm: true
        (primary.admin, {"setFeatureCompatibilityVersion": "5.0", "confirm": True}, 2),
        (primary.failover, {"setFeatureCompatibilityVersion": previous, "confirm": True}, 13),  # admin only
        (secondary.admin, {"setFeatureCompatibilityVersion": previous, "confirm": True}, 10107),
    ]
    for database, command, code in cases:
        with pytest.raises(pymongo.errors.PyMongoError) as refused:
            database.command(command, writeConcern={"w": "majority"})
        assert refused.value.details["code"] == code, (command, refused.value.details)
    assert fcv_of(members[0]) == latest
    primary.admin.command({"setFeatureCompatibilityVersion": previous, "confirm": True})
    servers.wait_for(lambda: [fcv_of(m) for m in members] == [previous] * 3, 30)
    primary.admin.command({"setFeatureCompatibilityVersion": latest, "confirm": True})
    servers.wait_for(lambda: [fcv_of(m) for m in members] == [latest] * 3, 30)


@pytest.mark.skipif(not servers.using_standin(), reason="starts one data directory under two stand-in versions")
def test_a_binary_refuses_data_of_an_fcv_it_does_not_accept(mongod_config, tmp_path, monkeypatch):
    """8.0 data (FCV 8.0) under a 7.0 binary: the start fails with exit code 62; 7.0 data
    with FCV 7.0 starts under 8.0."""
    path = servers.write_config(tmp_path / "mongod.conf", mongod_config)
    monkeypatch.setenv("MONGODB_STANDIN_VERSION", "8.0.17")
    assert servers.run_binary("mongod", "--config", str(path)).returncode == 0
    servers.MongoProcess(path, mongod_config).stop()
    monkeypatch.setenv("MONGODB_STANDIN_VERSION", "7.0.25")
    refused = servers.run_binary("mongod", "--config", str(path))
    assert refused.returncode == 62, refused.stdout + refused.stderr
    assert "UPGRADE PROBLEM: Found an invalid featureCompatibilityVersion document" in refused.stdout + refused.stderr


def test_the_oplog_is_resized_on_each_member_on_its_own(start_set):
    """replSetResizeOplog runs on a secondary too and does not replicate; MongoDB's bounds
    are 990 MB to 1 PB (resize_oplog.idl)."""
    members = start_set([{"priority": 2}, {}, {}])

    def size_mb(process) -> int:
        with direct(process, readPreference="secondaryPreferred") as client:
            [oplog] = client.local.list_collections(filter={"name": "oplog.rs"})
        return int(oplog["options"]["size"]) // (1024 * 1024)

    before = size_mb(members[0])
    secondary = members[1].client()
    secondary.admin.command({"replSetResizeOplog": 1, "size": float(before + 1000)})
    assert (size_mb(members[0]), size_mb(members[1])) == (before, before + 1000)
    for command, code in [
        ({"replSetResizeOplog": 1, "size": 100.0}, {"7.0": 51024}.get(servers_series(members[1]), 2)),
        ({"replSetResizeOplog": 1, "size": "2000"}, 14),
        ({"replSetResizeOplog": 1, "minRetentionHours": -1.0}, {"7.0": 51024}.get(servers_series(members[1]), 2)),
    ]:
        with pytest.raises(pymongo.errors.OperationFailure) as refused:
            secondary.admin.command(command)
        assert refused.value.code == code, (command, refused.value.details)
    with pytest.raises(pymongo.errors.OperationFailure) as refused:
        secondary.failover.command({"replSetResizeOplog": 1, "size": 2000.0})
    assert refused.value.code == 13


def servers_series(process) -> str:
    with direct(process) as client:
        return ".".join(client.admin.command("buildInfo")["version"].split(".")[:2])


def test_compact_runs_on_a_secondary_and_a_primary_refuses_it_without_force(start_set):
    """compact (docs "compact"; compact.idl is strict): not on a primary unless forced
    (IllegalOperation 20), on its own member only, 26 for a missing collection."""
    members = start_set([{"priority": 2}, {}, {}])
    primary = members[0].client()
    primary.failover.create_collection("metrics", timeseries={"timeField": "timestamp"})
    primary.failover.metrics.insert_one({"timestamp": datetime.datetime.now(datetime.UTC)})
    with pytest.raises(pymongo.errors.OperationFailure) as refused:
        primary.failover.command({"compact": "metrics"})
    assert refused.value.code == 20, refused.value.details
    assert "bytesFreed" in primary.failover.command({"compact": "metrics", "force": True})
    servers.wait_for(lambda: "metrics" in members[1].client().failover.list_collection_names(), 30)
    secondary = members[1].client()
    assert secondary.failover.command({"compact": "metrics"})["bytesFreed"] >= 0
    for command, code in [
        ({"compact": "absent"}, 26),
        ({"compact": "metrics", "validate": True}, 40415),
    ]:
        with pytest.raises(pymongo.errors.OperationFailure) as refused:
            secondary.failover.command(command)
        assert refused.value.code == code, (command, refused.value.details)
    if servers_series(members[1]) != "7.0":
        assert secondary.failover.command({"compact": "metrics", "dryRun": True})["bytesFreed"] >= 0


def test_the_ttl_monitor_is_a_runtime_parameter(start_set):
    """ttlMonitorEnabled (ttl.idl: startup and runtime, default true) through
    getParameter/setParameter (parameters.cpp: admin only, 72 for an unknown name)."""
    [member] = start_set([{}])
    client = member.client()
    assert client.admin.command({"getParameter": 1, "ttlMonitorEnabled": 1})["ttlMonitorEnabled"] is True
    assert client.admin.command({"setParameter": 1, "ttlMonitorEnabled": False})["was"] is True
    assert client.admin.command({"getParameter": 1, "ttlMonitorEnabled": 1})["ttlMonitorEnabled"] is False
    for db, command, code in [
        ("admin", {"getParameter": 1, "noSuchParameter": 1}, 72),
        ("admin", {"setParameter": 1, "noSuchParameter": 1}, 72),
        ("failover", {"getParameter": 1, "ttlMonitorEnabled": 1}, 13),
    ]:
        with pytest.raises(pymongo.errors.OperationFailure) as refused:
            client[db].command(command)
        assert refused.value.code == code, (command, refused.value.details)
