#!/usr/bin/python
"""Initiate a replica set and keep its membership as declared."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mongodb_replset
short_description: Initiate a MongoDB replica set and reconfigure it toward declared members
description:
  - Initiates a new replica set with the declared members, or reconfigures an existing one
    toward them (members added, removed, or with other priority, votes, hidden, delay or tags).
  - Follows MongoDB's safe-reconfig rule (at most one voting member added or removed per
    reconfig). It steps through intermediate configurations and waits for each to be
    committed and for its members to be healthy before the next.
  - Refuses, before sending anything, member changes MongoDB does not allow in place
    (C(arbiter_only), C(build_indexes)), declarations that break MongoDB's rules, and an
    initiation when a member cannot be reached.
  - A set already as declared reports no change. Check mode and diff mode show the
    configurations that would be applied.
  - Written for this project because C(community.mongodb.mongodb_replicaset) applies a
    membership change as one reconfig, which MongoDB refuses when it adds or removes more
    than one voter, and does not refuse in-place arbiter changes or show the steps.
options:
  set_name:
    description: Name of the replica set (C(replication.replSetName) of its members).
    type: str
    required: true
  members:
    description:
      - The declared members. Each is C(host) (host:port as the members reach each other) and
        optionally C(priority), C(votes), C(arbiter_only), C(hidden), C(secondary_delay_secs),
        C(tags) and C(build_indexes).
    type: list
    elements: dict
    required: true
  configsvr:
    description: The set is a sharded cluster's config server replica set.
    type: bool
    default: false
  default_write_concern:
    description:
      - Cluster-wide default write concern to set (C(setDefaultRWConcern)) when the set has
        arbiters or a reconfig would change MongoDB's implicit default.
      - Leave empty for shard replica sets; a sharded cluster sets it through mongos.
    type: dict
  allow_localhost_exception:
    description:
      - When the credentials are refused, connect without them, relying on MongoDB's localhost
        exception (no user exists yet). Used while a new set is initiated before its first user.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for a primary and healthy members after each change.
    type: int
    default: 120
extends_documentation_fragment:
  - mongodb_connection
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
author: monitoring-store maintainers
"""

EXAMPLES = r"""
- name: Keep the shard replica set as the inventory declares it
  mongodb_replset:
    login_port: 27018
    set_name: monitoring-shard-02
    members:
      - {host: "shard02-a.example.internal:27018", priority: 2}
      - {host: "shard02-b.example.internal:27018", priority: 1}
      - {host: "shard02-arbiter.example.internal:27018", arbiter_only: true}
"""

RETURN = r"""
initiated:
  description: Whether the set was (or would be) initiated.
  returned: always
  type: bool
configs:
  description: The configurations applied (or that would be), in order.
  returned: always
  type: list
  elements: dict
primary:
  description: host:port of the primary after the run.
  returned: when not in check mode
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.mongodb_connection import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    OperationFailure,
    PyMongoError,
    client_for,
    connect_checked,
    connection_argument_spec,
)
from ansible.module_utils.mongodb_replset_plan import ReplsetError, describe, implicit_write_concern, plan_replset

HEALTHY_STATES = (1, 2, 7)  # PRIMARY, SECONDARY, ARBITER


def argument_spec() -> dict:
    return {
        **connection_argument_spec(),
        "set_name": {"type": "str", "required": True},
        "members": {"type": "list", "elements": "dict", "required": True},
        "configsvr": {"type": "bool", "default": False},
        "default_write_concern": {"type": "dict"},
        "allow_localhost_exception": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 120},
    }


class Failure(Exception):
    """Stop the module with this message."""


def not_yet_initiated(client) -> bool:
    try:
        client.admin.command("replSetGetConfig")
    except OperationFailure as error:
        if error.code == 94:
            return True
        raise
    return False


def check_members_reachable(params, members, authenticated) -> None:
    """Before initiating: every member answers and belongs to no other set."""
    problems = []
    for member in members:
        client = client_for({**params, "connect_timeout": 5}, member["host"], authenticated)
        try:
            hello = client.admin.command("hello")
            if hello.get("setName") and hello["setName"] != params["set_name"]:
                problems.append(f"{member['host']} already belongs to replica set {hello['setName']}")
        except PyMongoError as error:
            problems.append(f"{member['host']} cannot be reached ({error.__class__.__name__}: {error})")
        finally:
            client.close()
    if problems:
        raise Failure("Not initiating, nothing was changed: " + "; ".join(problems))


def primary_client(params, client, authenticated, timeout):
    """A direct client for the current primary, waiting for one to be elected."""
    deadline = time.monotonic() + timeout
    while True:
        hello = client.admin.command("hello")
        if hello.get("primary"):
            if hello.get("isWritablePrimary"):
                return client, hello["primary"]
            return client_for(params, hello["primary"], authenticated), hello["primary"]
        if time.monotonic() > deadline:
            raise Failure(f"replica set {params['set_name']} has no primary after {timeout}s")
        time.sleep(1)


def wait_healthy(primary, config, timeout) -> None:
    """Until the config is committed and each of its members is healthy; names laggards."""
    deadline = time.monotonic() + timeout
    hosts = [member["host"] for member in config["members"]]
    while True:
        try:
            committed = primary.admin.command("replSetGetConfig", commitmentStatus=True).get("commitmentStatus", True)
            status = primary.admin.command("replSetGetStatus")
            states = {member["name"]: member.get("state") for member in status["members"]}
            unhealthy = [host for host in hosts if states.get(host) not in HEALTHY_STATES]
            has_primary = any(state == 1 for state in states.values())
        except PyMongoError as error:
            committed, unhealthy, has_primary = False, hosts, False
            last_error = str(error)
        else:
            last_error = ""
        if committed and not unhealthy and has_primary:
            return
        if time.monotonic() > deadline:
            detail = ", ".join(unhealthy) if unhealthy else "no primary" if not has_primary else "not committed"
            raise Failure(
                f"replica set {config['_id']} config version {config['version']}: not healthy after {timeout}s "
                f"({detail}) {last_error}".strip()
            )
        time.sleep(1)


def ensure_default_write_concern(primary, wanted: dict | None, configs: list[dict], current: dict | None) -> None:
    """Set the cluster-wide default write concern where MongoDB asks for an explicit one.

    Since 5.0 a reconfig that changes the implicit default (w:majority, or w:1 for a
    set with an arbiter whose data-bearing voters are not a voting majority) needs an
    explicit default first; for a set with arbiters the docs advise setting one anyway.
    A shard (wanted empty) takes the cluster-wide default set through mongos.
    """
    if wanted is None:
        return
    members = [config["members"] for config in configs] + ([current["members"]] if current else [])
    implicit = {implicit_write_concern(each) for each in members}
    if len(implicit) < 2 and not any(m.get("arbiterOnly") for each in members for m in each):
        return
    defaults = primary.admin.command("getDefaultRWConcern")
    if defaults.get("defaultWriteConcernSource") == "global" and defaults.get("defaultWriteConcern") == wanted:
        return
    primary.admin.command("setDefaultRWConcern", defaultWriteConcern=wanted)


def run(module) -> dict:
    params = module.params
    client, authenticated = connect_checked(params, params["allow_localhost_exception"])
    current = primary = None
    if not not_yet_initiated(client):
        primary, _ = primary_client(params, client, authenticated, params["wait_timeout"])
        current = primary.admin.command("replSetGetConfig")["config"]
    plan = plan_replset(params["set_name"], params["members"], current, params["configsvr"])
    for warning in plan.warnings:
        module.warn(warning)
    if plan.refusals:
        raise Failure("Changes MongoDB does not allow, nothing was sent: " + "; ".join(plan.refusals))
    configs = [plan.initiate] if plan.initiate else plan.reconfigs
    final = configs[-1] if configs else current
    result = {
        "changed": plan.changed,
        "initiated": plan.initiate is not None,
        "configs": configs,
        "diff": {"before": describe(current), "after": describe(final)},
    }
    if module.check_mode or not plan.changed:
        return result
    if plan.initiate:
        check_members_reachable(params, plan.initiate["members"], authenticated)
        client.admin.command("replSetInitiate", plan.initiate)
        primary, primary_host = primary_client(params, client, authenticated, params["wait_timeout"])
        wait_healthy(primary, plan.initiate, params["wait_timeout"])
        ensure_default_write_concern(primary, params["default_write_concern"], configs, None)
    else:
        ensure_default_write_concern(primary, params["default_write_concern"], configs, current)
        for config in plan.reconfigs:
            primary.admin.command("replSetReconfig", config)
            primary, primary_host = primary_client(params, primary, authenticated, params["wait_timeout"])
            wait_healthy(primary, config, params["wait_timeout"])
    result["primary"] = primary_host
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=str(PYMONGO_IMPORT_ERROR))
    try:
        result = run(module)
    except ReplsetError as error:
        module.fail_json(msg=f"The declared members are refused, nothing was sent: {error}")
    except Failure as error:
        module.fail_json(msg=str(error))
    except PyMongoError as error:
        module.fail_json(msg=f"replica set {module.params['set_name']}: {error}")
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
