"""The seed guide's health checks as pure functions of what the servers answered.

Modules import this as ``ansible.module_utils.mongodb_health``; the health module reads
the servers, these functions judge the answers against the thresholds and shape the
report (findings, a table, node_exporter samples). Each finding is
{check, subject, value, threshold, status, message}, status being ok, alert or unknown
(what could not be measured; it does not fail a run by itself).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

OK, ALERT, UNKNOWN = "ok", "alert", "unknown"


@dataclass(frozen=True)
class Thresholds:
    max_connection_ratio: float = 0.8
    max_slow_ops_per_minute: int = 10
    slow_op_ms: int = 100
    max_replication_lag_seconds: float = 10.0
    max_disk_ratio: float = 0.85
    min_cache_hit_ratio: float = 0.95
    unused_index_min_age_hours: float = 168.0


def finding(check: str, subject: str, value, threshold, status: str, message: str) -> dict:
    return {
        "check": check,
        "subject": subject,
        "value": value,
        "threshold": threshold,
        "status": status,
        "message": message,
    }


def unreachable(member: str, error: str) -> dict:
    return finding("reachable", member, None, None, ALERT, f"{member} does not answer: {error}")


def connections(member: str, server_status: dict, limits: Thresholds) -> dict:
    """serverStatus.connections: current / (current + available)."""
    counts = server_status.get("connections") or {}
    current, available = int(counts.get("current", 0)), int(counts.get("available", 0))
    if current + available == 0:
        return finding("connections", member, None, limits.max_connection_ratio, UNKNOWN, f"{member}: no counts")
    ratio = round(current / (current + available), 4)
    status = ALERT if ratio > limits.max_connection_ratio else OK
    return finding(
        "connections",
        member,
        ratio,
        limits.max_connection_ratio,
        status,
        f"{member}: {current} of {current + available} connections in use ({ratio:.0%})",
    )


def slow_operations(member: str, count: int, limits: Thresholds) -> dict:
    """Profiled operations of at least slow_op_ms in the last minute (the profile
    collection is capped, so a busy minute can undercount)."""
    status = ALERT if count > limits.max_slow_ops_per_minute else OK
    return finding(
        "slow_operations",
        member,
        count,
        limits.max_slow_ops_per_minute,
        status,
        f"{member}: {count} operations of {limits.slow_op_ms} ms or more in the last minute",
    )


def _seconds(value) -> float | None:
    if isinstance(value, datetime.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)  # noqa: UP017 (hosts may run Python < 3.11)
        return stamp.timestamp()
    return None


def replication(set_name: str, status: dict | None, limits: Thresholds) -> list[dict]:
    """Each member's lag behind the primary, from the primary's replSetGetStatus
    (optimeDate; arbiters have none; a member that does not answer has it cleared)."""
    if status is None:
        return [
            finding(
                "replication_lag",
                set_name,
                None,
                limits.max_replication_lag_seconds,
                ALERT,
                f"{set_name}: no member answered as primary",
            )
        ]
    members = status.get("members", [])
    primary = next((m for m in members if m.get("stateStr") == "PRIMARY"), None)
    primary_time = _seconds(primary.get("optimeDate")) if primary else None
    found = []
    for member in members:
        name = member.get("name", "?")
        if member is primary or member.get("stateStr") == "ARBITER":
            continue
        if not member.get("health"):
            found.append(
                finding(
                    "replication_lag",
                    name,
                    None,
                    limits.max_replication_lag_seconds,
                    ALERT,
                    f"{name} ({set_name}) is {member.get('stateStr', 'down')} to the primary",
                )
            )
            continue
        own = _seconds(member.get("optimeDate"))
        if primary_time is None or own is None:
            found.append(
                finding(
                    "replication_lag",
                    name,
                    None,
                    limits.max_replication_lag_seconds,
                    UNKNOWN,
                    f"{name} ({set_name}): no optime to compare",
                )
            )
            continue
        lag = round(max(primary_time - own, 0.0), 1)
        status_word = ALERT if lag > limits.max_replication_lag_seconds else OK
        found.append(
            finding(
                "replication_lag",
                name,
                lag,
                limits.max_replication_lag_seconds,
                status_word,
                f"{name} ({set_name}) is {lag} s behind the primary",
            )
        )
    return found


def oplog_window(member: str, first, last) -> dict:
    """Hours between the oldest and the newest oplog entry (a Timestamp's seconds): how
    long a member may be away and still catch up. Reported, not judged: a young set's
    window is its age, not what its oplog can hold."""
    if first is None or last is None:
        return finding("oplog_window", member, None, None, UNKNOWN, f"{member}: no oplog entries")
    hours = round((last.time - first.time) / 3600, 2)
    return finding("oplog_window", member, hours, None, OK, f"{member}: the oplog spans {hours} h")


def disk(member: str, db_stats: dict, limits: Thresholds) -> dict:
    """dbStats fsUsedSize / fsTotalSize of the filesystem holding the data."""
    total, used = float(db_stats.get("fsTotalSize") or 0), float(db_stats.get("fsUsedSize") or 0)
    if total <= 0:
        return finding("disk", member, None, limits.max_disk_ratio, UNKNOWN, f"{member}: no filesystem sizes")
    ratio = round(used / total, 4)
    status = ALERT if ratio > limits.max_disk_ratio else OK
    return finding(
        "disk", member, ratio, limits.max_disk_ratio, status, f"{member}: the data filesystem is {ratio:.0%} full"
    )


CACHE_READ = "pages read into cache"
CACHE_REQUESTED = "pages requested from the cache"


def cache_counters(server_status: dict) -> tuple[int, int] | None:
    cache = (server_status.get("wiredTiger") or {}).get("cache") or {}
    if CACHE_READ not in cache or CACHE_REQUESTED not in cache:
        return None
    return int(cache[CACHE_READ]), int(cache[CACHE_REQUESTED])


def cache_hit_ratio(
    member: str, before: tuple[int, int] | None, after: tuple[int, int] | None, limits: Thresholds
) -> dict:
    """1 - pages read into the cache / pages requested from it, between two samples."""
    if before is None or after is None:
        return finding(
            "cache_hit_ratio",
            member,
            None,
            limits.min_cache_hit_ratio,
            UNKNOWN,
            f"{member}: no WiredTiger cache counters",
        )
    read, requested = after[0] - before[0], after[1] - before[1]
    if requested <= 0:
        return finding(
            "cache_hit_ratio",
            member,
            None,
            limits.min_cache_hit_ratio,
            OK,
            f"{member}: no pages requested from the cache between the samples",
        )
    ratio = round(max(0.0, 1 - read / requested), 4)
    status = ALERT if ratio < limits.min_cache_hit_ratio else OK
    return finding(
        "cache_hit_ratio",
        member,
        ratio,
        limits.min_cache_hit_ratio,
        status,
        f"{member}: {ratio:.1%} of {requested} pages requested were in the cache",
    )


def _fields(key) -> list[str]:
    if isinstance(key, dict):
        return list(key)
    return [next(iter(part)) for part in key]


def _user_fields(fields: list[str]) -> list[str]:
    """A time-series bucket index's fields as the collection's (control.min.t -> t)."""
    named = []
    for name in fields:
        for prefix in ("control.min.", "control.max."):
            if name.startswith(prefix):
                name = name[len(prefix) :]
        if name not in named:
            named.append(name)
    return named


def is_shard_key_index(key, shard_key) -> bool:
    if not shard_key:
        return False
    wanted = _fields(shard_key)
    return _user_fields(_fields(key))[: len(wanted)] == wanted


def index_totals(stats: dict[str, list[dict]], now: datetime.datetime) -> dict[tuple[str, str], dict]:
    """Per (namespace, index name): its key, accesses in all and per member, and the
    start of each member's count (epoch seconds). stats: {member: [$indexStats
    documents with ns]}."""
    seen: dict[tuple[str, str], dict] = {}
    for member, documents in stats.items():
        for document in documents:
            entry = seen.setdefault(
                (document["ns"], document["name"]), {"ops": 0, "since": [], "members": {}, "key": document["key"]}
            )
            ops = int(document["accesses"]["ops"])
            entry["ops"] += ops
            entry["members"][member] = ops
            entry["since"].append(_seconds(document["accesses"]["since"]) or now.timestamp())
    return seen


def unused_indexes(
    set_name: str, stats: dict[str, list[dict]], shard_keys: dict, limits: Thresholds, now: datetime.datetime
) -> list[dict]:
    """Indexes with no access on any member, each member having gathered statistics for
    at least the minimum age (they restart from zero when a member restarts), never
    _id_ or a shard key's index. stats: {member: [$indexStats documents with ns]}."""
    if not stats:
        return [
            finding(
                "unused_indexes",
                set_name,
                None,
                limits.unused_index_min_age_hours,
                UNKNOWN,
                f"{set_name}: no index statistics",
            )
        ]
    minimum_age = limits.unused_index_min_age_hours * 3600
    found = []
    for (namespace, name), entry in sorted(index_totals(stats, now).items()):
        if name == "_id_" or is_shard_key_index(entry["key"], shard_keys.get(namespace)):
            continue
        watched = now.timestamp() - max(entry["since"])
        if entry["ops"] == 0 and len(entry["since"]) == len(stats) and watched >= minimum_age:
            hours = round(watched / 3600, 1)
            found.append(
                finding(
                    "unused_indexes",
                    f"{namespace}.{name}",
                    0,
                    limits.unused_index_min_age_hours,
                    ALERT,
                    f"{namespace} index {name} ({set_name}) has not been used on any member in {hours} h",
                )
            )
    if not found:
        found.append(
            finding(
                "unused_indexes",
                set_name,
                0,
                limits.unused_index_min_age_hours,
                OK,
                f"{set_name}: every index was used, or is too recently watched to judge",
            )
        )
    return found


def report(findings: list[dict]) -> dict:
    alerts = [f["message"] for f in findings if f["status"] == ALERT]
    return {"ok": not alerts, "alerts": alerts}


def table(findings: list[dict]) -> list[str]:
    """One line a finding: check, subject, value, threshold, status."""
    rows = [("check", "subject", "value", "threshold", "status")]
    for f in findings:
        value = "-" if f["value"] is None else str(f["value"])
        threshold = "-" if f["threshold"] is None else str(f["threshold"])
        rows.append((f["check"], f["subject"], value, threshold, f["status"].upper()))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def sample(metric: str, value, **labels) -> dict:
    return {"name": metric, "labels": labels, "value": value}


def textfile(samples: list[dict]) -> str:
    """node_exporter textfile format: one # TYPE line a name, then its samples."""
    lines, typed = [], set()
    for item in samples:
        if item["value"] is None:
            continue
        if item["name"] not in typed:
            lines.append(f"# TYPE {item['name']} gauge")
            typed.add(item["name"])
        labels = ",".join(f'{key}="{_escaped(value)}"' for key, value in sorted(item["labels"].items()))
        lines.append(f"{item['name']}{{{labels}}} {float(item['value']):g}")
    return "\n".join(lines) + "\n"


def _escaped(value) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def ok_samples(findings: list[dict]) -> list[dict]:
    """mongodb_health_<check>_ok{subject}: 1 ok, 0 alert (unknown is left out)."""
    return [
        sample(f"mongodb_health_{f['check']}_ok", 1 if f["status"] == OK else 0, subject=f["subject"])
        for f in findings
        if f["status"] != UNKNOWN
    ]
