"""Catalogue rules a real server enforces and the project's modules rely on.

Each assertion follows MongoDB's documentation for 8.0 (codes from error_codes.yml).
Runs against real binaries when MONGODB_BIN_DIR is set, otherwise against the stand-in.
Command errors raise OperationFailure; failures of single documents in insert, update
and delete are writeErrors of a successful command, which pymongo raises as WriteError
(DuplicateKeyError for 11000) or, from insert_many and bulk_write, BulkWriteError.
"""

from __future__ import annotations

import datetime

import pytest
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError
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
    # A write error (BadValue), not a command error.
    with pytest.raises(WriteError) as failure:
        db.metrics.insert_one({"meta": {"asset_id": "vm-1"}, "value": 2})
    assert failure.value.code == 2
    assert _is_write_error(failure.value)
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


# -- write errors -----------------------------------------------------------------------


def _is_write_error(error: WriteError) -> bool:
    """A writeErrors entry carries its statement's index; a command error carries ok: 0."""
    return "index" in error.details and "ok" not in error.details


def _write_errors(call) -> dict:
    with pytest.raises(BulkWriteError) as failure:
        call()
    return failure.value.details


def test_duplicate_key_on_insert_is_a_write_error(db):
    db.assets.create_index([("hostname", 1)], name="hostname_idx", unique=True)
    db.assets.insert_one({"_id": 1, "hostname": "web-1"})
    with pytest.raises(DuplicateKeyError) as failure:
        db.assets.insert_one({"_id": 2, "hostname": "web-1"})
    assert failure.value.code == 11000
    assert _is_write_error(failure.value)
    assert failure.value.details["keyValue"] == {"hostname": "web-1"}
    with pytest.raises(DuplicateKeyError):
        db.assets.insert_one({"_id": 1, "hostname": "web-9"})
    assert db.assets.count_documents({}) == 1


def test_ordered_insert_stops_at_the_first_error_and_unordered_goes_on(db):
    db.assets.insert_one({"_id": 1})
    ordered = _write_errors(lambda: db.assets.insert_many([{"_id": 2}, {"_id": 1}, {"_id": 3}]))
    assert [(error["index"], error["code"]) for error in ordered["writeErrors"]] == [(1, 11000)]
    assert ordered["nInserted"] == 1
    assert db.assets.count_documents({"_id": 3}) == 0

    unordered = _write_errors(lambda: db.assets.insert_many([{"_id": 1}, {"_id": 3}, {"_id": 2}], ordered=False))
    assert [(error["index"], error["code"]) for error in unordered["writeErrors"]] == [(0, 11000), (2, 11000)]
    assert unordered["nInserted"] == 1
    assert sorted(doc["_id"] for doc in db.assets.find()) == [1, 2, 3]


def test_duplicate_key_on_update_is_a_write_error(db):
    db.assets.create_index([("hostname", 1)], name="hostname_idx", unique=True)
    db.assets.insert_many([{"_id": 1, "hostname": "web-1"}, {"_id": 2, "hostname": "web-2"}])
    with pytest.raises(DuplicateKeyError) as failure:
        db.assets.update_one({"_id": 2}, {"$set": {"hostname": "web-1"}})
    assert failure.value.code == 11000
    assert _is_write_error(failure.value)
    with pytest.raises(DuplicateKeyError) as failure:
        db.assets.update_one({"hostname": "web-3"}, {"$set": {"_id": 1}}, upsert=True)
    assert _is_write_error(failure.value)
    assert db.assets.find_one({"_id": 2})["hostname"] == "web-2"


def test_unique_partial_index_only_covers_matching_documents(db):
    db.assets.create_index(
        [("serial", 1)], name="serial_idx", unique=True, partialFilterExpression={"serial": {"$exists": True}}
    )
    db.assets.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3, "serial": "A"}])
    with pytest.raises(DuplicateKeyError):
        db.assets.insert_one({"_id": 4, "serial": "A"})


def test_document_validation_failure_is_a_write_error(db):
    db.create_collection("assets", validator={"$jsonSchema": {"required": ["hostname"]}})
    with pytest.raises(WriteError) as failure:
        db.assets.insert_one({"_id": 1})
    assert failure.value.code == 121
    assert _is_write_error(failure.value)
    db.assets.insert_one({"_id": 2, "hostname": "web-2"})
    with pytest.raises(WriteError) as failure:
        db.assets.update_one({"_id": 2}, {"$unset": {"hostname": ""}})
    assert failure.value.code == 121
    assert _is_write_error(failure.value)
    assert db.assets.find_one({"_id": 2})["hostname"] == "web-2"


def test_validation_level_off_accepts_invalid_documents(db):
    db.create_collection("assets", validator={"$jsonSchema": {"required": ["hostname"]}}, validationLevel="off")
    db.assets.insert_one({"_id": 1})
    assert db.assets.count_documents({}) == 1


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"$foo": {"a": 1}}, 9),
        ({"$inc": {"hostname": 1}}, 14),
        ({"$set": {"_id": 5}}, 66),
    ],
)
def test_bad_updates_are_write_errors(db, change, code):
    db.assets.insert_one({"_id": 1, "hostname": "web-1"})
    with pytest.raises(WriteError) as failure:
        db.assets.update_one({"_id": 1}, change)
    assert failure.value.code == code
    assert _is_write_error(failure.value)
    assert db.assets.find_one({"_id": 1}) == {"_id": 1, "hostname": "web-1"}


def test_replacing_id_is_a_write_error(db):
    db.assets.insert_one({"_id": 1, "hostname": "web-1"})
    with pytest.raises(WriteError) as failure:
        db.assets.replace_one({"_id": 1}, {"_id": 2, "hostname": "web-2"})
    assert failure.value.code == 66


# -- create and collMod -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"capped": True}, 72),
        ({"size": 4096}, 72),
        ({"timeseries": {"timeField": "timestamp", "metaField": "meta.asset"}}, 72),
        ({"timeseries": {"timeField": "timestamp", "granularity": "minutes", "bucketMaxSpanSeconds": 60}}, 72),
        ({"timeseries": {"timeField": 5}}, 14),
        ({"timeseries": {"timeField": "timestamp", "extra": 1}}, 40415),
        # Collection TTL may not reach back before the epoch (clustered TTL rule).
        ({"timeseries": SEED_METRICS, "expireAfterSeconds": 2_147_483_647}, 72),
        ({"timeseries": SEED_METRICS, "expireAfterSeconds": -1}, 72),
        ({"timeseries": SEED_METRICS, "expireAfterSeconds": "ninety days"}, 14),
    ],
)
def test_invalid_create_options_are_refused(db, options, code):
    assert _error_code(lambda: db.command("create", "metrics", **options)) == code
    assert "metrics" not in db.list_collection_names()


def test_bucket_values_out_of_range_are_bad_value_on_8_0(db):
    timeseries = {"timeField": "t", "bucketMaxSpanSeconds": 31_536_001, "bucketRoundingSeconds": 31_536_001}
    code = _error_code(lambda: db.create_collection("metrics", timeseries=timeseries))
    series = ".".join(db.client.server_info()["version"].split(".")[:2])
    assert code == (51024 if series == "7.0" else 2)


def test_coll_mod_turns_a_plain_index_into_a_ttl_index(db):
    db.assets.create_index([("last_seen", 1)], name="last_seen_idx")
    reply = db.command("collMod", "assets", index={"name": "last_seen_idx", "expireAfterSeconds": 3600})
    assert reply["expireAfterSeconds_new"] == 3600
    index = next(i for i in db.assets.list_indexes() if i["name"] == "last_seen_idx")
    assert index["expireAfterSeconds"] == 3600


def test_coll_mod_index_refusals(db):
    db.assets.create_index([("a", 1), ("b", 1)], name="a_b")
    assert _error_code(lambda: db.command("collMod", "assets", index={"name": "a_b", "expireAfterSeconds": 60})) == 72
    assert _error_code(lambda: db.command("collMod", "assets", index={"name": "_id_", "expireAfterSeconds": 60})) == 72
    assert _error_code(lambda: db.command("collMod", "assets", index={"name": "_id_", "hidden": True})) == 2
    assert _error_code(lambda: db.command("collMod", "assets", index={"name": "nothing", "hidden": True})) == 27
    assert _error_code(lambda: db.command("collMod", "assets", index={"hidden": True})) == 72


def test_coll_mod_time_series_refusals(db):
    db.create_collection("metrics", timeseries=SEED_METRICS, expireAfterSeconds=NINETY_DAYS)
    db.metrics.create_index([("timestamp", 1)], name="time_idx")
    assert _error_code(lambda: db.command("collMod", "metrics", expireAfterSeconds="on")) == 72
    assert (
        _error_code(lambda: db.command("collMod", "metrics", index={"name": "time_idx", "expireAfterSeconds": 60}))
        == 72
    )
    assert (
        _error_code(
            lambda: db.command("collMod", "metrics", timeseries={"granularity": "hours", "bucketRoundingSeconds": 60})
        )
        == 72
    )
    assert _error_code(lambda: db.command("collMod", "metrics", validator={"a": 1})) == 72
    db.command("collMod", "metrics", expireAfterSeconds="off")
    assert "expireAfterSeconds" not in _collection_info(db, "metrics")["options"]


def test_custom_bucketing_can_only_grow(db):
    db.create_collection(
        "metrics", timeseries={"timeField": "t", "bucketMaxSpanSeconds": 7200, "bucketRoundingSeconds": 7200}
    )
    shrink = {"bucketMaxSpanSeconds": 3600, "bucketRoundingSeconds": 3600}
    assert _error_code(lambda: db.command("collMod", "metrics", timeseries=shrink)) == 72
    # seconds rounds to 60 s and spans an hour: smaller than the current 7200 s.
    assert _error_code(lambda: db.command("collMod", "metrics", timeseries={"granularity": "seconds"})) == 72
    db.command("collMod", "metrics", timeseries={"bucketMaxSpanSeconds": 10800, "bucketRoundingSeconds": 10800})
    assert _collection_info(db, "metrics")["options"]["timeseries"]["bucketMaxSpanSeconds"] == 10800


# -- createIndexes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"key": "a", "name": "bad"}, 14),
        ({"key": {}, "name": "bad"}, 67),
        ({"key": {"$a": 1}, "name": "bad"}, 67),
        ({"key": {"a": 1}, "name": 5}, 14),
        ({"key": {"a": 1}, "name": "_id_"}, 2),
        ({"key": {"_id": 1}, "name": "id_ttl", "expireAfterSeconds": 60}, 197),
        ({"key": {"_id": 1}, "name": "id_hidden", "hidden": True}, 197),
        ({"key": {"a": "hashed"}, "name": "bad", "unique": True}, 16764),
        ({"key": {"a": 1}, "name": "bad", "partialFilterExpression": "a"}, 14),
        ({"key": {"a": 1}, "name": "bad", "weights": {"a": 2}}, 67),
        ({"key": {"a": 1}, "name": "bad", "expireAfterSeconds": -1}, 67),
        ({"key": {"a": 1}, "name": "bad", "expireAfterSeconds": "soon"}, 67),
        ({"key": {"a": 1}, "name": "bad", "sparse": True, "partialFilterExpression": {"a": 1}}, 67),
        ({"key": {"a": 1}, "name": "bad", "partialFilterExpression": {"a": {"$ne": 1}}}, 67),
        ({"key": {"a": 1}, "name": "bad", "colour": "blue"}, 197),
    ],
)
def test_invalid_index_specs_are_refused(db, spec, code):
    db.create_collection("assets")
    assert _error_code(lambda: db.command("createIndexes", "assets", indexes=[spec])) == code
    assert [index["name"] for index in db.assets.list_indexes()] == ["_id_"]


def test_a_second_text_index_is_refused(db):
    db.assets.create_index([("hostname", "text")], name="hostname_text_idx")
    # Same key pattern ({_fts, _ftsx}) and identifying options: an equivalent index.
    assert _error_code(lambda: db.assets.create_index([("notes", "text")], name="notes_text_idx")) == 85
    # A partial one differs in its identifying options, and a collection has one text index.
    assert (
        _error_code(
            lambda: db.assets.create_index(
                [("notes", "text")], name="notes_text_idx", partialFilterExpression={"kind": "vm"}
            )
        )
        == 67
    )


def test_time_series_ttl_index_checks_the_partial_filter_first(db):
    db.create_collection("metrics", timeseries=SEED_METRICS)
    compound = [("timestamp", 1), ("meta.asset_id", 1)]
    assert _error_code(lambda: db.metrics.create_index(compound, name="ttl", expireAfterSeconds=60)) == 72
    partial = {"meta.asset_id": {"$exists": True}}
    assert (
        _error_code(
            lambda: db.metrics.create_index(
                compound, name="ttl", expireAfterSeconds=60, partialFilterExpression=partial
            )
        )
        == 67
    )
    db.metrics.create_index([("timestamp", 1)], name="ttl", expireAfterSeconds=60, partialFilterExpression=partial)
