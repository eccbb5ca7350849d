#!/usr/bin/python
"""Index usage, the retention check and compact: the maintenance that replaces reIndex."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mongodb_maintenance
short_description: Report index usage, check a time-series collection's retention, compact a secondary
description:
  - "C(action=report): reads every data-bearing member of each replica set of O(groups)
    directly and reports, for the namespaces of O(collections), each index's accesses
    (C($indexStats), counted per member since it started) with the indexes no member used
    for O(unused_index_min_age_hours) noted (never C(_id_) or a shard key's index). Then
    checks each collection of O(retention) through the first router (or the replica set's
    primary): it exists as a time-series collection, expires measurements after the
    expected C(expire_after_seconds), its oldest measurement is not older than that plus
    a bucket's span and one TTL pass, and no member has its TTL monitor off
    (C(getParameter) C(ttlMonitorEnabled)). The collection's own expiry does the deleting:
    nothing is deleted here. Read-only; the same in check mode."
  - "C(action=compact): runs C(compact) on the member at O(login_host):O(login_port) for
    each namespace of O(collections) it holds, one after another, and returns the bytes
    each freed. Refuses a primary (it never sends C(force)): step it down first. In check
    mode a MongoDB 8.0 member is asked for an estimate (C(dryRun)); an older one is not
    asked. Needs the C(compact) action (C(dbAdmin), C(hostManager), or C(root))."
  - "Replaces the seed guide's C(reIndex), which MongoDB refuses on replica set members
    (C(IllegalOperation), since 5.0). Written for this project, since C(community.mongodb)
    has no module for C(compact), C($indexStats) or a retention check."
options:
  action:
    description: What to do.
    type: str
    choices: [report, compact]
    required: true
  groups:
    description:
      - For C(report). The groups, each C(name) and C(members) (C(host:port)).
      - The group named C(routers) holds the mongos.
    type: list
    elements: dict
    default: []
  collections:
    description:
      - Namespaces (C(db.collection)) whose indexes are reported (C(report)) or that are compacted (C(compact)).
    type: list
    elements: str
    default: []
  shard_keys:
    description: For C(report). Shard key of each sharded namespace (C(namespace), C(key)).
    type: list
    elements: dict
    default: []
  unused_index_min_age_hours:
    description: For C(report). An index no member used for this long (every member counting) is noted unused.
    type: float
    default: 168
  retention:
    description:
      - For C(report). Time-series collections to check, each C(namespace), C(time_field) and C(expire_after_seconds).
    type: list
    elements: dict
    default: []
  free_space_target_mb:
    description:
      - For C(compact). Compact only when at least this many MB would be freed.
      - MongoDB 7.3 and later; its default is 20.
    type: int
extends_documentation_fragment:
  - mongodb_connection
author: monitoring-store maintainers
"""

EXAMPLES = r"""
- name: Report index usage and check the retention of metrics
  mongodb_maintenance:
    action: report
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
    groups:
      - {name: rs0, members: [db1:27017, db2:27017, db3:27017]}
    collections: [monitoring.metrics, monitoring.assets]
    retention:
      - {namespace: monitoring.metrics, time_field: timestamp, expire_after_seconds: 7776000}

- name: Compact this secondary
  mongodb_maintenance:
    action: compact
    login_port: 27017
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
    collections: [monitoring.metrics, monitoring.assets]
"""

RETURN = r"""
ok:
  description: For C(report). No retention problem and every member answered.
  returned: always
  type: bool
problems:
  description: For C(report). Each problem found, one sentence each.
  returned: always
  type: list
  elements: str
index_usage:
  description:
    - For C(report). One row per index.
    - C(set), C(namespace), C(index), C(ops), C(members), C(counted_hours), C(note).
  returned: always
  type: list
  elements: dict
table:
  description: For C(report). The index usage as lines of text.
  returned: always
  type: list
  elements: str
retention:
  description:
    - For C(report). Per collection of O(retention), what was found.
    - C(oldest), C(oldest_age_days), C(problems).
  returned: always
  type: list
  elements: dict
compacted:
  description:
    - For C(compact). Each namespace compacted (or, in check mode, that would be) and its C(bytes_freed).
    - In check mode an estimate, or null when the member was not asked.
  returned: always
  type: list
  elements: dict
skipped:
  description: For C(compact). Namespaces this member does not hold.
  returned: always
  type: list
  elements: str
operations:
  description: Commands sent that change something (C(compact)).
  returned: always
  type: list
  elements: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.mongodb_connection import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    PyMongoError,
    client_for,
    connection_argument_spec,
    hello_of,
    pymongo,
    run_and_exit_at_once,
)
from ansible.module_utils.mongodb_maintenance_plan import index_usage, retention, usage_table


def argument_spec() -> dict:
    return {
        **connection_argument_spec(),
        "action": {"type": "str", "choices": ["report", "compact"], "required": True},
        "groups": {"type": "list", "elements": "dict", "default": []},
        "collections": {"type": "list", "elements": "str", "default": []},
        "shard_keys": {"type": "list", "elements": "dict", "default": []},
        "unused_index_min_age_hours": {"type": "float", "default": 168},
        "retention": {"type": "list", "elements": "dict", "default": []},
        "free_space_target_mb": {"type": "int"},
    }


def _listed(client, namespace: str) -> dict | None:
    db, _, name = namespace.partition(".")
    return next(iter(client[db].list_collections(filter={"name": name})), None)


def _index_stats(client, namespaces: list[str]) -> list[dict]:
    """$indexStats of each namespace this member holds (one listCollections per database)."""
    held: dict[str, list[str]] = {}
    documents = []
    for namespace in namespaces:
        db, _, name = namespace.partition(".")
        if db not in held:
            held[db] = client[db].list_collection_names()
        if name in held[db]:
            documents += [{**d, "ns": namespace} for d in client[db][name].aggregate([{"$indexStats": {}}])]
    return documents


def _ttl_monitor_enabled(client) -> bool:
    return bool(client.admin.command({"getParameter": 1, "ttlMonitorEnabled": 1})["ttlMonitorEnabled"])


def _oldest(client, namespace: str, time_field: str):
    db, _, name = namespace.partition(".")
    found = client[db][name].find({}, {time_field: 1, "_id": 0}).sort(time_field, 1).limit(1)
    return next(iter(found), {}).get(time_field)


def report(params: dict) -> dict:
    problems: list[str] = []
    stats: dict[str, dict[str, list[dict]]] = {}
    ttl_off: list[str] = []
    primary = router = None
    for group in params["groups"]:
        for address in group["members"]:
            hello = hello_of(params, address)
            if not hello:
                problems.append(f"{address} ({group['name']}) does not answer: its index use is not counted")
                continue
            if group["name"] == "routers":
                router = router or address
                continue
            if hello.get("arbiterOnly"):
                continue
            primary = primary or (address if hello.get("isWritablePrimary") else None)
            client = client_for(params, address, True)
            try:
                documents = _index_stats(client, params["collections"])
                if documents:
                    stats.setdefault(group["name"], {})[address] = documents
                if not _ttl_monitor_enabled(client):
                    ttl_off.append(address)
            finally:
                client.close()
    shard_keys = {entry["namespace"]: entry["key"] for entry in params["shard_keys"]}
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (hosts may run Python < 3.11)
    rows = index_usage(stats, shard_keys, params["unused_index_min_age_hours"], now)
    checked = []
    target = router or primary
    if params["retention"] and target is None:
        problems.append("no router or primary answered: retention was not checked")
    elif params["retention"]:
        client = client_for(params, target, True)
        try:
            for entry in params["retention"]:
                listed = _listed(client, entry["namespace"])
                oldest = _oldest(client, entry["namespace"], entry["time_field"]) if listed else None
                expected = int(entry["expire_after_seconds"])
                checked.append(retention(entry["namespace"], listed, expected, oldest, now, ttl_off))
        finally:
            client.close()
    problems += [problem for entry in checked for problem in entry["problems"]]
    return {
        "ok": not problems,
        "problems": problems,
        "index_usage": rows,
        "table": usage_table(rows),
        "retention": checked,
    }


def compact(module: AnsibleModule) -> dict:
    params = module.params
    me = f"{params['login_host']}:{params['login_port']}"
    hello = hello_of(params, me)
    if not hello:
        module.fail_json(msg=f"{me} does not answer", changed=False, operations=[])
    if hello.get("isWritablePrimary"):
        module.fail_json(
            msg=f"{me} is the primary of {hello.get('setName')}: compact runs on secondaries; step it down first",
            changed=False,
            operations=[],
        )
    if hello.get("arbiterOnly"):
        return {"changed": False, "compacted": [], "skipped": list(params["collections"]), "operations": []}
    client = client_for(params, me, True)
    try:
        version = client.admin.command("buildInfo").get("versionArray", [0, 0])
        if params["free_space_target_mb"] is not None and tuple(version[:2]) < (7, 3):
            module.fail_json(
                msg=f"free_space_target_mb needs MongoDB 7.3 or later; {me} runs {'.'.join(map(str, version[:3]))}",
                changed=False,
                operations=[],
            )
        compacted, skipped, operations = [], [], []
        for namespace in params["collections"]:
            if _listed(client, namespace) is None:
                skipped.append(namespace)
                continue
            db, _, name = namespace.partition(".")
            command = {"compact": name}
            if params["free_space_target_mb"] is not None:
                command["freeSpaceTargetMB"] = params["free_space_target_mb"]
            operations.append({"kind": "compact", "db": db, "target": me, "command": command})
            freed = None
            if module.check_mode and tuple(version[:2]) >= (8, 0):
                freed = client[db].command({**command, "dryRun": True}).get("bytesFreed")  # an estimate only
            elif not module.check_mode:
                try:
                    freed = client[db].command(command).get("bytesFreed")
                except pymongo.errors.OperationFailure as error:
                    module.fail_json(
                        msg=f"{me} refused compact of {namespace}: {error.details.get('errmsg', error)}",
                        code=error.code,
                        changed=bool(compacted),
                        compacted=compacted,
                        operations=operations[:-1],
                    )
            compacted.append({"namespace": namespace, "bytes_freed": freed})
        return {"changed": bool(compacted), "compacted": compacted, "skipped": skipped, "operations": operations}
    finally:
        client.close()


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=str(PYMONGO_IMPORT_ERROR))
    params = module.params
    problems = [f"collections: {ns!r} is not db.collection" for ns in params["collections"] if "." not in ns.strip(".")]
    problems += [
        f"retention: {entry!r} needs namespace, time_field and expire_after_seconds"
        for entry in params["retention"]
        if not {"namespace", "time_field", "expire_after_seconds"} <= set(entry)
    ]
    if params["free_space_target_mb"] is not None and params["free_space_target_mb"] < 1:
        problems.append(f"free_space_target_mb is {params['free_space_target_mb']}: give 1 or more (MB)")
    if problems:
        module.fail_json(msg="; ".join(problems), changed=False, operations=[])
    empty = {
        "ok": True,
        "problems": [],
        "index_usage": [],
        "table": [],
        "retention": [],
        "compacted": [],
        "skipped": [],
    }
    try:
        if params["action"] == "report":
            module.exit_json(changed=False, operations=[], **{**empty, **report(params)})
        module.exit_json(**{**empty, **compact(module)})
    except PyMongoError as error:
        module.fail_json(msg=f"{params['action']} stopped: {error}", changed=False, operations=[])


if __name__ == "__main__":
    run_and_exit_at_once(main)
