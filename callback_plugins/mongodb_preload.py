"""Load the Jinja filter and test plugins, and pymongo, once in the controller, before it forks."""

from __future__ import annotations

DOCUMENTATION = r"""
name: mongodb_preload
type: aggregate
short_description: Load the Jinja filter and test plugins and pymongo once, before the workers fork
description:
  - The linear strategy forks a worker process for each host and task, and a worker
    imports each filter or test plugin file the first time one of its templates uses
    it, then exits with what it loaded. This callback loads them all in the controller
    when a playbook starts, so every worker it forks inherits them instead.
  - It imports pymongo too, where the controller has it. The project's declaring modules
    check their declarations (validate_only) in the controller's worker
    (action_plugins/mongodb_declaring_module.py), and each such worker would import
    pymongo again, about 0.1 s of CPU each, six times in the first play of site.yml.
  - Changes nothing a run does; it only saves time. Measured on the sandbox, a converged
    re-run of site.yml used 56-57 s of CPU with it against 60-66 s without
    (2026-12-07, README.md's performance section).
  - Ad hoc commands (one task, one worker) skip it.
requirements: []
"""

import contextlib

from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, test_loader


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "mongodb_preload"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        if context.CLIARGS.get("module_name"):  # ansible ad hoc: one task, nothing to share
            return
        for loader in (filter_loader, test_loader):
            for _plugin in loader.all():
                pass
        # A controller without pymongo can still check declarations: the modules import it
        # only to connect, and say so on the hosts.
        with contextlib.suppress(ImportError):
            import pymongo  # noqa: F401
