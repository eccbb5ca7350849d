"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
PROJECT_DIR = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))

from support import servers  # noqa: E402


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
