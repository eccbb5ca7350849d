#!/usr/bin/python
"""Declare MongoDB users, their passwords and roles."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mongodb_users
short_description: Declare MongoDB users, their passwords and their roles
description:
  - Creates the declared users, and updates the roles or password of those that differ.
    Users not declared are left alone.
  - A password is proven current by authenticating as the user, so a re-run with the same
    password reports no change (there is no need to reset it on every run).
  - Before any user exists, MongoDB's localhost exception lets the first user be created
    from the same host; with O(allow_localhost_exception) the module falls back to it when
    the login credentials are refused, creates the login user first, then continues
    authenticated. A re-run authenticates normally.
  - Passwords never appear in the results, the diff or the logs.
  - Written for this project because C(community.mongodb.mongodb_user) either resets a
    password on every run (changed every time) or never, and handles one user per task.
options:
  users:
    description:
      - The declared users. Each is C(name), C(database) (default C(admin)), C(password)
        and C(roles) (names on the user's database, or C({role, db}) items).
    type: list
    elements: dict
    required: true
  allow_localhost_exception:
    description: Fall back to MongoDB's localhost exception when the login is refused.
    type: bool
    default: true
extends_documentation_fragment:
  - mongodb_connection
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
author: monitoring-store maintainers
"""

EXAMPLES = r"""
- name: Create the administrator and the application user
  mongodb_users:
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"
    users:
      - {name: admin, password: "{{ vault_mongodb_admin_password }}", roles: [root]}
      - name: monitoring_app
        password: "{{ vault_monitoring_app_password }}"
        roles: [{role: readWrite, db: monitoring}]
  no_log: true
"""

RETURN = r"""
operations:
  description: User commands planned or run, passwords redacted.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.mongodb_connection import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    LoginRefused,
    OperationFailure,
    PyMongoError,
    client_options,
    connect_checked,
    connection_argument_spec,
    pymongo,
)
from ansible.module_utils.mongodb_users_plan import UsersError, plan_users, validate


def argument_spec() -> dict:
    return {
        **connection_argument_spec(),
        "users": {
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "name": {"type": "str", "required": True},
                "database": {"type": "str", "default": "admin"},
                "password": {"type": "str", "required": True, "no_log": True},
                "roles": {"type": "list", "elements": "raw", "default": []},
            },
        },
        "allow_localhost_exception": {"type": "bool", "default": True},
    }


def password_works(params: dict, user: dict) -> bool:
    attempt = {
        **params,
        "login_user": user["name"],
        "login_password": user["password"],
        "login_database": user["database"],
        "direct_connection": True,
    }
    client = pymongo.MongoClient(**client_options(attempt))
    try:
        client[user["database"]].command("connectionStatus")
        return True
    except OperationFailure as error:
        if error.code == 18:
            return False
        raise
    finally:
        client.close()


def existing_users(client, users: list[dict]) -> dict:
    found = {}
    for database in sorted({user["database"] for user in users}):
        names = [user["name"] for user in users if user["database"] == database]
        reply = client[database].command("usersInfo", [{"user": name, "db": database} for name in names])
        for entry in reply["users"]:
            found[(entry["user"], entry["db"])] = entry
    return found


def create_login_user_first(module, client, operations: list, done: list):
    """Under the localhost exception: create the login user, then go on authenticated as it.

    The exception allows creating a user on admin with roles on admin only
    (src/mongo/db/auth/authorization_session_impl.cpp, _getDefaultPrivileges), so the
    login user comes first and everything else is done as that user.
    """
    params = module.params
    first = next(
        (op for op in operations if op.user == params.get("login_user") and op.database == params["login_database"]),
        None,
    )
    if first is None:
        module.fail_json(
            msg="No user exists yet and login_user is not among the declared users: declare "
            "it (with a role that may create users) so it can be created first"
        )
    try:
        client[first.database].command(first.command)
    except OperationFailure as error:
        if error.code in (10107, 13435):  # NotWritablePrimary, NotPrimaryNoSecondaryOk
            module.fail_json(
                msg=f"{params['login_host']}:{params['login_port']} is not the primary of its replica set: the "
                "first user must be created on the primary, over a loopback connection on its own machine",
                changed=False,
            )
        raise
    done.append(first.redacted())
    client.close()
    client, _ = connect_checked(params, False)
    return client, [op for op in operations if op is not first]


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=str(PYMONGO_IMPORT_ERROR))
    params = module.params
    try:
        users = validate(params["users"])
    except UsersError as error:
        module.fail_json(msg=f"The declared users are refused, nothing was sent: {error}")
    done: list[dict] = []
    try:
        client, authenticated = connect_checked(params, params["allow_localhost_exception"])
        # Unauthenticated here means the localhost exception is open: no user exists yet,
        # and usersInfo is not among what the exception allows.
        existing = existing_users(client, users) if authenticated else {}
        checked = {
            (u["name"], u["database"]): (u["name"], u["database"]) in existing and password_works(params, u)
            for u in users
        }
        plan = plan_users(users, existing, checked)
        result = {"changed": bool(plan.operations), "operations": [op.redacted() for op in plan.operations]}
        if module._diff:
            result["diff"] = {"before": plan.before, "after": plan.after}
        if module.check_mode or not plan.operations:
            module.exit_json(**result)
        operations = plan.operations
        if not authenticated:
            client, operations = create_login_user_first(module, client, operations, done)
        for operation in operations:
            client[operation.database].command(operation.command)
            done.append(operation.redacted())
    except (LoginRefused, PyMongoError) as error:
        module.fail_json(msg=f"users: {error}", changed=bool(done), operations=done)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
