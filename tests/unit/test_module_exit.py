"""How the project's pymongo modules end (module_utils/mongodb_connection.py,
run_and_exit_at_once): the result they printed reaches Ansible whole, with the exit code
exit_json or fail_json gave, and the process ends there, without the wait pymongo's exit
handler makes for its monitor threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]

# A module's main() in miniature: a client whose monitor threads are running (the port is
# closed, so they keep trying), a result printed, then SystemExit as AnsibleModule raises it.
PROGRAM = textwrap.dedent(
    """
    import atexit, json, sys
    import ansible.module_utils
    ansible.module_utils.__path__.append({module_utils!r})
    import pymongo
    from ansible.module_utils.mongodb_connection import run_and_exit_at_once

    def main():
        client = pymongo.MongoClient("127.0.0.1", 9, serverSelectionTimeoutMS=100)
        atexit.register(lambda: print("an exit handler ran"))
        print(json.dumps({{"changed": False, "items": list(range(20000))}}))
        sys.exit({code!r})

    run_and_exit_at_once(main)
    """
)


@pytest.mark.parametrize(("code", "returncode"), [(0, 0), (1, 1), (None, 0), ("a message", 1)])
def test_a_module_ends_once_its_result_is_written_with_its_exit_code(code, returncode):
    program = PROGRAM.format(module_utils=str(PROJECT / "module_utils"), code=code)
    finished = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert finished.returncode == returncode, finished.stderr
    assert finished.stdout.endswith("19999]}\n"), finished.stdout[-200:]  # the whole result, flushed
    assert "an exit handler ran" not in finished.stdout  # ended at once: pymongo's handler did not run either
