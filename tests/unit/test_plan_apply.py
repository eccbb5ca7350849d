"""The one way every module turns a plan into its result (module_utils/mongodb_plan.py)."""

from __future__ import annotations

import pytest
from ansible.module_utils.mongodb_plan import DeclarationError, Operation, Plan, apply_plan
from mongodb_users_plan import validate as validate_users


class Stopped(Exception):
    """fail_json was called."""


class FakeModule:
    def __init__(self, check_mode: bool = False, diff: bool = False):
        self.check_mode = check_mode
        self._diff = diff
        self.warnings: list[str] = []
        self.failure: dict | None = None

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def fail_json(self, **result) -> None:
        self.failure = result
        raise Stopped


class Refused(Exception):
    """The server refused a command."""


def two_writes() -> Plan:
    return Plan(
        operations=[
            Operation(
                "admin", {"createUser": "a", "pwd": "secret-password-1", "roles": []}, "user a@admin: create", "a@admin"
            ),
            Operation(
                "admin", {"createUser": "b", "pwd": "secret-password-2", "roles": []}, "user b@admin: create", "b@admin"
            ),
        ],
        before={"users": []},
        after={"users": ["a", "b"]},
    )


def test_check_mode_reports_the_plan_and_sends_nothing():
    sent = []
    result = apply_plan(FakeModule(check_mode=True, diff=True), two_writes(), sent.append, "users", errors=(Refused,))
    assert sent == []
    assert result["changed"] is True
    assert [op["kind"] for op in result["operations"]] == ["createUser", "createUser"]
    assert result["diff"] == {"before": {"users": []}, "after": {"users": ["a", "b"]}}


def test_apply_sends_every_operation_in_order_and_reports_what_was_sent():
    sent = []
    result = apply_plan(
        FakeModule(), two_writes(), lambda op: sent.append(op.command["createUser"]), "users", errors=(Refused,)
    )
    assert sent == ["a", "b"] and result["changed"] is True and len(result["operations"]) == 2
    assert "diff" not in result


def test_nothing_to_do_is_no_change():
    result = apply_plan(FakeModule(), Plan(), pytest.fail, "users", errors=(Refused,))
    assert result == {"changed": False, "operations": []}


def test_a_refused_plan_fails_with_no_change_and_sends_nothing():
    plan = two_writes()
    plan.refusals.append("index x cannot change in place")
    module = FakeModule()
    with pytest.raises(Stopped):
        apply_plan(module, plan, pytest.fail, "database monitoring", errors=(Refused,))
    assert module.failure["changed"] is False and module.failure["operations"] == []
    assert module.failure["msg"] == "database monitoring: refused, nothing was sent: index x cannot change in place"


def test_a_failure_midway_names_the_operation_and_reports_what_was_sent_before_it():
    def send(operation):
        if operation.target == "b@admin":
            raise Refused("not primary")

    module = FakeModule()
    with pytest.raises(Stopped):
        apply_plan(module, two_writes(), send, "users", errors=(Refused,))
    assert module.failure["msg"] == "user b@admin: create: not primary"
    assert module.failure["changed"] is True
    assert [op["target"] for op in module.failure["operations"]] == ["a@admin"]


def test_a_failed_wait_after_a_sent_operation_counts_it_as_sent():
    def settle(operation):
        raise Refused("no primary after 120s")

    module = FakeModule()
    with pytest.raises(Stopped):
        apply_plan(module, two_writes(), lambda op: None, "users", errors=(Refused,), settle=settle)
    assert module.failure["changed"] is True and len(module.failure["operations"]) == 1


def test_the_command_actually_sent_is_reported():
    plan = Plan(operations=[Operation("admin", {"replSetReconfig": {"version": 2}}, "replica set rs: add c:1", "rs")])
    result = apply_plan(FakeModule(), plan, lambda op: {"replSetReconfig": {"version": 5}}, "rs", errors=(Refused,))
    assert result["operations"][0]["command"] == {"replSetReconfig": {"version": 5}}


def test_passwords_never_reach_a_result_in_any_mode():
    for module in (FakeModule(check_mode=True, diff=True), FakeModule(diff=True)):
        result = apply_plan(module, two_writes(), lambda op: None, "users", errors=(Refused,))
        assert "secret-password" not in str(result)
        assert result["operations"][0]["command"]["pwd"] == "********"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (["readWrite"], None),
        ([{"role": "clusterMonitor", "db": "admin"}], None),
        (["readwrite"], "readwrite@admin is not a MongoDB built-in role"),
        (
            [{"role": "monitoringReader", "db": "monitoring"}],
            "monitoringReader@monitoring is not a MongoDB built-in role",
        ),
        ([{"role": "clusterMonitor", "db": "monitoring"}], "clusterMonitor exists on the admin database only"),
    ],
)
def test_roles_are_checked_against_the_built_in_roles(roles, expected):
    declared = [{"name": "u", "password": "p" * 16, "roles": roles}]
    if expected is None:
        validate_users(declared)
    else:
        with pytest.raises(DeclarationError, match=expected):
            validate_users(declared)
