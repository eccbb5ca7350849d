"""Catalogue rules a real server enforces and the project's modules rely on.

Each assertion follows MongoDB's documentation for 8.0 (codes from error_codes.yml).
Runs against real binaries when MONGODB_BIN_DIR is set, otherwise against the stand-in.
"""

from __future__ import annotations

import datetime

import pytest
from pymongo.errors import OperationFailure
from support import servers

SEED_METRICS = {"timeField": "timestamp", "metaField": "meta", "granularity": "minutes"}
NINETY_DAYS = 90 * 24 * 3600


@pytest.fixture
def db(mongod):
    return mongod.client().monitoring


def _collection_info(db, name):
    return next(db.list_collections(filter={"name": name}))


def _error_code(call) -> int:
    with pytest.raises(OperationFailure) as failure:
        call()
    return failure.value.code


def test_seed_metrics_collection_is_created_with_its_options(db):
    db.create_collection("metrics", timeseries=SEED_METRICS, expireAfterSeconds=NINETY_DAYS)
    info = _collection_info(db, "metrics")
    assert info["type"] == "timeseries"
    assert info["options"]["timeseries"]["timeField"] == "timestamp"
    assert info["options"]["timeseries"]["metaField"] == "meta"
    assert info["options"]["timeseries"]["granularity"] == "minutes"
    assert info["options"]["timeseries"]["bucketMaxSpanSeconds"] == 86400
    assert info["options"]["expireAfterSeconds"] == NINETY_DAYS


def test_time_series_collection_gets_a_meta_time_index(db):
    db.create_collection("metrics", timeseries=SEED_METRICS)
    keys = [dict(index["key"]) for index in db.metrics.list_indexes()]
    assert keys == [{"meta": 1, "timestamp": 1}]


@pytest.mark.parametrize(
    ("timeseries", "code"),
    [
        # The seed guide's bucket settings beside granularity.
        ({**SEED_METRICS, "bucketMaxSpanSeconds": 3600, "bucketRoundingSeconds": 60}, 72),
        ({**SEED_METRICS, "bucketRoundingSeconds": 3600}, 72),
        ({**SEED_METRICS, "bucketMaxSpanSeconds": 3600}, 72),
        ({"timeField": "timestamp", "bucketMaxSpanSeconds": 3600}, 72),
        ({"timeField": "timestamp", "bucketMaxSpanSeconds": 3600, "bucketRoundingSeconds": 60}, 72),
        ({"timeField": "timestamp", "metaField": "timestamp"}, 72),
        ({"timeField": "timestamp", "metaField": "_id"}, 72),
        ({"timeField": "event.timestamp"}, 72),
        ({"timeField": "timestamp", "granularity": "minute"}, 2),
        ({"metaField": "meta"}, 40414),
    ],
)
def test_invalid_time_series_options_are_refused(db, timeseries, code):
    assert _error_code(lambda: db.create_collection("metrics", timeseries=timeseries)) == code
    assert "metrics" not in db.list_collection_names()


def test_custom_bucketing_is_accepted_when_both_values_match(db):
    db.create_collection(
        "metrics", timeseries={"timeField": "t", "bucketMaxSpanSeconds": 3600, "bucketRoundingSeconds": 3600}
    )
    listed = _collection_info(db, "metrics")["options"]["timeseries"]
    assert listed["bucketMaxSpanSeconds"] == 3600
    assert listed["bucketRoundingSeconds"] == 3600
    assert "granularity" not in listed


def test_time_series_refuses_a_validator(db):
    code = _error_code(lambda: db.create_collection("metrics", timeseries=SEED_METRICS, validator={"a": 1}))
    assert code == 72


@pytest.mark.parametrize(
    ("keys", "options", "code"),
    [
        ([("meta.asset_id", 1)], {"unique": True}, 72),
        ([("meta.metric_name", "text")], {}, 72),
        # The seed guide's TTL index on the timeField.
        ([("timestamp", 1)], {"expireAfterSeconds": NINETY_DAYS}, 72),
        ([("value", "hashed")], {}, 67),
        ([("value", 1)], {"sparse": True}, 72),
    ],
)
def test_time_series_index_restrictions(db, keys, options, code):
    db.create_collection("metrics", timeseries=SEED_METRICS)
    assert _error_code(lambda: db.metrics.create_index(keys, name="candidate", **options)) == code
    assert "candidate" not in [index["name"] for index in db.metrics.list_indexes()]


def test_time_series_accepts_the_seed_indexes_on_meta_and_time(db):
    db.create_collection("metrics", timeseries=SEED_METRICS)
    db.metrics.create_index([("meta.asset_id", 1), ("timestamp", 1)], name="asset_time_idx")
    db.metrics.create_index([("meta.metric_name", 1), ("timestamp", 1)], name="metric_time_idx")
    names = {index["name"] for index in db.metrics.list_indexes()}
    assert {"asset_time_idx", "metric_time_idx"} <= names


def test_index_conflicts_use_the_documented_codes(db):
    db.assets.create_index([("asset_type", 1)], name="asset_type_idx")
    # Same name, different key.
    assert _error_code(lambda: db.assets.create_index([("hostname", 1)], name="asset_type_idx")) == 86
    # Same key, different name.
    assert _error_code(lambda: db.assets.create_index([("asset_type", 1)], name="by_type")) == 85
    # Same name and key, different options.
    assert (
        _error_code(lambda: db.assets.create_index([("asset_type", 1)], name="asset_type_idx", expireAfterSeconds=60))
        == 85
    )


def test_creating_an_existing_index_again_changes_nothing(db):
    spec = {"key": {"last_updated": -1}, "name": "last_updated_idx"}
    db.command("createIndexes", "assets", indexes=[spec])
    reply = db.command("createIndexes", "assets", indexes=[spec])
    assert reply["numIndexesBefore"] == reply["numIndexesAfter"]


@pytest.mark.parametrize(
    ("key", "code"),
    [({"a": 0}, 67), ({"a": "ascending"}, 67), ({"a": True}, 67)],
)
def test_invalid_key_values_are_refused(db, key, code):
    assert _error_code(lambda: db.command("createIndexes", "assets", indexes=[{"key": key, "name": "bad"}])) == code


def test_ttl_index_must_be_single_field(db):
    code = _error_code(lambda: db.assets.create_index([("a", 1), ("b", 1)], name="ttl", expireAfterSeconds=60))
    assert code == 67


def test_text_index_is_listed_with_its_weights(db):
    db.assets.create_index([("hostname", "text")], name="hostname_text_idx")
    index = next(i for i in db.assets.list_indexes() if i["name"] == "hostname_text_idx")
    assert dict(index["key"]) == {"_fts": "text", "_ftsx": 1}
    assert dict(index["weights"]) == {"hostname": 1}


def test_existing_namespace_with_other_options_is_refused(db):
    db.command("create", "assets")
    db.command("create", "assets")  # identical options: accepted since 7.0
    assert _error_code(lambda: db.command("create", "assets", timeseries=SEED_METRICS)) == 48


def test_retention_changes_through_coll_mod(db):
    db.create_collection("metrics", timeseries=SEED_METRICS, expireAfterSeconds=NINETY_DAYS)
    db.command("collMod", "metrics", expireAfterSeconds=30 * 24 * 3600)
    assert _collection_info(db, "metrics")["options"]["expireAfterSeconds"] == 30 * 24 * 3600


def test_granularity_can_only_get_coarser(db):
    db.create_collection("metrics", timeseries=SEED_METRICS)
    assert _error_code(lambda: db.command("collMod", "metrics", timeseries={"granularity": "seconds"})) == 72
    db.command("collMod", "metrics", timeseries={"granularity": "hours"})
    assert _collection_info(db, "metrics")["options"]["timeseries"]["granularity"] == "hours"


def test_missing_things_use_the_documented_codes(db):
    assert _error_code(lambda: db.command("listIndexes", "nothing")) == 26
    db.create_collection("assets")
    assert _error_code(lambda: db.assets.drop_index("no_such_index")) == 27
    assert _error_code(lambda: db.assets.drop_index("_id_")) == 72


def test_time_series_documents_need_a_time_value(db):
    db.create_collection("metrics", timeseries=SEED_METRICS)
    db.metrics.insert_one({"timestamp": datetime.datetime.now(datetime.UTC), "meta": {"asset_id": "vm-1"}, "value": 1})
    with pytest.raises(OperationFailure):
        db.metrics.insert_one({"meta": {"asset_id": "vm-1"}, "value": 2})
    assert db.metrics.count_documents({}) == 1


@pytest.mark.skipif(not servers.using_standin(), reason="the command log is the stand-in's")
def test_command_log_records_each_command_and_whether_it_writes(mongod, db):
    recorder = servers.CommandRecorder(mongod, ["monitoring"])
    recorder.mark()
    db.create_collection("assets")
    list(db.assets.list_indexes())
    seen = [(entry["command"], entry["db"], entry["write"]) for entry in recorder.commands()]
    assert ("create", "monitoring", True) in seen
    assert ("listIndexes", "monitoring", False) in seen


def test_key_order_makes_a_different_index(db):
    db.assets.create_index([("a", 1), ("b", 1)], name="a_b")
    db.assets.create_index([("b", 1), ("a", 1)], name="b_a")
    assert {"a_b", "b_a"} <= {index["name"] for index in db.assets.list_indexes()}
