"""The CPU time of each test, and the ten costliest at the end of the run.

On a shared 2-core machine a test's wall time depends on what runs beside it; its CPU
time (the test process's own, plus that of every child it waited for: ansible-playbook,
its workers and module runs, reaped stand-in servers) varies much less, so a test that
became costlier shows here even when the machine was slow. Works under pytest-xdist:
each worker adds the figure to its reports, which reach the controller.

The report ends with how busy the machine's cores were while the tests ran, counting
every process on the machine (/proc/stat): near 100% means the run is bound by CPU and
more pytest-xdist workers would not make it faster; much less means the tests wait, and
more workers could fill the idle cores.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest

KEY = "cpu_seconds"


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_started = pytest.StashKey[float]()
_machine_at_start = pytest.StashKey[tuple[float, float, float]]()


def _machine_busy_and_total() -> tuple[float, float] | None:
    """Seconds of all cores busy and in total since boot (the first line of /proc/stat:
    user nice system idle iowait irq softirq steal, in clock ticks; idle and iowait count
    as idle, steal as busy); None without it."""
    try:
        ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    per_second = os.sysconf("SC_CLK_TCK")
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / per_second, sum(ticks) / per_second


def pytest_sessionstart(session):
    machine = _machine_busy_and_total()
    if machine is not None:
        session.config.stash[_machine_at_start] = (*machine, time.monotonic())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    item.stash[_started] = _cpu_seconds()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "teardown":
        report.user_properties.append((KEY, _cpu_seconds() - item.stash[_started]))
    return report


def pytest_terminal_summary(terminalreporter):
    _report_tests(terminalreporter)
    _report_machine(terminalreporter)


def _report_machine(terminalreporter) -> None:
    start = terminalreporter.config.stash.get(_machine_at_start, None)
    now = _machine_busy_and_total()
    if start is None or now is None or now[1] <= start[1]:
        return
    busy, total = now[0] - start[0], now[1] - start[1]
    terminalreporter.write_sep(
        "-",
        f"machine: {100 * busy / total:.0f}% of {os.cpu_count()} cores busy over"
        f" {time.monotonic() - start[2]:.0f} s ({busy:.0f} s of CPU, every process on the machine)",
    )


def _report_tests(terminalreporter) -> None:
    spent = {
        report.nodeid: seconds
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "teardown"
        for key, seconds in getattr(report, "user_properties", [])
        if key == KEY
    }
    if not spent:
        return
    terminalreporter.write_sep("=", f"CPU time: {sum(spent.values()):.0f} s in {len(spent)} tests; the ten costliest")
    for nodeid, seconds in sorted(spent.items(), key=lambda pair: -pair[1])[:10]:
        terminalreporter.write_line(f"{seconds:8.1f}s {nodeid}")
    by_file: dict[str, float] = {}
    for nodeid, seconds in spent.items():
        path = nodeid.split("::")[0]
        by_file[path] = by_file.get(path, 0.0) + seconds
    terminalreporter.write_sep("-", "CPU time by file, the ten costliest")
    for path, seconds in sorted(by_file.items(), key=lambda pair: -pair[1])[:10]:
        terminalreporter.write_line(f"{seconds:8.1f}s {path}")
