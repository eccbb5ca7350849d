"""playbooks/site.yml on one shared sandbox: secrets, privileges, check mode, idempotence.

The sandbox runs on MONGODB_BIN_DIR's binaries, or the stand-in when it is unset, under
a scratch MONGODB_SANDBOX_ROOT, with the advertised-address layer where this machine has
a non-loopback address (tests/support/site.py). Its fixed ports (28017-28203) must be free.
"""

from __future__ import annotations

import json

import pymongo
import pytest
from support import servers
from support.ansible import recap, run_playbook
from support.site import SANDBOX_INVENTORY, SITE, created_users_on, env, refused_for_privileges


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A provisioned sandbox (first run at -vvv, output kept); stopped after this module.

    `make integration` distributes whole files over pytest-xdist workers (loadfile), so
    this module's tests share one worker and one sandbox.
    """
    root = tmp_path_factory.mktemp("sandbox")
    result = run_playbook(SITE, "-vvv", *SANDBOX_INVENTORY, env=env(root))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
    (root / "first-run.log").write_text(result.stdout + result.stderr)
    for log in root.glob("sandbox-*/data/" + servers.COMMAND_LOG):
        log.with_name("first-run-commands.jsonl").write_text(log.read_text())
    yield root
    run_playbook("playbooks/sandbox-stop.yml", *SANDBOX_INVENTORY, env=env(root))


def test_no_secret_reaches_the_output_at_vvv(sandbox):
    output = (sandbox / "first-run.log").read_text()
    secrets = {path.name: path.read_text().split()[0] for path in (sandbox / "secrets").iterdir()}
    assert set(secrets) == {"admin", "app", "backup", "monitor", "keyfile"}
    for name, value in secrets.items():
        assert value not in output, f"the {name} secret appears in the -vvv output"
        assert value[:24] not in output, f"a part of the {name} secret appears in the -vvv output"


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
    result = run_playbook(SITE, "--check", "--diff", *SANDBOX_INVENTORY, env=env(sandbox))
    assert result.returncode == 0, result.stdout[-5000:]
    assert all(counters["changed"] == 0 for counters in recap(result.stdout).values()), result.stdout[-3000:]
    for log in logs:
        new_lines = log.read_text()[sizes[log] :].splitlines()
        assert [line for line in new_lines if json.loads(line)["write"]] == [], log


@pytest.mark.skipif(not servers.using_standin(), reason="reads the stand-in's command log")
def test_first_run_needed_no_privilege_a_real_server_refuses(sandbox):
    """Administrators created and sets initiated through the localhost exception alone,
    over loopback on each primary's own machine, with nothing refused for privileges (13)."""
    logs = sorted(sandbox.glob("sandbox-*/data/first-run-commands.jsonl"))
    assert refused_for_privileges(logs) == []
    assert {"sandbox-cfg-1", "sandbox-shard01-a", "sandbox-shard02-a"} <= created_users_on(logs)


def test_second_run_changes_nothing(sandbox):
    result = run_playbook(SITE, *SANDBOX_INVENTORY, env=env(sandbox))
    assert result.returncode == 0, result.stdout[-5000:]
    counters = recap(result.stdout)
    assert len(counters) == 8
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counters.values())
