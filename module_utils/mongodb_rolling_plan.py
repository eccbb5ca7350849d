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


# MongoDB upgrades one release series at a time, each with the FCV of the one it runs
# (docs "Upgrade a Replica Set to 8.0": "To upgrade from a version earlier than the 7.0
# series, you must successively upgrade major releases"; the FCV must be 7.0 first).
RELEASE_SERIES = ("6.0", "7.0", "8.0")


def series(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def upgrade_refusals(versions: dict, fcvs: dict, target_version: str) -> list[str]:
    """Why the deployment cannot move to target_version now: versions are each process's
    (host:port -> version), fcvs each replica set's featureCompatibilityVersion."""
    target = series(target_version)
    if target not in RELEASE_SERIES:
        known = ", ".join(RELEASE_SERIES)
        return [f"mongodb_version {target_version} is not of a release series this playbook upgrades between ({known})"]
    refusals = []
    step_from = RELEASE_SERIES[RELEASE_SERIES.index(target) - 1] if target != RELEASE_SERIES[0] else None
    for address, version in versions.items():
        running = series(version)
        if running in (target, step_from):
            continue
        if running in RELEASE_SERIES and RELEASE_SERIES.index(running) > RELEASE_SERIES.index(target):
            refusals.append(f"{address} runs {version}, newer than mongodb_version {target_version}: no downgrades")
        else:
            refusals.append(
                f"{address} runs {version}: {target} is more than one release series away; upgrade to {step_from} first"
            )
    for set_name, fcv in fcvs.items():
        if fcv in RELEASE_SERIES and RELEASE_SERIES.index(fcv) > RELEASE_SERIES.index(target):
            refusals.append(f"{set_name} has featureCompatibilityVersion {fcv}, newer than {target}: no downgrades")
        elif fcv not in (target, step_from):
            refusals.append(
                f"{set_name} has featureCompatibilityVersion {fcv}: set it to {step_from} before the {target} binaries "
                f"(playbooks/upgrade.yml -e mongodb_version=<{step_from}.x> -e mongodb_upgrade_set_fcv=true)"
            )
    return refusals


def fcv_refusals(versions: dict, target_version: str) -> list[str]:
    """Why the FCV cannot move to target_version's series: every process must run it."""
    target = series(target_version)
    return [
        f"{address} still runs {version}: every process must run {target} before the FCV moves to it"
        for address, version in versions.items()
        if series(version) != target
    ]
