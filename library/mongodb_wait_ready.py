#!/usr/bin/python
"""Wait until a mongod or mongos answers ping."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mongodb_wait_ready
short_description: Wait until a mongod or mongos answers ping
description:
  - Connects to one MongoDB process and runs C(ping) until it answers or the timeout
    passes. C(ping) needs no authentication, so this works before any user exists.
  - Read-only; runs the same in check mode.
  - Written for this project because C(ansible.builtin.wait_for) only proves that a
    port is open, not that the server answers commands.
options:
  timeout:
    description: Seconds to wait.
    type: int
    default: 120
extends_documentation_fragment:
  - mongodb_connection
author: monitoring-store maintainers
"""

EXAMPLES = r"""
- name: Wait until the local mongod answers
  mongodb_wait_ready:
    login_port: 27017
    timeout: 60
"""

RETURN = r"""
operations:
  description:
    - Commands sent that change something, always empty since this module only reads (C(ping)).
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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.mongodb_connection import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    connection_argument_spec,
    run_and_exit_at_once,
    wait_for_ping,
)


def argument_spec() -> dict:
    return {**connection_argument_spec(), "timeout": {"type": "int", "default": 120}}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=str(PYMONGO_IMPORT_ERROR))
    started = time.monotonic()
    answered, error = wait_for_ping(module.params, module.params["timeout"])
    elapsed = round(time.monotonic() - started, 1)
    where = f"{module.params['login_host']}:{module.params['login_port']}"
    if not answered:
        module.fail_json(
            msg=f"{where} did not answer ping within {module.params['timeout']}s: {error}",
            elapsed=elapsed,
            changed=False,
            operations=[],
        )
    module.exit_json(changed=False, operations=[], elapsed=elapsed)


if __name__ == "__main__":
    run_and_exit_at_once(main)
