"""module_utils/mongodb_rolling_plan.py and the restart groups of filter_plugins/mongodb_topology.py."""

from __future__ import annotations

import datetime

from ansible.module_utils.mongodb_rolling_plan import (
    fcv_refusals,
    member_lag,
    ready_problem,
    restart_order,
    set_refusals,
    upgrade_refusals,
)
from mongodb_topology import mongodb_process_groups

NOW = datetime.datetime(2026, 12, 1, 12, 0, 0)


def member(name: str, state: str, behind: float = 0.0, health: int = 1, **extra) -> dict:
    entry = {"name": name, "stateStr": state, "health": health, **extra}
    if state in ("PRIMARY", "SECONDARY"):
        entry["optimeDate"] = NOW - datetime.timedelta(seconds=behind)
    return entry


def test_a_healthy_set_has_no_refusals():
    status = {"members": [member("a:1", "PRIMARY"), member("b:1", "SECONDARY", 2), member("c:1", "ARBITER")]}
    assert set_refusals("rs", status, 10) == []


def test_a_set_is_refused_for_a_member_down_behind_or_not_serving_and_without_primary():
    status = {
        "members": [
            member("a:1", "PRIMARY"),
            member("b:1", "SECONDARY", 30),
            member("c:1", "(not reachable/healthy)", health=0),
            member("d:1", "RECOVERING", 0),
        ]
    }
    refusals = " | ".join(set_refusals("rs", status, 10))
    assert "b:1 (rs) is 30.0 s behind the primary" in refusals
    assert "c:1 (rs) is (not reachable/healthy) to the primary" in refusals
    assert "d:1 (rs) is RECOVERING" in refusals
    assert set_refusals("rs", None, 10) == ["rs: no member answered as primary"]


def test_each_sets_primary_restarts_last_and_the_groups_keep_their_order():
    groups = [
        {"name": "cfg", "members": ["c1:1"], "hosts": ["cfg-1"]},
        {"name": "s1", "members": ["a:1", "b:1", "c:1"], "hosts": ["s1-a", "s1-b", "s1-c"]},
        {"name": "routers", "members": ["r:1", "r:2"], "hosts": ["r1", "r2"]},
    ]
    assert restart_order(groups, {"cfg": "c1:1", "s1": "a:1"}) == ["cfg-1", "s1-b", "s1-c", "s1-a", "r1", "r2"]
    assert restart_order(groups, {"s1": "b:1"})[1:4] == ["s1-a", "s1-c", "s1-b"]


def test_process_groups_put_the_config_servers_first_and_the_routers_last():
    hostvars = {
        "s1-a": {"mongodb_replset_name": "s1", "mongodb_cluster_role": "shardsvr", "mongodb_port": 1},
        "r": {"group_names": ["mongodb_mongos"], "mongodb_port": 2},
        "cfg": {"mongodb_replset_name": "cfg", "mongodb_cluster_role": "configsvr", "mongodb_port": 3},
    }
    groups = mongodb_process_groups(["s1-a", "r", "cfg"], hostvars)
    assert [(g["name"], g["hosts"]) for g in groups] == [("cfg", ["cfg"]), ("s1", ["s1-a"]), ("routers", ["r"])]
    assert groups[0]["members"] == ["cfg:3"]


def test_a_restarted_member_is_back_once_it_serves_within_the_lag_limit():
    secondary = {"secondary": True, "primary": "a:1", "setName": "rs"}

    def status(behind: float) -> dict:
        return {"members": [member("a:1", "PRIMARY"), member("b:1", "SECONDARY", behind, self=True)]}

    assert ready_problem({}, None, 10) == "it does not answer"
    assert ready_problem({"msg": "isdbgrid"}, None, 10) == ""
    assert ready_problem({"arbiterOnly": True, "secondary": False}, None, 10) == ""
    assert ready_problem({"isWritablePrimary": True}, None, 10) == ""
    assert ready_problem({"secondary": False, "setName": "rs"}, None, 10) == "it is not SECONDARY yet"
    assert ready_problem({"secondary": True}, None, 10) == "it knows of no primary yet"
    assert ready_problem(secondary, status(3), 10) == ""
    assert ready_problem(secondary, status(12), 10) == "it is 12.0 s behind the primary (more than 10)"
    assert member_lag(status(3)) == 3.0
    assert member_lag({"members": [member("b:1", "SECONDARY", self=True)]}) is None


def test_an_upgrade_goes_one_release_series_at_a_time_from_the_fcv_of_the_binaries():
    assert upgrade_refusals({"a:1": "7.0.25", "b:1": "8.0.17"}, {"rs": "7.0"}, "8.0.17") == []
    assert upgrade_refusals({"a:1": "8.0.12"}, {"rs": "8.0"}, "8.0.17") == []  # a patch release
    skip = upgrade_refusals({"a:1": "6.0.20"}, {"rs": "6.0"}, "8.0.17")
    assert skip[0] == "a:1 runs 6.0.20: 8.0 is more than one release series away; upgrade to 7.0 first"
    assert "rs has featureCompatibilityVersion 6.0: set it to 7.0" in skip[1]
    assert upgrade_refusals({"a:1": "8.0.17"}, {"rs": "8.0"}, "7.0.25") == [
        "a:1 runs 8.0.17, newer than mongodb_version 7.0.25: no downgrades",
        "rs has featureCompatibilityVersion 8.0, newer than 7.0: no downgrades",
    ]
    assert "not of a release series" in upgrade_refusals({"a:1": "8.0.17"}, {}, "9.9.0")[0]


def test_the_fcv_moves_only_once_every_process_runs_the_new_series():
    assert fcv_refusals({"a:1": "8.0.17", "b:1": "8.0.12"}, "8.0.17") == []
    assert fcv_refusals({"a:1": "8.0.17", "b:1": "7.0.25"}, "8.0.17") == [
        "b:1 still runs 7.0.25: every process must run 8.0 before the FCV moves to it"
    ]
