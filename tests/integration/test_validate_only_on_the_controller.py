"""validate_only runs on the controller (action_plugins/mongodb_declaring_module.py), with
the module's own argument spec, checks and words: the same result as the module gives on
a host, without shipping and starting it there (issue 14)."""

from __future__ import annotations

import pytest
from support.ansible import run_module

# One declaration each module refuses, by its own rules or by its argument spec.
REFUSED = [
    ("mongodb_replset", {"set_name": "rs", "members": [{"host": "a:1", "hidden": True, "priority": 1}]}),
    ("mongodb_sharding", {"shards": [], "chunk_size_mb": 0}),
    ("mongodb_users", {"users": [{"name": "x", "password": "x_password_var", "roles": ["readAnything"]}]}),
    (
        "mongodb_collections",
        {
            "database": "monitoring",
            "collections": [
                {
                    "name": "m",
                    "timeseries": {"time_field": "t", "granularity": "minutes", "bucket_max_span_seconds": 60},
                }
            ],
        },
    ),
    ("mongodb_replset", {"set_name": "rs", "members": [], "no_such_option": 1}),
]


def _outcome(result: dict) -> tuple:
    return result.get("failed", False), result.get("msg"), result.get("changed"), result.get("operations")


@pytest.mark.parametrize(("module", "args"), REFUSED, ids=lambda value: value if isinstance(value, str) else "")
def test_a_refusal_reads_the_same_on_the_controller_as_on_the_host(tmp_path, module, args):
    declared = {**args, "validate_only": True}
    on_the_controller = run_module(module, declared, "-vvv")
    # With an empty directory of action plugins the module runs on the host, as before.
    on_the_host = run_module(module, declared, env={"ANSIBLE_ACTION_PLUGINS": str(tmp_path)})
    assert on_the_controller["failed"] is True, on_the_controller["_output"][-2000:]
    assert _outcome(on_the_controller) == _outcome(on_the_host)
    assert f"AnsiballZ_{module}" not in on_the_controller["_output"], "the module was started on the host"


def test_an_accepted_declaration_changes_nothing_and_starts_no_module():
    members = [{"host": f"h{number}:27017"} for number in range(3)]
    result = run_module("mongodb_replset", {"validate_only": True, "set_name": "rs", "members": members}, "-vvv")
    assert not result.get("failed"), result["_output"][-2000:]
    assert (result["changed"], result["operations"]) == (False, [])
    assert "AnsiballZ_mongodb_replset" not in result["_output"]
