"""The molecule scenario (converge site.yml on the sandbox inventory, testinfra verify),
run inside the integration session so that pytest-xdist runs it beside the other files
instead of after them. Its sandbox lives under molecule's own directory with every port
moved by MONGODB_SANDBOX_PORT_OFFSET, so it never meets the shared sandbox of
test_site_sandbox.py. `make molecule` runs the same scenario on its own."""

from __future__ import annotations

import os
import subprocess

from support import servers
from support.ansible import BIN, PROJECT

PORT_OFFSET = "1000"


def test_the_molecule_scenario_converges_and_verifies():
    environment = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
        "MONGODB_BIN_DIR": str(servers.bin_dir()),
        "MONGODB_TOOLS_BIN_DIR": str(servers.tools_bin_dir()),
        "MONGODB_SANDBOX_PORT_OFFSET": PORT_OFFSET,
        "PY_COLORS": "0",
        "ANSIBLE_NOCOLOR": "1",
    }
    result = subprocess.run(
        [str(BIN / "molecule"), "test", "-s", "sandbox"],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Verifier completed successfully" in output
