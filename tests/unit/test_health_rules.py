"""The health checks' judgement (module_utils/mongodb_health.py), without a server."""

from __future__ import annotations

import datetime

from ansible.module_utils.mongodb_health import (
    Thresholds,
    cache_hit_ratio,
    connections,
    is_shard_key_index,
    replication,
    textfile,
    unused_indexes,
)

GUIDE = Thresholds()
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


def test_connections_alert_only_above_the_share():
    assert connections("m", {"connections": {"current": 80, "available": 20}}, GUIDE)["status"] == "ok"
    assert connections("m", {"connections": {"current": 81, "available": 19}}, GUIDE)["status"] == "alert"


def member(name, state, optime_date, health=1):
    return {"name": name, "stateStr": state, "health": health, "optimeDate": optime_date}


def test_lag_is_measured_from_the_primary_and_a_member_it_cannot_reach_is_an_alert():
    status = {
        "members": [
            member("p", "PRIMARY", NOW),
            member("s1", "SECONDARY", NOW - datetime.timedelta(seconds=4)),
            member("s2", "SECONDARY", NOW - datetime.timedelta(seconds=11)),
            member("a", "ARBITER", None),
            member("d", "(not reachable/healthy)", datetime.datetime.fromtimestamp(0, datetime.UTC), health=0),
        ]
    }
    found = {f["subject"]: f for f in replication("rs", status, GUIDE)}
    assert set(found) == {"s1", "s2", "d"}  # neither the primary nor the arbiter
    assert (found["s1"]["value"], found["s1"]["status"]) == (4.0, "ok")
    assert (found["s2"]["value"], found["s2"]["status"]) == (11.0, "alert")
    assert found["d"]["status"] == "alert" and found["d"]["value"] is None
    assert replication("rs", None, GUIDE)[0]["status"] == "alert"


def test_no_requests_between_the_samples_is_no_ratio_to_judge():
    assert cache_hit_ratio("m", (10, 100), (10, 100), GUIDE)["status"] == "ok"
    assert cache_hit_ratio("m", (10, 100), (60, 200), GUIDE)["value"] == 0.5
    assert cache_hit_ratio("m", None, (1, 2), GUIDE)["status"] == "unknown"


def stats(name, ops, hours_ago, key=None, ns="monitoring.assets"):
    since = NOW - datetime.timedelta(hours=hours_ago)
    return {"ns": ns, "name": name, "key": key or {name: 1}, "accesses": {"ops": ops, "since": since}}


def test_an_index_is_unused_only_when_no_member_used_it_for_the_whole_age():
    limits = Thresholds(unused_index_min_age_hours=24)
    per_member = {
        "m1": [stats("_id_", 0, 48, {"_id": 1}), stats("idle", 0, 48), stats("used", 0, 48), stats("young", 0, 48)],
        "m2": [stats("_id_", 0, 48, {"_id": 1}), stats("idle", 0, 30), stats("used", 3, 48), stats("young", 0, 2)],
    }
    found = unused_indexes("rs", per_member, {}, limits, NOW)
    assert [f["subject"] for f in found] == ["monitoring.assets.idle"]
    # A member without statistics (down) leaves nothing to judge.
    assert unused_indexes("rs", {}, {}, limits, NOW)[0]["status"] == "unknown"


def test_a_shard_keys_index_is_never_unused_in_either_form():
    shard_key = [{"meta.asset_id": 1}, {"timestamp": 1}]
    assert is_shard_key_index({"meta.asset_id": 1, "timestamp": 1}, shard_key)
    # As a time-series bucket index may be reported.
    assert is_shard_key_index({"meta.asset_id": 1, "control.min.timestamp": 1, "control.max.timestamp": 1}, shard_key)
    assert not is_shard_key_index({"metric_name": 1, "timestamp": 1}, shard_key)
    per_member = {"m": [stats("asset_time_idx", 0, 500, {"meta.asset_id": 1, "timestamp": 1}, "monitoring.metrics")]}
    found = unused_indexes("rs", per_member, {"monitoring.metrics": shard_key}, GUIDE, NOW)
    assert [f["status"] for f in found] == ["ok"]


def test_the_textfile_has_one_type_line_a_name_and_escaped_labels():
    text = textfile(
        [
            {"name": "mongodb_ss_connections", "labels": {"conn_type": "current", "member": 'a"b'}, "value": 3},
            {"name": "mongodb_ss_connections", "labels": {"conn_type": "available", "member": "x"}, "value": 7},
            {"name": "mongodb_health_disk_ok", "labels": {"subject": "x"}, "value": None},
        ]
    )
    assert text.count("# TYPE mongodb_ss_connections gauge") == 1
    assert 'mongodb_ss_connections{conn_type="current",member="a\\"b"} 3' in text
    assert "mongodb_health_disk_ok" not in text
