"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
PROJECT_DIR = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))

from support import servers  # noqa: E402

pytest_plugins = ["support.cpu_report", "support.module_bytecode"]

# The integration files that take longest, longest first. `make integration` hands whole
# files to pytest-xdist workers (--dist loadfile) in this order (--no-loadscope-reorder:
# otherwise pytest-xdist hands out the files with the most tests first).
LONGEST_FIRST = (
    "test_site_sandbox.py",
    "test_site_sandbox_faults.py",
    "test_site_refusals.py",
    "test_site_day2_replica_set.py",
    "test_site_x509_transition.py",
    "test_replset_module.py",
    "test_site_staging_layout.py",
    "test_health_module.py",
    "test_collections_module.py",
    "test_site_fresh_check.py",
    "test_server_catalog_rules.py",
    "test_service_process.py",
    "test_server_failover_rules.py",
)
# Files handed out with another, to the same worker, after it: the sandbox faults run on
# the sandbox test_site_sandbox.py converged (tests/integration/conftest.py).
RUNS_AFTER = {"tests/integration/test_site_sandbox_faults.py": "tests/integration/test_site_sandbox.py"}


def pytest_collection_modifyitems(items):
    """Order the files longest first; the tests of each file keep their order."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, with the files of RUNS_AFTER given to the worker of the file they
    follow. (pytest-xdist's own loadgroup does not group under pytest 9.2: it renames
    the tests through an attribute pytest no longer reads.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesThatShareASandbox(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return RUNS_AFTER.get(scope, scope)

    return FilesThatShareASandbox(config, log)


def pytest_report_header(config):
    if servers.using_standin():
        return "MongoDB server: the mongod stand-in (tests/standin), not a real MongoDB"
    return f"MongoDB server: real binaries from MONGODB_BIN_DIR={servers.bin_dir()}"


@pytest.fixture
def mongod_config(tmp_path):
    """A config for a forked mongod on a free port under tmp_path; tests may amend it."""
    return servers.base_config(tmp_path, servers.free_port())


@pytest.fixture
def start_mongod(tmp_path):
    """Start mongod processes from config dicts; every one is shut down after the test."""
    started: list[servers.MongoProcess] = []

    def start(config: dict, name: str = "mongod.conf", expect_ok: bool = True) -> servers.MongoProcess:
        process = servers.MongoProcess(servers.write_config(tmp_path / name, config), config)
        result = process.start()
        started.append(process)
        if expect_ok:
            assert result.returncode == 0, f"mongod failed to start:\n{result.stdout}\n{result.stderr}"
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def mongod(start_mongod, mongod_config):
    """One running standalone mongod."""
    return start_mongod(mongod_config)
