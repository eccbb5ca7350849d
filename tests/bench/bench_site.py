"""Benchmark: time and task counts of site.yml on the sandbox: the first run, the
converged re-run and a check-mode re-run (wall time, and the CPU time of ansible-playbook
and everything it ran, which varies less than wall time on a shared machine), then the
re-run's ten slowest tasks (ansible.posix.profile_tasks), then how many templates a
plain re-run compiles and in how many worker processes
(tests/bench/callback_plugins/template_compiles.py).

With --tls, every run has mongodb_tls_mode=requireTLS (the project CA), and
playbooks/rotate-certificates.yml is measured after the check-mode re-run.

Prints numbers; asserts nothing. Uses MONGODB_BIN_DIR when set, the stand-in otherwise
(the output says which). Needs the sandbox ports (28017-28203) free.

    .venv/bin/python tests/bench/bench_site.py [--tls]
"""

from __future__ import annotations

import re
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support import servers
from support.ansible import PROJECT, recap, run_playbook

BENCH_CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
TLS = "--tls" in sys.argv[1:]
EXTRA_ARGS = ("-e", "mongodb_tls_mode=requireTLS") if TLS else ()


def children_cpu_seconds() -> float:
    """User and system CPU time of every finished child process so far (ansible-playbook,
    its workers and the module runs; the stand-in servers, forked away, do not count)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(label: str, env: dict, *args: str, playbook: str = "playbooks/site.yml") -> str:
    started, cpu_before = time.monotonic(), children_cpu_seconds()
    result = run_playbook(playbook, *args, *EXTRA_ARGS, env=env)
    elapsed, cpu = time.monotonic() - started, children_cpu_seconds() - cpu_before
    if result.returncode != 0:
        print(result.stdout[-3000:])
        raise SystemExit(f"{label}: {playbook} failed")
    counters = recap(result.stdout).values()
    run = sum(c["ok"] + c["failed"] for c in counters)
    changed = sum(c["changed"] for c in counters)
    skipped = sum(c["skipped"] for c in counters)
    print(
        f"{label:<26} {elapsed:6.1f} s ({cpu:6.1f} s CPU)   "
        f"tasks run {run:4d}   changed {changed:3d}   skipped {skipped:3d}"
    )
    return result.stdout


def slowest_tasks(output: str, count: int = 10) -> list[str]:
    """profile_tasks' summary lines: "<role : task> ---- 1.23s"."""
    lines = [line for line in output.splitlines() if re.search(r" -{3,} +[0-9.]+s$", line)]
    return lines[:count]


def main() -> None:
    server = "mongod stand-in (tests/standin)" if servers.using_standin() else f"MONGODB_BIN_DIR={servers.bin_dir()}"
    print(f"site.yml on inventories/sandbox (8 processes{', TLS' if TLS else ''}), binaries: {server}")
    with tempfile.TemporaryDirectory() as root:
        env = {
            # Module runs compile what they import, as on an operator's host, even when
            # this shell inherited the test suite's bytecode cache (tests/support/python_startup).
            "MONGODB_TEST_MODULE_BYTECODE": "",
            "MONGODB_SANDBOX_ROOT": root,
            "MONGODB_BIN_DIR": str(servers.bin_dir()),
            "MONGODB_TOOLS_BIN_DIR": str(servers.tools_bin_dir()),
            # A fact cache of its own: the first run gathers the facts, as on new hosts, and
            # the re-runs find them (the project's cache expires after an hour, which made a
            # re-run that crossed it gather them again).
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(Path(root) / "facts"),
        }
        try:
            measure("first run", env)
            profiled = {
                **env,
                "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer,mongodb_preload,ansible.posix.profile_tasks",
            }
            rerun = measure("idempotent re-run", profiled)
            measure("check-mode re-run", env, "--check", "--diff")
            if TLS:
                measure("rotate-certificates.yml", env, playbook="playbooks/rotate-certificates.yml")
            print("slowest tasks of the re-run:")
            for line in slowest_tasks(rerun):
                print("  " + " ".join(line.split()))
            counted = {
                **env,
                # The bench's callback beside the project's (mongodb_preload, as ansible.cfg has it).
                "ANSIBLE_CALLBACK_PLUGINS": f"{BENCH_CALLBACKS}:{PROJECT / 'callback_plugins'}",
                "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer,mongodb_preload,template_compiles",
                "BENCH_TEMPLATE_LOG": str(Path(root) / "template-compiles.jsonl"),
            }
            counted_run = measure("re-run, compiles counted", counted)
            for line in counted_run.splitlines():
                if line.startswith("TEMPLATE"):
                    print("  " + line)
        finally:
            run_playbook("playbooks/sandbox-stop.yml", *EXTRA_ARGS, env=env)


if __name__ == "__main__":
    main()
