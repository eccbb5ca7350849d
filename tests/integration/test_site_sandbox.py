"""playbooks/site.yml on the sandbox inventory: bad input, check mode, idempotence.

The sandbox runs on MONGODB_BIN_DIR's binaries, or the stand-in when it is unset,
under a scratch MONGODB_SANDBOX_ROOT. The sandbox inventory's fixed ports (28017-28203)
must be free.
"""

from __future__ import annotations

import json
from pathlib import Path

import pymongo
import pytest
from support import servers
from support.ansible import recap, run_playbook

SITE = "playbooks/site.yml"
# The shared sandbox runs the way production does where this machine allows it: each
# process advertises a non-loopback address of this machine, so only a member's own
# loopback connection gets MongoDB's localhost exception, and shard 02 has an arbiter.
ADVERTISED_ADDRESS = servers.non_loopback_address()
SANDBOX_INVENTORY = (
    ("-i", "inventories/sandbox", "-i", "tests/inventories/advertised-address.yml") if ADVERTISED_ADDRESS else ()
)


def _env(root: Path) -> dict:
    return {
        "MONGODB_SANDBOX_ROOT": str(root),
        "MONGODB_BIN_DIR": str(servers.bin_dir()),
        "MONGODB_TEST_ADVERTISED_ADDRESS": ADVERTISED_ADDRESS or "",
    }


def _host_dirs(root: Path) -> list[str]:
    return sorted(path.name for path in root.glob("sandbox-*"))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A provisioned sandbox (first run at -vvv, output kept); stopped after the module's tests."""
    root = tmp_path_factory.mktemp("sandbox")
    result = run_playbook(SITE, "-vvv", *SANDBOX_INVENTORY, env=_env(root))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
    (root / "first-run.log").write_text(result.stdout + result.stderr)
    for log in root.glob("sandbox-*/data/" + servers.COMMAND_LOG):
        log.with_name("first-run-commands.jsonl").write_text(log.read_text())
    yield root
    run_playbook("playbooks/sandbox-stop.yml", *SANDBOX_INVENTORY, env=_env(root))


def test_no_secret_reaches_the_output_at_vvv(sandbox):
    output = (sandbox / "first-run.log").read_text()
    secrets = {path.name: path.read_text().split()[0] for path in (sandbox / "secrets").iterdir()}
    assert set(secrets) == {"admin", "app", "backup", "monitor", "keyfile"}
    for name, value in secrets.items():
        assert value not in output, f"the {name} secret appears in the -vvv output"
        assert value[:24] not in output, f"a part of the {name} secret appears in the -vvv output"


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"mongodb_mongod_cache_size_gb": 100000}, "mongodb_mongod_cache_size_gb is 100000"),
        ({"mongodb_port": "twenty"}, "mongodb_port"),
        ({"mongodb_port": 28101}, "(mongodb_port must be unique per machine)"),
        ({"mongodb_version": "9.9.0"}, "mongodb_version '9.9.0' is not supported"),
        ({"mongodb_mongod_block_compressor": "snapy"}, "mongodb_mongod_block_compressor"),
        ({"mongodb_mongod_profiling_mode": "slowop"}, "mongodb_mongod_profiling_mode"),
        ({"mongodb_bind_ip": ["0.0.0.0"]}, "mongodb_bind_ip"),
        ({"mongodb_sharding_chunk_size_mb": 0}, "mongodb_sharding_chunk_size_mb is 0"),
        ({"mongodb_sharding_chunk_size_mb": 2048}, "mongodb_sharding_chunk_size_mb is 2048"),
        (
            {"mongodb_accounts": [{"name": "x", "password_var": "vault_missing_password", "roles": []}]},
            "vault_missing_password is missing",
        ),
        ({"mongodb_admin_password": "short"}, "mongodb_admin_password at least 12 characters"),
    ],
)
def test_bad_input_stops_before_any_change(tmp_path, extra_vars, message):
    result = run_playbook(SITE, "-e", json.dumps(extra_vars), env=_env(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in " ".join(output.split()), output[-3000:]
    assert _host_dirs(tmp_path) == [], "a host was changed before the input was checked"


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("tests/inventories/even-voters.yml", "replica set sandbox-shard-01"),
        ("tests/inventories/unreachable-member.yml", "sandbox-shard01-d"),
    ],
)
def test_inventory_problems_stop_before_any_change(tmp_path, layer, message):
    result = run_playbook(SITE, "-i", "inventories/sandbox", "-i", layer, env=_env(tmp_path))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert message in output, output[-3000:]
    if "even" in layer:
        assert "has 2 voting members: use an odd number" in output
    else:
        assert "UNREACHABLE" in output
    assert _host_dirs(tmp_path) == []


def test_no_binaries_stops_before_any_change_and_says_what_to_set(tmp_path):
    # No MONGODB_BIN_DIR, no MONGODB_ARCHIVE, and an official archive that cannot be
    # reached (a closed local port stands in for a machine without network).
    env = {"MONGODB_SANDBOX_ROOT": str(tmp_path), "MONGODB_BIN_DIR": "", "MONGODB_ARCHIVE": ""}
    result = run_playbook(SITE, "-e", "mongodb_install_archive_base_url=http://127.0.0.1:9/linux", env=env)
    output = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "No MongoDB binaries are available for this run" in output
    assert "Nothing has been changed" in output
    assert "Set MONGODB_BIN_DIR" in output and "MONGODB_ARCHIVE" in output
    assert _host_dirs(tmp_path) == []
    assert not list(tmp_path.glob("downloads"))


def test_sandbox_processes_answer_and_refuse_anonymous_clients(sandbox):
    for port in (28017, 28019, 28101, 28203):
        client = pymongo.MongoClient("127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=5000)
        try:
            assert client.admin.command("ping")["ok"] == 1
            with pytest.raises(pymongo.errors.OperationFailure) as refused:
                client.admin.command("listDatabases")
            assert refused.value.code == 13
        finally:
            client.close()


def test_check_mode_on_a_provisioned_sandbox_changes_and_writes_nothing(sandbox):
    logs = sorted(sandbox.glob("sandbox-*/data/" + servers.COMMAND_LOG))
    sizes = {log: log.stat().st_size for log in logs}
    result = run_playbook(SITE, "--check", "--diff", *SANDBOX_INVENTORY, env=_env(sandbox))
    assert result.returncode == 0, result.stdout[-5000:]
    assert all(counters["changed"] == 0 for counters in recap(result.stdout).values()), result.stdout[-3000:]
    for log in logs:
        new_lines = log.read_text()[sizes[log] :].splitlines()
        assert [line for line in new_lines if json.loads(line)["write"]] == [], log


@pytest.mark.skipif(not servers.using_standin(), reason="reads the stand-in's command log")
def test_first_run_needed_no_privilege_a_real_server_refuses(sandbox):
    """Administrators created and sets initiated through the localhost exception alone,
    over loopback on each primary's own machine, with nothing refused for privileges (13)."""
    refused = []
    for log in sorted(sandbox.glob("sandbox-*/data/first-run-commands.jsonl")):
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        # An anonymous client's endSessions on close is refused on a real server too, harmlessly.
        refused += [
            f"{log.parent.parent.name}: {entry['command']}"
            for entry in entries
            if entry.get("code") == 13 and entry["command"] != "endSessions"
        ]
    assert refused == []
    admins = {
        path.parent.parent.name
        for path in sandbox.glob("sandbox-*/data/first-run-commands.jsonl")
        if '"command": "createUser"' in path.read_text()
    }
    assert {"sandbox-cfg-1", "sandbox-shard01-a", "sandbox-shard02-a"} <= admins


def test_second_run_changes_nothing(sandbox):
    result = run_playbook(SITE, *SANDBOX_INVENTORY, env=_env(sandbox))
    assert result.returncode == 0, result.stdout[-5000:]
    counters = recap(result.stdout)
    assert len(counters) == 8
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counters.values())
