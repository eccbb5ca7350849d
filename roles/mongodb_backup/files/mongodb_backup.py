"""mongodb-backup: the backup, oplog capture and restore jobs of the monitoring store.

Installed by the mongodb_backup role and run by cron (backup, capture-oplog) or by the
restore playbooks (list, verify, restore). Settings come from a JSON file the role
renders (--settings); the backup account's password only from the Database Tools'
--config file (mode 0600), which the tools read themselves: no password is ever on a
command line or in a log.

    mongodb-backup --settings FILE backup
    mongodb-backup --settings FILE capture-oplog
    mongodb-backup --settings FILE list
    mongodb-backup --settings FILE restore --target HOST:PORT [--backup NAME] [--restore-to WHEN] [--drop]

A backup is a directory <backup_dir>/<UTC time> holding one gzip archive per replica
set (mongodump --oplog: the data and the oplog written meanwhile, read from one
member), their dump logs, SHA256SUMS and manifest.json. It is written under a
.partial- name and renamed when complete, so a killed run leaves nothing that counts as
a backup. The oplog capture keeps what each set's oplog gained since the last capture,
as raw BSON files, for point-in-time restores between base backups.

Exit codes: 0 done, 1 failed (the log says why), 75 skipped: another run holds the lock.
The pure rules (member choice, retention, the restore plan, time limits) are plain
functions, tested without a server (tests/unit/test_backup_rules.py).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SKIPPED = 75  # sysexits.h EX_TEMPFAIL: another run holds the lock; try later
MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
PARTIAL = ".partial-"
NAME_FORMAT = "%Y%m%dT%H%M%SZ"
# The tools' per-collection lines; 100.16 and newer put the namespace in backquotes.
DUMPED = re.compile(r"done dumping `?(?P<ns>[^`\s]+)`? \((?P<count>\d+) documents?\)")
RESTORED = re.compile(
    r"finished restoring `?(?P<ns>[^`\s]+)`? \((?P<count>\d+) documents?, (?P<failed>\d+) failures?\)"
)
SUMMARY = re.compile(
    r"(?P<ok>\d+) document\(s\) restored successfully\. (?P<failed>\d+) document\(s\) failed to restore\."
)


class JobError(Exception):
    """A run that cannot go on: logged as "FAILED: <message>", exit 1."""


# -- pure rules ---------------------------------------------------------------------------


def choose_member(status: dict, config: dict, max_lag_seconds: float, allow_primary: bool = False) -> str:
    """The member to dump: a healthy secondary within max_lag_seconds of the primary,
    hidden ones first, then the least behind; the primary only when allowed and no
    secondary qualifies. status is replSetGetStatus, config replSetGetConfig's config."""
    hidden = {member["host"] for member in config["members"] if member.get("hidden")}
    data_bearing = [member for member in config["members"] if not member.get("arbiterOnly")]
    allow_primary = allow_primary or len(data_bearing) == 1  # a set of one data-bearing member
    members = status["members"]
    primary = next((m for m in members if m.get("stateStr") == "PRIMARY"), None)
    newest = max((m["optimeDate"] for m in members if m.get("optimeDate")), default=None)
    candidates = []
    for member in members:
        if member.get("stateStr") != "SECONDARY" or member.get("health") != 1:
            continue
        lag = (newest - member["optimeDate"]).total_seconds() if newest and member.get("optimeDate") else 0.0
        if lag <= max_lag_seconds:
            candidates.append((member["name"] not in hidden, lag, member["name"]))
    if candidates:
        return min(candidates)[2]
    if allow_primary and primary is not None:
        return primary["name"]
    raise JobError(
        f"replica set {status.get('set')}: no healthy secondary within {max_lag_seconds:g} s of the primary "
        "to dump (mongodb_backup_max_lag_seconds); nothing was dumped"
    )


def backup_time(name: str) -> datetime.datetime:
    return datetime.datetime.strptime(name, NAME_FORMAT).replace(tzinfo=datetime.UTC)


def expired(backups: list[dict], now: datetime.datetime, retention_days: int) -> list[str]:
    """Backups to delete: older than the window, and only when a verified backup newer
    than each of them exists (so the last good backup is never deleted, however old).
    Each backup is {"name", "verified"}."""
    cutoff = now - datetime.timedelta(days=retention_days)
    verified = sorted(backup_time(b["name"]) for b in backups if b["verified"])
    newest_verified = verified[-1] if verified else None
    return [
        b["name"]
        for b in sorted(backups, key=lambda b: b["name"])
        if backup_time(b["name"]) < cutoff and newest_verified is not None and newest_verified > backup_time(b["name"])
    ]


def parse_timestamp(text: str) -> tuple[int, int]:
    """restore_to as MongoDB's T:I (seconds and increment of an oplog entry's ts), or an
    ISO 8601 time, which means T:0 of that second (a time without zone is UTC)."""
    match = re.fullmatch(r"(\d+):(\d+)", text.strip())
    if match:
        return int(match[1]), int(match[2])
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise JobError(f"restore_to is {text!r}: give T:I (e.g. 1764583200:1) or an ISO 8601 time") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp()), 0


def restore_plan(
    backups: list[dict], captures: dict[str, list[dict]], set_name: str, restore_to: tuple[int, int] | None
) -> dict:
    """Which base backup and which captured oplog files bring set_name to restore_to.

    backups: verified manifests, each {"name", "sets": {set: {"archive", "oplog": {first, last}}}};
    captures: {set: [{"file", "first", "last"}]} with first/last as [T, I]. The base is
    the newest whose oplog ends before restore_to; its archive replays its own oplog up
    to restore_to, then the captures carry on from where it ends, in order, each entry
    once. restore_to is exclusive (mongorestore --oplogLimit): the entry at exactly that
    time is not applied. Without restore_to: the newest base, with its own oplog only."""
    usable = [b for b in backups if set_name in b["sets"]]
    if restore_to is not None:
        usable = [b for b in usable if tuple(b["sets"][set_name]["oplog"]["first"]) < restore_to]
    if not usable:
        when = f" before {restore_to[0]}:{restore_to[1]}" if restore_to else ""
        raise JobError(f"no verified backup of {set_name}{when} to restore from")
    base = max(usable, key=lambda b: b["name"])
    base_last = tuple(base["sets"][set_name]["oplog"]["last"])
    plan = {"backup": base["name"], "set": set_name, "archive": base["sets"][set_name]["archive"], "replay": []}
    if restore_to is None or restore_to <= base_last:
        plan["limit"] = list(restore_to) if restore_to else None
        return plan
    covered = base_last
    for capture in sorted(captures.get(set_name, []), key=lambda c: tuple(c["first"])):
        if tuple(capture["last"]) <= covered:
            continue
        if tuple(capture["first"]) > covered and not capture.get("continues", True):
            break
        plan["replay"].append(capture["file"])
        covered = tuple(capture["last"])
        if covered >= restore_to:
            break
    if covered < restore_to and restore_to > base_last:
        plan["short"] = f"the captured oplog of {set_name} ends at {covered[0]}:{covered[1]}, before restore_to"
    plan["after"] = list(base_last)
    plan["limit"] = list(restore_to)
    return plan


def counts_from_log(text: str, pattern: re.Pattern) -> dict[str, int]:
    counts: dict[str, int] = {}
    for match in pattern.finditer(text):
        counts[match["ns"]] = counts.get(match["ns"], 0) + int(match["count"])
    return counts


def textfile(metrics: dict[str, float], labels: dict[str, str]) -> str:
    """node_exporter textfile collector format, one gauge per metric."""
    label = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    lines = []
    for name, value in sorted(metrics.items()):
        lines += [f"# TYPE {name} gauge", f"{name}{{{label}}} {value}"]
    return "\n".join(lines) + "\n"


# -- settings, logging, files -------------------------------------------------------------


@dataclass
class Settings:
    raw: dict

    def __getattr__(self, name: str) -> Any:
        try:
            return self.raw[name]
        except KeyError as error:
            raise AttributeError(name) from error

    @property
    def backup_dir(self) -> Path:
        return Path(self.raw["backup_dir"])


def log(message: str) -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{stamp} mongodb-backup: {message}", file=sys.stderr, flush=True)


def write_atomically(path: Path, text: str, mode: int = 0o640) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(text)
    scratch.chmod(mode)
    os.replace(scratch, path)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(directory: Path) -> list[str]:
    """Files of a backup whose SHA-256 is not the one recorded in SHA256SUMS."""
    sums = directory / CHECKSUMS
    if not sums.exists():
        return [CHECKSUMS]
    wrong = []
    for line in sums.read_text().splitlines():
        expected, _, name = line.partition("  ")
        if not (directory / name).exists() or sha256(directory / name) != expected:
            wrong.append(name)
    return wrong


@contextlib.contextmanager
def held_lock(path: Path):
    """A non-blocking lock: yields False when another run holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield True


# -- talking to MongoDB -------------------------------------------------------------------


def read_password(path: str) -> str:
    """The password of a tools --config file (mode 0600), which the role writes as one
    line, password: <JSON string> (valid YAML for the tools, and read here without it)."""
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "password":
            return str(json.loads(value.strip()))
    raise JobError(f"{path} holds no password")


def password(settings: Settings) -> str:
    """The backup account's password, from the tools' --config file."""
    return read_password(settings.tools_config)


def client(settings: Settings, host: str, direct: bool = True, **options):
    """The backup account's client of host; options go to pymongo (document_class...)."""
    import pymongo

    return pymongo.MongoClient(
        host=host,
        username=settings.user,
        password=password(settings),
        authSource=settings.auth_source,
        directConnection=direct,
        serverSelectionTimeoutMS=int(settings.connect_timeout) * 1000,
        appname="mongodb-backup",
        **tls_options(settings),
        **options,
    )


def tls_options(settings: Settings) -> dict:
    """pymongo's TLS options when the deployment requires TLS: trust its CA, present this
    machine's certificate (a server with a CA file asks every client for one). The
    tools take the same names in their URI (mongo-tools: the driver's connstring)."""
    if not settings.raw.get("tls"):
        return {}
    return {"tls": True, "tlsCAFile": settings.tls_ca_file, "tlsCertificateKeyFile": settings.tls_certificate_key_file}


def tls_query(settings: Settings) -> dict:
    return {name: "true" if value is True else value for name, value in tls_options(settings).items()}


def tool_uri(settings: Settings, host: str, user: str | None = None, auth_source: str | None = None) -> str:
    """A URI naming the account but not its password (the tools read it from --config)."""
    query = urllib.parse.urlencode(
        {"authSource": auth_source or settings.auth_source, "directConnection": "true", **tls_query(settings)}
    )
    return f"mongodb://{urllib.parse.quote(user or settings.user)}@{host}/?{query}"


def run_tool(settings: Settings, name: str, *args: str) -> subprocess.CompletedProcess:
    command = [str(Path(settings.tools_bin_dir) / name), f"--config={settings.tools_config}", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def latest_oplog(connection) -> tuple[int, int]:
    entry = connection.local["oplog.rs"].find_one({}, sort=[("$natural", -1)])
    if entry is None:
        raise JobError("the member's oplog is empty: is it a replica set member?")
    return entry["ts"].time, entry["ts"].inc


def oldest_oplog(connection) -> tuple[int, int]:
    entry = connection.local["oplog.rs"].find_one({}, sort=[("$natural", 1)])
    if entry is None:
        raise JobError("the member's oplog is empty: is it a replica set member?")
    return entry["ts"].time, entry["ts"].inc


def pick_member(settings: Settings, replica_set: dict) -> str:
    errors = []
    for seed in replica_set["members"]:
        try:
            with client(settings, seed) as connection:
                status = connection.admin.command("replSetGetStatus")
                config = connection.admin.command("replSetGetConfig")["config"]
            return choose_member(status, config, float(settings.max_lag_seconds), bool(settings.allow_primary))
        except JobError:
            raise
        except Exception as error:  # the next seed may answer
            errors.append(f"{seed}: {error}")
    raise JobError(f"replica set {replica_set['name']}: no member answered ({'; '.join(errors)})")


# -- backup -------------------------------------------------------------------------------


class Balancer:
    """Stops the sharded cluster's balancer for a backup and puts back the state it found,
    on every exit; records the hold in mongodb_backup.locks so that site.yml's sharding
    step does not switch it on meanwhile."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.found: str | None = None
        self.connection = None

    def stop(self) -> None:
        router = self.settings.routers[0]
        self.connection = client(self.settings, router, direct=True)
        admin = self.connection.admin
        locks = self.connection[self.settings.lock_database].locks
        previous = locks.find_one({"_id": "balancer", "held": True})
        # A run that was killed left its hold: the state it found is the one to put back.
        self.found = previous["found"] if previous else admin.command("balancerStatus")["mode"]
        now = datetime.datetime.now(datetime.UTC)
        hold = {
            "held": True,
            "by": os.uname().nodename,
            "pid": os.getpid(),
            "found": self.found,
            "since": now,
            "until": now + datetime.timedelta(hours=float(self.settings.hold_hours)),
        }
        locks.update_one({"_id": "balancer"}, {"$set": hold}, upsert=True)
        admin.command("balancerStop")
        deadline = time.monotonic() + float(self.settings.balancer_wait_seconds)
        while admin.command("balancerStatus").get("inBalancerRound"):
            if time.monotonic() > deadline:
                raise JobError("the balancer is still in a round after mongodb_backup_balancer_wait_seconds")
            time.sleep(1)
        log(f"balancer stopped (it was {self.found})")

    def restore(self) -> None:
        if self.connection is None:
            return
        try:
            if self.found not in (None, "off"):
                self.connection.admin.command("balancerStart")
                log(f"balancer started again ({self.found})")
            self.connection[self.settings.lock_database].locks.update_one(
                {"_id": "balancer"}, {"$set": {"held": False, "released": datetime.datetime.now(datetime.UTC)}}
            )
        finally:
            self.connection.close()
            self.connection = None


def dump_set(settings: Settings, replica_set: dict, folder: Path) -> dict:
    member = pick_member(settings, replica_set)
    log(f"replica set {replica_set['name']}: dumping {member}")
    archive = folder / f"{replica_set['name']}.archive.gz"
    with client(settings, member) as connection:
        first = latest_oplog(connection)
        server_version = connection.admin.command("buildInfo")["version"]
        dumped = run_tool(
            settings, "mongodump", f"--uri={tool_uri(settings, member)}", "--oplog", f"--archive={archive}", "--gzip"
        )
        (folder / f"{replica_set['name']}.dump.log").write_text(dumped.stderr)
        if dumped.returncode != 0:
            raise JobError(
                f"mongodump of {member} exited with {dumped.returncode}: {dumped.stderr.strip().splitlines()[-1:]}"
            )
        last = latest_oplog(connection)
    return {
        "role": replica_set["role"],
        "member": member,
        "archive": archive.name,
        "size": archive.stat().st_size,
        "oplog": {"first": list(first), "last": list(last)},
        "counts": counts_from_log(dumped.stderr, DUMPED),
        "server_version": server_version,
    }


def check_free_space(settings: Settings) -> None:
    free = shutil.disk_usage(settings.backup_dir).free
    needed = float(settings.min_free_gb) * 1024**3
    last = newest_backup_size(settings)
    needed = max(needed, last * float(settings.free_space_factor))
    if free < needed:
        raise JobError(
            f"{settings.backup_dir} has {free / 1024**3:.1f} GB free, {needed / 1024**3:.1f} GB needed "
            "(mongodb_backup_min_free_gb, or the last backup's size times mongodb_backup_free_space_factor)"
        )


def newest_backup_size(settings: Settings) -> int:
    manifests = list_backups(settings)
    if not manifests:
        return 0
    return sum(s["size"] for s in manifests[-1]["sets"].values())


def list_backups(settings: Settings) -> list[dict]:
    found = []
    for folder in sorted(settings.backup_dir.glob("[0-9]*T*Z")):
        manifest = folder / MANIFEST
        if manifest.exists():
            found.append(json.loads(manifest.read_text()))
    return found


def tools_version(settings: Settings) -> str:
    shown = subprocess.run(
        [str(Path(settings.tools_bin_dir) / "mongodump"), "--version"], capture_output=True, text=True, check=False
    )
    return shown.stdout.splitlines()[0].split(":", 1)[-1].strip() if shown.stdout else "unknown"


def backup(settings: Settings) -> dict:
    settings.backup_dir.mkdir(parents=True, exist_ok=True)
    for stale in settings.backup_dir.glob(f"{PARTIAL}*"):
        log(f"removing {stale.name}, left by a run that did not finish")
        shutil.rmtree(stale, ignore_errors=True)
    check_free_space(settings)
    started = datetime.datetime.now(datetime.UTC)
    name = started.strftime(NAME_FORMAT)
    folder = settings.backup_dir / f"{PARTIAL}{name}"
    folder.mkdir(mode=0o750)
    balancer = Balancer(settings) if settings.kind == "sharded" else None
    sets: dict[str, dict] = {}
    try:
        if balancer is not None:
            balancer.stop()
        for replica_set in settings.sets:
            sets[replica_set["name"]] = dump_set(settings, replica_set, folder)
    finally:
        if balancer is not None:
            balancer.restore()
    for replica_set in sets.values():
        if settings.raw.get("encrypt_recipient_file"):
            encrypt(settings, folder / replica_set["archive"])
            replica_set["archive"] += ".gpg"
            replica_set["size"] = (folder / replica_set["archive"]).stat().st_size
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    (folder / CHECKSUMS).write_text("".join(f"{sha256(folder / f)}  {f}\n" for f in files))
    finished = datetime.datetime.now(datetime.UTC)
    manifest = {
        "format": 1,
        "name": name,
        "kind": settings.kind,
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "duration_seconds": round((finished - started).total_seconds(), 1),
        "tools_version": tools_version(settings),
        "encrypted": bool(settings.raw.get("encrypt_recipient_file")),
        "sets": sets,
        "note": (
            "Each replica set was dumped from one member with its oplog: one point in time per set. The sets of a "
            "sharded cluster were dumped one after another with the balancer stopped, so together they are not one "
            "cluster-wide instant."
            if settings.kind == "sharded"
            else "Dumped from one member with its oplog: one point in time."
        ),
    }
    if verify(folder):
        raise JobError(f"the files just written in {folder} do not match their checksums")
    manifest["verified"] = True
    write_atomically(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    final = settings.backup_dir / name
    os.rename(folder, final)
    members = ", ".join(f"{set_name} from {dumped['member']}" for set_name, dumped in sets.items())
    log(f"backup {name} written: {members}")
    remove_expired(settings, finished)
    upload(settings, final)
    return manifest


def encrypt(settings: Settings, path: Path) -> None:
    """To the public key only (gpg --recipient-file); the private key is never here."""
    result = subprocess.run(
        [
            "gpg",
            "--batch",
            "--yes",
            "--quiet",
            "--no-tty",
            "--trust-model",
            "always",
            "--recipient-file",
            settings.encrypt_recipient_file,
            "--output",
            f"{path}.gpg",
            "--encrypt",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise JobError(f"gpg could not encrypt {path.name}: {result.stderr.strip()}")
    path.unlink()


def upload(settings: Settings, folder: Path) -> None:
    command = settings.raw.get("upload_command")
    if not command:
        return
    result = subprocess.run(
        command, shell=True, env={**os.environ, "BACKUP_DIR": str(folder)}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise JobError(f"the upload command exited with {result.returncode} (the local backup {folder.name} is kept)")
    log(f"uploaded {folder.name}")


def remove_expired(settings: Settings, now: datetime.datetime) -> None:
    """Retention: the backups expired() lets go (a backup counts as verified when its
    manifest says so and its files still match their checksums), then the oplog
    captures that end before the oldest backup kept, which nothing can replay onto."""
    listed = [
        {"name": m["name"], "verified": bool(m.get("verified")) and not verify(settings.backup_dir / m["name"])}
        for m in list_backups(settings)
    ]
    for name in expired(listed, now, int(settings.retention_days)):
        shutil.rmtree(settings.backup_dir / name)
        log(f"removed backup {name}, older than {settings.retention_days} days")
    kept = list_backups(settings)
    if not kept:
        return
    for set_name, captures in list_captures(settings).items():
        oldest = kept[0]["sets"].get(set_name)
        for capture in captures:
            if oldest is not None and tuple(capture["last"]) < tuple(oldest["oplog"]["first"]):
                Path(capture["file"]).unlink()


# -- oplog capture ------------------------------------------------------------------------


def capture_oplog(settings: Settings) -> dict:
    """For each replica set: the entries since the last capture (or the newest backup),
    read from a healthy member, written raw as <first>-<last>.bson.gz. An oplog whose
    oldest entry is newer than that point has lost entries: a gap, which only a new base
    backup closes."""
    import bson

    captured = {}
    state_file = settings.backup_dir / "oplog" / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    backups = list_backups(settings)
    for replica_set in settings.sets:
        name = replica_set["name"]
        since = state.get(name)
        if since is None:
            bases = [b for b in backups if name in b["sets"]]
            if not bases:
                raise JobError(f"replica set {name}: no base backup yet; the oplog capture starts after the first one")
            since = bases[-1]["sets"][name]["oplog"]["last"]
        member = pick_member(settings, replica_set)
        from bson.raw_bson import RawBSONDocument

        with client(settings, member, document_class=RawBSONDocument) as connection:
            oldest = connection.local["oplog.rs"].find_one({}, sort=[("$natural", 1)])
            if oldest is None or (oldest["ts"].time, oldest["ts"].inc) > tuple(since):
                raise JobError(
                    f"replica set {name}: oplog gap: its oldest entry is newer than the last capture "
                    f"({since[0]}:{since[1]}); take a new base backup (mongodb-backup backup)"
                )
            entries = list(
                connection.local["oplog.rs"].find({"ts": {"$gt": bson.Timestamp(*since)}}, sort=[("$natural", 1)])
            )
        if not entries:
            captured[name] = 0
            continue
        first, last = entries[0]["ts"], entries[-1]["ts"]
        folder = settings.backup_dir / "oplog" / name
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{first.time}_{first.inc}-{last.time}_{last.inc}.bson.gz"
        scratch = target.with_name(f".{target.name}.partial")
        with gzip.open(scratch, "wb") as stream:
            for entry in entries:
                stream.write(entry.raw)
        os.replace(scratch, target)
        state[name] = [last.time, last.inc]
        write_atomically(state_file, json.dumps(state, indent=2) + "\n")
        captured[name] = len(entries)
        log(f"replica set {name}: captured {len(entries)} oplog entries up to {last.time}:{last.inc}")
    return captured


def list_captures(settings: Settings) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted((settings.backup_dir / "oplog").glob("*/*.bson.gz")):
        first, last = path.name.split(".")[0].split("-")
        found.setdefault(path.parent.name, []).append(
            {"file": str(path), "first": [int(x) for x in first.split("_")], "last": [int(x) for x in last.split("_")]}
        )
    return found


# -- restore ------------------------------------------------------------------------------


def target_is_empty(connection) -> list[str]:
    """The target's databases that hold data (admin, config and local do not count)."""
    return [name for name in connection.list_database_names() if name not in ("admin", "config", "local")]


def target_client(arguments: argparse.Namespace, settings: Settings, password: str):
    """A direct, authenticated client of the restore's target."""
    import pymongo

    return pymongo.MongoClient(
        host=arguments.target,
        username=arguments.target_user,
        password=password,
        authSource="admin",
        directConnection=True,
        serverSelectionTimeoutMS=int(settings.connect_timeout) * 1000,
        **tls_options(settings),
    )


def restore(settings: Settings, arguments: argparse.Namespace) -> dict:
    """Restore into --target (host:port, logging in as --target-user with the password
    from --target-config, mode 0600) one set's backup, or each set's in turn (a sharded
    backup into one replica set: the first with --drop when asked, the others added),
    after checking the checksums of everything it reads. Each mongorestore runs with
    --stopOnError, and a restore that reports any document not restored fails: the tools
    exit 0 after skipping duplicate-key and validation errors otherwise."""
    backups = [b for b in list_backups(settings) if b.get("verified")]
    if arguments.backup not in (None, "", "latest"):
        backups = [b for b in backups if b["name"] == arguments.backup]
    limit = parse_timestamp(arguments.restore_to) if arguments.restore_to else None
    names = arguments.set or sorted({n for b in backups[-1:] for n in b["sets"]})
    if not names:
        raise JobError("no verified backup to restore")
    plans = [restore_plan(backups, list_captures(settings), set_name, limit) for set_name in names]
    for plan in plans:
        if plan.get("short"):
            raise JobError(f"{plan['short']}; nothing was restored")
        wrong = verify(settings.backup_dir / plan["backup"])
        if wrong:
            raise JobError(f"backup {plan['backup']} fails its checksums ({', '.join(wrong)}); nothing was restored")
    target_password = read_password(arguments.target_config)
    with target_client(arguments, settings, target_password) as connection:
        holding = target_is_empty(connection)
    if holding and not arguments.drop:
        raise JobError(f"the target {arguments.target} holds data ({', '.join(holding)}); set drop to replace it")
    uri = tool_uri(settings, arguments.target, user=arguments.target_user, auth_source="admin")
    results = []
    for index, plan in enumerate(plans):
        folder = settings.backup_dir / plan["backup"]
        archive = folder / plan["archive"]
        tools = ["--config=" + arguments.target_config, f"--uri={uri}", "--gzip", "--stopOnError", "--oplogReplay"]
        if arguments.drop and index == 0:
            tools.append("--drop")
        if plan.get("limit") and not plan["replay"]:
            tools.append(f"--oplogLimit={plan['limit'][0]}:{plan['limit'][1]}")
        restored = subprocess.run(
            [str(Path(settings.tools_bin_dir) / "mongorestore"), *tools, f"--archive={archive}"],
            capture_output=True,
            text=True,
            check=False,
        )
        log_path = Path(arguments.log_dir) / f"{plan['set']}.restore.log"
        log_path.write_text(restored.stderr)
        summary = SUMMARY.search(restored.stderr)
        if restored.returncode != 0 or summary is None or int(summary["failed"]):
            raise JobError(f"mongorestore of {plan['set']} from {plan['backup']} failed (see {log_path})")
        replayed = replay_captures(settings, arguments, uri, plan) if plan["replay"] else 0
        results.append(
            {
                **plan,
                "dumped": counts_from_log((folder / f"{plan['set']}.dump.log").read_text(), DUMPED),
                "restored": counts_from_log(restored.stderr, RESTORED),
                "replayed_entries": replayed,
            }
        )
        log(f"restored {plan['set']} from {plan['backup']} into {arguments.target}")
    outcome: dict = {"restores": results}
    if arguments.validate:
        with target_client(arguments, settings, target_password) as connection:
            outcome["validated"] = validate_collections(connection)
        invalid = [ns for ns, valid in outcome["validated"].items() if not valid]
        if invalid:
            raise JobError(f"restored collections that fail validate: {', '.join(invalid)}")
    return outcome


def validate_collections(connection) -> dict[str, bool]:
    """validate on every collection of the target's databases (admin, config, local
    aside): https://www.mongodb.com/docs/manual/reference/command/validate/."""
    results = {}
    for db_name in target_is_empty(connection):
        for name in connection[db_name].list_collection_names():
            if name.startswith("system."):
                continue
            results[f"{db_name}.{name}"] = bool(connection[db_name].command("validate", name).get("valid"))
    return results


def replay_captures(settings: Settings, arguments: argparse.Namespace, uri: str, plan: dict) -> int:
    """The captured entries after the base and before the limit, once each, in order, as
    one oplog.bson that mongorestore --oplogReplay --oplogLimit applies."""
    import bson

    after, limit = tuple(plan["after"]), tuple(plan["limit"])
    folder = Path(arguments.log_dir) / f"{plan['set']}.replay"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seen: set[tuple[int, int]] = set()
    count = 0
    with (folder / "oplog.bson").open("wb") as out:
        for path in plan["replay"]:
            with gzip.open(path, "rb") as stream:
                for entry in bson.decode_file_iter(
                    stream, bson.CodecOptions(document_class=bson.raw_bson.RawBSONDocument)
                ):
                    stamp = (entry["ts"].time, entry["ts"].inc)
                    if after < stamp < limit and stamp not in seen:
                        seen.add(stamp)
                        out.write(entry.raw)
                        count += 1
    replayed = subprocess.run(
        [
            str(Path(settings.tools_bin_dir) / "mongorestore"),
            "--config=" + arguments.target_config,
            f"--uri={uri}",
            "--oplogReplay",
            f"--oplogLimit={limit[0]}:{limit[1]}",
            str(folder),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    (Path(arguments.log_dir) / f"{plan['set']}.replay.log").write_text(replayed.stderr)
    if replayed.returncode != 0:
        raise JobError(f"replaying the captured oplog of {plan['set']} failed (see {plan['set']}.replay.log)")
    # Applied: the copy holds every write of the window and is not needed again; a failed
    # replay keeps it beside its log.
    shutil.rmtree(folder, ignore_errors=True)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mongodb-backup")
    parser.add_argument("--settings", required=True)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("backup", help="take a base backup of every replica set")
    commands.add_parser("capture-oplog", help="keep what each replica set's oplog gained")
    commands.add_parser("list", help="the backups and oplog captures, as JSON")
    commands.add_parser("prune", help="delete what the retention rule lets go, now")
    restoring = commands.add_parser("restore", help="restore a backup, to a point in time")
    restoring.add_argument("--target", required=True, help="host:port of the target's primary")
    restoring.add_argument("--target-user", required=True)
    restoring.add_argument("--target-config", required=True, help="YAML file (0600) with the target user's password")
    restoring.add_argument("--backup", help="the backup's name, or latest")
    restoring.add_argument("--set", action="append", help="the replica set whose dump to restore (default: all)")
    restoring.add_argument("--restore-to", help="T:I or an ISO 8601 time, exclusive")
    restoring.add_argument("--drop", action="store_true", help="replace what the target holds")
    restoring.add_argument("--log-dir", required=True, help="where the restore logs are written")
    restoring.add_argument("--validate", action="store_true", help="run validate on every restored collection")
    arguments = parser.parse_args(argv)
    settings = Settings(json.loads(Path(arguments.settings).read_text()))
    if arguments.command == "list":
        print(json.dumps({"backups": list_backups(settings), "captures": list_captures(settings)}, indent=2))
        return 0
    if arguments.command == "prune":
        with held_lock(settings.backup_dir / ".backup.lock") as held:
            if not held:
                log(f"prune: another run holds {settings.backup_dir / '.backup.lock'}; skipped")
                return SKIPPED
            remove_expired(settings, datetime.datetime.now(datetime.UTC))
        return 0
    if arguments.command == "restore":
        try:
            print(json.dumps(restore(settings, arguments), indent=2))
        except JobError as error:
            log(f"restore: FAILED: {error}")
            return 1
        return 0
    lock = settings.backup_dir / (".oplog.lock" if arguments.command == "capture-oplog" else ".backup.lock")
    started = time.time()
    outcome: dict = {}
    code = 0
    with held_lock(lock) as held:
        if not held:
            log(f"{arguments.command}: another run holds {lock}; skipped")
            return SKIPPED
        signal.signal(signal.SIGTERM, stopped)
        try:
            outcome = backup(settings) if arguments.command == "backup" else {"captured": capture_oplog(settings)}
        except JobError as error:
            log(f"{arguments.command}: FAILED: {error}")
            code = 1
        record_status(settings, arguments.command, code, started, outcome)
    return code


def stopped(signum: int, _frame) -> None:
    """SIGTERM (a stopped cron job, a shutdown): fail through the cleanup (the balancer)."""
    raise JobError(f"stopped by signal {signum}")


def record_status(settings: Settings, command: str, code: int, started: float, outcome: dict) -> None:
    """A status file per job, and a node_exporter textfile with its gauges."""
    job = command.replace("-", "_")
    status_file = settings.backup_dir / f"status-{command}.json"
    previous = json.loads(status_file.read_text()) if status_file.exists() else {}
    now = time.time()
    status = {
        "command": command,
        "exit_code": code,
        "finished": now,
        "duration_seconds": round(now - started, 1),
        "last_success": now if code == 0 else previous.get("last_success", 0),
        "size_bytes": sum(s["size"] for s in outcome.get("sets", {}).values())
        if code == 0
        else previous.get("size_bytes", 0),
        "backup": outcome.get("name", previous.get("backup")),
    }
    write_atomically(status_file, json.dumps(status, indent=2, sort_keys=True) + "\n")
    if settings.raw.get("textfile_dir"):
        metrics = {
            f"mongodb_backup_{job}_last_success_timestamp_seconds": status["last_success"],
            f"mongodb_backup_{job}_last_duration_seconds": status["duration_seconds"],
            f"mongodb_backup_{job}_last_exit_code": code,
        }
        if command == "backup":
            metrics["mongodb_backup_backup_last_size_bytes"] = status["size_bytes"]
        write_atomically(
            Path(settings.textfile_dir) / f"mongodb_backup_{job}.prom",
            textfile(metrics, {"cluster": settings.cluster}),
            0o644,
        )


if __name__ == "__main__":
    sys.exit(main())
