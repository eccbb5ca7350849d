"""mongodb_service runs the process it has identified, and restarts it only when needed.

After a crash the pid file stays behind, and its pid may since belong to an unrelated
process. The role counts a pid as this mongod only when /proc/<pid>/cmdline holds this
binary and this configuration file: otherwise it removes the stale file and starts the
process, and `stop` never signals what it has not identified (issue 13, point 1).
A keyfile whose mode or owner was changed is corrected in place; only a new content
restarts the process (issue 13, point 5).
"""

from __future__ import annotations

import json
import subprocess

import pymongo
import pytest
from support import servers
from support.ansible import recap, run_playbook

PLAYBOOK = "tests/playbooks/process.yml"


def member_in(directory) -> dict:
    """A config for one forked mongod in directory, not started: its paths and port."""
    port = servers.free_port()
    config = servers.base_config(directory, port)
    path = servers.write_config(directory / "mongod.conf", config)
    return {
        "mongodb_config_path": str(path),
        "mongodb_pid_path": config["processManagement"]["pidFilePath"],
        "mongodb_port": port,
        "mongodb_bin_dir": str(servers.bin_dir()),
    }


@pytest.fixture
def member(tmp_path):
    return member_in(tmp_path)


@pytest.fixture
def unrelated():
    """A process that is not MongoDB, to take over a stale pid."""
    process = subprocess.Popen(["sleep", "300"])
    yield process
    process.kill()
    process.wait()


def run(entry: str, member: dict, **extra_vars) -> subprocess.CompletedProcess:
    entries = ["files", "service"] if entry == "service" else [entry]
    variables = json.dumps({**member, **extra_vars, "entries": entries})
    return run_playbook(PLAYBOOK, "-i", "localhost,", "-c", "local", "-e", variables)


def answers(port: int) -> bool:
    client = pymongo.MongoClient(port=port, directConnection=True, serverSelectionTimeoutMS=2000)
    try:
        return client.admin.command("ping")["ok"] == 1
    except pymongo.errors.PyMongoError:
        return False
    finally:
        client.close()


@pytest.fixture
def stopped_at_the_end(member):
    yield
    if answers(member["mongodb_port"]):
        run("stop", member)


def test_a_stale_pid_file_is_not_trusted_and_its_process_is_never_signalled(
    tmp_path, member, unrelated, stopped_at_the_end
):
    pid_file = tmp_path / "mongod.pid"
    pid_file.write_text(f"{unrelated.pid}\n")

    stopped = run("stop", member)
    assert stopped.returncode == 0, stopped.stdout[-3000:]
    assert unrelated.poll() is None, "stop signalled a process it had not identified"
    assert recap(stopped.stdout)["localhost"]["changed"] == 0

    started = run("service", member)
    assert started.returncode == 0, started.stdout[-3000:]
    assert recap(started.stdout)["localhost"]["changed"] >= 1
    assert answers(member["mongodb_port"]), "the member was reported running without being started"
    assert unrelated.poll() is None
    assert pid_file.read_text().strip() != str(unrelated.pid)

    # The pid file now names this mongod, so a re-run starts nothing: after a keyfile made
    # readable by others, the mode fix is its only change, and there is no restart.
    keyfile = tmp_path / "keyfile"
    pid = pid_file.read_text().strip()
    keyfile.chmod(0o644)
    corrected = run("service", member)
    assert recap(corrected.stdout)["localhost"]["changed"] == 1, corrected.stdout[-3000:]
    assert oct(keyfile.stat().st_mode & 0o777) == "0o400"
    assert pid_file.read_text().strip() == pid, "a mode fix restarted the process"

    # A new keyfile content restarts it, and it answers again.
    rotated = run("service", member, mongodb_keyfile_content="r" * 64)
    assert rotated.returncode == 0, rotated.stdout[-3000:]
    assert pid_file.read_text().strip() != pid, "a new keyfile did not restart the process"
    assert answers(member["mongodb_port"])

    assert run("stop", member).returncode == 0
    servers.wait_for(lambda: not answers(member["mongodb_port"]), timeout=30)
    assert unrelated.poll() is None


def test_a_member_whose_paths_have_a_space_is_recognised_and_not_started_twice(tmp_path):
    root = tmp_path / "mongo sandbox"
    root.mkdir()
    spaced = member_in(root)
    port = spaced["mongodb_port"]
    try:
        started = run("service", spaced)
        assert started.returncode == 0, started.stdout[-3000:]
        assert answers(port)
        pid = (root / "mongod.pid").read_text().strip()

        again = run("service", spaced)
        assert again.returncode == 0, again.stdout[-3000:]
        assert recap(again.stdout)["localhost"]["changed"] == 0, again.stdout[-3000:]
        assert (root / "mongod.pid").read_text().strip() == pid, "the running member was started again"
    finally:
        run("stop", spaced)
    servers.wait_for(lambda: not answers(port), timeout=30)
