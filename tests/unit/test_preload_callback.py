"""callback_plugins/mongodb_preload.py: the controller loads every filter and test plugin
before its workers fork (ansible.cfg enables it), and leaves ad hoc commands alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

# In a fresh interpreter, so that nothing this test session loaded counts.
PRELOAD = """
import importlib.util, json, sys
from ansible import context
from ansible.module_utils.common.collections import ImmutableDict
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
spec = importlib.util.spec_from_file_location("preload", "callback_plugins/mongodb_preload.py")
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)
context.CLIARGS = ImmutableDict(json.loads(sys.argv[1]))
plugin.CallbackModule().v2_playbook_on_start(None)
plugins = ("ansible.plugins.filter.", "ansible.plugins.test.")
print(json.dumps(sorted(name.rsplit("_", 1)[0] for name in sys.modules if name.startswith(plugins))))
"""


def _loaded_after_start(cli_args: dict) -> set[str]:
    finished = subprocess.run(
        [sys.executable, "-c", PRELOAD, json.dumps(cli_args)], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    return set(json.loads(finished.stdout))


def test_a_playbook_start_loads_the_builtin_and_project_plugins_and_an_ad_hoc_command_none():
    expected = {"ansible.plugins.filter.core", "ansible.plugins.test.core", "ansible.plugins.filter.mongodb_topology"}
    assert expected <= _loaded_after_start({})
    assert _loaded_after_start({"module_name": "mongodb_replset"}) == set()
    assert "mongodb_preload" in (PROJECT / "ansible.cfg").read_text()
