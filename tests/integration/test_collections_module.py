"""The mongodb_collections module and the monitoring schema role against a server.

Each change runs in check mode (a plan, no write), for real, then again (no change,
no write). Writes and round trips are counted from what the server received.
"""

from __future__ import annotations

import copy
import json

import pytest
from support import servers
from support.ansible import recap, run_module, run_playbook

DB = "monitoring"
NINETY_DAYS = 90 * 86400
SEED_INDEXES = {
    "metrics": {"asset_time_idx", "metric_time_idx"},
    "assets": {"_id_", "asset_type_idx", "hostname_text_idx", "parent_asset_idx", "last_updated_idx"},
}


@pytest.fixture
def recorder(mongod):
    recorder = servers.CommandRecorder(mongod, [DB])
    recorder.mark()
    return recorder


def schema(mongod, *flags: str):
    result = run_playbook(
        "tests/playbooks/apply-schema.yml", "-i", "localhost,", "-e", f"schema_port={mongod.port}", *flags
    )
    assert result.returncode == 0, result.stdout[-4000:]
    return recap(result.stdout)["localhost"], " ".join(result.stdout.split())


def module(mongod, collections: list[dict], *flags: str, **params) -> dict:
    return run_module(
        "mongodb_collections",
        {"login_port": mongod.port, "database": DB, "collections": collections, **params},
        *flags,
    )


def test_check_mode_on_an_empty_database_plans_everything_and_writes_nothing(mongod, recorder):
    counters, output = schema(mongod, "--check", "--diff")
    assert counters["changed"] == 1
    for summary in (
        "create time-series collection",
        "create indexes asset_time_idx, metric_time_idx",
        "create indexes asset_type_idx, hostname_text_idx, parent_asset_idx, last_updated_idx",
    ):
        assert summary in output
    assert recorder.writes() == []
    # Nothing of the schema: on a real server the recorder's profiler writes the database's
    # system.profile, which is all it may hold ("Database Profiler": level 2 records every
    # operation in a capped system.profile collection of the profiled database).
    assert [name for name in mongod.client()[DB].list_collection_names() if not name.startswith("system.")] == []


def test_apply_creates_exactly_the_seed_schema_then_changes_nothing(mongod, recorder):
    counters, _ = schema(mongod)
    assert counters["changed"] == 1
    db = mongod.client()[DB]
    info = {c["name"]: c for c in db.list_collections() if not c["name"].startswith("system.")}
    assert sorted(info) == ["assets", "metrics"]
    assert info["metrics"]["type"] == "timeseries"
    assert info["metrics"]["options"]["expireAfterSeconds"] == NINETY_DAYS
    assert info["metrics"]["options"]["timeseries"]["granularity"] == "minutes"
    assert info["assets"]["options"]["validator"]["$jsonSchema"]["required"] == ["_id", "asset_type", "data"]
    for name, expected in SEED_INDEXES.items():
        listed = {index["name"]: index for index in db[name].list_indexes()}
        assert expected <= set(listed)
        assert set(listed) - expected <= {"meta_1_timestamp_1"}  # MongoDB's own time-series index
    assert listed["parent_asset_idx"]["sparse"] is True

    recorder.mark()
    counters, _ = schema(mongod)
    assert counters["changed"] == 0
    assert recorder.writes() == []
    if servers.using_standin():  # the profiler of a real server does not see listCollections
        reads = [entry["command"] for entry in recorder.commands()]
        assert sorted(reads) == ["listCollections", "listIndexes", "listIndexes"]


SEED_METRICS = {
    "name": "metrics",
    "timeseries": {"time_field": "timestamp", "meta_field": "meta", "granularity": "minutes"},
    "expire_after_seconds": NINETY_DAYS,
    "indexes": [{"name": "asset_time_idx", "keys": [{"meta.asset_id": 1}, {"timestamp": 1}]}],
}


def _check_apply_again(mongod, recorder, collections, **params):
    """Check mode (changed, no write), apply (changed), again (unchanged, no write)."""
    recorder.mark()
    planned = module(mongod, collections, "--check", "--diff", **params)
    assert planned["changed"] is True, planned
    assert recorder.writes() == []
    applied = module(mongod, collections, **params)
    assert applied["changed"] is True, applied
    written = recorder.writes()
    recorder.mark()
    again = module(mongod, collections, **params)
    assert again["changed"] is False, again
    assert recorder.writes() == []
    return planned, written


def test_retention_from_90_to_30_days_is_one_coll_mod(mongod, recorder):
    module(mongod, [SEED_METRICS])
    thirty = copy.deepcopy(SEED_METRICS) | {"expire_after_seconds": 30 * 86400}
    planned, written = _check_apply_again(mongod, recorder, [thirty])
    assert [op["command"] for op in planned["operations"]] == [{"collMod": "metrics", "expireAfterSeconds": 2592000}]
    assert planned["diff"]["before"]["metrics"]["options"]["expireAfterSeconds"] == NINETY_DAYS
    assert planned["diff"]["after"]["metrics"]["options"]["expireAfterSeconds"] == 2592000
    assert [entry["command"] for entry in written] == ["collMod"]


def test_adding_an_index_is_one_create_indexes(mongod, recorder):
    module(mongod, [SEED_METRICS])
    more = copy.deepcopy(SEED_METRICS)
    more["indexes"].append({"name": "metric_time_idx", "keys": [{"meta.metric_name": 1}, {"timestamp": 1}]})
    _, written = _check_apply_again(mongod, recorder, [more])
    assert [entry["command"] for entry in written] == ["createIndexes"]


def test_conflicting_index_option_is_refused_unless_recreation_is_allowed(mongod, recorder):
    assets = {"name": "assets", "indexes": [{"name": "asset_type_idx", "keys": [{"asset_type": 1}]}]}
    module(mongod, [assets])
    unique = copy.deepcopy(assets)
    unique["indexes"][0]["unique"] = True
    recorder.mark()
    refused = module(mongod, [unique])
    assert refused.get("failed") and "asset_type_idx exists with a different definition" in refused["msg"]
    assert "allow_recreate" in refused["msg"]
    assert recorder.writes() == []
    unique["indexes"][0]["allow_recreate"] = True
    _, written = _check_apply_again(mongod, recorder, [unique])
    assert [entry["command"] for entry in written] == ["dropIndexes", "createIndexes"]
    index = next(i for i in mongod.client()[DB].assets.list_indexes() if i["name"] == "asset_type_idx")
    assert index["unique"] is True


def test_a_refused_specification_sends_nothing(mongod, recorder):
    bad = copy.deepcopy(SEED_METRICS)
    bad["timeseries"].update(bucket_max_span_seconds=3600, bucket_rounding_seconds=60)  # the guide's literal form
    result = module(mongod, [bad])
    assert result.get("failed")
    assert "nothing was sent" in result["msg"] and "cannot be set beside granularity" in result["msg"]
    assert recorder.commands() == []


def test_prune_drops_unlisted_indexes_only_when_asked(mongod, recorder):
    module(mongod, [SEED_METRICS])
    mongod.client()[DB].metrics.create_index([("meta.extra", 1)], name="extra_idx")
    assert module(mongod, [SEED_METRICS])["changed"] is False
    _, written = _check_apply_again(mongod, recorder, [SEED_METRICS], prune=True)
    assert [entry["command"] for entry in written] == ["dropIndexes"]
    names = {i["name"] for i in mongod.client()[DB].metrics.list_indexes()}
    assert names == {"asset_time_idx", "meta_1_timestamp_1"}


def test_credentials_never_appear_in_output(mongod):
    result = module(mongod, [SEED_METRICS], "-vvv", "--diff", login_user="nobody", login_password="s3cret-Pa55")
    assert result.get("failed")  # the stand-in or server refuses an unknown user
    assert "s3cret-Pa55" not in result.pop("_output")
    assert "s3cret-Pa55" not in json.dumps(result)
