"""Run the project's playbooks from tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
BIN = PROJECT / ".venv" / "bin"


def _run_in_project(command: list[str], env: dict | None, timeout: float) -> subprocess.CompletedProcess:
    """command from the project directory, with the project's Ansible settings and the
    venv first on PATH, without colours; returns the finished process."""
    environment = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PY_COLORS": "0",
        **(env or {}),
    }
    return subprocess.run(
        command, cwd=PROJECT, env=environment, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_playbook(
    playbook: str, *args: str, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """ansible-playbook from the project directory; returns the finished process."""
    return _run_in_project([str(BIN / "ansible-playbook"), playbook, *args], env, timeout)


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host: {host: {"ok": n, "changed": n, "failed": n, ...}}."""
    counters: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap and ":" in line and "=" in line:
            host, _, rest = line.partition(":")
            counters[host.strip()] = {key: int(value) for key, value in (item.split("=") for item in rest.split())}
        elif in_recap and not line.strip():
            in_recap = False
    return counters


def run_module(module: str, args: dict, *flags: str, timeout: float = 300, env: dict | None = None) -> dict:
    """Run one of the project's modules on localhost (ad hoc) and return its result."""
    import json

    environment = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "json",
        **(env or {}),
    }
    command = [
        str(BIN / "ansible"),
        "localhost",
        "-m",
        module,
        "-a",
        json.dumps(args),
        "-e",
        f"ansible_python_interpreter={BIN / 'python'}",
        *flags,
    ]
    finished = subprocess.run(
        command, cwd=PROJECT, env=environment, capture_output=True, text=True, timeout=timeout, check=False
    )
    # Verbose runs print log lines before the JSON document, the timer callback a line after.
    start = finished.stdout.index("{\n")
    document, _ = json.JSONDecoder().raw_decode(finished.stdout[start:])
    result = document["plays"][0]["tasks"][0]["hosts"]["localhost"]
    result["_output"] = finished.stdout + finished.stderr
    return result


def command_names(result: dict) -> list[str]:
    """The command each operation of a module result names (its kind), in order, after
    checking that each also carries a readable summary (module_utils/mongodb_plan.py)."""
    for operation in result["operations"]:
        assert isinstance(operation["summary"], str) and operation["summary"], operation
        assert operation["kind"] in operation["command"], operation
    return [operation["kind"] for operation in result["operations"]]


def run_molecule(action: str, env: dict | None = None, timeout: float = 1200) -> subprocess.CompletedProcess:
    """`molecule <action> -s sandbox` from the project directory; returns the finished process."""
    return _run_in_project([str(BIN / "molecule"), action, "-s", "sandbox"], env, timeout)
