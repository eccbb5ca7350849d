"""The rules of the one read of a host per process (module_utils/mongodb_instance.py and
library/mongodb_instance_state.py): which pid is this process, which path is as declared;
and when a stopped process has exited (library/mongodb_wait_exit.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import subprocess
import time
from pathlib import Path

import pytest
from mongodb_instance import as_declared, has_exited, names_this_process, pid_in

PROJECT = Path(__file__).resolve().parents[2]
ARGV = ["/opt/mongodb/bin/mongod", "--config", "/etc/mongodb/shard01-a.conf"]


def _module(name: str = "mongodb_instance_state"):
    spec = importlib.util.spec_from_file_location(name, PROJECT / "library" / f"{name}.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (b"/opt/mongodb/bin/mongod\0--config\0/etc/mongodb/shard01-a.conf\0", True),  # a real mongod
        (b"/opt/mongodb/bin/mongod --config /etc/mongodb/shard01-a.conf", True),  # a rewritten title
        (b"/opt/mongodb-7.0.25/bin/mongod\0--config\0/etc/mongodb/shard01-a.conf\0", True),  # before an upgrade
        (b"/opt/mongodb/bin/mongos\0--config\0/etc/mongodb/shard01-a.conf\0", False),  # another kind
        (b"/opt/mongodb/bin/mongod\0--config\0/etc/mongodb/shard01-b.conf\0", False),  # another member
        (b"/opt/mongodb/bin/mongod\0--config\0/etc/mongodb/shard01-a.conf.old\0", False),
        (b"sleep\0300\0", False),  # the pid went to an unrelated process
        (b"python3\0/opt/mongodb/bin/mongod\0--config\0/etc/mongodb/shard01-a.conf\0", False),
        (b"", False),  # a zombie has an empty command line
    ],
)
def test_a_pid_is_this_process_only_when_its_command_line_is_the_start_argv_from_any_directory(cmdline, expected):
    assert names_this_process(cmdline, ARGV) is expected


SPACED_ARGV = ["/opt/mongodb/bin/mongod", "--config", "/home/ops/mongo sandbox/sandbox-cfg-1/mongod.conf"]


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (b"/opt/mongodb/bin/mongod\0--config\0/home/ops/mongo sandbox/sandbox-cfg-1/mongod.conf\0", True),
        # setproctitle pads the rewritten title with NUL bytes
        (b"/opt/mongodb/bin/mongod --config /home/ops/mongo sandbox/sandbox-cfg-1/mongod.conf\0\0\0", True),
        (b"/opt/mongodb/bin/mongod\0--config\0/home/ops/mongo\0sandbox/sandbox-cfg-1/mongod.conf\0", False),
        (b"/opt/mongodb/bin/mongod\0--config\0/home/ops/mongo sandbox/sandbox-cfg-2/mongod.conf\0", False),
    ],
)
def test_a_configuration_path_with_a_space_names_its_process(cmdline, expected):
    """A path with a space is one argument of a real mongod (NUL-separated) and reads the
    same in a rewritten title; two arguments that join to the same words are not it."""
    assert names_this_process(cmdline, SPACED_ARGV) is expected


def _sleeping_process() -> subprocess.Popen:
    """`sleep 300`, once its command line reads so: Popen returns once the child has called
    exec, but its command line can read empty for a moment after (186 times in 300 here)."""
    child = subprocess.Popen(["sleep", "300"])
    deadline = time.monotonic() + 10
    while not Path(f"/proc/{child.pid}/cmdline").read_bytes().startswith(b"sleep\0"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return child


MONGOD_CMDLINE = b"/opt/mongodb/bin/mongod\0--config\0/etc/mongodb/shard01-a.conf\0"


@pytest.mark.parametrize(
    ("stat_text", "cmdline", "expected"),
    [
        (None, b"", True),  # the pid is gone
        ("4242 (mongod) S 1 4242 4242 0 -1 4194624", MONGOD_CMDLINE, False),  # still running
        ("4242 (mongod) R 1 4242 4242 0 -1 4194624", MONGOD_CMDLINE, False),
        ("4242 (mongod) D 1 4242 4242 0 -1 4194624", MONGOD_CMDLINE, False),  # flushing to disk
        ("4242 (mongod) Z 1 4242 4242 0 -1 4227084", b"", True),  # exited, not yet collected by init
        ("4242 (mongod) X 1 4242 4242 0 -1 4227084", b"", True),
        ("4242 (conn) 2) Z 1 4242 4242 0 -1 4227084", b"", True),  # a command name with ") "
        ("4242 (sleep) S 977 4242 977 0 -1 4194560", b"sleep\0300\0", True),  # the pid reused
        # Alive with an empty command line: not known to be gone yet, so the wait goes on.
        ("4242 (mongod) S 1 4242 4242 0 -1 4194624", b"", False),
    ],
)
def test_a_stopped_process_has_exited_once_its_pid_is_gone_a_zombie_or_another_process(stat_text, cmdline, expected):
    assert has_exited(stat_text, cmdline, ARGV) is expected


def test_the_exit_wait_counts_a_zombie_as_exited_and_times_out_on_a_live_process():
    """A real zombie (a child this test does not collect) and a real running process."""
    module = _module("mongodb_wait_exit")
    argv = ["/usr/bin/sleep", "300"]
    child = _sleeping_process()
    try:
        deadline = time.monotonic() + 10
        done, waited = module.wait_for_exit(child.pid, argv, timeout=0.3)
        assert (done, waited >= 0.3) == (False, True)
        child.kill()
        while " Z " not in Path(f"/proc/{child.pid}/stat").read_text():  # not collected: a zombie
            assert time.monotonic() < deadline
            time.sleep(0.01)
        done, waited = module.wait_for_exit(child.pid, argv, timeout=5)
        assert done and waited < 0.2
    finally:
        child.kill()
        child.wait()
    assert module.wait_for_exit(child.pid, argv, timeout=5)[0]  # collected: the pid is gone


@pytest.mark.parametrize(("text", "pid"), [("4242\n", 4242), (" 17 ", 17), ("", None), ("0", None), ("abc", None)])
def test_a_pid_file_holds_a_positive_number_or_nothing(text, pid):
    assert pid_in(text) == pid


def test_a_path_is_as_declared_only_when_every_declared_attribute_matches():
    found = {"exists": True, "type": "directory", "mode": "0750", "owner": "mongodb", "group": "mongodb"}
    assert as_declared({"path": "/x", "type": "directory", "mode": "0750", "owner": "mongodb"}, found)
    assert as_declared({"path": "/x", "mode": "750"}, found)  # octal without the leading zero
    assert not as_declared({"path": "/x", "mode": "0700"}, found)
    assert not as_declared({"path": "/x", "owner": "root"}, found)
    assert not as_declared({"path": "/x", "group": "root"}, found)
    assert not as_declared({"path": "/x", "type": "file"}, found)
    assert not as_declared({"path": "/x"}, {"exists": False})
    assert not as_declared({"path": "/x", "sha1": "a"}, {**found, "type": "file", "same_content": False})


def test_the_module_reads_paths_and_compares_content_without_returning_the_checksum(tmp_path):
    module = _module()
    keyfile = tmp_path / "keyfile"
    keyfile.write_text("secret\n")
    keyfile.chmod(0o400)
    user = module._name(pwd.getpwuid, os.getuid())
    right = module.read_path({"path": str(keyfile), "type": "file", "mode": "0400", "owner": user, "sha1": "x"})
    assert right["same_content"] is False and right["as_declared"] is False
    assert "sha1" not in right
    digest = hashlib.sha1(b"secret\n").hexdigest()
    assert module.read_path({"path": str(keyfile), "mode": "0400", "sha1": digest})["as_declared"] is True
    assert module.read_path({"path": str(tmp_path / "absent")}) == {"exists": False, "as_declared": False}


def test_the_module_lists_the_paths_not_as_declared_in_the_order_declared(tmp_path):
    module = _module()
    (tmp_path / "settings.json").write_text("{}\n")
    (tmp_path / "wrapper").write_text("#!/bin/sh\n")
    declared = [
        {"path": str(tmp_path / "wrapper"), "type": "file", "sha1": hashlib.sha1(b"#!/bin/sh\nexec job\n").hexdigest()},
        {"path": str(tmp_path), "type": "directory"},
        {"path": str(tmp_path / "absent"), "type": "file"},
        {"path": str(tmp_path / "settings.json"), "type": "file", "sha1": hashlib.sha1(b"{}\n").hexdigest()},
    ]
    paths, differing = module.read_paths(declared)
    assert differing == [str(tmp_path / "wrapper"), str(tmp_path / "absent")]
    assert list(paths) == [each["path"] for each in declared]


def test_the_module_returns_the_text_of_files_to_read_and_null_where_there_is_none(tmp_path):
    module = _module()
    config = tmp_path / "mongod.conf"
    config.write_text("net:\n  port: 27017\n")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    assert module.read_text(str(config)) == "net:\n  port: 27017\n"
    assert module.read_text(str(tmp_path / "absent")) is None
    assert module.read_text(str(tmp_path)) is None  # a directory
    assert module.read_text(str(tmp_path / "binary")) is None  # not text


def test_the_module_returns_binary_files_in_base64_and_null_where_there_is_none(tmp_path):
    module = _module()
    (tmp_path / "storage.bson").write_bytes(b"\xff\xfe\x00")
    assert module.read_base64(str(tmp_path / "storage.bson")) == "//4A"
    assert module.read_base64(str(tmp_path / "absent")) is None
    assert module.read_base64(str(tmp_path)) is None  # a directory


def test_the_module_reports_a_pid_file_naming_another_process_as_stale(tmp_path):
    module = _module()
    pid_file = tmp_path / "mongod.pid"
    assert module.read_process(str(pid_file), ARGV) == {"pid": None, "running": False, "stale_pid_file": False}
    # A process of known arguments (this test's own may have rewritten its title, as
    # pytest-xdist workers do).
    other = _sleeping_process()
    try:
        pid_file.write_text(f"{other.pid}\n")  # not mongod
        assert module.read_process(str(pid_file), ARGV) == {"pid": other.pid, "running": False, "stale_pid_file": True}
        running = {"pid": other.pid, "running": True, "stale_pid_file": False}
        assert module.read_process(str(pid_file), ["/usr/bin/sleep", "300"]) == running
    finally:
        other.kill()
        other.wait()


def test_a_file_declared_from_its_content_has_the_checksum_ansible_computes_and_no_content():
    from ansible.plugins.filter.core import get_hash

    # By its path: the backup job program is importable as mongodb_backup too.
    spec = importlib.util.spec_from_file_location("backup_filters", PROJECT / "filter_plugins" / "mongodb_backup.py")
    filters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(filters)
    content = 'password: "pässwörd"\n'
    [declared] = filters.mongodb_declared_files(
        [
            {
                "path": "/etc/mongodb-backup/tools.yml",
                "content": content,
                "owner": "mongodb",
                "group": "mongodb",
                "mode": "0600",
            }
        ]
    )
    # The same digest as the roles' hash('sha1'), or a converged host would be rewritten each run.
    assert declared["sha1"] == get_hash(content, "sha1")
    assert "content" not in declared and declared["type"] == "file" and declared["mode"] == "0600"
