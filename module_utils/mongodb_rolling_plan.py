"""A rolling restart's decisions as pure functions of what the servers answered.

Modules import this as ``ansible.module_utils.mongodb_rolling_plan``. The restart may
start only when every process is healthy: each replica set has one primary that sees
every member in PRIMARY, SECONDARY or ARBITER and each secondary within the lag limit,
and every router answers. Then one replica set at a time (the config servers first,
then the shards, then the routers): its other members one by one, its primary last,
after a step-down.
"""

from __future__ import annotations

from ansible.module_utils.mongodb_health import OK, Thresholds, replication

SERVING_STATES = {"PRIMARY", "SECONDARY", "ARBITER"}


def set_refusals(set_name: str, status: dict | None, max_lag_seconds: float) -> list[str]:
    """Why set_name is not fit for a restart, from its primary's replSetGetStatus (None:
    no member answered as primary); empty when it is."""
    findings = replication(set_name, status, Thresholds(max_replication_lag_seconds=max_lag_seconds))
    refusals = [f["message"] for f in findings if f["status"] != OK]
    for member in (status or {}).get("members", []):
        state = member.get("stateStr", "?")
        if member.get("health") and state not in SERVING_STATES:
            refusals.append(f"{member.get('name', '?')} ({set_name}) is {state}")
    return refusals


def restart_order(groups: list[dict], primaries: dict) -> list[str]:
    """Inventory hosts in restart order: the groups as given (each {name, members, hosts});
    in a replica set its other members in inventory order, then its primary."""
    order: list[str] = []
    for group in groups:
        pairs = list(zip(group["hosts"], group["members"], strict=True))
        primary = primaries.get(group["name"])
        order += [host for host, address in pairs if address != primary]
        order += [host for host, address in pairs if address == primary]
    return order


def member_lag(status: dict) -> float | None:
    """Seconds this member (self in its own replSetGetStatus) is behind the primary it
    knows of; None when either optime is missing."""
    members = status.get("members", [])
    me = next((m for m in members if m.get("self")), None)
    primary = next((m for m in members if m.get("stateStr") == "PRIMARY"), None)
    if me is None or primary is None or not me.get("optimeDate") or not primary.get("optimeDate"):
        return None
    return round(max((primary["optimeDate"] - me["optimeDate"]).total_seconds(), 0.0), 1)


def ready_problem(hello: dict, status: dict | None, max_lag_seconds: float) -> str:
    """Why a restarted process is not back in service yet ("" once it is): a router
    answers; an arbiter is ARBITER; a data-bearing member is PRIMARY, or SECONDARY with
    a known primary and within the lag limit."""
    if not hello:
        return "it does not answer"
    if hello.get("msg") == "isdbgrid" or hello.get("arbiterOnly"):
        return ""
    if hello.get("isWritablePrimary"):
        return ""
    if not hello.get("secondary"):
        return "it is not SECONDARY yet"
    if not hello.get("primary"):
        return "it knows of no primary yet"
    lag = member_lag(status or {})
    if lag is None:
        return "its optime cannot be compared with the primary's yet"
    if lag > max_lag_seconds:
        return f"it is {lag} s behind the primary (more than {max_lag_seconds})"
    return ""
