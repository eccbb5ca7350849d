"""Day-2 playbooks on a three-member replica set (tests/inventories/upgrade), converged on
the previous release series: playbooks/upgrade.yml to the one the project targets.

The stand-in takes its version from MONGODB_STANDIN_VERSION. With real binaries,
MONGODB_PREVIOUS_BIN_DIR names a directory holding mongod of the previous series (7.0);
without it the tests are skipped.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

import pymongo
import pytest
from support import servers
from support.ansible import recap, run_playbook
from support.site import SITE, env

UPGRADE = "playbooks/upgrade.yml"
INVENTORY = ("-i", "tests/inventories/upgrade")
PORTS = (28311, 28312, 28313)
TARGET = "8.0.17"
PREVIOUS = "7.0.25"

if servers.using_standin():
    PREVIOUS_ENV = {"MONGODB_STANDIN_VERSION": PREVIOUS}
    TARGET_ENV = {"MONGODB_STANDIN_VERSION": TARGET}
else:
    PREVIOUS_ENV = {"MONGODB_BIN_DIR": os.environ.get("MONGODB_PREVIOUS_BIN_DIR", "")}
    TARGET_ENV = {}
    pytestmark = pytest.mark.skipif(
        not os.environ.get("MONGODB_PREVIOUS_BIN_DIR"), reason="MONGODB_PREVIOUS_BIN_DIR (MongoDB 7.0) is not set"
    )


def binary_version(environment: dict) -> str:
    """What `mongod --version` of that environment says (the inventory's mongodb_version must match)."""
    import subprocess

    bin_dir = Path(environment.get("MONGODB_BIN_DIR") or servers.bin_dir())
    shown = subprocess.run(
        [str(bin_dir / "mongod"), "--version"], capture_output=True, text=True, env={**os.environ, **environment}
    )
    return shown.stdout.split("db version v", 1)[1].split()[0]


def run(root: Path, playbook: str, environment: dict, *args: str):
    return run_playbook(playbook, *INVENTORY, *args, env={**env(root), **environment})


def admin(root: Path, port: int) -> pymongo.MongoClient:
    password = (root / "secrets" / "admin").read_text().split()[0]
    return pymongo.MongoClient(
        "127.0.0.1", port, username="admin", password=password, directConnection=True, serverSelectionTimeoutMS=5000
    )


def state(root: Path) -> dict:
    """Per member: (pid, version, FCV)."""
    found = {}
    for port in PORTS:
        with admin(root, port) as client:
            status = client.admin.command("serverStatus")
            fcv = client.admin.command({"getParameter": 1, "featureCompatibilityVersion": 1})
            found[port] = (status["pid"], status["version"], fcv["featureCompatibilityVersion"]["version"])
    return found


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    root = tmp_path_factory.mktemp("upgrade sandbox")  # a space in every path the roles write
    previous = binary_version(PREVIOUS_ENV)
    try:
        result = run(root, SITE, PREVIOUS_ENV, "-e", f"mongodb_version={previous}")
        assert result.returncode == 0, result.stdout[-5000:]
        yield root
    finally:  # also after a failed converge: its processes would hold the fixed ports
        run(root, "playbooks/sandbox-stop.yml", TARGET_ENV)


def test_an_upgrade_from_an_fcv_behind_the_binaries_is_refused_before_anything_changes(converged):
    """The set runs 7.0 with FCV 6.0: 8.0 binaries would not start on its data."""
    previous_series = binary_version(PREVIOUS_ENV).rsplit(".", 1)[0]
    older = {"7.0": "6.0", "8.0": "7.0"}[previous_series]
    with admin(converged, PORTS[0]) as client:
        client.admin.command({"setFeatureCompatibilityVersion": older, "confirm": True})
    before = state(converged)
    try:
        result = run(converged, UPGRADE, TARGET_ENV)
        assert result.returncode == 2, result.stdout[-3000:]
        output = " ".join(result.stdout.split())
        assert f"upgrade-rs has featureCompatibilityVersion {older}: set it to {previous_series}" in output
        assert "Nothing was changed" in output
        assert state(converged) == before
    finally:
        with admin(converged, PORTS[0]) as client:
            client.admin.command({"setFeatureCompatibilityVersion": previous_series, "confirm": True})


def test_the_upgrade_restarts_onto_the_new_binaries_and_moves_the_fcv_only_when_asked(converged):
    previous_series = binary_version(PREVIOUS_ENV).rsplit(".", 1)[0]
    before = state(converged)
    checked = run(converged, UPGRADE, TARGET_ENV, "--check")
    assert checked.returncode == 0, checked.stdout[-5000:]
    assert state(converged) == before  # the rolling restart's check mode restarted nothing
    assert sorted(re.findall(r"Would restart mongod@(\d+)", checked.stdout)) == [str(p) for p in PORTS]

    upgraded = run(converged, UPGRADE, TARGET_ENV)
    assert upgraded.returncode == 0, upgraded.stdout[-5000:]
    after = state(converged)
    for port in PORTS:
        pid, version, fcv = after[port]
        assert pid != before[port][0], port
        assert (version, fcv) == (binary_version(TARGET_ENV), previous_series), port

    again = run(converged, UPGRADE, TARGET_ENV)
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(c["changed"] == 0 for c in recap(again.stdout).values()), again.stdout[-3000:]
    assert state(converged) == after

    moved = run(converged, UPGRADE, TARGET_ENV, "-e", "mongodb_upgrade_set_fcv=true")
    assert moved.returncode == 0, moved.stdout[-5000:]
    target_series = binary_version(TARGET_ENV).rsplit(".", 1)[0]
    servers.wait_for(lambda: all(fcv == target_series for _, _, fcv in state(converged).values()), 30)
    unchanged = run(converged, UPGRADE, TARGET_ENV, "-e", "mongodb_upgrade_set_fcv=true")
    assert all(c["changed"] == 0 for c in recap(unchanged.stdout).values()), unchanged.stdout[-3000:]


def oplog_sizes_mb(root: Path) -> dict:
    sizes = {}
    for port in PORTS:
        with admin(root, port) as client:
            [oplog] = client.local.list_collections(filter={"name": "oplog.rs"})
            sizes[port] = int(oplog["options"]["size"]) // (1024 * 1024)
    return sizes


def test_maintenance_resizes_each_members_oplog_online(converged):
    """mongodb_mongod_oplog_size_mb on a running set: replSetResizeOplog on every member,
    without a restart; a size MongoDB refuses stops before anything is sent."""
    before, pids_before = oplog_sizes_mb(converged), {p: s[0] for p, s in state(converged).items()}
    target = max(before.values()) + 1024
    refused = run(converged, "playbooks/maintenance.yml", TARGET_ENV, "-e", "mongodb_mongod_oplog_size_mb=100")
    assert refused.returncode == 2
    assert "oplog_size_mb is 100: give 990 to 1073741824 (MB)" in refused.stdout
    size = f"mongodb_mongod_oplog_size_mb={target}"
    checked = run(converged, "playbooks/maintenance.yml", TARGET_ENV, "--check", "-e", size)
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert sum(c["changed"] for c in recap(checked.stdout).values()) == 3
    assert oplog_sizes_mb(converged) == before
    resized = run(converged, "playbooks/maintenance.yml", TARGET_ENV, "-e", size)
    assert resized.returncode == 0, resized.stdout[-3000:]
    assert oplog_sizes_mb(converged) == dict.fromkeys(PORTS, target)
    assert {p: s[0] for p, s in state(converged).items()} == pids_before
    again = run(converged, "playbooks/maintenance.yml", TARGET_ENV, "-e", size)
    assert all(c["changed"] == 0 for c in recap(again.stdout).values()), again.stdout[-3000:]


MAINTENANCE = "playbooks/maintenance.yml"


def primary_port(root: Path) -> int:
    for port in PORTS:
        with admin(root, port) as client:
            if client.admin.command("hello").get("isWritablePrimary"):
                return port
    raise AssertionError("no primary")


def index_accesses(output: str, namespace: str, index: str) -> int:
    """The accesses the maintenance report's table gives an index."""
    found = re.search(rf"{re.escape(namespace)}\s+{re.escape(index)}\s+(\d+)\s", output)
    assert found, output[-4000:]
    return int(found.group(1))


def set_ttl_monitor(root: Path, enabled: bool) -> None:
    for port in PORTS:
        with admin(root, port) as client:
            client.admin.command({"setParameter": 1, "ttlMonitorEnabled": enabled})


def test_maintenance_reports_index_usage_and_stops_when_expiry_is_behind(converged):
    """The report counts each index's accesses on every member; a measurement older than
    the 90-day window plus a bucket's span (here with the TTL monitor off, which the
    report also names) stops the run in fail mode and is only reported in warn mode."""
    first = run(converged, MAINTENANCE, TARGET_ENV)
    assert first.returncode == 0, first.stdout[-5000:]
    before = index_accesses(first.stdout, "monitoring.assets", "asset_type_idx")
    with admin(converged, primary_port(converged)) as client:
        list(client.monitoring.assets.find({"asset_type": "vm"}).hint("asset_type_idx"))
    second = run(converged, MAINTENANCE, TARGET_ENV)
    assert index_accesses(second.stdout, "monitoring.assets", "asset_type_idx") == before + 1
    assert all(c["changed"] == 0 for c in recap(second.stdout).values()), second.stdout[-3000:]

    set_ttl_monitor(converged, False)
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=100)
    try:
        with admin(converged, primary_port(converged)) as client:
            client.monitoring.metrics.insert_one({"timestamp": old, "meta": {"asset_id": "vm-1"}, "value": 1.0})
        stopped = run(converged, MAINTENANCE, TARGET_ENV)
        assert stopped.returncode == 2, stopped.stdout[-3000:]
        output = " ".join(stopped.stdout.split())
        assert "Nothing was changed" in output
        assert re.search(r"the oldest measurement of monitoring.metrics \(\S+\) is 100.0 days old", output), output
        assert all(f"127.0.0.1:{port}" in output.split("TTL monitor is off")[1][:200] for port in PORTS), output
        warned = run(converged, MAINTENANCE, TARGET_ENV, "-e", "mongodb_maintenance_mode=warn")
        assert warned.returncode == 0, warned.stdout[-3000:]
        assert "WARNING: " in warned.stdout and "100.0 days old" in warned.stdout
    finally:
        with admin(converged, primary_port(converged)) as client:
            client.monitoring.metrics.delete_many({"timestamp": {"$lt": old + datetime.timedelta(days=1)}})
        set_ttl_monitor(converged, True)


def compacted(output: str) -> list[str]:
    """The members the run compacted, in order ("Compacted <address>: ..." lines)."""
    return re.findall(
        r"(?:Would compact|Compacted) 127\.0\.0\.1:(\d+): monitoring\.metrics, monitoring\.assets", output
    )


def test_maintenance_compacts_secondaries_one_at_a_time_and_the_primary_only_when_asked(converged):
    primary = primary_port(converged)
    secondaries = [str(p) for p in PORTS if p != primary]
    compact = ("-e", "mongodb_maintenance_compact=true")

    refused = run(converged, MAINTENANCE, TARGET_ENV, *compact, "-e", "mongodb_maintenance_free_space_target_mb=0")
    assert refused.returncode == 2
    assert "mongodb_maintenance_free_space_target_mb is 0" in refused.stdout

    checked = run(converged, MAINTENANCE, TARGET_ENV, "--check", *compact)
    assert checked.returncode == 0, checked.stdout[-5000:]
    assert compacted(checked.stdout) == secondaries
    assert f"127.0.0.1:{primary} is its set's primary and is not compacted" in checked.stdout

    done = run(converged, MAINTENANCE, TARGET_ENV, *compact)
    assert done.returncode == 0, done.stdout[-5000:]
    assert compacted(done.stdout) == secondaries
    assert primary_port(converged) == primary

    everything = run(converged, MAINTENANCE, TARGET_ENV, *compact, "-e", "mongodb_maintenance_compact_primary=true")
    assert everything.returncode == 0, everything.stdout[-5000:]
    assert compacted(everything.stdout) == [*secondaries, str(primary)]
    assert primary_port(converged) != primary  # stepped down before its compact
