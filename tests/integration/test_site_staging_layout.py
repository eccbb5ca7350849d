"""The staging layout's first run (one replica set, no routers) with non-loopback names."""

from __future__ import annotations

import pytest
from support import servers
from support.ansible import run_playbook
from support.site import ADVERTISED_ADDRESS, SITE, created_users_on, env, refused_for_privileges


@pytest.mark.skipif(not servers.using_standin(), reason="reads the stand-in's command log")
@pytest.mark.skipif(not ADVERTISED_ADDRESS, reason="this machine has no non-loopback address")
def test_staging_layout_first_run_needs_no_privilege_a_real_server_refuses(tmp_path):
    """The staging layout (one replica set, no routers) with advertised non-loopback names."""
    inventory = ("-i", "tests/inventories/staging-like")
    result = run_playbook(SITE, *inventory, env=env(tmp_path))
    try:
        assert result.returncode == 0, result.stdout[-5000:]
        logs = sorted(tmp_path.glob("staging-like-*/data/" + servers.COMMAND_LOG))
        assert refused_for_privileges(logs) == []
        assert "staging-like-1" in created_users_on(logs)
    finally:
        run_playbook("playbooks/sandbox-stop.yml", *inventory, env=env(tmp_path))
