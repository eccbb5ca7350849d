"""Database users as declared vs as they are: pure planning, tested without a server.

A user's password cannot be read back; the module proves it by authenticating as the
user, and passes the answer in as ``password_ok``. Roles compare as sets of
(role, db). https://www.mongodb.com/docs/manual/reference/command/createUser/,
.../updateUser/, .../usersInfo/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

USER_OPTIONS = {"name", "database", "password", "roles"}


class UsersError(ValueError):
    """A declared user breaks a rule; the message names the user."""


@dataclass
class UserOperation:
    kind: str  # createUser or updateUser
    user: str
    database: str
    command: dict[str, Any]
    summary: str

    def redacted(self) -> dict:
        """The operation without its password, for results and logs."""
        command = {k: ("********" if k == "pwd" else v) for k, v in self.command.items()}
        return {
            "kind": self.kind,
            "user": self.user,
            "database": self.database,
            "summary": self.summary,
            "command": command,
        }


@dataclass
class UsersPlan:
    operations: list[UserOperation] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


def normalise_roles(raw: Any, database: str, where: str) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise UsersError(f"{where}: roles must be a list")
    roles = []
    for role in raw:
        if isinstance(role, str) and role:
            roles.append({"role": role, "db": database})
        elif isinstance(role, dict) and set(role) == {"role", "db"}:
            roles.append({"role": role["role"], "db": role["db"]})
        else:
            raise UsersError(f"{where}: each role is a name or {{role, db}}, got {role!r}")
    return roles


def validate(declared: list[dict]) -> list[dict]:
    users = []
    seen = set()
    for raw in declared:
        unknown = sorted(set(raw) - USER_OPTIONS)
        name = raw.get("name")
        database = raw.get("database") or "admin"
        where = f"user {name}@{database}"
        if unknown:
            raise UsersError(f"{where}: unknown option {unknown[0]}")
        if not isinstance(name, str) or not name:
            raise UsersError("every user needs a name")
        if not isinstance(raw.get("password"), str) or not raw["password"]:
            raise UsersError(f"{where}: password is missing (supply it from Ansible Vault)")
        if (name, database) in seen:
            raise UsersError(f"{where}: declared twice")
        seen.add((name, database))
        users.append(
            {
                "name": name,
                "database": database,
                "password": raw["password"],
                "roles": normalise_roles(raw.get("roles"), database, where),
            }
        )
    return users


def _role_set(roles: list[dict]) -> set[tuple[str, str]]:
    return {(role["role"], role["db"]) for role in roles}


def plan_users(declared: list[dict], existing: dict[tuple[str, str], dict], password_ok: dict) -> UsersPlan:
    """existing: usersInfo entries by (name, db); password_ok: (name, db) -> bool."""
    plan = UsersPlan()
    for user in declared:
        key = (user["name"], user["database"])
        label = f"{user['name']}@{user['database']}"
        current = existing.get(key)
        wanted_roles = sorted(_role_set(user["roles"]))
        plan.after[label] = {"roles": [f"{r}@{d}" for r, d in wanted_roles]}
        if current is None:
            plan.operations.append(
                UserOperation(
                    "createUser",
                    user["name"],
                    user["database"],
                    {"createUser": user["name"], "pwd": user["password"], "roles": user["roles"]},
                    f"user {label}: create with roles {', '.join(f'{r}@{d}' for r, d in wanted_roles) or 'none'}",
                )
            )
            continue
        current_roles = sorted(_role_set(current.get("roles", [])))
        plan.before[label] = {"roles": [f"{r}@{d}" for r, d in current_roles]}
        command: dict[str, Any] = {"updateUser": user["name"]}
        changes = []
        if current_roles != wanted_roles:
            command["roles"] = user["roles"]
            changes.append("roles")
        if not password_ok.get(key, False):
            command["pwd"] = user["password"]
            changes.append("password")
            plan.before[label]["password"] = "differs"
            plan.after[label]["password"] = "as declared"
        if changes:
            plan.operations.append(
                UserOperation(
                    "updateUser",
                    user["name"],
                    user["database"],
                    command,
                    f"user {label}: update {' and '.join(changes)}",
                )
            )
    return plan
