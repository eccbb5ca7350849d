"""The shared settings' rules (filter_plugins/mongodb_settings.py), one message per rule."""

from __future__ import annotations

import pytest
from mongodb_settings import mongodb_secret_problems, mongodb_setting_problems

KEYFILE = "a" * 64


def settings(**changes) -> dict:
    base = {
        "host": "db-1",
        "version": "8.0.17",
        "series": "8.0",
        "supported_series": ["8.0", "7.0"],
        "port": 27017,
        "bind_ip": ["127.0.0.1", "10.0.0.5"],
        "kind": "mongod",
        "auth_enabled": True,
        "loopback_pattern": r"^(127\.[0-9.]+|::1|localhost)$",
        "cluster_role": "",
        "replset_name": "rs0",
        "keyfile_needed": True,
        "secrets": {"mongodb_keyfile_content": KEYFILE, "mongodb_admin_password": "p" * 16},
        "passwords": ["mongodb_admin_password"],
        "password_min_length": 12,
    }
    return {**base, **changes}


def test_sound_settings_have_no_problem():
    assert mongodb_setting_problems(settings()) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": "9.9.0", "series": "9.9"}, "mongodb_version '9.9.0' is not supported"),
        ({"version": "8.0"}, "mongodb_version '8.0' is not supported"),
        ({"port": 70000}, "mongodb_port 70000 on db-1 must be between 1 and 65535."),
        ({"port": "twenty"}, "mongodb_port twenty on db-1 must be between 1 and 65535."),
        ({"bind_ip": ["127.0.0.1", "0.0.0.0"]}, "never 0.0.0.0 or ::"),
        ({"bind_ip": [], "kind": "mongos"}, "never 0.0.0.0 or ::, and not empty"),
        ({"bind_ip": ["10.0.0.5"]}, "needs a loopback address (127.0.0.1)"),
        ({"cluster_role": "shardsvr", "replset_name": ""}, "config servers and shards are replica sets"),
        (
            {"secrets": {"mongodb_keyfile_content": KEYFILE, "mongodb_admin_password": ""}},
            "mongodb_admin_password is missing",
        ),
        (
            {"secrets": {"mongodb_keyfile_content": KEYFILE, "mongodb_admin_password": "short"}},
            "mongodb_admin_password must be at least 12 characters.",
        ),
        (
            {"secrets": {"mongodb_keyfile_content": "not base64!", "mongodb_admin_password": "p" * 16}},
            "mongodb_keyfile_content must be 6 to 1024 base64 characters (db-1).",
        ),
    ],
)
def test_each_broken_rule_has_its_own_message(changes, message):
    problems = mongodb_setting_problems(settings(**changes))
    assert len(problems) == 1 and message in problems[0], problems


def test_a_router_needs_no_loopback_and_no_check_without_access_control():
    assert mongodb_setting_problems(settings(kind="mongos", bind_ip=["10.0.0.5"])) == []
    assert mongodb_setting_problems(settings(auth_enabled=False, bind_ip=["10.0.0.5"], secrets={})) == []


def test_secret_messages_name_the_variable_never_the_value():
    problems = mongodb_secret_problems({"vault_app": "tiny-secret", "vault_gone": ""}, ["vault_app"], 12)
    assert problems == [
        "vault_gone is missing: supply it from Ansible Vault.",
        "vault_app must be at least 12 characters.",
    ]
    assert "tiny-secret" not in " ".join(problems)
