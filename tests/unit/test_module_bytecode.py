"""The test-only bytecode cache of module runs (tests/support/python_startup): a module
imported from a zip runs as compiled from its own source, with its own file name, and a
changed source is compiled again, never served stale."""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from support.module_bytecode import STARTUP

SHOW = """
import json, sys, traceback
sys.path.insert(0, sys.argv[1])
import payload
try:
    payload.fail()
except ValueError:
    where = traceback.extract_tb(sys.exc_info()[2])[-1].filename
print(json.dumps({"answer": payload.ANSWER, "file": payload.fail.__code__.co_filename, "raised_in": where}))
"""


def _import_from_zip(zip_path: Path, source: str, kept: Path) -> dict:
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("payload.py", source)
    environment = {**os.environ, "PYTHONPATH": str(STARTUP), "MONGODB_TEST_MODULE_BYTECODE": str(kept)}
    finished = subprocess.run(
        [sys.executable, "-c", SHOW, str(zip_path)], env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(finished.stdout)


def test_a_second_import_reuses_the_bytecode_under_its_own_file_name(tmp_path):
    kept = tmp_path / "kept"
    kept.mkdir()
    source = "ANSWER = 6 * 7\n\nclass Payload:\n    def fail(self):\n        raise ValueError('here')\n\n"
    source += "def fail():\n    Payload().fail()\n"
    first = _import_from_zip(tmp_path / "first.zip", source, kept)
    assert first["answer"] == 42
    [entry] = list(kept.iterdir())
    # What was kept is what the next import runs: a kept answer of 7 comes back as 7.
    entry.write_bytes(marshal.dumps(compile(source.replace("6 * 7", "7"), "elsewhere.py", "exec")))
    second = _import_from_zip(tmp_path / "second.zip", source, kept)
    assert second["answer"] == 7, "the second import compiled again instead of reusing the kept code"
    assert list(kept.iterdir()) == [entry]
    # Every code object names the zip it was imported from this time, nested ones too.
    assert second["file"] == second["raised_in"] == str(tmp_path / "second.zip" / "payload.py")


def test_a_changed_source_is_compiled_again(tmp_path):
    kept = tmp_path / "kept"
    kept.mkdir()
    template = "ANSWER = {}\n\ndef fail():\n    raise ValueError('here')\n"
    assert _import_from_zip(tmp_path / "one.zip", template.format(1), kept)["answer"] == 1
    assert _import_from_zip(tmp_path / "two.zip", template.format(2), kept)["answer"] == 2
    assert len(list(kept.iterdir())) == 2
