#!/usr/bin/python
"""Wait until a mongod or mongos process has exited."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mongodb_wait_exit
short_description: Wait until a mongod or mongos process has exited
description:
  - Waits, after its shutdown was asked for, until the process of O(pid) has exited, that
    is until its pid is gone, or it is a zombie (it has exited, and only its exit status
    waits for its parent to collect it), or the pid now belongs to another command line
    (reused). Checks ten times a second.
  - Does not run in check mode, where nothing was asked to stop.
  - Needs only Python's standard library, and Linux's C(/proc).
  - Written for this project because C(ansible.builtin.wait_for) on C(/proc/<pid>) checks
    once a second at the most, and counts a zombie as running. A forked mongod's parent is
    init, which may collect it late, or never in a container whose first process does not
    reap orphans; the wait then lasts until its timeout although the process released its
    port, files and lock when it exited.
options:
  pid:
    description: The pid the process ran with.
    type: int
    required: true
  command_line:
    description:
      - The arguments the process was started with, at least the binary and C(--config <file>),
        so that another process given the same pid is not waited for.
    type: list
    elements: str
    required: true
  timeout:
    description: Seconds to wait before failing.
    type: int
    default: 120
author: monitoring-store maintainers
"""

EXAMPLES = r"""
- name: Wait for the mongod to exit
  mongodb_wait_exit:
    pid: "{{ running_pid }}"
    command_line: [/usr/bin/mongod, --config, /etc/mongodb/shard01-a.conf]
    timeout: 120
"""

RETURN = r"""
operations:
  description:
    - Commands sent that change something, always empty since this module only reads.
      The key is there so every module of the project returns the same keys.
  returned: always
  type: list
  elements: dict
  sample: []
elapsed:
  description: Seconds waited.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.mongodb_instance import has_exited

POLL_SECONDS = 0.1


def argument_spec() -> dict:
    return {
        "pid": {"type": "int", "required": True},
        "command_line": {"type": "list", "elements": "str", "required": True},
        "timeout": {"type": "int", "default": 120},
    }


def _read(path: str, mode: str):
    try:
        with open(path, mode) as stream:
            return stream.read()
    except OSError:
        return None


def exited(pid: int, command_line: list[str]) -> bool:
    stat_text = _read(f"/proc/{pid}/stat", "r")
    cmdline = _read(f"/proc/{pid}/cmdline", "rb")
    # Gone between the two reads: the stat file tells.
    return has_exited(stat_text if cmdline is not None else None, cmdline or b"", command_line)


def wait_for_exit(pid: int, command_line: list[str], timeout: float) -> tuple[bool, float]:
    """(exited, seconds waited), checking every POLL_SECONDS until timeout."""
    started = time.monotonic()
    while not exited(pid, command_line):
        if time.monotonic() - started >= timeout:
            return False, time.monotonic() - started
        time.sleep(POLL_SECONDS)
    return True, time.monotonic() - started


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=False)
    pid, timeout = module.params["pid"], module.params["timeout"]
    done, elapsed = wait_for_exit(pid, module.params["command_line"], timeout)
    if not done:
        module.fail_json(
            msg=f"process {pid} ({' '.join(module.params['command_line'])}) is still running after {timeout}s",
            operations=[],
            elapsed=round(elapsed, 2),
        )
    module.exit_json(changed=False, operations=[], elapsed=round(elapsed, 2))


if __name__ == "__main__":
    main()
