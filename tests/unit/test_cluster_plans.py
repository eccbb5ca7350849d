"""Planners of the replica set, users and sharding modules, without a server."""

from __future__ import annotations

import pytest
from ansible.module_utils.mongodb_plan import DeclarationError
from mongodb_replset_plan import implicit_write_concern, next_config, plan_replset
from mongodb_sharding_plan import plan_sharding, sharded_collections, validate
from mongodb_users_plan import plan_users
from mongodb_users_plan import validate as validate_users
from mongodb_write_concern import same_write_concern


def members(*hosts, **settings):
    return [{"host": host, **settings.get(host, {})} for host in hosts]


def initiated(*hosts, **settings):
    return plan_replset("rs", members(*hosts, **settings), None).operations[0].command["replSetInitiate"]


def reconfigs(plan) -> list[dict]:
    return [operation.command["replSetReconfig"] for operation in plan.operations]


def voters(config) -> set[str]:
    return {m["host"] for m in config["members"] if m["votes"] == 1}


# -- replica sets ---------------------------------------------------------------------


def test_initiate_numbers_members_and_fills_defaults():
    config = initiated("a:1", "b:1", "c:1", **{"c:1": {"arbiter_only": True}})
    assert [m["_id"] for m in config["members"]] == [0, 1, 2]
    assert config["members"][2]["priority"] == 0 and config["members"][2]["arbiterOnly"] is True
    assert config["version"] == 1


def test_a_set_as_declared_plans_nothing():
    current = initiated("a:1", "b:1", "c:1")
    assert not plan_replset("rs", members("a:1", "b:1", "c:1"), current).operations


@pytest.mark.parametrize(
    ("start", "goal"),
    [
        (["a:1"], ["a:1", "b:1", "c:1", "d:1", "e:1"]),
        (["a:1", "b:1", "c:1", "d:1", "e:1"], ["a:1"]),
        (["a:1", "b:1", "c:1"], ["a:1", "d:1", "e:1"]),
        (["a:1", "b:1", "c:1", "d:1", "e:1", "f:1", "g:1"], ["a:1", "b:1", "c:1", "d:1", "e:1", "f:1", "h:1"]),
    ],
)
def test_every_step_adds_or_removes_at_most_one_voter(start, goal):
    current = initiated(*start)
    plan = plan_replset("rs", members(*goal), current)
    previous = current
    for config in reconfigs(plan):
        assert len(voters(previous) ^ voters(config)) <= 1
        assert config["version"] == previous["version"] + 1
        assert sum(m["votes"] for m in config["members"]) <= 7
        previous = config
    assert {m["host"] for m in previous["members"]} == set(goal)


def test_kept_members_keep_their_ids_and_new_ones_get_fresh_ones():
    current = initiated("a:1", "b:1", "c:1")
    plan = plan_replset("rs", members("a:1", "c:1", "d:1"), current)
    final = {m["host"]: m["_id"] for m in reconfigs(plan)[-1]["members"]}
    assert final == {"a:1": 0, "c:1": 2, "d:1": 3}


def test_settings_change_in_one_step():
    current = initiated("a:1", "b:1", "c:1")
    plan = plan_replset("rs", members("a:1", "b:1", "c:1", **{"b:1": {"priority": 5, "tags": {"dc": "east"}}}), current)
    assert len(reconfigs(plan)) == 1
    member = reconfigs(plan)[0]["members"][1]
    assert member["priority"] == 5 and member["tags"] == {"dc": "east"}


@pytest.mark.parametrize("field", ["arbiter_only", "build_indexes"])
def test_fixed_fields_cannot_change_in_place(field):
    current = initiated("a:1", "b:1", "c:1")
    value = field == "arbiter_only"
    plan = plan_replset("rs", members("a:1", "b:1", "c:1", **{"c:1": {field: value, "priority": 0}}), current)
    assert reconfigs(plan) == [] and "remove the member, then add it back" in plan.refusals[0]


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (members("a:1", "b:1", **{"b:1": {"hidden": True, "priority": 1}}), "a hidden member must have priority 0"),
        (members("a:1", **{"a:1": {"votes": 0}}), "no voting member"),
        (members("a:1", "a:1"), "declared twice"),
        (members(*[f"h{i}:1" for i in range(9)]), "9 voting members"),
        (
            members(*[f"h{i}:1" for i in range(51)], **{f"h{i}:1": {"votes": 0, "priority": 0} for i in range(7, 51)}),
            "51 members",
        ),
        (members("a:1", **{"a:1": {"arbiter_only": True}}), "no member can become primary"),
        ([{"host": "nohost"}], "host must be host:port"),
    ],
)
def test_declarations_that_break_the_rules_are_refused(declared, expected):
    with pytest.raises(DeclarationError, match=expected):
        plan_replset("rs", declared, None)


def test_even_voters_are_warned_about():
    assert "odd number" in plan_replset("rs", members("a:1", "b:1"), None).warnings[0]


def test_implicit_write_concern_follows_mongodb_defaults():
    assert implicit_write_concern(initiated("a:1", "b:1", "c:1")["members"]) == "majority"
    psa = initiated("a:1", "b:1", "c:1", **{"c:1": {"arbiter_only": True}})
    assert implicit_write_concern(psa["members"]) == "1"
    pssaa = initiated(
        "a:1", "b:1", "c:1", "d:1", "e:1", **{"d:1": {"arbiter_only": True}, "e:1": {"arbiter_only": True}}
    )
    assert implicit_write_concern(pssaa["members"]) == "1"


# -- users ----------------------------------------------------------------------------

APP = {"name": "app", "password": "p" * 16, "roles": [{"role": "readWrite", "db": "monitoring"}]}


def test_new_user_is_created_with_its_roles_and_the_password_is_redacted():
    plan = plan_users(validate_users([APP]), {}, {})
    operation = plan.operations[0]
    assert operation.command["createUser"] == "app"
    assert operation.as_result()["command"]["pwd"] == "********"
    assert "p" * 16 not in str(operation.as_result())


def test_user_as_declared_plans_nothing():
    existing = {("app", "admin"): {"user": "app", "db": "admin", "roles": [{"role": "readWrite", "db": "monitoring"}]}}
    assert plan_users(validate_users([APP]), existing, {("app", "admin"): True}).operations == []


def test_changed_roles_and_password_are_one_update():
    existing = {("app", "admin"): {"user": "app", "db": "admin", "roles": [{"role": "read", "db": "monitoring"}]}}
    plan = plan_users(validate_users([APP]), existing, {("app", "admin"): False})
    assert [op.command.keys() - {"updateUser"} for op in plan.operations] == [{"roles", "pwd"}]


def test_user_without_password_is_refused():
    with pytest.raises(DeclarationError, match="password is missing"):
        validate_users([{"name": "x", "roles": []}])


# -- sharding ------------------------------------------------------------------------

STATE = {
    "shards": [],
    "settings": {},
    "balancer_mode": "full",
    "sharded": {},
    "timeseries": {},
    "shard_has_arbiter": {},
    "default_write_concern": None,
    "wanted_write_concern": {"w": "majority"},
}


def declared(**params):
    return validate({"shards": [], "collections": [], **params})


@pytest.mark.parametrize("size", [0, 1025, 2048, -5])
def test_chunk_size_outside_1_to_1024_is_refused(size):
    with pytest.raises(DeclarationError, match="chunk_size_mb is"):
        declared(chunk_size_mb=size)


def test_chunk_size_is_an_upsert_on_config_settings():
    plan = plan_sharding(declared(chunk_size_mb=32), STATE)
    assert plan.operations[0].command == {
        "update": "settings",
        "updates": [{"q": {"_id": "chunksize"}, "u": {"$set": {"value": 32}}, "upsert": True}],
    }
    converged = {**STATE, "settings": {"chunksize": {"_id": "chunksize", "value": 32}}}
    assert plan_sharding(declared(chunk_size_mb=32), converged).operations == []


def test_a_balancer_a_backup_holds_off_is_not_started_and_the_plan_says_why():
    stopped = {**STATE, "balancer_mode": "off"}
    assert [op.kind for op in plan_sharding(declared(balancer_enabled=True), stopped).operations] == ["balancerStart"]
    hold = {"_id": "balancer", "held": True, "by": "backup-1", "since": "02:30", "until": "08:30"}
    plan = plan_sharding(declared(balancer_enabled=True), {**stopped, "backup_hold": hold})
    assert plan.operations == []
    assert "a backup on backup-1 holds it" in plan.warnings[0]
    # Stopping it is never held back.
    held_on = {**STATE, "backup_hold": hold}
    assert [op.kind for op in plan_sharding(declared(balancer_enabled=False), held_on).operations] == ["balancerStop"]


def test_shard_with_arbiter_gets_the_default_write_concern_first():
    shards = [{"name": "s2", "connection": "s2/h:1"}]
    plan = plan_sharding(declared(shards=shards), {**STATE, "shard_has_arbiter": {"s2": True}})
    assert [op.kind for op in plan.operations] == ["setDefaultRWConcern", "addShard"]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ([{"timestamp": 1}, {"meta.asset_id": 1}], "must be the last field"),
        ([{"meta.asset_id": 1}, {"timestamp": "hashed"}], "must be ranged"),
        ([{"value": 1}], "may only use the metaField"),
    ],
)
def test_time_series_shard_key_rules(key, expected):
    state = {**STATE, "timeseries": {"m.metrics": {"timeField": "timestamp", "metaField": "meta"}}}
    plan = plan_sharding(declared(collections=[{"namespace": "m.metrics", "key": key}]), state)
    assert plan.operations == [] and expected in plan.refusals[0]


def test_guides_metrics_key_is_accepted_with_the_80_deprecation_warning():
    state = {**STATE, "timeseries": {"m.metrics": {"timeField": "timestamp", "metaField": "meta"}}}
    key = [{"meta.asset_id": 1}, {"timestamp": 1}]
    plan = plan_sharding(declared(collections=[{"namespace": "m.metrics", "key": key}]), state, "8.0")
    assert [op.kind for op in plan.operations] == ["shardCollection"]
    assert "deprecates the timeField" in plan.warnings[0]
    assert plan_sharding(declared(collections=[{"namespace": "m.metrics", "key": key}]), state, "7.0").warnings == []


@pytest.mark.parametrize(
    ("key", "expected"),
    [([{"a": -1}], "accepts 1 or"), ([{"a": "hashed"}, {"b": "hashed"}], "one hashed field")],
)
def test_shard_key_values_are_checked(key, expected):
    with pytest.raises(DeclarationError, match=expected):
        declared(collections=[{"namespace": "d.c", "key": key}])


def test_changing_a_shard_key_is_refused():
    state = {**STATE, "sharded": {"d.c": {"_id": "d.c", "key": {"a": 1}}}}
    plan = plan_sharding(declared(collections=[{"namespace": "d.c", "key": [{"b": 1}]}]), state)
    assert "reshardCollection" in plan.refusals[0]


# -- what the server moved or reports differently ---------------------------------------


def test_next_config_takes_its_version_from_the_config_read_and_sends_no_server_fields():
    read = {
        "_id": "rs",
        "version": 7,
        "term": 3,
        "members": [{"_id": 0, "host": "a:1"}, {"_id": 1, "host": "b:1", "newlyAdded": True}],
        "settings": {"chainingAllowed": True},
    }
    members = [{"_id": 0, "host": "a:1"}, {"_id": 1, "host": "b:1", "newlyAdded": True}, {"_id": 2, "host": "c:1"}]
    config = next_config(read, members)
    assert config["version"] == 8 and "term" not in config
    assert all("newlyAdded" not in member for member in config["members"])
    assert config["settings"] == {"chainingAllowed": True} and len(config["members"]) == 3
    assert read["members"][1]["newlyAdded"] is True  # the config read is left as it was


@pytest.mark.parametrize(
    ("reported", "declared", "same"),
    [
        ({"w": "majority", "wtimeout": 0}, {"w": "majority"}, True),
        ({"w": 1, "wtimeout": 0}, {"w": 1.0}, True),
        ({"w": "majority", "j": True, "wtimeout": 0}, {"w": "majority", "j": True}, True),
        ({"w": "majority", "wtimeout": 0}, {"w": "majority", "j": True}, False),
        ({"w": "majority", "wtimeout": 5000}, {"w": "majority"}, False),
        ({"w": 1, "wtimeout": 0}, {"w": "majority"}, False),
        (None, {"w": "majority"}, False),
    ],
)
def test_write_concerns_compare_as_the_server_reports_them(reported, declared, same):
    assert same_write_concern(reported, declared) is same


def test_a_sharded_time_series_collection_is_found_under_its_buckets_namespace():
    entries = [
        {
            "_id": "monitoring.system.buckets.metrics",
            "key": {"meta.asset_id": 1, "control.min.timestamp": 1},
            "timeseriesFields": {"timeField": "timestamp", "metaField": "meta", "granularity": "minutes"},
        },
        {
            "_id": "other.system.buckets.readings",
            "key": {"meta": "hashed"},
            "timeseriesFields": {"timeField": "at", "metaField": "sensor"},
        },
        {"_id": "monitoring.assets", "key": {"_id": "hashed"}},
    ]
    found = sharded_collections(entries)
    assert found["monitoring.metrics"]["key"] == {"meta.asset_id": 1, "timestamp": 1}
    assert list(found["monitoring.metrics"]["key"]) == ["meta.asset_id", "timestamp"]
    assert found["other.readings"]["key"] == {"sensor": "hashed"}
    assert found["monitoring.assets"]["key"] == {"_id": "hashed"}


def test_an_already_sharded_time_series_collection_plans_nothing():
    declared = validate(
        {"collections": [{"namespace": "monitoring.metrics", "key": [{"meta.asset_id": 1}, {"timestamp": 1}]}]}
    )
    state = {
        "sharded": sharded_collections(
            [
                {
                    "_id": "monitoring.system.buckets.metrics",
                    "key": {"meta.asset_id": 1, "control.min.timestamp": 1},
                    "timeseriesFields": {"timeField": "timestamp", "metaField": "meta"},
                }
            ]
        ),
        "timeseries": {"monitoring.metrics": {"timeField": "timestamp", "metaField": "meta"}},
    }
    plan = plan_sharding(declared, state)
    assert plan.operations == [] and plan.refusals == []
