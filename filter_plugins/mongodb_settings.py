"""The shared settings' rules, as an Ansible filter: one task per host checks them all.

`{...} | mongodb_setting_problems` takes this host's values of the shared settings and
returns one sentence per broken rule (an empty list when all hold). Secrets are passed
by variable name and value; a message names the variable, never the value.
"""

from __future__ import annotations

import re

RELEASE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
KEYFILE = re.compile(r"^[A-Za-z0-9+/=]{6,1024}$")
EVERY_ADDRESS = ("0.0.0.0", "::")


def mongodb_setting_problems(settings: dict) -> list[str]:
    """settings: host, version, series, supported_series, port, bind_ip, kind,
    auth_enabled, loopback_pattern, cluster_role, replset_name, keyfile_needed,
    secrets ({variable: value}), passwords ([variable]), password_min_length."""
    host = settings["host"]
    problems = []
    if not RELEASE.match(str(settings["version"])) or settings["series"] not in settings["supported_series"]:
        problems.append(
            f"mongodb_version '{settings['version']}' is not supported: give a release as major.minor.patch of "
            f"the {' or '.join(settings['supported_series'])} series."
        )
    try:
        port_ok = 1 <= int(settings["port"]) <= 65535
    except (TypeError, ValueError):
        port_ok = False
    if not port_ok:
        problems.append(f"mongodb_port {settings['port']} on {host} must be between 1 and 65535.")
    bind_ip = list(settings["bind_ip"] or [])
    if not bind_ip or any(address in EVERY_ADDRESS for address in bind_ip):
        problems.append(
            f"mongodb_bind_ip on {host} is {bind_ip}: list the interfaces to listen on (never 0.0.0.0 or ::, "
            "and not empty)."
        )
    # The first administrator of a replica set is created through MongoDB's localhost
    # exception, which only a loopback connection to that very mongod gets
    # (https://www.mongodb.com/docs/manual/core/localhost-exception/).
    loopback = re.compile(settings["loopback_pattern"])
    if settings["auth_enabled"] and settings["kind"] == "mongod" and not any(loopback.match(a) for a in bind_ip):
        problems.append(
            f"mongodb_bind_ip on {host} is {bind_ip}: a mongod with access control needs a loopback address "
            "(127.0.0.1) among them, for the localhost exception that creates its first administrator."
        )
    if settings["cluster_role"] and not settings["replset_name"]:
        problems.append(
            f"mongodb_cluster_role is '{settings['cluster_role']}' on {host} but mongodb_replset_name is empty: "
            "config servers and shards are replica sets."
        )
    if settings["auth_enabled"]:
        problems.extend(secret_problems(settings["secrets"], settings["passwords"], settings["password_min_length"]))
        keyfile = settings["secrets"].get("mongodb_keyfile_content")
        if settings["keyfile_needed"] and keyfile and not KEYFILE.match(re.sub(r"\s", "", keyfile)):
            problems.append(f"mongodb_keyfile_content must be 6 to 1024 base64 characters ({host}).")
    return problems


def secret_problems(secrets: dict, passwords: list[str], min_length: int) -> list[str]:
    """The one policy of every secret: supplied, and every password at least min_length long."""
    problems = [f"{name} is missing: supply it from Ansible Vault." for name, value in secrets.items() if not value]
    problems += [
        f"{name} must be at least {min_length} characters."
        for name in passwords
        if secrets.get(name) and len(str(secrets[name])) < int(min_length)
    ]
    return problems


def mongodb_secret_problems(secrets: dict, passwords: list[str], min_length: int) -> list[str]:
    return secret_problems(secrets, passwords, min_length)


class FilterModule:
    def filters(self):
        return {
            "mongodb_setting_problems": mongodb_setting_problems,
            "mongodb_secret_problems": mongodb_secret_problems,
        }
