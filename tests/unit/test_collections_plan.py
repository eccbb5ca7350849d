"""The collections/indexes planner (module_utils/mongodb_collections_plan.py), without a server.

Explicit cases cover each operation kind and each refusal; property tests check that
applying a plan and planning again yields nothing, using the stand-in's command layer
in-process as the model of a server.
"""

from __future__ import annotations

import copy

import pytest
from ansible.module_utils.mongodb_plan import DeclarationError
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from mongodb_collections_plan import parse_spec, plan_database
from support.inprocess import InProcessServer

DB = "monitoring"
NINETY_DAYS = 7_776_000

METRICS = {
    "name": "metrics",
    "timeseries": {"time_field": "timestamp", "meta_field": "meta", "granularity": "minutes"},
    "expire_after_seconds": NINETY_DAYS,
    "indexes": [
        {"name": "asset_time_idx", "keys": [{"meta.asset_id": 1}, {"timestamp": 1}]},
        {"name": "metric_time_idx", "keys": [{"meta.metric_name": 1}, {"timestamp": 1}]},
    ],
}
ASSETS = {
    "name": "assets",
    "validator": {"$jsonSchema": {"bsonType": "object", "required": ["_id", "asset_type"]}},
    "indexes": [
        {"name": "asset_type_idx", "keys": [{"asset_type": 1}]},
        {"name": "hostname_text_idx", "keys": [{"hostname": "text"}]},
        {"name": "parent_asset_idx", "keys": [{"data.parent_asset_id": 1}], "sparse": True},
        {"name": "last_updated_idx", "keys": [{"last_updated": -1}]},
    ],
}
SEED = [METRICS, ASSETS]


def plan_against(server: InProcessServer, collections: list[dict], prune: bool = False):
    specs, _ = parse_spec(DB, collections)
    current, indexes = server.state(DB, {spec.name for spec in specs})
    return plan_database(specs, current, indexes, prune=prune)


def apply(server: InProcessServer, plan) -> None:
    for operation in plan.operations:
        server.command(DB, operation.command)


def converge(server: InProcessServer, collections: list[dict], prune: bool = False):
    plan = plan_against(server, collections, prune)
    assert plan.refusals == []
    apply(server, plan)
    return plan


def refusal(collections: list[dict]) -> str:
    with pytest.raises(DeclarationError) as error:
        parse_spec(DB, collections)
    return str(error.value)


@pytest.fixture
def server():
    return InProcessServer()


# -- operations ---------------------------------------------------------------------


def test_empty_database_gets_the_whole_seed_schema(server):
    plan = converge(server, SEED)
    assert [(op.kind, op.target) for op in plan.operations] == [
        ("create", "metrics"),
        ("createIndexes", "metrics"),
        ("create", "assets"),
        ("createIndexes", "assets"),
    ]
    create = plan.operations[0].command
    assert create["timeseries"] == {"timeField": "timestamp", "metaField": "meta", "granularity": "minutes"}
    assert create["expireAfterSeconds"] == NINETY_DAYS
    assert plan_against(server, SEED).operations == []


def test_retention_change_is_one_coll_mod(server):
    converge(server, SEED)
    thirty_days = copy.deepcopy(METRICS) | {"expire_after_seconds": 30 * 86400}
    plan = plan_against(server, [thirty_days, ASSETS])
    assert [op.command for op in plan.operations] == [{"collMod": "metrics", "expireAfterSeconds": 2_592_000}]


def test_retention_can_be_switched_off(server):
    converge(server, SEED)
    plan = plan_against(server, [METRICS | {"expire_after_seconds": "off"}])
    assert [op.command for op in plan.operations] == [{"collMod": "metrics", "expireAfterSeconds": "off"}]


def test_a_new_index_is_one_create_indexes(server):
    converge(server, SEED)
    extra = copy.deepcopy(ASSETS)
    extra["indexes"].append({"name": "service_name_idx", "keys": [{"service_name": 1}], "sparse": True})
    plan = plan_against(server, [METRICS, extra])
    assert [op.kind for op in plan.operations] == ["createIndexes"]
    assert [i["name"] for i in plan.operations[0].command["indexes"]] == ["service_name_idx"]


def test_coarser_granularity_is_a_coll_mod(server):
    converge(server, SEED)
    hours = copy.deepcopy(METRICS)
    hours["timeseries"]["granularity"] = "hours"
    plan = plan_against(server, [hours])
    assert [op.command for op in plan.operations] == [{"collMod": "metrics", "timeseries": {"granularity": "hours"}}]
    apply(server, plan)
    assert plan_against(server, [hours]).operations == []


def test_validator_change_is_a_coll_mod(server):
    converge(server, SEED)
    stricter = copy.deepcopy(ASSETS) | {"validation_action": "warn"}
    plan = plan_against(server, [stricter])
    assert [op.command for op in plan.operations] == [{"collMod": "assets", "validationAction": "warn"}]


def test_ttl_value_and_hidden_change_in_place(server):
    sessions = {"name": "sessions", "indexes": [{"name": "expiry", "keys": [{"seen": 1}], "expire_after_seconds": 60}]}
    converge(server, [sessions])
    changed = copy.deepcopy(sessions)
    changed["indexes"][0].update(expire_after_seconds=120, hidden=True)
    plan = plan_against(server, [changed])
    assert [op.command for op in plan.operations] == [
        {"collMod": "sessions", "index": {"name": "expiry", "expireAfterSeconds": 120, "hidden": True}}
    ]


def test_prune_drops_unlisted_indexes_but_never_mongodb_own(server):
    converge(server, SEED)
    server.command(DB, {"createIndexes": "assets", "indexes": [{"key": {"x": 1}, "name": "x_1"}]})
    server.command(DB, {"createIndexes": "metrics", "indexes": [{"key": {"meta.x": 1}, "name": "meta_x"}]})
    plan = plan_against(server, SEED, prune=True)
    assert sorted((op.target, tuple(op.command["index"])) for op in plan.operations) == [
        ("assets", ("x_1",)),
        ("metrics", ("meta_x",)),
    ]
    assert plan_against(server, SEED, prune=False).operations == []


def test_unlisted_indexes_stay_without_prune(server):
    converge(server, SEED)
    server.command(DB, {"createIndexes": "assets", "indexes": [{"key": {"x": 1}, "name": "x_1"}]})
    assert plan_against(server, SEED).operations == []


def test_changed_definition_is_rebuilt_only_when_allowed(server):
    converge(server, SEED)
    unique = copy.deepcopy(ASSETS)
    unique["indexes"][0]["unique"] = True
    plan = plan_against(server, [unique])
    assert plan.operations == [] and "asset_type_idx exists with a different definition" in plan.refusals[0]
    unique["indexes"][0]["allow_recreate"] = True
    plan = plan_against(server, [unique])
    assert [op.kind for op in plan.operations] == ["dropIndexes", "createIndexes"]
    apply(server, plan)
    assert plan_against(server, [unique]).operations == []


def test_same_keys_under_another_name_is_refused(server):
    converge(server, SEED)
    renamed = copy.deepcopy(ASSETS)
    renamed["indexes"][0]["name"] = "by_type"
    plan = plan_against(server, [renamed])
    assert "has the keys and options of existing index asset_type_idx" in plan.refusals[0]
    plan = plan_against(server, [renamed], prune=True)
    assert [op.kind for op in plan.operations] == ["dropIndexes", "createIndexes"]


def test_diff_shows_before_and_after(server):
    converge(server, SEED)
    plan = plan_against(server, [METRICS | {"expire_after_seconds": 86400}])
    assert plan.before["metrics"]["options"]["expireAfterSeconds"] == NINETY_DAYS
    assert plan.after["metrics"]["options"]["expireAfterSeconds"] == 86400


# -- refusals against the current state ---------------------------------------------


def test_finer_granularity_is_refused(server):
    converge(server, SEED)
    seconds = copy.deepcopy(METRICS)
    seconds["timeseries"]["granularity"] = "seconds"
    plan = plan_against(server, [seconds])
    assert plan.operations == [] and "cannot become the finer seconds" in plan.refusals[0]


def test_another_time_field_is_refused(server):
    converge(server, SEED)
    moved = copy.deepcopy(METRICS)
    moved["timeseries"]["time_field"] = "ts"
    moved["indexes"] = []
    plan = plan_against(server, [moved])
    assert "time_field is 'timestamp' on the server and 'ts' in the spec" in plan.refusals[0]


def test_plain_collection_cannot_become_time_series(server):
    server.command(DB, {"create": "metrics"})
    plan = plan_against(server, [METRICS])
    assert plan.operations == [] and "exists as a plain collection" in plan.refusals[0]


def test_smaller_custom_buckets_are_refused(server):
    custom = {
        "name": "m",
        "timeseries": {"time_field": "t", "bucket_max_span_seconds": 7200, "bucket_rounding_seconds": 7200},
    }
    converge(server, [custom])
    smaller = copy.deepcopy(custom)
    smaller["timeseries"].update(bucket_max_span_seconds=3600, bucket_rounding_seconds=3600)
    assert "cannot shrink" in plan_against(server, [smaller]).refusals[0]
    larger = copy.deepcopy(custom)
    larger["timeseries"].update(bucket_max_span_seconds=10800, bucket_rounding_seconds=10800)
    assert [op.command["timeseries"] for op in plan_against(server, [larger]).operations] == [
        {"bucketMaxSpanSeconds": 10800, "bucketRoundingSeconds": 10800}
    ]


# -- refusals of the specification itself -------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"granularity": "minute"}, "granularity is 'minute'"),
        ({"bucket_max_span_seconds": 3600, "bucket_rounding_seconds": 60}, "cannot be set beside granularity"),
        (
            {"granularity": None, "bucket_max_span_seconds": 3600, "bucket_rounding_seconds": 60},
            "custom bucketing needs",
        ),
        ({"meta_field": "timestamp"}, "meta_field and time_field must differ"),
        ({"meta_field": "_id"}, "meta_field cannot be _id"),
        ({"time_field": "event.time"}, "time_field must be a top-level field"),
        ({"time_field": None}, "time_field is required"),
        ({"bucket_max_span_seconds": 0, "granularity": None, "bucket_rounding_seconds": 0}, "from 1 to 31536000"),
    ],
)
def test_time_series_option_rules(change, expected):
    collection = copy.deepcopy(METRICS)
    collection["timeseries"] = {k: v for k, v in {**collection["timeseries"], **change}.items() if v is not None}
    message = refusal([collection])
    assert message.startswith("collection metrics, timeseries:")
    assert expected in message


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ({"keys": [{"meta.asset_id": 1}], "unique": True}, "do not support unique indexes"),
        ({"keys": [{"meta.asset_id": "text"}]}, "do not support text indexes"),
        ({"keys": [{"value": 1}], "sparse": True}, "sparse index may only cover the metaField"),
        ({"keys": [{"value": "hashed"}]}, "measurement field value can only be indexed"),
        ({"keys": [{"timestamp": "hashed"}]}, "timeField can only be indexed ascending or descending"),
        ({"keys": [{"value": 1}], "expire_after_seconds": 60}, "TTL index on a time-series collection"),
        (
            {"keys": [{"meta.a": 1}], "partial_filter_expression": {"meta.a": 1}, "collation": {"locale": "en"}},
            "partial_filter_expression and collation cannot be combined",
        ),
    ],
)
def test_time_series_index_rules(index, expected):
    collection = copy.deepcopy(METRICS)
    collection["indexes"] = [{"name": "candidate", **index}]
    message = refusal([collection])
    assert "collection metrics, index candidate:" in message and expected in message


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ({"keys": [{"a": 0}]}, "has direction 0"),
        ({"keys": [{"a": "ascending"}]}, "has direction 'ascending'"),
        ({"keys": []}, "keys cannot be empty"),
        ({"keys": [{"a": 1}, {"b": 1}], "expire_after_seconds": 60}, "exactly one key field"),
        ({"keys": [{"a": 1}], "expire_after_seconds": -1}, "between 0 and 2147483647"),
        (
            {"keys": [{"a": 1}], "sparse": True, "partial_filter_expression": {"a": {"$exists": True}}},
            "cannot be combined",
        ),
        ({"keys": [{"a": "hashed"}], "unique": True}, "hashed index cannot be unique"),
        ({"keys": [{"a": 1}], "partial_filter_expression": {"a": {"$ne": 1}}}, "does not support $ne"),
        ({"keys": [{"a": 1}], "weights": {"a": 2}}, "weights apply to text indexes only"),
        ({"keys": [{"a": 1}, {"b": "text"}, {"c": "2dsphere"}]}, "mix index types"),
        ({"keys": [{"a": 1}], "colour": "red"}, "unknown index option colour"),
        ({"keys": [{"$a": 1}]}, "starts with '$'"),
    ],
)
def test_index_option_rules(index, expected):
    collection = {"name": "things", "indexes": [{"name": "candidate", **index}]}
    message = refusal([collection])
    assert "collection things" in message and expected in message


def test_duplicate_names_and_duplicate_definitions_are_refused():
    twice = {"name": "a", "indexes": [{"name": "x", "keys": [{"a": 1}]}, {"name": "x", "keys": [{"b": 1}]}]}
    assert "index name x is used twice" in refusal([twice])
    same = {"name": "a", "indexes": [{"name": "x", "keys": [{"a": 1}]}, {"name": "y", "keys": [{"a": 1}]}]}
    assert "indexes x and y have the same keys and options" in refusal([same])
    texts = {"name": "a", "indexes": [{"name": "x", "keys": [{"a": "text"}]}, {"name": "y", "keys": [{"b": "text"}]}]}
    assert "same keys and options" in refusal([texts]) or "at most one text index" in refusal([texts])


def test_names_longer_than_allowed_are_refused():
    assert "MongoDB allows 255" in refusal([{"name": "c" * 250}])
    with pytest.raises(DeclarationError, match="limited to 63 bytes"):
        parse_spec("d" * 64, [{"name": "ok"}])
    with pytest.raises(DeclarationError, match="cannot contain"):
        parse_spec("bad.name", [{"name": "ok"}])
    assert "system. prefix is reserved" in refusal([{"name": "system.users"}])


def test_retention_on_a_plain_collection_is_refused():
    assert "needs a time-series collection" in refusal([{"name": "assets", "expire_after_seconds": 60}])


def test_every_problem_is_reported_at_once():
    message = refusal([{"name": "a", "indexes": [{"keys": [{"x": 0}]}]}, {"name": "b", "expire_after_seconds": 1}])
    assert "collection a" in message and "collection b" in message


# -- the seed guide's literal advice ------------------------------------------------


def test_seed_ttl_index_on_the_time_field_becomes_collection_retention():
    seed_style = copy.deepcopy(METRICS)
    del seed_style["expire_after_seconds"]
    seed_style["indexes"].append({"name": "ttl_idx", "keys": [{"timestamp": 1}], "expire_after_seconds": NINETY_DAYS})
    specs, warnings = parse_spec(DB, [seed_style])
    assert specs[0].expire_after_seconds == NINETY_DAYS
    assert [index.name for index in specs[0].indexes] == ["asset_time_idx", "metric_time_idx"]
    assert any("ttl_idx" in warning and "expireAfterSeconds" in warning for warning in warnings)


def test_seed_ttl_index_that_contradicts_retention_is_refused():
    seed_style = copy.deepcopy(METRICS)
    seed_style["indexes"].append({"name": "ttl_idx", "keys": [{"timestamp": 1}], "expire_after_seconds": 60})
    assert "keep one" in refusal([seed_style])


def test_background_is_not_sent_and_warned_about():
    specs, warnings = parse_spec(
        DB, [{"name": "a", "indexes": [{"name": "x", "keys": [{"a": 1}], "background": True}]}]
    )
    assert "background" not in specs[0].indexes[0].create_document()
    assert any("background is ignored since MongoDB 4.2" in warning for warning in warnings)


# -- properties ---------------------------------------------------------------------

FIELDS = ["a", "b", "c", "d.e", "f"]


@st.composite
def index_specs(draw, timeseries: bool):
    if timeseries:
        fields = draw(st.lists(st.sampled_from(["meta.a", "meta.b", "t", "v"]), min_size=1, max_size=3, unique=True))
    else:
        fields = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True))
    keys = [{field: draw(st.sampled_from([1, -1]))} for field in fields]
    index: dict = {"keys": keys}
    if draw(st.booleans()):
        index["name"] = draw(st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True))
    if not timeseries and len(keys) == 1 and draw(st.booleans()):
        index["expire_after_seconds"] = draw(st.integers(0, 10**6))
    option = draw(st.sampled_from(["none", "unique", "sparse", "partial", "hidden"]))
    if option == "unique" and not timeseries:
        index["unique"] = True
    elif option == "sparse":
        index["sparse"] = True
    elif option == "partial":
        index["partial_filter_expression"] = {fields[0]: {"$exists": True}}
    elif option == "hidden":
        index["hidden"] = True
    return index


@st.composite
def collection_specs(draw, name: str):
    timeseries = draw(st.booleans())
    spec: dict = {"name": name}
    if timeseries:
        ts: dict = {"time_field": "t", "meta_field": "meta"}
        if draw(st.booleans()):
            ts["granularity"] = draw(st.sampled_from(["seconds", "minutes", "hours"]))
        else:
            span = draw(st.integers(1, 100_000))
            ts.update(bucket_max_span_seconds=span, bucket_rounding_seconds=span)
        spec["timeseries"] = ts
        if draw(st.booleans()):
            spec["expire_after_seconds"] = draw(st.integers(0, 10**8))
    spec["indexes"] = draw(st.lists(index_specs(timeseries), max_size=5))
    return spec


@st.composite
def schemas(draw):
    names = draw(st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=3, unique=True))
    return [draw(collection_specs(name)) for name in names]


def _valid(schema) -> bool:
    try:
        parse_spec(DB, schema)
    except DeclarationError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schemas())
def test_applying_a_plan_then_planning_again_yields_nothing(schema):
    assume(_valid(schema))
    server = InProcessServer()
    converge(server, schema)
    again = plan_against(server, schema)
    assert again.operations == [] and again.refusals == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schemas(), schemas())
def test_moving_between_schemas_converges_or_refuses_without_writing(first, second):
    assume(_valid(first) and _valid(second))
    server = InProcessServer()
    converge(server, first)
    plan = plan_against(server, second, prune=True)
    event("refused" if plan.refusals else "applied")
    if plan.refusals:
        return  # a refused plan is never applied
    apply(server, plan)
    again = plan_against(server, second, prune=True)
    assert again.operations == [] and again.refusals == []
