"""The molecule scenario (molecule/sandbox: converge site.yml on the sandbox inventory,
testinfra verify).

The suite does not converge a sandbox for it: tests/integration/test_site_sandbox.py converges one
(the same site.yml the scenario's converge.yml imports, on the stricter layout), proves
the re-run changes nothing, stops it with playbooks/sandbox-stop.yml (what the scenario's
cleanup.yml imports) and runs the scenario's verifier against it. Here, the scenario's own
playbooks must pass molecule's syntax check. `make molecule` runs the whole scenario on
its own sandbox (converge, verify, cleanup).
"""

from __future__ import annotations

from support.ansible import run_molecule


def test_the_molecule_scenario_playbooks_pass_the_syntax_check():
    result = run_molecule("syntax")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "[sandbox > syntax] Executed: Successful" in output
