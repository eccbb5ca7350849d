"""Controller side of the project's declaring modules.

mongodb_collections.py, mongodb_replset.py, mongodb_sharding.py and mongodb_users.py in
this directory are links to this file, so it runs for each of those modules. With
``validate_only`` the module only reads its declaration by its rules, without a server:
that runs here, in the controller's worker, with the module's own argument spec
(``argument_spec()``), its own checks (``declaration()``) and its own refusal message
(``REFUSED``), instead of shipping and starting the module on a host (a module start-up
each, several of them in the first play of every site.yml run). Everything else runs the
module on the host, as without this plugin.
"""

from __future__ import annotations

import importlib.util
import sys

import ansible.module_utils
from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.plugins.action.normal import ActionModule as ModuleOnTheHost


def _load_module(name: str, path: str):
    """The module's Python file, imported here as the host imports it: its shared code as
    ansible.module_utils.<name> from the configured module_utils directories."""
    for directory in C.DEFAULT_MODULE_UTILS_PATH:
        if directory not in ansible.module_utils.__path__:
            ansible.module_utils.__path__.append(directory)
    key = f"_mongodb_controller_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        sys.modules[key] = loaded
    return sys.modules[key]


class ActionModule(ModuleOnTheHost):
    def run(self, tmp=None, task_vars=None):
        if not boolean(self._task.args.get("validate_only", False), strict=False):
            return super().run(tmp, task_vars)
        result = ActionBase.run(self, tmp, task_vars)  # the common checks, without running the module
        found = self._shared_loader_obj.module_loader.find_plugin_with_context(self._task.action)
        module = _load_module(found.plugin_resolved_name, found.plugin_resolved_path)
        validated = ArgumentSpecValidator(module.argument_spec()).validate(self._task.args)
        if validated.error_messages:
            # Worded as AnsibleModule words it on the host.
            message = validated.errors.msg
            if isinstance(validated.errors.errors[0], UnsupportedError):
                message = f"Unsupported parameters for ({found.plugin_resolved_name}) module: {message}"
            result.update(failed=True, msg=message)
            return result
        plan = sys.modules["ansible.module_utils.mongodb_plan"]
        result.update(plan.validation_result(module.declaration, module.REFUSED, validated.validated_parameters))
        return result
