"""What is on a host for one mongod or mongos: its paths as declared, and its process.

Pure functions over what the module read (stat results, file contents), so the rules
are tested without a host.
"""

from __future__ import annotations

import stat as stat_module
from collections.abc import Mapping


def names_this_process(cmdline: bytes, argv: list[str]) -> bool:
    """Whether /proc/<pid>/cmdline is this process: it starts with argv, the binary
    compared by name only (mongod or mongos), so that the process an upgrade is about to
    replace still counts when the new binaries live in another directory (an archive
    install per version); its configuration file is what makes it this instance.

    A real mongod separates its arguments with NUL bytes, so a configuration path with a
    space in it stays one argument. A process that rewrote its title (setproctitle) has
    one string, its arguments separated by spaces: it is compared word by word.
    """
    text = cmdline.decode("utf-8", "replace").rstrip("\0")
    arguments = text.split("\0")
    if len(arguments) > 1:
        found, expected = arguments, list(argv)
    else:
        found, expected = text.split(), " ".join(argv).split()
    if not expected or len(found) < len(expected):
        return False
    same_binary = found[0].rsplit("/", 1)[-1] == expected[0].rsplit("/", 1)[-1]
    return same_binary and found[1 : len(expected)] == expected[1:]


def has_exited(stat_text: str | None, cmdline: bytes, argv: list[str]) -> bool:
    """Whether the process once at this pid has exited, from /proc/<pid>/stat (None when
    that pid is gone) and /proc/<pid>/cmdline.

    A zombie (state Z, or X while it is removed) has exited: it holds no memory, file or
    socket, only an exit status its parent has not collected yet, and a forked mongod's
    parent is init, which may be slow to collect it (or, in a container, never does). A
    live process that is not this one (the pid reused) counts as exited too; an empty
    command line of a live process (a kernel thread, or this one tearing down its memory
    before its files) does not, so the wait goes on until its state says so.
    """
    if stat_text is None:
        return True
    # The command name, in parentheses, may hold spaces and parentheses: the state is the
    # first field after the last ")" (proc_pid_stat(5)).
    state = stat_text.rpartition(")")[2].split()[:1]
    if state in (["Z"], ["X"], ["x"]):
        return True
    return bool(cmdline.strip(b"\0")) and not names_this_process(cmdline, argv)


def pid_in(text: str) -> int | None:
    """The pid a pid file holds, or None when it holds no positive number."""
    value = text.strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def observed(status, owner: str | None, group: str | None) -> dict:
    """What stat says of one path; `status` None when the path does not exist."""
    if status is None:
        return {"exists": False}
    kind = (
        "directory"
        if stat_module.S_ISDIR(status.st_mode)
        else "file"
        if stat_module.S_ISREG(status.st_mode)
        else "other"
    )
    return {
        "exists": True,
        "type": kind,
        "mode": f"{stat_module.S_IMODE(status.st_mode):04o}",
        "owner": owner,
        "group": group,
    }


def as_declared(declared: Mapping, found: Mapping) -> bool:
    """Whether the path is as declared: each attribute given matches what was found
    (`same_content` is there when the declaration gives a SHA-1)."""
    if not found.get("exists"):
        return False
    if declared.get("type") and found["type"] != declared["type"]:
        return False
    if declared.get("mode") and found["mode"] != f"{int(str(declared['mode']), 8):04o}":
        return False
    if declared.get("owner") and found["owner"] != declared["owner"]:
        return False
    if declared.get("group") and found["group"] != declared["group"]:
        return False
    return found.get("same_content", True)
