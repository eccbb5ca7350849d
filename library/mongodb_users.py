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
  - Roles are MongoDB's built-in roles (this project creates no custom roles); another
    name, or an admin-only role on another database, is refused before anything is sent.
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
  - mongodb_plan
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
  description:
    - Commands sent, in order; in check mode, the commands that would be sent. Empty when
      nothing differs, when the plan is refused, or with O(validate_only).
    - Each is C(kind) (the command name), C(db), C(target) (what it acts on), C(summary)
      (a line to read) and C(command) (passwords replaced by asterisks).
  returned: always
  type: list
  elements: dict
  sample:
    - kind: createUser
      db: admin
      target: monitor@admin
      summary: "user monitor@admin: create with roles clusterMonitor@admin"
      command: {createUser: monitor, pwd: "********", roles: [{role: clusterMonitor, db: admin}]}
diff:
  description: Each declared user's roles (and whether its password differs) before and after.
  returned: in diff mode
  type: dict
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
    run_and_exit_at_once,
)
from ansible.module_utils.mongodb_plan import (
    NOT_STARTED_WARNING,
    apply_plan,
    checked_declaration,
    fail_before_sending,
    plan_argument_spec,
    planned_against_nothing,
)
from ansible.module_utils.mongodb_users_plan import plan_users, validate


def argument_spec() -> dict:
    return {
        **connection_argument_spec(),
        **plan_argument_spec(),
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


class Sender:
    """Sends the plan's commands; under the localhost exception, the login user's first.

    The exception allows creating a user on admin with roles on admin only
    (src/mongo/db/auth/authorization_session_impl.cpp, _getDefaultPrivileges), so the
    login user is created first (the plan is put in that order), then the client
    connects again as that user for everything else.
    """

    def __init__(self, module, client, authenticated: bool):
        self.module = module
        self.client = client
        self.authenticated = authenticated

    def login_user_first(self, plan) -> None:
        if self.authenticated or not plan.operations:
            return
        params = self.module.params
        login = f"{params.get('login_user')}@{params['login_database']}"
        first = next((op for op in plan.operations if op.kind == "createUser" and op.target == login), None)
        if first is None:
            fail_before_sending(
                self.module,
                "No user exists yet and login_user is not among the declared users: declare it (with a role "
                "that may create users) so it can be created first",
            )
        plan.operations.remove(first)
        plan.operations.insert(0, first)

    def __call__(self, operation) -> None:
        params = self.module.params
        try:
            self.client[operation.db].command(operation.command)
        except OperationFailure as error:
            if not self.authenticated and error.code in (10107, 13435):  # NotWritablePrimary, NotPrimaryNoSecondaryOk
                raise OperationFailure(
                    f"{params['login_host']}:{params['login_port']} is not the primary of its replica set: the "
                    "first user must be created on the primary, over a loopback connection on its own machine",
                    error.code,
                ) from error
            raise
        if not self.authenticated:
            self.client.close()
            self.client, self.authenticated = connect_checked(params, False)


REFUSED = "The declared users are refused, nothing was sent"


def declaration(params: dict) -> tuple[list, list[str]]:
    """The declared users, checked by this module's rules (names, built-in roles)."""
    return validate(params["users"]), []


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    users = checked_declaration(module, declaration, REFUSED)
    if params["validate_only"]:
        module.exit_json(changed=False, operations=[])
    if planned_against_nothing(module):
        # None of the declared users exists on a server that has never run: each would be
        # created (the login user first, where the localhost exception would be used).
        module.warn(NOT_STARTED_WARNING)
        plan = plan_users(users, {}, {})
        Sender(module, None, not params["allow_localhost_exception"]).login_user_first(plan)
        module.exit_json(**apply_plan(module, plan, None, "users", errors=()))
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=str(PYMONGO_IMPORT_ERROR))
    try:
        client, authenticated = connect_checked(params, params["allow_localhost_exception"])
        # Unauthenticated here means the localhost exception is open: no user exists yet,
        # and usersInfo is not among what the exception allows.
        existing = existing_users(client, users) if authenticated else {}
        checked = {
            (u["name"], u["database"]): (u["name"], u["database"]) in existing and password_works(params, u)
            for u in users
        }
    except (LoginRefused, PyMongoError) as error:
        fail_before_sending(module, f"users: {error}")
    plan = plan_users(users, existing, checked)
    send = Sender(module, client, authenticated)
    send.login_user_first(plan)
    module.exit_json(**apply_plan(module, plan, send, "users", errors=(LoginRefused, PyMongoError)))


if __name__ == "__main__":
    run_and_exit_at_once(main)
