"""Test runs only: reuse the bytecode of the Python that each Ansible module run compiles.

ansible-core ships each module run its module and the module_utils it needs in a zip,
and Python imports from a zip without keeping bytecode (zipimport), so every module run
compiles ansible-core's module_utils again: about 0.17 s of CPU per run here, thousands
of runs per test suite. The tests put this directory on PYTHONPATH
(tests/support/module_bytecode.py), so every Python they start imports this file first;
it keeps each compiled source under MONGODB_TEST_MODULE_BYTECODE, by the hash of the
source and the interpreter's bytecode tag, and gives a later run the same code with
its own file name. What runs is the same code Python would have compiled; only the
compiling is skipped. The roles, modules and playbooks do not know about it, and
tests/bench/bench_site.py runs without it, as operators do.
"""

import os
import sys
import types
import zipimport

_DIRECTORY = os.environ.get("MONGODB_TEST_MODULE_BYTECODE", "")
_compile_source = zipimport._compile_source


def _with_file_name(code: types.CodeType, file_name: str) -> types.CodeType:
    """code and the code objects nested in it, naming file_name (tracebacks show it)."""
    constants = tuple(
        _with_file_name(constant, file_name) if isinstance(constant, types.CodeType) else constant
        for constant in code.co_consts
    )
    return code.replace(co_filename=file_name, co_consts=constants)


def _compile_source_once(pathname, source):
    # Imported here, not at start-up: every Python the tests start imports this file.
    import hashlib
    import marshal

    key = hashlib.sha256(sys.implementation.cache_tag.encode() + b"\0" + source).hexdigest()
    path = os.path.join(_DIRECTORY, key)
    try:
        with open(path, "rb") as kept:
            return _with_file_name(marshal.loads(kept.read()), pathname)
    except (OSError, EOFError, ValueError, TypeError):
        pass
    code = _compile_source(pathname, source)
    try:
        partial = f"{path}.{os.getpid()}"
        with open(partial, "wb") as kept:
            kept.write(marshal.dumps(code))
        os.replace(partial, path)
    except OSError:
        pass
    return code


if _DIRECTORY and os.path.isdir(_DIRECTORY):
    zipimport._compile_source = _compile_source_once
