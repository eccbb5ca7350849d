"""The sharded TLS sandbox that test_site_sandbox.py and test_site_sandbox_faults.py share."""

from __future__ import annotations

import pytest
from support.sandbox import converge


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """A provisioned sandbox (first run at -vvv, output kept), converged once for both files
    and stopped at the end of the session.

    `make integration` gives both files to one pytest-xdist worker (--dist loadfile, with
    the scheduler of tests/conftest.py), in that order: the read-mostly tests first, then the faults, which
    move primaries, rotate the certificates and restart every process. A second sandbox
    for the faults cost a whole converge of eight processes, about a twentieth of the
    suite's CPU time.
    """
    # A space in every path the roles write (configurations, pid files, TLS, the backup job).
    yield from converge(tmp_path_factory, "shared sandbox", "-vvv")
