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
    reconfig). It steps through intermediate configurations; before each step it reads the
    config again, waits until it is committed and takes the next version from it (the
    primary runs reconfigs of its own, e.g. to clear a new member's C(newlyAdded) flag),
    and after each step it waits for the members to be healthy.
  - A member added to a set stays in STARTUP2 during its initial sync, which can take
    hours on real data; it gets O(initial_sync_timeout), the others O(wait_timeout). Progress
    goes to the module log. A run that times out has applied its step; the next run carries
    on from where the set is.
  - Before the first user exists, connects through MongoDB's localhost exception, which
    allows C(replSetInitiate) and C(replSetGetStatus) on a loopback connection to this very
    member, nothing more. It initiates the set and waits on the status, then returns
    RV(needs_login) so it is run again once the administrator exists, to compare the
    membership and set the default write concern.
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
  initial_sync_timeout:
    description:
      - Seconds to wait for members in initial sync (STARTUP2) after a change, sized for the data.
    type: int
    default: 86400
extends_documentation_fragment:
  - mongodb_connection
  - mongodb_plan
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
operations:
  description:
    - Commands sent, in order; in check mode, the commands that would be sent. Empty when
      nothing differs, when the plan is refused, or with O(validate_only).
    - Each is C(kind) (the command name), C(db), C(target) (what it acts on), C(summary)
      (a line to read) and C(command) (passwords replaced by asterisks).
    - A C(replSetInitiate) or C(replSetReconfig) command holds the configuration; a
      reconfig sent carries the version it was sent with.
  returned: always
  type: list
  elements: dict
  sample:
    - kind: replSetReconfig
      db: admin
      target: monitoring-shard-02
      summary: "replica set monitoring-shard-02: add shard02-c.example.internal:27018"
      command: {replSetReconfig: {_id: monitoring-shard-02, version: 4, members: []}}
diff:
  description: The members with their settings before and after (and the default write concern when it is set).
  returned: in diff mode
  type: dict
refusals:
  description: Changes MongoDB does not allow, when the plan is refused (nothing is sent).
  returned: on a refused plan
  type: list
  elements: str
initiated:
  description: Whether the set was (or would be) initiated.
  returned: always
  type: bool
primary:
  description: host:port of the primary (after the run, or as found in check mode).
  returned: when the set has one
  type: str
down_members:
  description:
    - host:port of each member the set reports down (health 0 in C(replSetGetStatus)), also
      named in a warning. The set is still compared and changed through its primary; a
      member that was down takes the config from the others when it is back.
  returned: when the set is initiated
  type: list
  elements: str
needs_login:
  description:
    - The module ran through the localhost exception (no user yet) and could not read the
      config or set the default write concern; run it again once the administrator exists.
  returned: always
  type: bool
waited:
  description: Seconds waited for healthy members after each step.
  returned: when something was applied
  type: list
  elements: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.mongodb_connection import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    LoginRefused,
    OperationFailure,
    PyMongoError,
    client_for,
    connect_checked,
    connection_argument_spec,
    run_and_exit_at_once,
)
from ansible.module_utils.mongodb_plan import (
    NOT_STARTED_WARNING,
    Operation,
    apply_plan,
    checked_declaration,
    fail_before_sending,
    plan_argument_spec,
    planned_against_nothing,
)
from ansible.module_utils.mongodb_replset_plan import (
    implicit_write_concern,
    next_config,
    plan_replset,
    validate_members,
)
from ansible.module_utils.mongodb_write_concern import same_write_concern

HEALTHY_STATES = (1, 2, 7)  # PRIMARY, SECONDARY, ARBITER
SYNCING_STATES = (3, 5)  # RECOVERING (as initial sync ends), STARTUP2 (initial sync)
STATE_NAMES = {0: "STARTUP", 1: "PRIMARY", 2: "SECONDARY", 3: "RECOVERING", 5: "STARTUP2", 6: "UNKNOWN", 7: "ARBITER"}
PROGRESS_EVERY = 30  # seconds between progress lines in the module log while waiting


def argument_spec() -> dict:
    return {
        **connection_argument_spec(),
        **plan_argument_spec(),
        "set_name": {"type": "str", "required": True},
        "members": {"type": "list", "elements": "dict", "required": True},
        "configsvr": {"type": "bool", "default": False},
        "default_write_concern": {"type": "dict"},
        "allow_localhost_exception": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 120},
        "initial_sync_timeout": {"type": "int", "default": 86400},
    }


class Failure(Exception):
    """Stop the module with this message."""


def replset_status(client) -> dict | None:
    """replSetGetStatus of the member, or None before the set is initiated (94).

    replSetGetStatus, unlike replSetGetConfig, is allowed under the localhost exception.
    """
    try:
        return client.admin.command("replSetGetStatus")
    except OperationFailure as error:
        if error.code == 94:
            return None
        raise


def readable_config(primary) -> dict | None:
    """The set's config, or None when this connection may not read it (13: the localhost exception)."""
    try:
        return primary.admin.command("replSetGetConfig")["config"]
    except OperationFailure as error:
        if error.code == 13:
            return None
        raise


def down_members(status: dict) -> list[str]:
    """Members the set reports down: no heartbeat answer (health 0)."""
    return [member["name"] for member in status["members"] if not member.get("health", 1)]


def warn_about_down_members(module, status: dict) -> list[str]:
    down = down_members(status)
    if down:
        module.warn(
            f"replica set {module.params['set_name']}: {', '.join(down)} "
            f"{'is' if len(down) == 1 else 'are'} down (not reachable or not healthy); the set is "
            "converged through its primary and a member takes the config when it is back"
        )
    return down


def primary_of(status: dict) -> str | None:
    return next((member["name"] for member in status["members"] if member.get("state") == 1), None)


def check_members_reachable(params, members, authenticated) -> None:
    """Before initiating: every member answers and belongs to no other set (hello needs no login)."""
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


class MemberWait:
    """Waits until members are healthy, giving members in initial sync longer.

    A member added to a set holding data stays in STARTUP2 until its initial sync ends
    (then may pass through RECOVERING), which can take hours: once any awaited member has
    been seen syncing the wait runs to initial_sync_timeout, otherwise to wait_timeout.
    Each sample asks the current primary, found again from the status, so an election
    during the wait does not stall it. Progress goes to the module log; on a timeout the
    message names each member and its state, and a re-run carries on from where the set is.
    """

    def __init__(self, module, authenticated: bool):
        self.module = module
        self.authenticated = authenticated
        self.waited: list[dict] = []
        self._clients: dict[str, object] = {}

    def until_healthy(self, status_client, hosts: list[str], label: str, check_commitment: bool = True) -> None:
        params = self.module.params
        started = last_report = time.monotonic()
        seen_syncing = False
        while True:
            states, committed, error = self._sample(status_client, check_commitment)
            waiting = {host: states.get(host) for host in hosts if states.get(host) not in HEALTHY_STATES}
            has_primary = 1 in states.values()
            elapsed = time.monotonic() - started
            if committed and has_primary and not waiting:
                self.waited.append({"step": label, "seconds": round(elapsed, 1)})
                return
            seen_syncing = seen_syncing or any(state in SYNCING_STATES for state in waiting.values())
            limit = params["initial_sync_timeout"] if seen_syncing else params["wait_timeout"]
            described = ", ".join(
                f"{host} {STATE_NAMES.get(state, state or 'not reachable')}" for host, state in waiting.items()
            )
            if time.monotonic() - last_report >= PROGRESS_EVERY:
                self.module.log(f"replica set {params['set_name']} {label}: waiting {elapsed:.0f}s for {described}")
                last_report = time.monotonic()
            if elapsed > limit:
                detail = described or ("no primary" if not has_primary else "config not committed")
                hint = " (initial sync; raise initial_sync_timeout for large data sets)" if seen_syncing else ""
                raise Failure(
                    f"replica set {params['set_name']} {label}: not healthy after {elapsed:.0f}s: {detail}{hint}"
                    f"{' ' + error if error else ''}. Nothing more was sent; a re-run carries on from here."
                )
            time.sleep(1)

    def _sample(self, status_client, check_commitment: bool) -> tuple[dict, bool, str]:
        """Member states, whether the config is committed (asked of the primary), and the last error."""
        try:
            status = status_client.admin.command("replSetGetStatus")
            states = {member["name"]: member.get("state") for member in status["members"]}
            committed = True
            primary = primary_of(status)
            if check_commitment and primary:
                reply = self._client(primary).admin.command("replSetGetConfig", commitmentStatus=True)
                committed = reply.get("commitmentStatus", True)
        except PyMongoError as error:
            return {}, False, str(error)
        return states, committed, ""

    def _client(self, host: str):
        if host not in self._clients:
            self._clients[host] = client_for(self.module.params, host, self.authenticated)
        return self._clients[host]


def committed_config(primary, timeout: int) -> dict:
    """The primary's config once it is committed (a reconfig needs the previous one committed)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = primary.admin.command("replSetGetConfig", commitmentStatus=True)
        if reply.get("commitmentStatus", True) or time.monotonic() > deadline:
            return reply["config"]
        time.sleep(1)


def reconfigure(primary, members: list[dict], timeout: int) -> dict:
    """One replSetReconfig to these members, its version taken from the config read just before.

    The primary runs reconfigs of its own (it drops a new member's newlyAdded flag once
    the member is SECONDARY, with version + 1: SERVER-46344), so a version computed up
    front can be stale; when the server moved the config between the read and the send,
    read it again and retry once.
    """
    for attempt in (1, 2):
        current = committed_config(primary, timeout)
        config = next_config(current, members)
        try:
            primary.admin.command("replSetReconfig", config)
            return config
        except OperationFailure:
            moved = primary.admin.command("replSetGetConfig")["config"]["version"] != current["version"]
            if attempt == 2 or not moved:
                raise
    raise AssertionError("unreachable")


def default_write_concern_differs(primary, wanted: dict | None, configs: list[dict], current: dict | None) -> bool:
    """Whether the cluster-wide default write concern must be set to wanted.

    Since 5.0 a reconfig that changes the implicit default (w:majority, or w:1 for a
    set with an arbiter whose data-bearing voters are not a voting majority) needs an
    explicit default first; for a set with arbiters the docs advise setting one anyway.
    A shard (wanted empty) takes the cluster-wide default set through mongos. The
    server reports what it stores with MongoDB's defaults filled in, so the comparison
    is by value (same_write_concern).
    """
    if not needs_default_write_concern(wanted, configs, current):
        return False
    defaults = primary.admin.command("getDefaultRWConcern")
    return not (
        defaults.get("defaultWriteConcernSource") == "global"
        and same_write_concern(defaults.get("defaultWriteConcern"), wanted)
    )


def needs_default_write_concern(wanted: dict | None, configs: list[dict], current: dict | None) -> bool:
    if wanted is None:
        return False
    members = [config["members"] for config in configs] + ([current["members"]] if current else [])
    implicit = {implicit_write_concern(each) for each in members}
    return len(implicit) > 1 or any(m.get("arbiterOnly") for each in members for m in each)


class Sender:
    """Sends each planned command, then waits for the set to act on it before the next.

    A reconfig takes its version from the config read just before it is sent (see
    reconfigure); after initiation or each step the members must be healthy again.
    """

    def __init__(self, module, client, primary, authenticated: bool, current: dict | None, steps: int):
        self.module = module
        self.client = client
        self.primary = primary
        self.authenticated = authenticated
        self.current = current
        self.primary_host: str | None = None
        self.waits = MemberWait(module, authenticated)
        self.steps = steps
        self.applied: list[dict] = []

    def send(self, operation: Operation) -> dict | None:
        params = self.module.params
        if operation.kind == "replSetInitiate":
            check_members_reachable(params, operation.command["replSetInitiate"]["members"], self.authenticated)
            self.client.admin.command(operation.command)
            return None
        if operation.kind == "replSetReconfig":
            if not self.applied:
                # The members that stay are healthy before the first step (a member still in
                # initial sync from an earlier run is waited for here; one being removed is not).
                staying = {member["host"] for member in operation.command["replSetReconfig"]["members"]}
                hosts = [member["host"] for member in self.current["members"] if member["host"] in staying]
                self.waits.until_healthy(self.primary, hosts, "before the first step")
            applied = reconfigure(self.primary, operation.command["replSetReconfig"]["members"], params["wait_timeout"])
            self.applied.append(applied)
            return {"replSetReconfig": applied}
        self.primary.admin.command(operation.command)
        return None

    def settle(self, operation: Operation) -> None:
        params = self.module.params
        if operation.kind == "replSetInitiate":
            # The member that took replSetInitiate answers replSetGetStatus for the whole set,
            # over the same loopback connection the localhost exception needs.
            hosts = [member["host"] for member in operation.command["replSetInitiate"]["members"]]
            self.waits.until_healthy(self.client, hosts, "initiation", check_commitment=False)
            self.primary_host = primary_of(self.client.admin.command("replSetGetStatus"))
            if self.authenticated:
                self.primary, _ = primary_client(params, self.client, True, params["wait_timeout"])
        elif operation.kind == "replSetReconfig":
            self.primary, self.primary_host = primary_client(
                params, self.primary, self.authenticated, params["wait_timeout"]
            )
            hosts = [member["host"] for member in self.applied[-1]["members"]]
            self.waits.until_healthy(self.primary, hosts, f"step {len(self.applied)} of {self.steps}")


def add_default_write_concern(plan, primary, wanted: dict | None, current: dict | None, authenticated: bool) -> None:
    """Put setDefaultRWConcern in the plan where MongoDB needs it: before the reconfigs
    that change the implicit default, or after an initiation (once a login exists)."""
    configs = [operation.command[operation.kind] for operation in plan.operations]
    if current is None:
        needed = authenticated and needs_default_write_concern(wanted, configs, None)
    else:
        needed = default_write_concern_differs(primary, wanted, configs, current)
    if not needed:
        return
    operation = Operation(
        "admin",
        {"setDefaultRWConcern": 1, "defaultWriteConcern": wanted},
        f"replica set {plan.after.get('set', '')}: set the default write concern to {wanted}",
        "cluster",
    )
    if current is None:
        plan.operations.append(operation)
    else:
        plan.operations.insert(0, operation)
    plan.after = {**plan.after, "default_write_concern": wanted}


REFUSED = "The declared members are refused, nothing was sent"


def declaration(params: dict) -> tuple[list, list[str]]:
    """The declared members, checked by MongoDB's member rules."""
    validate_members(params["set_name"], params["members"])
    return params["members"], []


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    checked_declaration(module, declaration, REFUSED)
    if params["validate_only"]:
        module.exit_json(changed=False, operations=[])
    if planned_against_nothing(module):
        module.warn(NOT_STARTED_WARNING)
        plan = plan_replset(params["set_name"], params["members"], None, params["configsvr"])
        module.exit_json(**apply_plan(module, plan, None, "replica set", errors=(), initiated=True, needs_login=False))
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=str(PYMONGO_IMPORT_ERROR))
    errors = (Failure, LoginRefused, PyMongoError)
    try:
        client, authenticated = connect_checked(params, params["allow_localhost_exception"])
        status = replset_status(client)
        current = primary = None
        down = []
        if status is not None:
            down = warn_about_down_members(module, status)
            primary, _ = primary_client(params, client, authenticated, params["wait_timeout"])
            current = readable_config(primary)
            if current is None:
                # Initiated, but no user exists yet: the localhost exception shows the
                # status, not the config, so membership is compared once the administrator exists.
                module.exit_json(
                    changed=False,
                    operations=[],
                    initiated=False,
                    primary=primary_of(status),
                    needs_login=True,
                    down_members=down,
                )
        plan = plan_replset(params["set_name"], params["members"], current, params["configsvr"])
        if not plan.refusals:
            add_default_write_concern(plan, primary, params["default_write_concern"], current, authenticated)
    except errors as error:
        fail_before_sending(module, f"replica set {params['set_name']}: {error}")
    initiated = bool(plan.operations) and plan.operations[0].kind == "replSetInitiate"
    steps = sum(1 for operation in plan.operations if operation.kind == "replSetReconfig")
    sender = Sender(module, client, primary, authenticated, current, steps)
    result = apply_plan(
        module,
        plan,
        sender.send,
        f"replica set {params['set_name']}",
        errors=errors,
        settle=sender.settle,
        initiated=initiated,
        needs_login=False,
        **({"primary": primary_of(status), "down_members": down} if status else {}),
    )
    if module.check_mode or not result["changed"]:
        module.exit_json(**result)
    # Initiated through the localhost exception: the default write concern and the
    # membership check wait for the administrator.
    result["needs_login"] = initiated and not authenticated
    if sender.primary_host:
        result["primary"] = sender.primary_host
    result["waited"] = sender.waits.waited
    module.exit_json(**result)


if __name__ == "__main__":
    run_and_exit_at_once(main)
