"""pytest plugin: the Pythons the tests start keep the bytecode of Ansible's module runs.

Puts python_startup/ (its sitecustomize.py says how and why) first on PYTHONPATH for
every process the tests start, with the bytecode kept under .cache/module-bytecode.
Set in pytest_configure, before pytest-xdist starts its workers, so they and everything
they run inherit it.
"""

from __future__ import annotations

import os
from pathlib import Path

STARTUP = Path(__file__).resolve().parent / "python_startup"
KEPT = Path(__file__).resolve().parents[2] / ".cache" / "module-bytecode"


def pytest_configure(config):
    kept = Path(os.environ.setdefault("MONGODB_TEST_MODULE_BYTECODE", str(KEPT)))
    try:
        kept.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only checkout: the module runs compile, as without the cache
        return
    paths = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    if str(STARTUP) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(STARTUP), *paths])
