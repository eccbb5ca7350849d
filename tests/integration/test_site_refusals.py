"""playbooks/site.yml refuses bad input and unusable inventories before it changes a host.

Each case runs site.yml under its own scratch root and proves the run stops in the
first play with a message naming the variable or host, and no host directory created.
"""

from __future__ import annotations

import json

import pytest
from support.ansible import run_playbook
from support.site import SITE, env, host_dirs


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
        ({"mongodb_admin_password": "short"}, "mongodb_admin_password must be at least 12 characters"),
        # Every password has the same policy, named by its variable (issue 13).
        ({"mongodb_app_password": "x"}, "mongodb_app_password must be at least 12 characters"),
        # One rule per message: a bad window is not reported as the chunk size.
        (
            {"mongodb_sharding_balancer_window": {"start": "25:00", "stop": "05:00"}},
            "mongodb_sharding_balancer_window needs start and stop as HH:MM",
        ),
    ],
)
def test_bad_input_stops_before_any_change(tmp_path, extra_vars, message):
    result = run_playbook(SITE, "-e", json.dumps(extra_vars), env=env(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in " ".join(output.split()), output[-3000:]
    if "chunk_size" not in json.dumps(extra_vars):
        # One rule per message: another rule's message never stands in for this one.
        assert "mongodb_sharding_chunk_size_mb is" not in output
    assert host_dirs(tmp_path) == [], "a host was changed before the input was checked"


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("tests/inventories/even-voters.yml", "replica set sandbox-shard-01"),
        ("tests/inventories/unreachable-member.yml", "sandbox-shard01-d"),
    ],
)
def test_inventory_problems_stop_before_any_change(tmp_path, layer, message):
    result = run_playbook(SITE, "-i", "inventories/sandbox", "-i", layer, env=env(tmp_path))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert message in output, output[-3000:]
    if "even" in layer:
        assert "has 2 voting members: use an odd number" in output
    else:
        assert "UNREACHABLE" in output
    assert host_dirs(tmp_path) == []


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
    assert host_dirs(tmp_path) == []
    assert not list(tmp_path.glob("downloads"))
