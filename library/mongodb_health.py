#!/usr/bin/python
"""Check a deployment's health against the seed guide's thresholds."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mongodb_health
short_description: Check a MongoDB deployment against the seed guide's alert thresholds
description:
  - Reads every member of each group (a replica set, or the routers) directly, as the
    monitoring account (C(clusterMonitor)), and judges what they answer, in one run for
    the whole deployment (the cache is sampled twice, once for all members).
  - "Per mongod: connections in use (C(serverStatus)), profiled operations of at least
    O(slow_op_ms) in the last minute (each database of O(collections); the profile
    collection is capped and can undercount), the data filesystem's use (C(dbStats)
    C(fsUsedSize)/C(fsTotalSize) on C(local)), the WiredTiger cache hit ratio between two
    samples (C(pages read into cache) against C(pages requested from the cache)), and the
    oplog window (reported, not judged). Per replica set: each member's lag behind the
    primary from the primary's C(replSetGetStatus) (run on C(admin)), and the indexes of
    O(collections) that no member used since it began counting at least
    O(unused_index_min_age_hours) ago (C($indexStats), per member and reset at restart;
    never C(_id_) or a shard key's index). Per router: connections. Arbiters (which have
    no users) are only asked C(hello)."
  - Read-only; runs the same in check mode. Never fails because a threshold is passed
    (the caller decides, from RV(ok) and RV(alerts)); fails only on bad input.
  - Written for this project, since C(community.mongodb.mongodb_status) checks the member
    states of one replica set and C(community.mongodb.mongodb_info) returns raw facts;
    neither judges thresholds.
options:
  groups:
    description: The groups to check, each C(name) and C(members) (C(host:port) of every process).
    type: list
    elements: dict
    required: true
  collections:
    description: Namespaces (C(db.collection)) whose indexes are judged; their databases' profilers are read.
    type: list
    elements: str
    default: []
  shard_keys:
    description: Shard key of each sharded namespace (C(namespace), C(key)); their indexes are never called unused.
    type: list
    elements: dict
    default: []
  max_connection_ratio:
    description: Alert above this share of connections in use.
    type: float
    default: 0.8
  max_slow_ops_per_minute:
    description: Alert above this many slow operations in the last minute.
    type: int
    default: 10
  slow_op_ms:
    description: An operation is slow when it took at least this many milliseconds.
    type: int
    default: 100
  max_replication_lag_seconds:
    description: Alert when a member is further behind the primary.
    type: float
    default: 10
  max_disk_ratio:
    description: Alert above this share of the data filesystem in use.
    type: float
    default: 0.85
  min_cache_hit_ratio:
    description: Alert below this WiredTiger cache hit ratio.
    type: float
    default: 0.95
  cache_sample_seconds:
    description: Seconds between the two samples of the cache counters.
    type: float
    default: 5
  unused_index_min_age_hours:
    description: Judge an index only once every member has counted its accesses for this long.
    type: float
    default: 168
extends_documentation_fragment:
  - mongodb_connection
author: monitoring-store maintainers
"""

EXAMPLES = r"""
- name: Check the replica set
  mongodb_health:
    login_user: monitor
    login_password: "{{ mongodb_monitor_password }}"
    groups:
      - name: monitoring-rs
        members: [db1:27017, db2:27017, db3:27017]
    collections: [monitoring.metrics, monitoring.assets]
"""

RETURN = r"""
ok:
  description: No finding is an alert.
  returned: always
  type: bool
alerts:
  description: The message of each alert.
  returned: always
  type: list
  elements: str
findings:
  description:
    - Every measure, each C(check), C(subject), C(value), C(threshold), C(status) (ok,
      alert, unknown) and C(message).
  returned: always
  type: list
  elements: dict
table:
  description: The findings as aligned lines of text.
  returned: always
  type: list
  elements: str
samples:
  description:
    - node_exporter gauges (C(name), C(labels), C(value)), named as the Percona MongoDB
      exporter names them where it has the measure, and C(mongodb_health_<check>_ok).
  returned: always
  type: list
  elements: dict
textfile:
  description: The samples in node_exporter's textfile format.
  returned: always
  type: str
operations:
  description: Always empty (the module only reads); there so every module of the project returns the same keys.
  returned: always
  type: list
  elements: dict
"""

import dataclasses
import datetime
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.mongodb_connection import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    PyMongoError,
    client_for,
    connection_argument_spec,
    run_and_exit_at_once,
)
from ansible.module_utils.mongodb_health import (
    Thresholds,
    cache_counters,
    cache_hit_ratio,
    connections,
    disk,
    ok_samples,
    oplog_window,
    replication,
    report,
    sample,
    slow_operations,
    table,
    textfile,
    unreachable,
    unused_indexes,
)

# The thresholds' options, named, typed and defaulted as the Thresholds fields (their
# annotations, strings under postponed evaluation, are Ansible's type names).
THRESHOLDS = {field.name: {"type": field.type, "default": field.default} for field in dataclasses.fields(Thresholds)}


def argument_spec() -> dict:
    return {
        **connection_argument_spec(),
        "groups": {"type": "list", "elements": "dict", "required": True},
        "collections": {"type": "list", "elements": "str", "default": []},
        "shard_keys": {"type": "list", "elements": "dict", "default": []},
        "cache_sample_seconds": {"type": "float", "default": 5},
        **THRESHOLDS,
    }


class Member:
    """One process: what hello says it is, and an authenticated client unless an arbiter."""

    def __init__(self, params: dict, address: str, group: str):
        self.address, self.group = address, group
        self.error = ""
        self.hello: dict = {}
        self.client = None
        anonymous = client_for(params, address, False)
        try:
            self.hello = anonymous.admin.command("hello")
        except PyMongoError as error:
            self.error = str(error).split(", Timeout:")[0]
        finally:
            anonymous.close()
        if self.hello and not self.arbiter:
            self.client = client_for(params, address, True)

    @property
    def reachable(self) -> bool:
        return bool(self.hello)

    @property
    def router(self) -> bool:
        return self.hello.get("msg") == "isdbgrid"

    @property
    def arbiter(self) -> bool:
        return bool(self.hello.get("arbiterOnly"))

    @property
    def data_bearing(self) -> bool:
        return self.reachable and not self.router and not self.arbiter

    @property
    def primary(self) -> bool:
        return bool(self.hello.get("isWritablePrimary"))


def _slow_count(member: Member, databases: list[str], limits: Thresholds, now: datetime.datetime) -> int:
    since = now - datetime.timedelta(minutes=1)
    query = {"ts": {"$gte": since}, "millis": {"$gte": limits.slow_op_ms}}
    return sum(member.client[db]["system.profile"].count_documents(query) for db in databases)


def _oplog_ends(member: Member):
    oplog = member.client.local["oplog.rs"]
    first = next(iter(oplog.find({}, {"ts": 1}).sort("$natural", 1).limit(1)), None)
    last = next(iter(oplog.find({}, {"ts": 1}).sort("$natural", -1).limit(1)), None)
    return (first or {}).get("ts"), (last or {}).get("ts")


def _index_stats(member: Member, namespaces: list[str]) -> list[dict]:
    documents = []
    for namespace in namespaces:
        db, _, collection = namespace.partition(".")
        for document in member.client[db][collection].aggregate([{"$indexStats": {}}]):
            documents.append({**document, "ns": namespace})
    return documents


def _labels(member: Member) -> dict:
    return {"member": member.address, "rs_nm": member.hello.get("setName", member.group)}


def check(params: dict) -> dict:
    limits = Thresholds(**{name: params[name] for name in THRESHOLDS})
    namespaces = params["collections"]
    shard_keys = {entry["namespace"]: entry["key"] for entry in params["shard_keys"]}
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (hosts may run Python < 3.11)
    findings: list[dict] = []
    samples: list[dict] = []
    members = [Member(params, address, group["name"]) for group in params["groups"] for address in group["members"]]
    try:
        for member in members:
            findings += _member_findings(member, namespaces, limits, now, samples)
        for group in params["groups"]:
            findings += _group_findings(group, members, namespaces, shard_keys, limits, now, samples)
        # The cache is sampled after the reads above, so the check's own reads (of the
        # profiler, the oplog) are not what it measures.
        sampled = [m for m in members if m.data_bearing]
        before = {m.address: cache_counters(m.client.admin.command("serverStatus")) for m in sampled}
        time.sleep(params["cache_sample_seconds"])
        for member in sampled:
            after = cache_counters(member.client.admin.command("serverStatus"))
            findings.append(cache_hit_ratio(member.address, before[member.address], after, limits))
            read, requested = after or (None, None)
            samples.append(sample("mongodb_ss_wt_cache_pages_read_into_cache", read, **_labels(member)))
            samples.append(sample("mongodb_ss_wt_cache_pages_requested_from_the_cache", requested, **_labels(member)))
    finally:
        for member in members:
            if member.client is not None:
                member.client.close()
    samples += ok_samples(findings)
    return {
        **report(findings),
        "findings": findings,
        "table": table(findings),
        "samples": samples,
        "textfile": textfile(samples),
    }


def _member_findings(member: Member, namespaces: list[str], limits: Thresholds, now, samples: list) -> list[dict]:
    if not member.reachable:
        return [unreachable(member.address, member.error)]
    if member.arbiter:
        return []
    status = member.client.admin.command("serverStatus")
    found = [connections(member.address, status, limits)]
    counts = status.get("connections", {})
    for kind in ("current", "available"):
        samples.append(sample("mongodb_ss_connections", counts.get(kind), conn_type=kind, **_labels(member)))
    if not member.data_bearing:
        return found
    databases = sorted({namespace.partition(".")[0] for namespace in namespaces})
    slow = _slow_count(member, databases, limits, now)
    found.append(slow_operations(member.address, slow, limits))
    samples.append(sample("mongodb_health_slow_ops_last_minute", slow, **_labels(member)))
    stats = member.client.local.command("dbStats")
    found.append(disk(member.address, stats, limits))
    for field in ("fsUsedSize", "fsTotalSize"):
        samples.append(sample(f"mongodb_dbstats_{field}", stats.get(field), database="local", **_labels(member)))
    first, last = _oplog_ends(member)
    found.append(oplog_window(member.address, first, last))
    if first is not None:
        samples.append(sample("mongodb_mongod_replset_oplog_tail_timestamp", first.time, **_labels(member)))
        samples.append(sample("mongodb_mongod_replset_oplog_head_timestamp", last.time, **_labels(member)))
    return found


def _group_findings(group, members, namespaces, shard_keys, limits, now, samples) -> list[dict]:
    mine = [m for m in members if m.group == group["name"]]
    data_bearing = [m for m in mine if m.data_bearing]
    if not data_bearing:
        return []
    primary = next((m for m in data_bearing if m.primary), None)
    status = primary.client.admin.command("replSetGetStatus") if primary else None
    found = replication(group["name"], status, limits)
    for f in found:
        if f["value"] is not None:
            samples.append(
                sample(
                    "mongodb_mongod_replset_member_replication_lag", f["value"], name=f["subject"], set=group["name"]
                )
            )
    if not namespaces:
        return found
    stats = {m.address: _index_stats(m, namespaces) for m in data_bearing}
    every_member = len(data_bearing) == len([m for m in mine if not m.arbiter])
    found += unused_indexes(group["name"], stats if every_member else {}, shard_keys, limits, now)
    for member, documents in stats.items():
        for document in documents:
            db, _, collection = document["ns"].partition(".")
            labels = {"member": member, "database": db, "collection": collection, "key_name": document["name"]}
            samples.append(sample("mongodb_indexstats_accesses_ops", document["accesses"]["ops"], **labels))
    return found


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=str(PYMONGO_IMPORT_ERROR))
    problems = [
        f"{name} is {module.params[name]}: give a share between 0 and 1"
        for name in ("max_connection_ratio", "max_disk_ratio", "min_cache_hit_ratio")
        if not 0 <= module.params[name] <= 1
    ]
    problems += [
        f"group {group.get('name')!r} needs a name and a list of members"
        for group in module.params["groups"]
        if not group.get("name") or not isinstance(group.get("members"), list)
    ]
    if problems:
        module.fail_json(msg="; ".join(problems), changed=False, operations=[])
    try:
        result = check(module.params)
    except PyMongoError as error:
        module.fail_json(msg=f"the health check stopped: {error}", changed=False, operations=[])
    module.exit_json(changed=False, operations=[], **result)


if __name__ == "__main__":
    run_and_exit_at_once(main)
