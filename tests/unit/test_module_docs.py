"""Every module's documentation renders with ansible-doc and matches its argument spec."""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
MODULES = sorted(path.stem for path in (PROJECT / "library").glob("*.py"))


@functools.cache
def _all_rendered() -> dict:
    """ansible-doc's JSON of every module, from one ansible-doc run (each run starts
    ansible-core again: about 0.6 s of CPU)."""
    finished = subprocess.run(
        [str(PROJECT / ".venv/bin/ansible-doc"), "--json", *MODULES],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
        env={"ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"), "PATH": str(PROJECT / ".venv/bin")},
    )
    assert finished.returncode == 0, finished.stderr  # names the module whose documentation broke
    return json.loads(finished.stdout)


def _rendered(module: str) -> dict:
    return _all_rendered()[module]


def _argument_spec(module: str) -> dict:
    spec = importlib.util.spec_from_file_location(module, PROJECT / "library" / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded.argument_spec()


@pytest.mark.parametrize("module", MODULES)
def test_documentation_matches_the_argument_spec(module):
    rendered = _rendered(module)
    documented = rendered["doc"]["options"]
    spec = _argument_spec(module)
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc.get("type", "str") == option.get("type", "str"), name
        assert doc.get("required", False) == option.get("required", False), name
        assert doc.get("default") == option.get("default"), name
        if option.get("elements"):
            assert doc.get("elements") == option["elements"], name
    assert rendered["examples"].strip()
    assert rendered["return"] is not None


@pytest.mark.parametrize("module", MODULES)
def test_passwords_are_never_logged(module):
    spec = _argument_spec(module)
    for name, option in spec.items():
        if "password" in name:
            assert option.get("no_log") is True, name


@pytest.mark.parametrize("module", MODULES)
def test_every_module_documents_the_shared_result_keys(module):
    returned = _rendered(module)["return"]
    assert returned["operations"]["returned"] == "always"
    assert returned["operations"]["type"] == "list"
    if "validate_only" in _argument_spec(module):
        # The declaring modules: the same operations entry word for word, and diff.
        assert returned["diff"]["returned"] == "in diff mode"
        shared = _rendered("mongodb_collections")["return"]["operations"]["description"]
        assert returned["operations"]["description"][: len(shared)] == shared
