"""Test runs only: reuse the bytecode of the Python that each Ansible module run compiles.

ansible-core ships each module run its module and the module_utils it needs in a zip,
and Python imports from a zip without keeping bytecode (zipimport), so every module run
compiles ansible-core's module_utils again: about 0.12 s of CPU of a 0.35 s `stat` run
here. The tests put this directory on PYTHONPATH (tests/support/module_bytecode.py), so
every Python they start imports this file first; it keeps each compiled source under
MONGODB_TEST_MODULE_BYTECODE, by the hash of the source, the interpreter's bytecode
magic number and its optimisation level, and gives a later run the same code with its
own file name. What runs is the code Python would have compiled; only the compiling is
skipped. The roles, modules and playbooks do not know about it, and
tests/bench/bench_site.py runs without it, as operators do.

Patching zipimport when it is imported is what a sitecustomize is for: the exception to
the house rule of no module-level side effects.
"""

import os
import sys
import types
import zipimport

_DIRECTORY = os.environ.get("MONGODB_TEST_MODULE_BYTECODE", "")
_compile_source = getattr(zipimport, "_compile_source", None)


def _with_file_name(code: types.CodeType, file_name: str) -> types.CodeType:
    """code and the code objects nested in it, naming file_name (tracebacks show it)."""
    constants = tuple(
        _with_file_name(constant, file_name) if isinstance(constant, types.CodeType) else constant
        for constant in code.co_consts
    )
    return code.replace(co_filename=file_name, co_consts=constants)


def _kept_code(path: str) -> types.CodeType | None:
    import marshal

    try:
        with open(path, "rb") as kept:
            code = marshal.loads(kept.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _keep(path: str, code: types.CodeType) -> None:
    import contextlib
    import marshal
    import tempfile

    try:
        descriptor, partial = tempfile.mkstemp(dir=_DIRECTORY)
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "wb") as kept:
            kept.write(marshal.dumps(code))
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(partial)


def _compile_source_once(pathname, source):
    # Imported here, not at start-up: every Python the tests start imports this file.
    import hashlib
    import importlib.util

    version = importlib.util.MAGIC_NUMBER + str(sys.flags.optimize).encode()
    path = os.path.join(_DIRECTORY, hashlib.sha256(version + b"\0" + source).hexdigest())
    code = _kept_code(path)
    if code is not None:
        return _with_file_name(code, pathname)
    code = _compile_source(pathname, source)
    _keep(path, code)
    return code


if _DIRECTORY and _compile_source is not None and os.path.isdir(_DIRECTORY):
    zipimport._compile_source = _compile_source_once
