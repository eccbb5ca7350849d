"""The README's preview on bare hosts: `site.yml --check --diff` before the first run.

Nothing runs yet, so every module whose server an earlier task would have started plans
against an empty deployment (server_not_started) and says what the first run would do;
the run finishes, and nothing is started or written on the hosts (issue 13, point 2).
With TLS on, as production runs, nothing is written on the controller either: the
project CA and the certificates it would issue are only named.
"""

from __future__ import annotations

from support.ansible import recap, run_playbook
from support.site import SANDBOX_INVENTORY, SITE, env, host_dirs


def test_check_mode_on_a_fresh_sandbox_reports_the_first_run_and_writes_nothing(tmp_path):
    result = run_playbook(
        SITE, "--check", "--diff", *SANDBOX_INVENTORY, "-e", "mongodb_tls_mode=requireTLS", env=env(tmp_path)
    )
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
    counters = recap(result.stdout)
    assert all(host["failed"] == 0 and host["changed"] > 0 for host in counters.values()), counters
    # Each step's diff or summary says what the first run would do.
    for planned in (
        "toward the inventory] *** --- before +++ after",
        "+ members: +",
        "+ chunk_size_mb: 32 + shards: + - sandbox-shard-01 + - sandbox-shard-02",
        "user monitoring_app@admin: create with roles readWrite@monitoring",
        "collection metrics: create time-series collection",
        "- monitoring.metrics: null",
        f"Would create the project CA in {tmp_path}/tls-ca and issue a certificate for sandbox-cfg-1",
    ):
        assert planned in output, f"the preview does not say: {planned}"
    assert "planned against an empty deployment" in output
    # Nothing was started or created: no host directory, so no process, config or data,
    # and no CA or certificate on the controller.
    assert host_dirs(tmp_path) == []
    assert not (tmp_path / "tls-ca").exists()
