"""The maintenance playbook's judgement (module_utils/mongodb_maintenance_plan.py), without a server."""

from __future__ import annotations

import datetime

from ansible.module_utils.mongodb_maintenance_plan import index_usage, retention, usage_table

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
DAY = 86400
NINETY_DAYS = 90 * DAY
METRICS = {
    "name": "metrics",
    "type": "timeseries",
    "options": {
        "expireAfterSeconds": NINETY_DAYS,
        "timeseries": {"timeField": "timestamp", "granularity": "minutes", "bucketMaxSpanSeconds": DAY},
    },
}


def stat(name, ops, hours_ago, key=None, ns="app.metrics"):
    since = NOW - datetime.timedelta(hours=hours_ago)
    return {"ns": ns, "name": name, "key": key or {name: 1}, "accesses": {"ops": ops, "since": since}}


def test_an_index_is_unused_only_when_no_member_used_it_for_the_minimum_age():
    stats = {
        "rs0": {
            "a:1": [stat("_id_", 0, 500), stat("cold", 0, 500), stat("young", 0, 500), stat("hot", 0, 500)],
            "b:1": [stat("_id_", 0, 200), stat("cold", 0, 200), stat("young", 0, 10), stat("hot", 7, 200)],
        }
    }
    rows = {row["index"]: row for row in index_usage(stats, {}, 168, NOW)}
    assert {name: row["note"] for name, row in rows.items()} == {
        "_id_": "kept",
        "cold": "unused",
        "young": "not used yet",  # b:1 has counted for 10 h only
        "hot": "",
    }
    assert rows["hot"]["ops"] == 7 and rows["hot"]["members"] == {"a:1": 0, "b:1": 7}
    assert rows["cold"]["counted_hours"] == 200.0  # the member that started counting last
    assert usage_table(list(rows.values()))[0].split() == [
        "set",
        "namespace",
        "index",
        "accesses",
        "counted",
        "(h)",
        "note",
    ]


def test_a_shard_keys_index_is_kept_even_when_unused():
    key = {"meta.asset_id": 1, "timestamp": 1}
    stats = {"shard01": {"a:1": [stat("asset_time_idx", 0, 500, key=key)]}}
    shard_keys = {"app.metrics": {"meta.asset_id": 1}}
    [row] = index_usage(stats, shard_keys, 168, NOW)
    assert row["note"] == "kept"


def test_retention_holds_while_the_oldest_measurement_is_within_expiry_plus_a_bucket_span():
    within = NOW - datetime.timedelta(seconds=NINETY_DAYS + DAY)
    assert retention("app.metrics", METRICS, NINETY_DAYS, within, NOW, [])["ok"]
    behind = NOW - datetime.timedelta(seconds=NINETY_DAYS + DAY + 61)
    verdict = retention("app.metrics", METRICS, NINETY_DAYS, behind, NOW, [])
    assert not verdict["ok"] and verdict["oldest_age_days"] == 91.0
    assert "so expiry is behind" in verdict["problems"][0]
    assert retention("app.metrics", METRICS, NINETY_DAYS, None, NOW, [])["ok"]  # empty


def test_retention_names_what_keeps_old_measurements():
    no_expiry = {**METRICS, "options": {"timeseries": METRICS["options"]["timeseries"]}}
    assert "has no expireAfterSeconds" in retention("app.metrics", no_expiry, NINETY_DAYS, None, NOW, [])["problems"][0]
    other = retention("app.metrics", METRICS, 30 * DAY, None, NOW, [])["problems"]
    assert other == [
        f"app.metrics expires measurements after {NINETY_DAYS} s, the inventory asks for {30 * DAY} s "
        "(site.yml applies it with collMod)"
    ]
    off = retention("app.metrics", METRICS, NINETY_DAYS, None, NOW, ["b:1"])["problems"]
    assert off == ["the TTL monitor is off (ttlMonitorEnabled false) on b:1: nothing expires"]
    assert retention("app.metrics", None, NINETY_DAYS, None, NOW, [])["problems"] == ["app.metrics does not exist"]
    plain = {"name": "metrics", "type": "collection", "options": {}}
    assert retention("app.metrics", plain, NINETY_DAYS, None, NOW, [])["problems"] == [
        "app.metrics is not a time-series collection"
    ]


def test_the_span_falls_back_to_the_granularity_when_not_listed():
    hours = {**METRICS, "options": {"expireAfterSeconds": DAY, "timeseries": {"granularity": "hours"}}}
    twenty_days = NOW - datetime.timedelta(days=20)
    assert retention("app.metrics", hours, DAY, twenty_days, NOW, [])["ok"]  # 1 day + 30 days of span
