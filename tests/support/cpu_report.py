"""The CPU time of each test, and the ten costliest at the end of the run.

On a shared 2-core machine a test's wall time depends on what runs beside it; its CPU
time (the test process's own, plus that of every child it waited for: ansible-playbook,
its workers and module runs, reaped stand-in servers) varies much less, so a test that
became costlier shows here even when the machine was slow. Works under pytest-xdist:
each worker adds the figure to its reports, which reach the controller.
"""

from __future__ import annotations

import resource

import pytest

KEY = "cpu_seconds"


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_started = pytest.StashKey[float]()


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
