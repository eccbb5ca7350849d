"""The mongodb_users module against one mongod with access control.

Each change runs in check mode (planned, changed, no write), for real (exactly the
planned commands), then again (no change, no write). The module talks to the server
through a recording proxy (support/proxy.py), so what it sent is counted the same way
on the stand-in and on real binaries. The first run goes through MongoDB's localhost
exception: no user exists yet, and the proxy's connection to the server is loopback.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pymongo
import pytest
from support.ansible import command_names, run_module
from support.proxy import RecordingProxy

ADMIN_PASSWORD = "admin-password-1"
APP_PASSWORD = "app-password-1"
LOGIN = {"login_user": "admin", "login_password": ADMIN_PASSWORD}
# The login user is declared last on purpose: under the localhost exception the module
# must create it first (the exception grants roles on admin only), whatever the order.
APP = {"name": "app", "password": APP_PASSWORD, "roles": [{"role": "readWrite", "db": "monitoring"}]}
ADMIN = {"name": "admin", "password": ADMIN_PASSWORD, "roles": ["root"]}
DECLARED = [APP, ADMIN]


@pytest.fixture
def secured(start_mongod, mongod_config):
    """A standalone mongod with access control on and no user yet."""
    mongod_config["security"] = {"authorization": "enabled"}
    return start_mongod(mongod_config)


@pytest.fixture
def proxy(secured):
    recorder = RecordingProxy(secured.port)
    yield recorder
    recorder.close()


def users(proxy: RecordingProxy, declared: list[dict], *flags: str) -> dict:
    return run_module("mongodb_users", {"login_port": proxy.port, **LOGIN, "users": declared}, *flags)


def login(process, user: str, password: str) -> pymongo.MongoClient:
    return process.client(username=user, password=password, authSource="admin")


def seed(process) -> None:
    """DECLARED as they are after a first run, made directly (cheaper than a module run)."""
    process.client().admin.command("createUser", "admin", pwd=ADMIN_PASSWORD, roles=ADMIN["roles"])
    login(process, "admin", ADMIN_PASSWORD).admin.command("createUser", "app", pwd=APP_PASSWORD, roles=APP["roles"])


def roles_of(process) -> dict[str, list[tuple[str, str]]]:
    reply = login(process, "admin", ADMIN_PASSWORD).admin.command(
        "usersInfo", [{"user": "admin", "db": "admin"}, {"user": "app", "db": "admin"}]
    )
    return {entry["user"]: sorted((role["role"], role["db"]) for role in entry["roles"]) for entry in reply["users"]}


def check_apply_again(
    proxy: RecordingProxy, declared: list[dict], after_check: Callable[[dict], None] | None = None
) -> tuple[dict, list[dict]]:
    """Check mode (changed, no write, then after_check(plan)), apply (changed, exactly
    the planned commands), again (unchanged, no write); returns the plan and the
    commands the apply sent."""
    proxy.mark()
    planned = users(proxy, declared, "--check", "--diff")
    assert planned.get("changed") is True, planned
    assert planned["diff"]["before"] != planned["diff"]["after"]
    assert proxy.writes() == []
    if after_check is not None:
        after_check(planned)
    applied = users(proxy, declared)
    assert applied.get("changed") is True, applied
    written = proxy.writes()
    assert sorted(entry["command"] for entry in written) == sorted(command_names(planned))
    proxy.mark()
    again = users(proxy, declared)
    assert again.get("changed") is False, again
    assert again["operations"] == []
    assert proxy.writes() == []
    return planned, written


def test_first_run_check_mode_creates_no_user_then_apply_creates_the_login_user_first(secured, proxy):
    """Through the localhost exception: no user exists, the login is refused."""

    def nothing_created(planned: dict) -> None:
        assert command_names(planned) == ["createUser", "createUser"]
        with pytest.raises(pymongo.errors.OperationFailure) as refused:
            login(secured, "admin", ADMIN_PASSWORD).admin.command("ping")
        assert refused.value.code == 18  # AuthenticationFailed: no such user

    _planned, written = check_apply_again(proxy, DECLARED, after_check=nothing_created)
    assert [(entry["command"], entry["target"]) for entry in written] == [
        ("createUser", "admin"),
        ("createUser", "app"),
    ]
    assert roles_of(secured) == {"admin": [("root", "admin")], "app": [("readWrite", "monitoring")]}
    assert login(secured, "app", APP_PASSWORD).admin.command("connectionStatus")["ok"] == 1


def test_a_changed_role_list_is_one_update_user(secured, proxy):
    seed(secured)
    more = {**APP, "roles": [*APP["roles"], {"role": "clusterMonitor", "db": "admin"}]}
    planned, written = check_apply_again(proxy, [more, ADMIN])
    assert command_names(planned) == ["updateUser"]
    assert [(entry["command"], entry["target"]) for entry in written] == [("updateUser", "app")]
    assert roles_of(secured)["app"] == [("clusterMonitor", "admin"), ("readWrite", "monitoring")]


def test_a_changed_password_is_one_update_user_and_never_shown(secured, proxy):
    seed(secured)
    new_password = "app-password-2-changed"
    changed = {**APP, "password": new_password}
    proxy.mark()
    results = [users(proxy, [changed, ADMIN], "--check", "--diff")]
    assert results[0].get("changed") is True and command_names(results[0]) == ["updateUser"], results[0]
    assert proxy.writes() == []
    results.append(users(proxy, [changed, ADMIN], "--diff"))
    assert results[1].get("changed") is True, results[1]
    assert [(entry["command"], entry["target"]) for entry in proxy.writes()] == [("updateUser", "app")]
    proxy.mark()
    results.append(users(proxy, [changed, ADMIN], "--diff"))
    assert results[2].get("changed") is False and proxy.writes() == [], results[2]
    for result in results:
        # The whole output: the JSON document ansible printed, stderr, and the parsed result.
        assert new_password not in json.dumps(result), result
        assert APP_PASSWORD not in json.dumps(result)
        assert ADMIN_PASSWORD not in json.dumps(result)
    assert login(secured, "app", new_password).admin.command("connectionStatus")["ok"] == 1
    with pytest.raises(pymongo.errors.OperationFailure) as refused:
        login(secured, "app", APP_PASSWORD).admin.command("ping")
    assert refused.value.code == 18
