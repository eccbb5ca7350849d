"""The staging layout (one replica set, no routers) with non-loopback names: its first run,
and its backups (roles/mongodb_backup, playbooks/restore.yml, playbooks/restore-drill.yml).

The backup job runs as cron would run it: its command line, on the first member's host.
The tools come from MONGODB_TOOLS_BIN_DIR or are the stand-in's, the servers from
MONGODB_BIN_DIR or the stand-in.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pymongo
import pytest
from support import servers
from support.ansible import recap, run_playbook
from support.site import ADVERTISED_ADDRESS, SITE, created_users_on, env, refused_for_privileges

pytestmark = pytest.mark.skipif(not ADVERTISED_ADDRESS, reason="this machine has no non-loopback address")
INVENTORY = ("-i", "tests/inventories/staging-like")
PRIMARY_PORT = 28301
SKIPPED = 75


@pytest.fixture(scope="module")
def staging(tmp_path_factory):
    # A space in every path the roles write: configurations, pid files, the backup job.
    root = tmp_path_factory.mktemp("staging layout")
    try:
        result = run_playbook(SITE, *INVENTORY, env=env(root))
        assert result.returncode == 0, result.stdout[-5000:]
        (root / "first-run.log").write_text(result.stdout + result.stderr)
        yield root
    finally:  # also after a failed converge: its processes would hold the fixed ports
        run_playbook("playbooks/sandbox-stop.yml", *INVENTORY, env=env(root))


@pytest.mark.skipif(not servers.using_standin(), reason="reads the stand-in's command log")
def test_staging_layout_first_run_needs_no_privilege_a_real_server_refuses(staging):
    """The staging layout (one replica set, no routers) with advertised non-loopback names."""
    logs = sorted(staging.glob("staging-like-*/data/" + servers.COMMAND_LOG))
    assert refused_for_privileges(logs) == []
    assert "staging-like-1" in created_users_on(logs)


def test_tls_goes_on_a_running_plain_set_one_step_per_run(staging):
    """requireTLS straight away would restart the members into a mode their plain clients
    and peers cannot speak: the first play refuses it and names the next step; the one
    after it (allowTLS serves plain and TLS alike) is what it allows."""
    configs = {path: path.read_text() for path in staging.glob("staging-like-*/mongod.conf")}
    result = run_playbook(SITE, *INVENTORY, "-e", "mongodb_tls_mode=requireTLS", env=env(staging))
    assert result.returncode == 2, result.stdout[-3000:]
    output = " ".join(result.stdout.split())
    assert "mongodb_tls_mode is requireTLS on staging-like-1, which runs disabled" in output
    assert "so this run can set disabled or allowTLS. Nothing was changed." in output
    assert {path: path.read_text() for path in staging.glob("staging-like-*/mongod.conf")} == configs


# -- backups ------------------------------------------------------------------------------


def secret(root: Path, name: str) -> str:
    return (root / "secrets" / name).read_text().split()[0]


def job(root: Path, *args: str, settings: Path | None = None) -> subprocess.CompletedProcess:
    """The command cron runs, or the job program with other settings."""
    if settings is None:
        command = [str(root / "backup" / "mongodb-backup"), *args]
    else:
        command = [str(sys.executable), str(root / "backup" / "mongodb_backup.py"), "--settings", str(settings), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def backups(root: Path) -> list[str]:
    return sorted(path.name for path in (root / "backups").glob("[0-9]*T*Z"))


def job_log(root: Path) -> str:
    return (root / "backup" / "mongodb-backup.log").read_text()


def admin(root: Path, port: int = PRIMARY_PORT) -> pymongo.MongoClient:
    return pymongo.MongoClient(
        "127.0.0.1", port, username="admin", password=secret(root, "admin"), authSource="admin", directConnection=True
    )


def asset(name: str) -> dict:
    """An asset the schema's validator accepts."""
    return {"_id": name, "asset_type": "vm", "data": {}, "last_updated": datetime.datetime.now(datetime.UTC)}


def test_site_installs_the_backup_job_with_its_cron_entries_and_a_private_password_file(staging):
    cron = (staging / "cron.d" / "mongodb-backup").read_text()
    wrapper = str(staging / "backup" / "mongodb-backup")
    entries = [line.split(maxsplit=6) for line in cron.splitlines() if line and not line.startswith("#")]
    # The command is what cron hands to sh: its words, as sh splits them.
    assert [(fields[:5], shlex.split(fields[6])) for fields in entries] == [
        (["30", "2", "*", "*", "*"], [wrapper, "backup"]),
        (["*/15", "*", "*", "*", "*"], [wrapper, "capture-oplog"]),
    ], cron
    assert oct((staging / "backup" / "etc" / "tools.yml").stat().st_mode & 0o777) == "0o600"


def test_a_backup_run_writes_a_verified_archive_with_checksums_manifest_and_status(staging):
    before = backups(staging)
    watcher = ProcessArguments(secret(staging, "backup"))
    with watcher:
        ran = job(staging, "backup")
    assert ran.returncode == 0, job_log(staging)[-3000:]
    [name] = sorted(set(backups(staging)) - set(before))
    folder = staging / "backups" / name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["verified"] and manifest["kind"] == "replica_set"
    dumped = manifest["sets"]["staging-like-rs"]
    assert dumped["member"] != f"{ADVERTISED_ADDRESS}:{PRIMARY_PORT}", "the primary was dumped, not a secondary"
    assert dumped["oplog"]["first"] <= dumped["oplog"]["last"]
    assert subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=folder, check=False).returncode == 0
    status = json.loads((staging / "backups" / "status-backup.json").read_text())
    assert (status["exit_code"], status["backup"]) == (0, name)
    gauges = (staging / "textfile_collector" / "mongodb_backup_backup.prom").read_text()
    assert re.search(r'^mongodb_backup_backup_last_exit_code\{cluster="staging-like-rs"\} 0$', gauges, re.M)
    # The backup account's password: in no process's arguments during the run, in no log.
    assert watcher.seen == [], watcher.seen
    written = job_log(staging) + "".join(p.read_text() for p in folder.glob("*.log"))
    assert secret(staging, "backup") not in written


class ProcessArguments:
    """Reads every process's command line while a run goes on; keeps those holding a secret."""

    def __init__(self, secret_value: str):
        self.secret = secret_value.encode()
        self.seen: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        while not self.stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    content = cmdline.read_bytes()
                except OSError:
                    continue
                if self.secret in content:
                    self.seen.append(content.replace(b"\0", b" ").decode(errors="replace")[:200])
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()


def test_a_run_while_another_holds_the_lock_is_skipped_with_its_own_exit_code(staging):
    before = backups(staging)
    with (staging / "backups" / ".backup.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        skipped = job(staging, "backup")
    assert skipped.returncode == SKIPPED
    assert "backup: another run holds" in job_log(staging)
    assert backups(staging) == before


def test_a_killed_run_leaves_nothing_that_counts_as_a_backup_and_the_next_run_succeeds(staging, tmp_path):
    slow = tmp_path / "slow-tools"
    slow.mkdir()
    for tool in ("mongodump", "mongorestore"):
        wrapper = slow / tool
        wrapper.write_text(f'#!/bin/sh\nsleep 30\nexec {servers.tools_bin_dir() / tool} "$@"\n')
        wrapper.chmod(0o755)
    settings = json.loads((staging / "backup" / "etc" / "settings.json").read_text())
    slowed = tmp_path / "settings.json"
    slowed.write_text(json.dumps({**settings, "tools_bin_dir": str(slow)}))
    before = backups(staging)
    command = [str(sys.executable), str(staging / "backup" / "mongodb_backup.py"), "--settings", str(slowed), "backup"]
    running = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
    servers.wait_for(lambda: list((staging / "backups").glob(".partial-*")), 60)
    time.sleep(1)  # into the dump
    os.killpg(running.pid, signal.SIGKILL)
    running.wait(30)
    assert backups(staging) == before, "a killed run left a backup"
    after = job(staging, "backup")
    assert after.returncode == 0, job_log(staging)[-2000:]
    assert len(backups(staging)) == len(before) + 1
    assert not list((staging / "backups").glob(".partial-*")), "the partial directory was not cleared"


def fixture_backup(folder: Path, verified: bool) -> None:
    """A backup directory as the job writes it; verified means its files match SHA256SUMS."""
    folder.mkdir(parents=True)
    (folder / "rs.archive.gz").write_bytes(b"archive")
    digest = hashlib.sha256(b"archive" if verified else b"something else").hexdigest()
    (folder / "SHA256SUMS").write_text(f"{digest}  rs.archive.gz\n")
    manifest = {
        "name": folder.name,
        "verified": True,
        "sets": {"rs": {"size": 7, "oplog": {"first": [1, 1], "last": [2, 1]}}},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_retention_removes_an_old_backup_only_once_a_newer_verified_one_exists(staging, tmp_path):
    settings = json.loads((staging / "backup" / "etc" / "settings.json").read_text())
    store = tmp_path / "backups"
    dated = tmp_path / "settings.json"
    dated.write_text(json.dumps({**settings, "backup_dir": str(store), "retention_days": 30}))
    now = datetime.datetime.now(datetime.UTC)
    old, newer = (now - datetime.timedelta(days=d) for d in (45, 35))
    old_name, newer_name = (moment.strftime("%Y%m%dT%H%M%SZ") for moment in (old, newer))
    fixture_backup(store / old_name, verified=True)
    fixture_backup(store / newer_name, verified=False)  # its archive no longer matches
    assert job(staging, "prune", settings=dated).returncode == 0
    assert sorted(p.name for p in store.glob("2*")) == [old_name, newer_name], "the last good backup was deleted"
    shutil.rmtree(store / newer_name)
    fixture_backup(store / newer_name, verified=True)
    assert job(staging, "prune", settings=dated).returncode == 0
    # The newer one is past the window too, but it is now the newest verified backup.
    assert sorted(p.name for p in store.glob("2*")) == [newer_name]


@pytest.fixture
def target(start_mongod, tmp_path):
    """A fresh one-member replica set with access control: host:port and its admin's password."""
    config = {
        **servers.base_config(tmp_path / "target", servers.free_port()),
        "replication": {"replSetName": "restored"},
        "security": {"authorization": "enabled", "keyFile": str(servers.write_keyfile(tmp_path / "keyfile"))},
    }
    process = start_mongod(config, name="target.conf")
    servers.initiate_single_member(process, "restored")
    process.client().admin.command("createUser", "admin", pwd="target-password-1", roles=["root"])
    return f"127.0.0.1:{process.port}", "target-password-1"


def second_after(moment: float) -> str:
    """An ISO time at the start of the second after moment: what a reader notes."""
    return datetime.datetime.fromtimestamp(int(moment) + 1, datetime.UTC).isoformat()


def test_a_point_in_time_restore_has_what_was_there_then_and_not_what_came_after(staging, target):
    """Insert A, note the time, delete A and insert B: restored to the noted time, A is
    there and B is not, and the schema needs no change."""
    assert job(staging, "backup").returncode == 0, job_log(staging)[-2000:]
    with admin(staging) as client:
        assets = client.monitoring.assets
        assets.insert_one(asset("A"))
        noted = second_after(time.time())
        time.sleep(max(0.0, datetime.datetime.fromisoformat(noted).timestamp() - time.time()) + 1.1)
        assets.delete_one({"_id": "A"})
        assets.insert_one(asset("B"))
    captured = job(staging, "capture-oplog")
    assert captured.returncode == 0, job_log(staging)[-2000:]
    address, password = target
    restored = run_playbook(
        "playbooks/restore.yml",
        *INVENTORY,
        "-e",
        json.dumps(
            {
                "restore_target": address,
                "restore_to": noted,
                "restore_target_user": "admin",
                "restore_target_password": password,
                "restore_declare": False,
            }
        ),
        env=env(staging),
    )
    assert restored.returncode == 0, restored.stdout[-4000:]
    host, port = address.split(":")
    with pymongo.MongoClient(host, int(port), username="admin", password=password, directConnection=True) as client:
        ids = {doc["_id"] for doc in client.monitoring.assets.find({}, {"_id": 1})}
    assert "A" in ids and "B" not in ids, ids
    # The schema came back with the data: declaring it again in check mode changes nothing.
    extra = json.dumps({"schema_port": int(port), "schema_user": "admin", "schema_password": password})
    schema = run_playbook("tests/playbooks/apply-schema.yml", "-i", "localhost,", "-e", extra, "--check", "--diff")
    assert schema.returncode == 0, schema.stdout[-3000:]
    assert recap(schema.stdout)["localhost"]["changed"] == 0, schema.stdout[-3000:]


def test_the_restore_drill_passes_and_says_what_it_restored_and_how_long_it_took(staging):
    drilled = run_playbook("playbooks/restore-drill.yml", *INVENTORY, env=env(staging))
    output = " ".join(drilled.stdout.split())
    assert drilled.returncode == 0, drilled.stdout[-4000:]
    assert "Each namespace restored the documents dumped" in output
    assert re.search(r"time to restore and check \(RTO\): [0-9.]+ s", output)
    assert json.loads((staging / "backups" / "status-drill.json").read_text())["exit_code"] == 0
    assert all(c["failed"] == 0 for c in recap(drilled.stdout).values())


def test_a_corrupted_archive_is_refused_by_its_checksum_before_anything_is_restored(staging):
    newest = staging / "backups" / backups(staging)[-1]
    archive = next(newest.glob("*.archive.gz"))
    content = bytearray(archive.read_bytes())
    content[len(content) // 2] ^= 0xFF
    archive.write_bytes(bytes(content))
    drilled = run_playbook("playbooks/restore-drill.yml", *INVENTORY, env=env(staging))
    output = " ".join(drilled.stdout.split())
    assert drilled.returncode != 0
    assert f"backup {newest.name} fails its checksums ({archive.name}); nothing was restored" in job_log(staging)
    assert "restored staging-like from" not in job_log(staging).split(f"backup {newest.name} fails")[-1]
    assert json.loads((staging / "backups" / "status-drill.json").read_text())["exit_code"] == 1
    assert "Restore drill failed" in output
    shutil.rmtree(newest)  # later tests restore the ones before it
