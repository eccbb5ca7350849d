"""One plan shape and one way to apply it, shared by every module of this project.

A planner (pure, unit-tested without a server) compares a declaration with what the
server reports and returns a ``Plan``: the commands to send in order, refusals (changes
MongoDB does not allow, or rules broken in the light of the server's state), warnings,
and before/after views for diff mode. ``apply_plan`` turns a plan into the module's
result the same way in every module:

- a refused plan fails with every refusal, ``changed: false`` and nothing sent;
- in check mode ``operations`` lists what would be sent and ``changed`` says whether
  anything would be;
- otherwise each operation is sent in order, ``operations`` lists what was sent and
  ``changed`` is true only when a write was sent; an error stops the run, naming the
  operation, with what had been sent before it;
- in diff mode ``diff`` holds the before/after views.
A password in a command never reaches a result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REDACTED = "********"
NOT_STARTED_WARNING = (
    "check mode: the server is not running yet (an earlier task would start it), so this is planned "
    "against an empty deployment, as on a first run"
)
SECRET_FIELDS = ("pwd",)


def plan_argument_spec() -> dict[str, Any]:
    """The options every declaring module shares (doc fragment mongodb_plan)."""
    return {
        "validate_only": {"type": "bool", "default": False},
        "server_not_started": {"type": "bool", "default": False},
    }


def planned_against_nothing(module) -> bool:
    """Check mode on a server an earlier task of this run would have started: plan
    against an empty deployment without connecting (server_not_started)."""
    return bool(module.check_mode and module.params["server_not_started"])


class DeclarationError(ValueError):
    """The declaration breaks a rule; the message names the item and the rule."""


@dataclass
class Operation:
    """One command to send, where, and a line an operator can read."""

    db: str
    command: dict[str, Any]
    summary: str
    target: str = ""  # the collection, user, namespace or shard it acts on

    @property
    def kind(self) -> str:
        return next(iter(self.command))

    def as_result(self, command: dict[str, Any] | None = None) -> dict[str, Any]:
        sent = self.command if command is None else command
        shown = {key: (REDACTED if key in SECRET_FIELDS else value) for key, value in sent.items()}
        return {"kind": self.kind, "db": self.db, "target": self.target, "summary": self.summary, "command": shown}


@dataclass
class Plan:
    operations: list[Operation] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


def apply_plan(
    module,
    plan: Plan,
    send: Callable[[Operation], dict[str, Any] | None],
    what: str,
    errors: tuple[type[BaseException], ...],
    settle: Callable[[Operation], None] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The module result for plan: refused, previewed (check mode) or applied.

    send(operation) sends one command and may return the command it actually sent when
    that differs from the planned one (a replica set config takes the version it finds).
    settle(operation), when given, waits for the server to act on a sent operation
    before the next one; its failure stops the run with that operation counted as sent.
    errors are the exceptions that stop the run with a failure naming the operation.
    """
    for warning in plan.warnings:
        module.warn(warning)
    result: dict[str, Any] = {
        **extra,
        "changed": bool(plan.operations),
        "operations": [operation.as_result() for operation in plan.operations],
    }
    if module._diff:
        result["diff"] = {"before": plan.before, "after": plan.after}
    if plan.refusals:
        module.fail_json(
            msg=f"{what}: refused, nothing was sent: {'; '.join(plan.refusals)}",
            refusals=plan.refusals,
            **{**result, "changed": False, "operations": []},
        )
    if module.check_mode or not plan.operations:
        return result
    sent: list[dict[str, Any]] = []
    for operation in plan.operations:
        try:
            sent.append(operation.as_result(send(operation)))
            if settle is not None:
                settle(operation)
        except errors as error:
            module.fail_json(
                msg=f"{operation.summary}: {error}",
                **{**extra, "changed": bool(sent), "operations": sent},
                failed_operation=operation.as_result(),
            )
    result["operations"] = sent
    return result


def fail_before_sending(module, message: str, **extra: Any) -> None:
    """Stop with nothing sent (a refused declaration, a server that cannot be read)."""
    module.fail_json(msg=message, **{**extra, "changed": False, "operations": []})


# A declaring module's `declaration(params)` reads its declaration by the module's rules
# and returns (what it read, warnings), or raises DeclarationError; its REFUSED is the
# start of the message a refusal gets. Both run the same way on the host and, for
# validate_only, on the controller (action_plugins/).
Declaration = Callable[[dict], "tuple[Any, list[str]]"]


def checked_declaration(module, declaration: Declaration, refused: str) -> Any:
    """The module's declaration, or a stop with nothing sent when it is refused."""
    try:
        declared, warnings = declaration(module.params)
    except DeclarationError as error:
        fail_before_sending(module, f"{refused}: {error}")
    for warning in warnings:
        module.warn(warning)
    return declared


def validation_result(declaration: Declaration, refused: str, params: dict) -> dict[str, Any]:
    """What validate_only returns: the declaration's checks only, nothing connected or sent."""
    try:
        _, warnings = declaration(params)
    except DeclarationError as error:
        return {"failed": True, "msg": f"{refused}: {error}", "changed": False, "operations": []}
    return {"changed": False, "operations": [], "warnings": warnings}
