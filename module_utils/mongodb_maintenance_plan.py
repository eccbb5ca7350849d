"""The maintenance playbook's judgements as pure functions of what the servers answered.

Modules import this as ``ansible.module_utils.mongodb_maintenance_plan``: the index usage
report (``$indexStats`` of every data-bearing member of a replica set) and the retention
check of a time-series collection, whose own expiry (``expireAfterSeconds``) does the
deleting.
"""

from __future__ import annotations

import datetime

from ansible.module_utils.mongodb_health import index_totals, is_shard_key_index

# A bucket's widest time span per granularity when bucketMaxSpanSeconds is not listed
# (docs "Set Granularity for Time Series Data").
BUCKET_SPAN_SECONDS = {"seconds": 3600, "minutes": 86400, "hours": 2_592_000}
# The TTL monitor deletes once a pass, every ttlMonitorSleepSecs (60 s by default; docs
# "TTL Indexes", "Timing of the Delete Operation").
TTL_PASS_SECONDS = 60


def index_usage(stats: dict[str, dict[str, list[dict]]], shard_keys: dict, min_age_hours: float, now) -> list[dict]:
    """One row per index of each replica set: accesses in all and per member, the hours
    every member has been counting (counts restart with the member), and a note: "unused"
    once no member used it for min_age_hours, "kept" for _id_ and a shard key's index.
    stats: {set: {member: [$indexStats documents with ns]}}."""
    rows = []
    for set_name, members in sorted(stats.items()):
        for (namespace, name), entry in sorted(index_totals(members, now).items()):
            counted_hours = round((now.timestamp() - max(entry["since"])) / 3600, 1)
            every_member = len(entry["since"]) == len(members)
            if name == "_id_" or is_shard_key_index(entry["key"], shard_keys.get(namespace)):
                note = "kept"
            elif entry["ops"] == 0 and every_member and counted_hours >= min_age_hours:
                note = "unused"
            elif entry["ops"] == 0:
                note = "not used yet"
            else:
                note = ""
            rows.append(
                {
                    "set": set_name,
                    "namespace": namespace,
                    "index": name,
                    "ops": entry["ops"],
                    "members": entry["members"],
                    "counted_hours": counted_hours,
                    "note": note,
                }
            )
    return rows


def usage_table(rows: list[dict]) -> list[str]:
    lines = [("set", "namespace", "index", "accesses", "counted (h)", "note")]
    lines += [(r["set"], r["namespace"], r["index"], str(r["ops"]), str(r["counted_hours"]), r["note"]) for r in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(lines[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)  # noqa: UP017 (hosts may run Python < 3.11)


def retention(namespace: str, listed: dict | None, expected_seconds: int, oldest, now, ttl_off: list[str]) -> dict:
    """Whether the time-series collection keeps measurements no longer than it should.

    listed: its listCollections entry (None: it does not exist); oldest: the time field
    of its oldest measurement (None: empty); ttl_off: members whose TTL monitor is
    disabled (ttlMonitorEnabled false). MongoDB deletes a whole bucket once its newest
    possible measurement has expired, so a measurement can outlive expireAfterSeconds
    by up to the bucket's span (jstests/noPassthrough/timeseries_ttl.js: data expires
    only once past the bucket's maximum time range), and by one TTL pass."""
    problems = []
    result = {"namespace": namespace, "expire_after_seconds": None, "oldest": None, "oldest_age_days": None}
    if listed is None:
        return {**result, "ok": False, "problems": [f"{namespace} does not exist"]}
    options = listed.get("options", {})
    series = options.get("timeseries")
    if listed.get("type") != "timeseries" or not series:
        return {**result, "ok": False, "problems": [f"{namespace} is not a time-series collection"]}
    expire = options.get("expireAfterSeconds")
    result["expire_after_seconds"] = expire
    if expire is None:
        problems.append(f"{namespace} has no expireAfterSeconds: nothing deletes its old measurements")
    elif int(expire) != int(expected_seconds):
        problems.append(
            f"{namespace} expires measurements after {expire} s, the inventory asks for {expected_seconds} s "
            "(site.yml applies it with collMod)"
        )
    if ttl_off:
        problems.append(f"the TTL monitor is off (ttlMonitorEnabled false) on {', '.join(ttl_off)}: nothing expires")
    if oldest is not None:
        oldest = _aware(oldest)
        age = (now - oldest).total_seconds()
        result.update(oldest=oldest.isoformat(), oldest_age_days=round(age / 86400, 1))
        span = series.get("bucketMaxSpanSeconds") or BUCKET_SPAN_SECONDS.get(series.get("granularity", "seconds"))
        if expire is not None and age > int(expire) + int(span) + TTL_PASS_SECONDS:
            problems.append(
                f"the oldest measurement of {namespace} ({oldest.isoformat()}) is {result['oldest_age_days']} days "
                f"old: past expireAfterSeconds ({int(expire) / 86400:g} days) and a bucket's span ({span} s), "
                "so expiry is behind"
            )
    return {**result, "ok": not problems, "problems": problems}
