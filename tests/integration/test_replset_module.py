"""The mongodb_replset module against real mongod processes (or stand-ins).

Each change runs in check mode (planned, nothing sent), for real, then again (no
change). Members are forked mongod processes with replication.replSetName set.
"""

from __future__ import annotations

import pytest
from support import servers
from support.ansible import run_module

SET = "rs0"


def start_members(start_mongod, tmp_path, count: int, prefix: str, **extra) -> list:
    """count started, uninitiated members of replica set rs0, each with extra config sections."""
    started = []
    for index in range(count):
        root = tmp_path / f"{prefix}{index}"
        root.mkdir()
        config = servers.base_config(root, servers.free_port())
        config["replication"] = {"replSetName": SET, "oplogSizeMB": 990}
        started.append(start_mongod({**config, **extra}, name=f"{prefix}{index}.conf"))
    return started


@pytest.fixture
def members(start_mongod, tmp_path):
    """Five started, uninitiated members of replica set rs0."""
    return start_members(start_mongod, tmp_path, 5, "m")


def host(process) -> str:
    return f"127.0.0.1:{process.port}"


def declare(processes, **overrides) -> list[dict]:
    return [{"host": host(p), **overrides.get(host(p), {})} for p in processes]


def replset(target, declared, *flags, **params) -> dict:
    return run_module(
        "mongodb_replset",
        {"login_port": target.port, "set_name": SET, "members": declared, "wait_timeout": 60, **params},
        *flags,
    )


def writes(process) -> list[str]:
    return [entry["command"] for entry in servers.CommandRecorder(process, []).commands() if entry["write"]]


def check_apply_again(target, declared, **params) -> tuple[dict, dict]:
    planned = replset(target, declared, "--check", "--diff", **params)
    assert planned.get("changed") is True, planned
    applied = replset(target, declared, **params)
    assert applied.get("changed") is True, applied
    again = replset(target, declared, **params)
    assert again.get("changed") is False, again
    return planned, applied


def configs(result: dict) -> list[dict]:
    """The replica set configurations a module run planned or sent, in order."""
    return [op["command"][op["kind"]] for op in result["operations"] if op["kind"].startswith("replSet")]


def status(process) -> dict[str, str]:
    reply = process.client().admin.command("replSetGetStatus")
    return {member["name"]: member["stateStr"] for member in reply["members"]}


def test_initiate(members):
    declared = declare(members[:3], **{host(members[0]): {"priority": 2}})
    planned, applied = check_apply_again(members[0], declared)
    assert planned["initiated"] is True and planned["diff"]["before"] == {}
    assert applied["primary"] == host(members[0])
    assert status(members[0]) == {
        host(members[0]): "PRIMARY",
        host(members[1]): "SECONDARY",
        host(members[2]): "SECONDARY",
    }


@pytest.mark.skipif(not servers.using_standin(), reason="counts commands from the stand-in's log")
def test_check_mode_sends_no_write(members):
    replset(members[0], declare(members[:3]), "--check")
    assert all(writes(member) == [] for member in members[:3])


def test_add_a_member(members):
    replset(members[0], declare(members[:3]))
    planned, _ = check_apply_again(members[0], declare(members[:4]))
    assert [len(config["members"]) for config in configs(planned)] == [4]
    assert status(members[0])[host(members[3])] == "SECONDARY"


def test_two_voting_members_are_added_one_at_a_time(members):
    replset(members[0], declare(members[:3]))
    _planned, applied = check_apply_again(members[0], declare(members))
    assert [len(config["members"]) for config in configs(applied)] == [4, 5]
    # Each step takes its version from the config read just before it: after the first,
    # the primary ran a reconfig of its own that cleared the new member's newlyAdded flag
    # (SERVER-46344), so the second step is not version 3.
    first, second = (config["version"] for config in configs(applied))
    assert first == 2 and second > first
    config = members[0].client().admin.command("replSetGetConfig")["config"]
    assert len(config["members"]) == 5 and config["version"] >= second
    assert all("newlyAdded" not in member for member in config["members"])
    if servers.using_standin():
        # Two reconfigs accepted. Under load the primary may move the config between the
        # module's read and its send; that send is refused (stale version) and retried once.
        accepted = [
            entry["command"]
            for entry in servers.CommandRecorder(members[0], []).commands()
            if entry["write"] and entry["ok"]
        ]
        assert accepted.count("replSetReconfig") == 2


def test_a_member_in_initial_sync_is_waited_for_and_a_rerun_carries_on(members, start_mongod, tmp_path):
    """A new member stays in STARTUP2 until its initial sync ends (held here by MongoDB's
    initialSyncHangBeforeFinish failpoint, as jstests/replsets/newly_added_*.js do)."""
    replset(members[0], declare(members[:3]))
    members[0].client().monitoring.samples.insert_one({"asset": "a-1"})
    root = tmp_path / "syncing"
    root.mkdir()
    config = servers.base_config(root, servers.free_port())
    config["replication"] = {"replSetName": SET, "oplogSizeMB": 990}
    config["setParameter"] = {
        "enableTestCommands": 1,
        "failpoint.initialSyncHangBeforeFinish": "{mode: 'alwaysOn'}",
    }
    syncing = start_mongod(config, name="syncing.conf")
    declared = [*declare(members[:3]), {"host": host(syncing)}]

    timed_out = replset(members[0], declared, initial_sync_timeout=3)
    assert timed_out.get("failed") and timed_out["changed"] is True
    assert f"{host(syncing)} STARTUP2" in timed_out["msg"] and "carries on" in timed_out["msg"]
    assert status(members[0])[host(syncing)] == "STARTUP2"

    # Re-run with one more member while the first is still syncing: it waits first,
    # and sends nothing when the wait times out.
    more = [*declared, {"host": host(members[3])}]
    waiting = replset(members[0], more, initial_sync_timeout=3)
    assert waiting.get("failed") and waiting["changed"] is False and waiting["operations"] == []
    assert host(syncing) in waiting["msg"]

    syncing.client().admin.command("configureFailPoint", "initialSyncHangBeforeFinish", mode="off")
    carried_on = replset(members[0], more)
    assert carried_on["changed"] is True and [len(c["members"]) for c in configs(carried_on)] == [5]
    assert status(members[0])[host(syncing)] == "SECONDARY"
    copied = syncing.client(readPreference="secondaryPreferred").monitoring.samples.find_one({"asset": "a-1"})
    assert copied is not None


def test_remove_a_member(members):
    replset(members[0], declare(members[:4]))
    planned, _ = check_apply_again(members[0], declare(members[:3]))
    assert host(members[3]) not in planned["diff"]["after"]["members"]
    assert host(members[3]) not in status(members[0])


def test_a_member_that_is_down_can_be_removed(members):
    replset(members[0], declare(members[:4]))
    members[3].stop()
    removed = replset(members[0], declare(members[:3]))
    assert removed["changed"] is True, removed
    assert host(members[3]) not in status(members[0])


def test_change_a_priority(members):
    replset(members[0], declare(members[:3]))
    declared = declare(members[:3], **{host(members[1]): {"priority": 5}})
    planned, applied = check_apply_again(members[0], declared)
    assert planned["diff"]["after"]["members"][host(members[1])]["priority"] == 5
    assert applied["primary"] == host(members[1])


def test_in_place_arbiter_flip_is_refused_and_nothing_is_sent(members):
    replset(members[0], declare(members[:3]))
    before = {member.port: writes(member) for member in members[:3]}
    refused = replset(members[0], declare(members[:3], **{host(members[2]): {"arbiter_only": True}}))
    assert refused.get("failed")
    assert "arbiterOnly" in refused["msg"] and "remove the member, then add it back" in refused["msg"]
    if servers.using_standin():
        assert {member.port: writes(member) for member in members[:3]} == before


def test_unreachable_member_stops_initiation_naming_it(members, tmp_path):
    gone = f"127.0.0.1:{servers.free_port()}"
    declared = [*declare(members[:2]), {"host": gone}]
    result = replset(members[0], declared)
    assert result.get("failed") and gone in result["msg"] and "nothing was changed" in result["msg"]
    with pytest.raises(Exception) as error:
        members[0].client().admin.command("replSetGetConfig")
    assert getattr(error.value, "code", None) == 94


def test_psa_set_gets_an_explicit_default_write_concern_once(members):
    declared = declare(members[:3], **{host(members[2]): {"arbiter_only": True}})
    replset(members[0], declared, default_write_concern={"w": "majority"})
    reply = members[0].client().admin.command("getDefaultRWConcern")
    assert reply["defaultWriteConcernSource"] == "global"
    # The server reports a stored {w: majority} with wtimeout filled in
    # (WriteConcernOptions::toBSON); the module must not read that as a difference.
    assert reply["defaultWriteConcern"] == {"w": "majority", "wtimeout": 0}
    if servers.using_standin():
        before = writes(members[0])
        again = replset(members[0], declared, default_write_concern={"w": "majority"})
        assert again["changed"] is False and writes(members[0]) == before


@pytest.fixture
def secured(start_mongod, tmp_path):
    """Three started, uninitiated members of rs0 with a keyfile: access control is on."""
    keyfile = servers.write_keyfile(tmp_path / "keyfile")
    return start_members(start_mongod, tmp_path, 3, "secured", security={"keyFile": str(keyfile)})


LOGIN = {"login_user": "admin", "login_password": "admin-password-1"}


def create_administrator(process) -> dict:
    administrator = {"name": "admin", "password": LOGIN["login_password"], "roles": ["root"]}
    return run_module("mongodb_users", {"login_port": process.port, **LOGIN, "users": [administrator]})


def test_first_run_with_access_control_finishes_once_the_administrator_exists(secured):
    """With access control on and no user yet, the localhost exception allows initiating
    the set and reading its status, not the config or the default write concern: the
    module says so (needs_login), and its run after the administrator exists finishes."""
    declared = declare(secured, **{host(secured[2]): {"arbiter_only": True}})
    concern = {"default_write_concern": {"w": "majority"}}

    first = replset(secured[0], declared, **LOGIN, **concern)
    assert first["changed"] is True and first["initiated"] is True and first["needs_login"] is True
    primary = next(p for p in secured if host(p) == first["primary"])
    created = create_administrator(primary)
    assert created["changed"] is True, created

    finished = replset(secured[0], declared, "--diff", **LOGIN, **concern)
    assert finished["changed"] is True and finished["needs_login"] is False, finished
    assert finished["diff"]["after"]["default_write_concern"] == {"w": "majority"}
    again = replset(secured[0], declared, **LOGIN, **concern)
    assert again["changed"] is False, again
    reply = primary.client(username="admin", password=LOGIN["login_password"]).admin.command("getDefaultRWConcern")
    assert reply["defaultWriteConcernSource"] == "global"


def test_a_refused_login_is_named_once_users_exist(secured):
    first = replset(secured[0], declare(secured), **LOGIN)
    create_administrator(next(p for p in secured if host(p) == first["primary"]))
    refused = replset(secured[0], declare(secured), login_user="admin", login_password="wrong-password-1")
    assert refused.get("failed") and "the login of user admin@admin was refused" in refused["msg"], refused
