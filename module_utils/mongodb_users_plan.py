"""Database users as declared vs as they are: pure planning, tested without a server.

A user's password cannot be read back; the module proves it by authenticating as the
user, and passes the answer in as ``password_ok``. Roles compare as sets of
(role, db). https://www.mongodb.com/docs/manual/reference/command/createUser/,
.../updateUser/, .../usersInfo/.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.mongodb_plan import DeclarationError, Operation, Plan

USER_OPTIONS = {"name", "database", "password", "roles"}
# MongoDB 8.0's built-in roles (src/mongo/db/auth/builtin_roles.yml); those marked
# adminOnly there exist on the admin database only. This project manages no custom
# roles, so any other name would be refused by createUser with RoleNotFound (31).
BUILTIN_ROLES_ANY_DATABASE = {"read", "readWrite", "userAdmin", "dbAdmin", "dbOwner", "enableSharding"}
BUILTIN_ROLES_ADMIN_ONLY = {
    "readAnyDatabase",
    "readWriteAnyDatabase",
    "userAdminAnyDatabase",
    "dbAdminAnyDatabase",
    "clusterMonitor",
    "hostManager",
    "clusterManager",
    "clusterAdmin",
    "backup",
    "restore",
    "root",
    "directShardOperations",
}


def normalise_roles(raw: Any, database: str, where: str) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise DeclarationError(f"{where}: roles must be a list")
    roles = []
    for role in raw:
        if isinstance(role, str) and role:
            roles.append({"role": role, "db": database})
        elif isinstance(role, dict) and set(role) == {"role", "db"}:
            roles.append({"role": role["role"], "db": role["db"]})
        else:
            raise DeclarationError(f"{where}: each role is a name or {{role, db}}, got {role!r}")
        _check_builtin(roles[-1], where)
    return roles


def _check_builtin(role: dict, where: str) -> None:
    name, database = role["role"], role["db"]
    if name in BUILTIN_ROLES_ADMIN_ONLY and database != "admin":
        raise DeclarationError(f"{where}: role {name} exists on the admin database only, not on {database}")
    if name not in BUILTIN_ROLES_ADMIN_ONLY | BUILTIN_ROLES_ANY_DATABASE:
        raise DeclarationError(
            f"{where}: role {name}@{database} is not a MongoDB built-in role (this project creates no custom "
            f"roles); built-in roles: {', '.join(sorted(BUILTIN_ROLES_ANY_DATABASE | BUILTIN_ROLES_ADMIN_ONLY))}"
        )


def validate(declared: list[dict]) -> list[dict]:
    users = []
    seen = set()
    for raw in declared:
        unknown = sorted(set(raw) - USER_OPTIONS)
        name = raw.get("name")
        database = raw.get("database") or "admin"
        where = f"user {name}@{database}"
        if unknown:
            raise DeclarationError(f"{where}: unknown option {unknown[0]}")
        if not isinstance(name, str) or not name:
            raise DeclarationError("every user needs a name")
        if not isinstance(raw.get("password"), str) or not raw["password"]:
            raise DeclarationError(f"{where}: password is missing (supply it from Ansible Vault)")
        if (name, database) in seen:
            raise DeclarationError(f"{where}: declared twice")
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


def plan_users(declared: list[dict], existing: dict[tuple[str, str], dict], password_ok: dict) -> Plan:
    """existing: usersInfo entries by (name, db); password_ok: (name, db) -> bool."""
    plan = Plan()
    for user in declared:
        key = (user["name"], user["database"])
        label = f"{user['name']}@{user['database']}"
        current = existing.get(key)
        wanted_roles = sorted(_role_set(user["roles"]))
        plan.after[label] = {"roles": [f"{r}@{d}" for r, d in wanted_roles]}
        if current is None:
            plan.operations.append(
                Operation(
                    user["database"],
                    {"createUser": user["name"], "pwd": user["password"], "roles": user["roles"]},
                    f"user {label}: create with roles {', '.join(f'{r}@{d}' for r, d in wanted_roles) or 'none'}",
                    label,
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
                Operation(user["database"], command, f"user {label}: update {' and '.join(changes)}", label)
            )
    return plan
