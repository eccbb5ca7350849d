"""The pure rules of the backup job (roles/mongodb_backup/files/mongodb_backup.py): which
member is dumped, which backups retention deletes, how restore_to reads, and which base
and oplog captures a point-in-time restore uses."""

from __future__ import annotations

import datetime
import importlib.util
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "mongodb_backup", PROJECT / "roles/mongodb_backup/files/mongodb_backup.py"
)
job = importlib.util.module_from_spec(spec)
sys.modules["mongodb_backup"] = job  # its dataclass looks itself up there
spec.loader.exec_module(job)

NOW = datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.UTC)


def member(name, state="SECONDARY", behind=0, health=1):
    return {"name": name, "stateStr": state, "health": health, "optimeDate": NOW - datetime.timedelta(seconds=behind)}


def config(*names, hidden=(), arbiters=()):
    return {"members": [{"host": n, "hidden": n in hidden, "arbiterOnly": n in arbiters} for n in names]}


def test_a_hidden_secondary_is_dumped_first_then_the_least_behind():
    status = {"set": "rs", "members": [member("a", "PRIMARY"), member("b", behind=5), member("c", behind=1)]}
    assert job.choose_member(status, config("a", "b", "c"), 30) == "c"
    assert job.choose_member(status, config("a", "b", "c", hidden=["b"]), 30) == "b"


def test_a_secondary_too_far_behind_or_unhealthy_is_not_dumped():
    status = {"set": "rs", "members": [member("a", "PRIMARY"), member("b", behind=60), member("c", health=0)]}
    with pytest.raises(job.JobError, match="no healthy secondary within 30 s"):
        job.choose_member(status, config("a", "b", "c"), 30)
    assert job.choose_member(status, config("a", "b", "c"), 30, allow_primary=True) == "a"


def test_the_only_data_bearing_member_of_a_set_is_dumped_even_if_primary():
    status = {"set": "cfg", "members": [member("a", "PRIMARY")]}
    assert job.choose_member(status, config("a"), 30) == "a"
    # An arbiter holds no data: a primary with an arbiter and a secondary down is still the only copy.
    status = {"set": "psa", "members": [member("a", "PRIMARY"), member("c", "ARBITER")]}
    assert job.choose_member(status, config("a", "c", arbiters=["c"]), 30) == "a"


def named(days_ago: int) -> str:
    return (NOW - datetime.timedelta(days=days_ago)).strftime(job.NAME_FORMAT)


def test_old_backups_go_only_once_a_newer_verified_backup_exists():
    backups = [
        {"name": named(40), "verified": True},
        {"name": named(35), "verified": True},
        {"name": named(1), "verified": True},
    ]
    assert job.expired(backups, NOW, 30) == [named(40), named(35)]
    # The newest is not verified: nothing older than it may go... except what an older
    # verified backup, itself newer, still covers.
    backups[-1]["verified"] = False
    assert job.expired(backups, NOW, 30) == [named(40)]
    # Only old backups, the newest verified one kept whatever its age.
    assert job.expired([{"name": named(50), "verified": True}], NOW, 30) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1764583200:7", (1764583200, 7)),
        ("2025-12-01T10:00:00Z", (1764583200, 0)),
        ("2025-12-01T10:00:00", (1764583200, 0)),  # no zone: UTC
        ("2025-12-01T11:00:00+01:00", (1764583200, 0)),
    ],
)
def test_restore_to_is_t_i_or_an_iso_time_meaning_the_start_of_that_second(text, expected):
    assert job.parse_timestamp(text) == expected


def test_restore_to_that_is_neither_is_refused_by_name():
    with pytest.raises(job.JobError, match="restore_to is 'yesterday'"):
        job.parse_timestamp("yesterday")


def backup_of(name, first, last):
    return {"name": name, "sets": {"rs": {"archive": "rs.archive.gz", "oplog": {"first": first, "last": last}}}}


def test_a_point_in_time_takes_the_newest_base_before_it_and_the_captures_after_it():
    backups = [backup_of("20261101T023000Z", [100, 1], [110, 1]), backup_of("20261102T023000Z", [200, 1], [210, 1])]
    captures = {
        "rs": [{"file": "a", "first": [111, 1], "last": [150, 1]}, {"file": "b", "first": [151, 1], "last": [300, 1]}]
    }
    plan = job.restore_plan(backups, captures, "rs", (160, 0))
    assert plan["backup"] == "20261101T023000Z"
    assert plan["replay"] == ["a", "b"]
    assert (plan["after"], plan["limit"]) == ([110, 1], [160, 0])
    # Within the base's own oplog: the archive's replay stops there, no capture needed.
    inside = job.restore_plan(backups, captures, "rs", (205, 0))
    assert (inside["backup"], inside["replay"], inside["limit"]) == ("20261102T023000Z", [], [205, 0])
    # Without a time: the newest backup as it was dumped.
    assert job.restore_plan(backups, captures, "rs", None)["backup"] == "20261102T023000Z"


def test_a_point_beyond_the_captured_oplog_is_reported_short_and_one_before_every_backup_refused():
    backups = [backup_of("20261101T023000Z", [100, 1], [110, 1])]
    plan = job.restore_plan(backups, {"rs": [{"file": "a", "first": [111, 1], "last": [150, 1]}]}, "rs", (400, 0))
    assert "ends at 150:1, before restore_to" in plan["short"]
    with pytest.raises(job.JobError, match="no verified backup of rs before 50:0"):
        job.restore_plan(backups, {}, "rs", (50, 0))


def test_the_tools_log_lines_count_each_namespace_in_either_quoting():
    dumped = "t\tdone dumping `monitoring.assets` (3 documents)\nt\tdone dumping monitoring.events (1 document)\n"
    assert job.counts_from_log(dumped, job.DUMPED) == {"monitoring.assets": 3, "monitoring.events": 1}
    restored = "t\tfinished restoring `monitoring.assets` (3 documents, 0 failures)\n"
    assert job.counts_from_log(restored, job.RESTORED) == {"monitoring.assets": 3}


def test_the_textfile_is_node_exporter_gauges_with_the_labels():
    text = job.textfile({"mongodb_backup_backup_last_exit_code": 0}, {"cluster": "c"})
    assert (
        text
        == '# TYPE mongodb_backup_backup_last_exit_code gauge\nmongodb_backup_backup_last_exit_code{cluster="c"} 0\n'
    )


def test_the_password_is_read_from_the_tools_config_file(tmp_path):
    settings = tmp_path / "tools.yml"
    settings.write_text('password: "p@ss: \\"word\\""\n')
    assert job.read_password(str(settings)) == 'p@ss: "word"'


def _capture(path: Path, stamps: list[tuple[int, int]]) -> str:
    import gzip

    import bson

    with gzip.open(path, "wb") as stream:
        for time, inc in stamps:
            stream.write(bson.encode({"ts": bson.Timestamp(time, inc), "op": "n", "o": {}}))
    return str(path)


@pytest.mark.parametrize(("exit_code", "copy_kept"), [(0, False), (1, True)])
def test_the_replayed_oplog_copy_is_removed_once_applied_and_kept_beside_the_log_when_not(
    tmp_path, exit_code, copy_kept
):
    """The merged oplog a point-in-time restore replays holds every write of its window: it
    does not stay in the restore's log directory once mongorestore applied it."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "mongorestore").write_text(f"#!/bin/sh\necho 'replayed' >&2\nexit {exit_code}\n")
    (tools / "mongorestore").chmod(0o755)
    logs = tmp_path / "logs"
    logs.mkdir()
    captures = [
        _capture(tmp_path / "a.bson.gz", [(10, 1), (20, 1)]),
        _capture(tmp_path / "b.bson.gz", [(20, 1), (30, 1)]),
    ]
    plan = {"set": "rs0", "after": [10, 1], "limit": [40, 1], "replay": captures}
    arguments = type("Arguments", (), {"log_dir": str(logs), "target_config": str(tmp_path / "target.yml")})
    settings = job.Settings({"tools_bin_dir": str(tools)})
    if exit_code:
        with pytest.raises(job.JobError, match=r"see rs0\.replay\.log"):
            job.replay_captures(settings, arguments, "mongodb://127.0.0.1:1/", plan)
    else:
        assert job.replay_captures(settings, arguments, "mongodb://127.0.0.1:1/", plan) == 2  # 20:1 once, 30:1
    assert (logs / "rs0.replay.log").read_text() == "replayed\n"
    assert (logs / "rs0.replay" / "oplog.bson").exists() is copy_kept
