#!/usr/bin/python
"""What a rolling restart asks of the members: are they fit, step a primary down, is one back."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mongodb_member
short_description: Survey a deployment before a rolling restart, step a primary down, wait for a member
description:
  - "C(action=survey): reads every process of O(groups) (each replica set from its
    primary's C(replSetGetStatus), each router with C(ping)) and says whether a rolling
    restart may start: one primary per set that sees every member in PRIMARY, SECONDARY or
    ARBITER, each secondary within O(max_replication_lag_seconds), every router answering.
    Returns the restart order (RV(order)) and, with routers, the balancer's mode.
    Read-only."
  - "C(action=step_down): when the member at O(login_host):O(login_port) is primary, sends
    C(replSetStepDown) (O(step_down_seconds), C(secondaryCatchUpPeriodSecs)
    O(catch_up_seconds)) and waits until it names another primary; a member that is not
    primary is left alone, and so is the only electable member of a set (with a warning:
    the set has no primary while it restarts). MongoDB refuses with C(ExceededTimeLimit) (262) when no
    electable secondary caught up within the catch-up period; the module then fails and
    the member stays primary. Check mode says whether it would step down."
  - "With O(target_version), the survey also reads each process's version (C(buildInfo))
    and each replica set's featureCompatibilityVersion (C(getParameter) on its primary),
    and says whether the deployment can move to that version now (RV(upgrade_problems):
    one release series at a time, from the FCV of the series it runs) and whether the FCV
    can follow (RV(fcv_problems): every process runs that series)."
  - "C(action=set_fcv): sets the featureCompatibilityVersion of every replica set of
    O(groups) to O(fcv) with C(setFeatureCompatibilityVersion) and C(confirm: true)
    (required since MongoDB 7.0): once through the first router of a sharded cluster
    (mongos passes it to the config servers and the shards), else on each set's primary.
    Sets already there are left alone. The account needs the
    C(setFeatureCompatibilityVersion) action (C(clusterManager), or C(root))."
  - "C(action=oplog): sets the oplog of the member at O(login_host):O(login_port) to
    O(oplog_size_mb) with C(replSetResizeOplog) when its size (C(listCollections) of
    C(local)) differs. The size in the configuration (C(replication.oplogSizeMB)) only
    counts when the oplog is created; MongoDB resizes each member on its own, online.
    Check mode says whether it would. Needs the C(replSetResizeOplog) action (C(root))."
  - "C(action=rotate_certificates): sends C(rotateCertificates) to the process at
    O(login_host):O(login_port), which loads its certificate key file and CA file again
    without a restart (connections already open keep theirs), then proves a new TLS
    connection is accepted and logs in, and returns the serial number the process
    presents before (RV(serial_before)) and after (RV(serial)). Needs the
    C(rotateCertificates) action on the cluster (C(hostManager), C(clusterAdmin), or
    C(root)); an arbiter, which has no users, cannot be asked. Check mode sends nothing."
  - "C(action=cluster_auth_mode): moves the process at O(login_host):O(login_port) to
    O(cluster_auth_mode) with C(setParameter), without a restart, when C(getParameter)
    says it runs another. MongoDB moves one step at a time (keyFile, sendKeyFile,
    sendX509, x509) and only with TLS on; it refuses anything else (5579202, BadValue).
    Needs C(setParameter) on the cluster (C(hostManager), or C(root)). Check mode sends nothing."
  - "C(action=wait): waits up to O(timeout) until the member is back in service: a router
    answers, an arbiter is ARBITER, a data-bearing member is PRIMARY or a SECONDARY that
    knows its primary and is within O(max_replication_lag_seconds). Read-only."
  - The account needs C(clusterMonitor) for the survey and the wait, and
    C(replSetStateChange) (C(clusterManager), or C(root)) to step down; arbiters, which
    have no users, are only asked C(hello).
  - Written for this project because C(community.mongodb.mongodb_stepdown) steps down
    without waiting until another member is primary (nor sets a set's only electable
    member apart), and
    C(community.mongodb.mongodb_status) checks one replica set without lag or order.
options:
  action:
    description: What to do.
    type: str
    choices: [survey, step_down, wait, set_fcv, oplog, rotate_certificates, cluster_auth_mode]
    required: true
  groups:
    description:
      - For C(survey). The groups in restart order, each C(name), C(members) (C(host:port))
        and C(hosts) (the inventory host of each member); the group named C(routers) holds the mongos.
    type: list
    elements: dict
    default: []
  max_replication_lag_seconds:
    description: A secondary further behind its primary is not healthy.
    type: float
    default: 10
  step_down_seconds:
    description: For C(step_down). Seconds the old primary does not stand for election.
    type: int
    default: 60
  catch_up_seconds:
    description: For C(step_down). Seconds the primary waits for an electable secondary to catch up.
    type: int
    default: 10
  target_version:
    description: For C(survey). The version to run (C(mongodb_version)); empty skips the upgrade checks.
    type: str
    default: ""
  fcv:
    description: For C(set_fcv). The featureCompatibilityVersion to set (a release series, C(8.0)).
    type: str
  cluster_auth_mode:
    description: For C(cluster_auth_mode). The membership authentication mode to run.
    type: str
    choices: [keyFile, sendKeyFile, sendX509, x509]
  oplog_size_mb:
    description: For C(oplog). The oplog size in MB (990 to 1073741824, MongoDB's bounds).
    type: int
  timeout:
    description: Seconds to wait for a new primary (C(step_down)) or for the member (C(wait)).
    type: int
    default: 300
extends_documentation_fragment:
  - mongodb_connection
author: monitoring-store maintainers
"""

EXAMPLES = r"""
- name: Refuse to restart anything unless every member is healthy
  mongodb_member:
    action: survey
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
    groups:
      - {name: rs0, members: [db1:27017, db2:27017, db3:27017], hosts: [db1, db2, db3]}

- name: Step this member down if it is primary
  mongodb_member:
    action: step_down
    login_port: 27017
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
"""

RETURN = r"""
ok:
  description: For C(survey). Every process is fit for a restart.
  returned: always
  type: bool
problems:
  description: For C(survey). Why it is not, one sentence per process or set.
  returned: always
  type: list
  elements: str
order:
  description: For C(survey). Inventory hosts in restart order (each set's primary last).
  returned: always
  type: list
  elements: str
primaries:
  description: For C(survey). The primary (C(host:port)) of each replica set.
  returned: always
  type: dict
routers:
  description: For C(survey). The routers (C(host:port)) that answered.
  returned: always
  type: list
  elements: str
balancer_mode:
  description: For C(survey) with routers. The balancer's mode (C(full) or C(off)); empty without routers.
  returned: always
  type: str
versions:
  description: For C(survey) with O(target_version). Each process's version (C(host:port) to version).
  returned: always
  type: dict
fcvs:
  description: For C(survey) with O(target_version), and C(set_fcv) (after). Each set's featureCompatibilityVersion.
  returned: always
  type: dict
upgrade_problems:
  description: For C(survey) with O(target_version). Why the binaries cannot move to it now.
  returned: always
  type: list
  elements: str
fcv_problems:
  description: For C(survey) with O(target_version). Why the FCV cannot move to its series yet.
  returned: always
  type: list
  elements: str
oplog_size_mb_before:
  description: For C(oplog). The member's oplog size in MB before.
  returned: always
  type: int
serial_before:
  description: For C(rotate_certificates). Serial number (hexadecimal) of the certificate the process presented before.
  returned: always
  type: str
serial:
  description: For C(rotate_certificates). Serial number (hexadecimal) of the certificate a new connection gets after.
  returned: always
  type: str
cluster_auth_mode_before:
  description: For C(cluster_auth_mode). The mode the process ran before.
  returned: always
  type: str
new_primary:
  description: For C(step_down). The member now primary; empty when nothing was stepped down.
  returned: always
  type: str
elapsed:
  description: Seconds waited.
  returned: always
  type: float
operations:
  description: Commands sent that change something (C(replSetStepDown)).
  returned: always
  type: list
  elements: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.mongodb_connection import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    PyMongoError,
    client_for,
    connection_argument_spec,
    hello_of,
    presented_certificate_serial,
    pymongo,
    run_and_exit_at_once,
)
from ansible.module_utils.mongodb_rolling_plan import (
    fcv_refusals,
    ready_problem,
    restart_order,
    series,
    set_refusals,
    upgrade_refusals,
)

POLL_SECONDS = 0.5


def argument_spec() -> dict:
    return {
        **connection_argument_spec(),
        "action": {
            "type": "str",
            "choices": ["survey", "step_down", "wait", "set_fcv", "oplog", "rotate_certificates", "cluster_auth_mode"],
            "required": True,
        },
        "oplog_size_mb": {"type": "int"},
        "cluster_auth_mode": {"type": "str", "choices": ["keyFile", "sendKeyFile", "sendX509", "x509"]},
        "target_version": {"type": "str", "default": ""},
        "fcv": {"type": "str"},
        "groups": {"type": "list", "elements": "dict", "default": []},
        "max_replication_lag_seconds": {"type": "float", "default": 10},
        "step_down_seconds": {"type": "int", "default": 60},
        "catch_up_seconds": {"type": "int", "default": 10},
        "timeout": {"type": "int", "default": 300},
    }


def _send(module: AnsibleModule, client, command: dict, refused: str, **failure) -> None:
    """Send one command to admin; a refusal fails the module with the server's own message."""
    try:
        client.admin.command(dict(command))
    except pymongo.errors.OperationFailure as error:
        module.fail_json(msg=f"{refused}: {error.details.get('errmsg', error)}", code=error.code, **failure)


def _own_status(params: dict, address: str) -> dict:
    client = client_for(params, address, True)
    try:
        return client.admin.command("replSetGetStatus")
    finally:
        client.close()


def _version(params: dict, address: str) -> str:
    client = client_for(params, address, False)
    try:
        return client.admin.command("buildInfo").get("version", "")
    except PyMongoError:
        return ""
    finally:
        client.close()


def _fcv(params: dict, address: str) -> str:
    client = client_for(params, address, True)
    try:
        reply = client.admin.command({"getParameter": 1, "featureCompatibilityVersion": 1})
        return reply["featureCompatibilityVersion"]["version"]
    finally:
        client.close()


def _primaries(params: dict, groups: list[dict]) -> dict[str, str]:
    """Each replica set's primary (host:port), from the members' hello."""
    found = {}
    for group in groups:
        if group["name"] == "routers":
            continue
        for address in group["members"]:
            if hello_of(params, address).get("isWritablePrimary"):
                found[group["name"]] = address
                break
    return found


def survey(params: dict) -> dict:
    problems: list[str] = []
    primaries: dict[str, str] = {}
    balancer_mode = ""
    routers: list[str] = []
    for group in params["groups"]:
        answers = {address: hello_of(params, address) for address in group["members"]}
        problems += [f"{address} ({group['name']}) does not answer" for address, hello in answers.items() if not hello]
        if group["name"] == "routers":
            routers = [address for address, hello in answers.items() if hello]
            if routers:
                client = client_for(params, routers[0], True)
                try:
                    balancer_mode = client.admin.command("balancerStatus").get("mode", "")
                finally:
                    client.close()
            continue
        primary = next((address for address, hello in answers.items() if hello.get("isWritablePrimary")), None)
        status = _own_status(params, primary) if primary else None
        problems += set_refusals(group["name"], status, params["max_replication_lag_seconds"])
        if primary:
            primaries[group["name"]] = primary
    upgrade = {"versions": {}, "fcvs": {}, "upgrade_problems": [], "fcv_problems": []}
    if params["target_version"]:
        versions = {a: _version(params, a) for g in params["groups"] for a in g["members"]}
        fcvs = {name: _fcv(params, address) for name, address in primaries.items()}
        upgrade = {
            "versions": versions,
            "fcvs": fcvs,
            "upgrade_problems": upgrade_refusals(versions, fcvs, params["target_version"]),
            "fcv_problems": fcv_refusals(versions, params["target_version"]),
        }
    return {
        "ok": not problems,
        "problems": problems,
        "primaries": primaries,
        "order": restart_order(params["groups"], primaries),
        "balancer_mode": balancer_mode,
        "routers": routers,
        **upgrade,
    }


def set_fcv(module: AnsibleModule) -> dict:
    params = module.params
    target = series(params["fcv"] or "")
    groups = params["groups"]
    primaries = _primaries(params, groups)
    missing = [g["name"] for g in groups if g["name"] != "routers" and g["name"] not in primaries]
    if missing:
        module.fail_json(msg=f"no primary answered in {', '.join(missing)}", changed=False, operations=[])
    before = {name: _fcv(params, address) for name, address in primaries.items()}
    behind = sorted(name for name, fcv in before.items() if fcv != target)
    if not behind:
        return {"changed": False, "operations": [], "fcvs": before}
    command = {"setFeatureCompatibilityVersion": target, "confirm": True}
    routers = next((g["members"] for g in groups if g["name"] == "routers"), [])
    targets = routers[:1] or [primaries[name] for name in behind]
    operations = [
        {"kind": "setFeatureCompatibilityVersion", "db": "admin", "target": t, "command": command} for t in targets
    ]
    if module.check_mode:
        return {"changed": True, "operations": operations, "fcvs": before}
    for address in targets:
        client = client_for(params, address, True)
        try:
            _send(
                module,
                client,
                command,
                f"{address} refused setFeatureCompatibilityVersion {target}",
                changed=address != targets[0],
                operations=operations,
            )
        finally:
            client.close()
    after = {name: _fcv(params, address) for name, address in primaries.items()}
    if any(fcv != target for fcv in after.values()):
        module.fail_json(msg=f"the FCV did not reach {target}: {after}", changed=True, operations=operations)
    return {"changed": True, "operations": operations, "fcvs": after}


def _address(params: dict) -> str:
    return f"{params['login_host']}:{params['login_port']}"


def step_down(module: AnsibleModule) -> dict:
    params = module.params
    me = _address(params)
    hello = hello_of(params, me)
    if not hello:
        module.fail_json(msg=f"{me} does not answer", changed=False, operations=[])
    if not hello.get("isWritablePrimary"):
        return {"changed": False, "new_primary": "", "operations": [], "elapsed": 0.0}
    if not [host for host in hello.get("hosts", []) if host != me]:
        # hello's hosts are the electable members: with none but this one there is nobody
        # to hand over to, and the set has no primary while this member restarts.
        module.warn(
            f"{me} is the only electable member of {hello.get('setName')}: not stepped down; "
            "the set has no primary while it restarts"
        )
        return {"changed": False, "new_primary": "", "operations": [], "elapsed": 0.0}
    command = {
        "replSetStepDown": params["step_down_seconds"],
        "secondaryCatchUpPeriodSecs": params["catch_up_seconds"],
    }
    operation = {"kind": "replSetStepDown", "db": "admin", "target": me, "command": command}
    if module.check_mode:
        return {"changed": True, "new_primary": "", "operations": [operation], "elapsed": 0.0}
    started = time.monotonic()
    client = client_for(params, me, True)
    try:
        _send(module, client, command, f"{me} refused to step down (it stays primary)", changed=False, operations=[])
    except pymongo.errors.AutoReconnect:
        pass  # servers before 4.2 closed every connection on a step-down; the wait below decides
    finally:
        client.close()
    new_primary = ""
    while time.monotonic() - started < params["timeout"]:
        hello = hello_of(params, me)
        if hello.get("primary") and hello["primary"] != me and not hello.get("isWritablePrimary"):
            new_primary = hello["primary"]
            break
        time.sleep(POLL_SECONDS)
    elapsed = round(time.monotonic() - started, 1)
    if not new_primary:
        module.fail_json(
            msg=f"{me} stepped down but no other member became primary within {params['timeout']}s",
            changed=True,
            operations=[operation],
            elapsed=elapsed,
        )
    return {"changed": True, "new_primary": new_primary, "operations": [operation], "elapsed": elapsed}


def wait(module: AnsibleModule) -> dict:
    params = module.params
    me = _address(params)
    started = time.monotonic()
    problem = "it was not asked"
    while time.monotonic() - started < params["timeout"]:
        hello = hello_of(params, me)
        status = None
        if hello.get("secondary") and hello.get("primary"):
            try:
                status = _own_status(params, me)
            except PyMongoError as error:
                problem = f"replSetGetStatus failed: {error}"
                time.sleep(POLL_SECONDS)
                continue
        problem = ready_problem(hello, status, params["max_replication_lag_seconds"])
        if not problem:
            return {"changed": False, "operations": [], "elapsed": round(time.monotonic() - started, 1)}
        time.sleep(POLL_SECONDS)
    module.fail_json(
        msg=f"{me} is not back in service after {params['timeout']}s: {problem}",
        changed=False,
        operations=[],
        elapsed=round(time.monotonic() - started, 1),
    )
    raise AssertionError("fail_json returns only in tests")


def resize_oplog(module: AnsibleModule) -> dict:
    params = module.params
    me = _address(params)
    target = params["oplog_size_mb"]
    client = client_for(params, me, True)
    try:
        listed = list(client.local.list_collections(filter={"name": "oplog.rs"}))
        if not listed:
            module.fail_json(msg=f"{me} has no oplog (not a replica set member)", changed=False, operations=[])
        before = int(listed[0].get("options", {}).get("size", 0)) // (1024 * 1024)
        command = {"replSetResizeOplog": 1, "size": float(target)}
        operation = {"kind": "replSetResizeOplog", "db": "admin", "target": me, "command": command}
        if before == target:
            return {"changed": False, "operations": [], "oplog_size_mb_before": before}
        if not module.check_mode:
            _send(module, client, command, f"{me} refused replSetResizeOplog {target} MB", changed=False, operations=[])
        return {"changed": True, "operations": [operation], "oplog_size_mb_before": before}
    finally:
        client.close()


def rotate_certificates(module: AnsibleModule) -> dict:
    params = module.params
    me = _address(params)
    if not params["tls"]:
        module.fail_json(
            msg=f"rotate_certificates needs tls: {me} is reached in plain text", changed=False, operations=[]
        )
    before = presented_certificate_serial(params)
    command = {"rotateCertificates": 1, "message": "mongodb_member: certificates replaced"}
    operation = {"kind": "rotateCertificates", "db": "admin", "target": me, "command": command}
    if module.check_mode:
        return {"changed": True, "operations": [operation], "serial_before": before, "serial": before}
    client = client_for(params, me, True)
    try:
        _send(module, client, command, f"{me} refused rotateCertificates", changed=False, operations=[])
    finally:
        client.close()
    fresh = client_for(params, me, True)  # a new connection, with the files as they are now
    try:
        fresh.admin.command("ping")
    finally:
        fresh.close()
    return {
        "changed": True,
        "operations": [operation],
        "serial_before": before,
        "serial": presented_certificate_serial(params),
    }


def cluster_auth_mode(module: AnsibleModule) -> dict:
    params = module.params
    me = _address(params)
    target = params["cluster_auth_mode"]
    client = client_for(params, me, True)
    try:
        before = client.admin.command({"getParameter": 1, "clusterAuthMode": 1})["clusterAuthMode"]
        command = {"setParameter": 1, "clusterAuthMode": target}
        operation = {"kind": "setParameter", "db": "admin", "target": me, "command": command}
        if before == target:
            return {"changed": False, "operations": [], "cluster_auth_mode_before": before}
        if not module.check_mode:
            _send(
                module,
                client,
                command,
                f"{me} refused clusterAuthMode {target} (it runs {before})",
                changed=False,
                operations=[],
            )
        return {"changed": True, "operations": [operation], "cluster_auth_mode_before": before}
    finally:
        client.close()


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=str(PYMONGO_IMPORT_ERROR))
    action = module.params["action"]
    if action == "survey":
        bad = [g for g in module.params["groups"] if not {"name", "members", "hosts"} <= set(g)]
        if bad:
            module.fail_json(msg="each group needs a name, members and hosts", changed=False, operations=[])
        try:
            result = survey(module.params)
        except PyMongoError as error:
            module.fail_json(msg=f"the survey stopped: {error}", changed=False, operations=[])
        module.exit_json(
            changed=False,
            operations=[],
            elapsed=0.0,
            new_primary="",
            oplog_size_mb_before=0,
            serial_before="",
            serial="",
            cluster_auth_mode_before="",
            **result,
        )
    if action == "cluster_auth_mode" and not module.params["cluster_auth_mode"]:
        module.fail_json(msg="action cluster_auth_mode needs cluster_auth_mode", changed=False, operations=[])
    if action == "set_fcv" and not module.params["fcv"]:
        module.fail_json(msg="action set_fcv needs fcv", changed=False, operations=[])
    size = module.params["oplog_size_mb"]
    if action == "oplog" and not (size and 990 <= size <= 1073741824):
        module.fail_json(msg=f"oplog_size_mb is {size}: give 990 to 1073741824 (MB)", changed=False, operations=[])
    run = {
        "step_down": step_down,
        "wait": wait,
        "set_fcv": set_fcv,
        "oplog": resize_oplog,
        "rotate_certificates": rotate_certificates,
        "cluster_auth_mode": cluster_auth_mode,
    }[action]
    quiet = {"ok": True, "problems": [], "order": [], "primaries": {}, "routers": [], "balancer_mode": ""}
    empty = {
        "versions": {},
        "fcvs": {},
        "upgrade_problems": [],
        "fcv_problems": [],
        "new_primary": "",
        "elapsed": 0.0,
        "oplog_size_mb_before": 0,
        "serial_before": "",
        "serial": "",
        "cluster_auth_mode_before": "",
    }
    try:
        outcome = run(module)
    except PyMongoError as error:
        module.fail_json(msg=f"{action} stopped: {error}", changed=False, operations=[])
    module.exit_json(**quiet, **{**empty, **outcome})


if __name__ == "__main__":
    run_and_exit_at_once(main)
