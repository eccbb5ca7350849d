"""Authentication and authorization: SCRAM-SHA-256, users, built-in roles, localhost exception.

- SCRAM-SHA-256 as in RFC 5802/7677 and MongoDB's "SCRAM" page
  (https://www.mongodb.com/docs/manual/core/security-scram/): users live in
  admin.system.users with {iterationCount, salt, storedKey, serverKey}.
- Access control is on when security.authorization is enabled or a keyFile is set
  (https://www.mongodb.com/docs/manual/core/security-internal-authentication/).
- Localhost exception (https://www.mongodb.com/docs/manual/core/localhost-exception/;
  src/mongo/db/auth/authorization_session_impl.cpp, _getDefaultPrivileges, and
  authz_session_external_state_server_common.cpp, shouldAllowLocalhost): before the
  first user exists, an unauthenticated client whose connection comes from a loopback
  address may create the first user on admin (or $external) with roles on admin, run
  replSetInitiate/replSetReconfig (action replSetConfigure), replSetGetStatus and
  addShard; an arbiter (which never holds users) also grants getCmdLineOpts,
  getParameter, serverStatus and shutdown (SERVER-5479). Everything else needs a login:
  13 Unauthorized, "Command <name> requires authentication". Creating the first user
  ends the exception.
- Built-in roles (https://www.mongodb.com/docs/manual/reference/built-in-roles/), coarse:
  each grants command categories on one database or on all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import uuid

import bson

from .errors import CommandError
from .server import Context, Server

ITERATIONS = 15000
MECHANISM = "SCRAM-SHA-256"
USERS_DB = "admin"
USERS_COLLECTION = "system.users"
# Commands whose requiresAuth() is false (src/mongo/db/commands/hello_cmd.cpp, ping,
# buildinfo, connection_status.cpp, authentication_commands.cpp); endSessions and logout
# do need a login (end_sessions_command.cpp).
OPEN_COMMANDS = {"hello", "ismaster", "ping", "buildinfo", "saslstart", "saslcontinue", "connectionstatus"}

READ = {
    "find",
    "count",
    "aggregate",
    "listCollections",
    "listIndexes",
    "getMore",
    "killCursors",
    "dbStats",
    "collStats",
    "listDatabases",
}
WRITE = {"insert", "update", "delete", "findAndModify"}
COLLECTION_ADMIN = {"create", "drop", "createIndexes", "dropIndexes"}
DB_ADMIN = COLLECTION_ADMIN | {"collMod", "dropDatabase", "profile", "validate", "compact"}
USER_ADMIN = {"createUser", "updateUser", "dropUser", "usersInfo", "grantRolesToUser", "revokeRolesFromUser"}
CLUSTER_MONITOR = {
    "serverStatus",
    "replSetGetStatus",
    "replSetGetConfig",
    "getCmdLineOpts",
    "getDefaultRWConcern",
    "listShards",
    "balancerStatus",
    "hostInfo",
    "getParameter",
}
CLUSTER_MANAGE = {
    "replSetInitiate",
    "replSetReconfig",
    "setDefaultRWConcern",
    "addShard",
    "enableSharding",
    "shardCollection",
    "balancerStart",
    "balancerStop",
    "shutdown",
    "configureCollectionBalancing",
    "replSetStepDown",  # replSetStateChange (builtin_roles.yml: clusterManager)
    "setFeatureCompatibilityVersion",
}

# backup is __queryableBackup plus backup in builtin_roles.yml: find on every database
# (config and local too), listCollections/listIndexes/collStats, listDatabases,
# getParameter and serverStatus; and insert/update/find on config.settings, which is what
# balancerStart/balancerStop/balancerStatus check (src/mongo/s/commands/
# cluster_control_balancer_cmd.cpp). Not dbStats, and no replica set status.
BACKUP = {
    "find",
    "count",
    "aggregate",
    "getMore",
    "killCursors",
    "listCollections",
    "listIndexes",
    "collStats",
    "listDatabases",
    "getParameter",
    "serverStatus",
    "balancerStart",
    "balancerStop",
    "balancerStatus",
}

# hostManager (held by clusterAdmin): setParameter and rotateCertificates on the cluster,
# compact on every database (builtin_roles.yml; docs "compact", Required Privileges).
HOST_MANAGER = {"setParameter", "compact", "rotateCertificates"}

# role -> (categories, any database?)
ROLES: dict[str, tuple[set[str], bool]] = {
    "read": (READ, False),
    "readWrite": (READ | WRITE | COLLECTION_ADMIN, False),
    "dbAdmin": (READ - {"find", "count", "aggregate", "getMore"} | DB_ADMIN, False),
    "dbOwner": (READ | WRITE | DB_ADMIN | USER_ADMIN, False),
    "userAdmin": (USER_ADMIN, False),
    "readAnyDatabase": (READ, True),
    "readWriteAnyDatabase": (READ | WRITE | COLLECTION_ADMIN, True),
    "dbAdminAnyDatabase": (DB_ADMIN | {"listDatabases", "listCollections", "listIndexes", "applyOps"}, True),
    "userAdminAnyDatabase": (USER_ADMIN | {"listDatabases"}, True),
    # clusterMonitor: collStats, dbStats and indexStats on every database too (builtin_roles.yml).
    "clusterMonitor": (CLUSTER_MONITOR | {"listDatabases", "collStats", "dbStats", "indexStats"}, True),
    "clusterManager": (CLUSTER_MONITOR | CLUSTER_MANAGE - {"shutdown"}, True),
    "clusterAdmin": (CLUSTER_MONITOR | CLUSTER_MANAGE | HOST_MANAGER, True),
    "backup": (BACKUP, True),
    "restore": (READ | WRITE | DB_ADMIN - {"compact"} | {"applyOps"}, True),
    "root": (set(), True),  # everything
}


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def scram_credentials(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> dict:
    salt = salt or os.urandom(28)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return {
        "iterationCount": iterations,
        "salt": base64.b64encode(salt).decode(),
        "storedKey": base64.b64encode(_h(client_key)).decode(),
        "serverKey": base64.b64encode(_hmac(salted, b"Server Key")).decode(),
    }


# -- state ---------------------------------------------------------------------------


def enabled(server: Server) -> bool:
    security = server.settings.parsed_options.get("security", {})
    return security.get("authorization") == "enabled" or bool(security.get("keyFile"))


def users(server: Server) -> list[dict]:
    """Users of this process: its own admin.system.users, or (mongos) the config servers'."""
    if server.user_source is not None:
        return server.user_source()
    coll = server.store.collection(USERS_DB, USERS_COLLECTION)
    return [] if coll is None else coll.documents


def find_user(server: Server, db: str, name: str) -> dict | None:
    return next((u for u in users(server) if u["user"] == name and u["db"] == db), None)


def session(server: Server, connection_id: int) -> dict:
    return server.sessions.setdefault(connection_id, {"users": [], "conversation": None})


def _loopback(peer: str) -> bool:
    """The client's address is a loopback one (127.0.0.0/8 or ::1), as the server checks it."""
    try:
        return ipaddress.ip_address(peer.split("%")[0]).is_loopback
    except ValueError:
        return False


# -- the localhost exception ---------------------------------------------------------

EXCEPTION_CLUSTER_COMMANDS = {"replSetInitiate", "replSetReconfig", "replSetGetStatus", "addShard"}
ARBITER_EXTRA_COMMANDS = {"getCmdLineOpts", "getParameter", "serverStatus", "shutdown"}


def localhost_exception_open(server: Server, ctx: Context) -> bool:
    return not users(server) and _loopback(ctx.peer_host)


def _allowed_by_localhost_exception(server: Server, ctx: Context) -> bool:
    if ctx.name in EXCEPTION_CLUSTER_COMMANDS:
        return True
    if ctx.name in ARBITER_EXTRA_COMMANDS:
        from .replset import my_member

        member = my_member(server) if server.settings.role == "mongod" else None
        return bool(member and member.get("arbiterOnly"))
    if ctx.name == "createUser":
        # createUser needs createUser on the user's database and grantRole on each
        # role's database; the exception grants both on admin only ($external: createUser).
        if ctx.db == "$external":
            return not ctx.body.get("roles")
        return ctx.db == USERS_DB and all(grant["db"] == USERS_DB for grant in _roles(ctx.body.get("roles"), ctx.db))
    return False


# -- authorization -------------------------------------------------------------------


# Actions on the cluster resource: a grant of them counts whatever database a command names.
CLUSTER_WIDE = (
    CLUSTER_MONITOR
    | CLUSTER_MANAGE
    | {"setParameter", "rotateCertificates"}
    | {
        "balancerStart",
        "balancerStop",
        "balancerStatus",
    }
)


def _allowed(roles: list[dict], name: str, db: str) -> bool:
    for grant in roles:
        categories, any_database = ROLES.get(grant["role"], (set(), False))
        if grant["role"] == "root":
            return True
        if name in categories and (any_database or grant["db"] == db or name in CLUSTER_WIDE):
            return True
    return False


def check(server: Server, ctx: Context) -> None:
    """Refuse a command the connection may not run (13 Unauthorized)."""
    if not enabled(server) or ctx.name.lower() in OPEN_COMMANDS or ctx.name.startswith("standin"):
        return
    if ctx.body.get("$standinClusterKey") is not None:
        from .replset import check_internal

        check_internal(server, ctx)  # a cluster member's command: proven by the keyfile
        return
    authenticated = session(server, ctx.connection_id)["users"]
    if not authenticated and localhost_exception_open(server, ctx) and _allowed_by_localhost_exception(server, ctx):
        return
    roles = [grant for user in authenticated for grant in user["roles"]]
    if not authenticated:
        raise CommandError(13, f"Command {ctx.name} requires authentication", "Unauthorized")
    if ctx.name == "applyOps":
        # The applyOps action on the cluster (restore, dbAdminAnyDatabase and root have it:
        # builtin_roles.yml; jstests/auth/applyOps_privilege.js), and then each operation's
        # own privileges (SERVER-25994, OplogApplicationChecks::checkAuthForCommand).
        from .replication import operation_commands

        always_upsert = bool(ctx.body.get("alwaysUpsert", True))
        operations = ctx.body.get("applyOps") or []
        needed = [pair for operation in operations for pair in operation_commands(operation, always_upsert)]
        if _allowed(roles, "applyOps", "admin") and all(_allowed(roles, name, db) for db, name in needed):
            return
        raise CommandError(13, f"not authorized on {ctx.db} to execute command {{ applyOps: ... }}")
    pipeline = ctx.body.get("pipeline") if ctx.name == "aggregate" else None
    if pipeline and isinstance(pipeline[0], dict) and "$indexStats" in pipeline[0]:
        # The stage needs the indexStats action on the collection (document_source_index_stats.cpp).
        if _allowed(roles, "indexStats", ctx.db):
            return
        raise CommandError(13, f"not authorized on {ctx.db} to execute command {{ aggregate: ... }}")
    if not _allowed(roles, ctx.name, ctx.db) and not _monitor_may_read(roles, ctx):
        raise CommandError(13, f"not authorized on {ctx.db} to execute command {{ {ctx.name}: ... }}")


def _monitor_may_read(roles: list[dict], ctx: Context) -> bool:
    """clusterMonitor (and clusterAdmin, which holds it) also has read on config and
    local, and find on each database's system.profile (builtin_roles.yml)."""
    if not any(grant["role"] in ("clusterMonitor", "clusterAdmin") for grant in roles):
        return False
    if ctx.db in ("local", "config"):
        return ctx.name in READ
    return ctx.name in ("find", "count", "aggregate") and ctx.body.get(ctx.name) == "system.profile"


# -- SCRAM ---------------------------------------------------------------------------


def _parse(message: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in message.split(",") if "=" in part)


def sasl_start(server: Server, ctx: Context) -> dict:
    mechanism = ctx.body.get("mechanism")
    if mechanism == "SCRAM-SHA-1":
        # Users here carry SCRAM-SHA-256 credentials only (hello's saslSupportedMechs says so);
        # a client falls back to SHA-1 when the user is unknown, which fails as on a server.
        raise CommandError(18, "Authentication failed.", "AuthenticationFailed")
    if mechanism != MECHANISM:
        raise CommandError(
            334, f"Received authentication for mechanism {mechanism} which is not enabled", "MechanismUnavailable"
        )
    payload = bytes(ctx.body["payload"]).decode()
    if not payload.startswith("n,"):
        raise CommandError(17, "SCRAM channel binding is not supported", "ProtocolError")
    client_first_bare = payload.split(",", 2)[2]
    fields = _parse(client_first_bare)
    user = find_user(server, ctx.db, fields.get("n", "").replace("=3D", "=").replace("=2C", ","))
    credentials = (user or {}).get("credentials", {}).get(MECHANISM) or scram_credentials(uuid.uuid4().hex)
    nonce = fields["r"] + base64.b64encode(os.urandom(24)).decode()
    server_first = f"r={nonce},s={credentials['salt']},i={credentials['iterationCount']}"
    conversation = {
        "user": user,
        "credentials": credentials,
        "client_first_bare": client_first_bare,
        "server_first": server_first,
        "nonce": nonce,
        "db": ctx.db,
        "step": 1,
    }
    session(server, ctx.connection_id)["conversation"] = conversation
    return {"conversationId": 1, "done": False, "payload": bson.Binary(server_first.encode())}


def sasl_continue(server: Server, ctx: Context) -> dict:
    conversation = session(server, ctx.connection_id)["conversation"]
    if conversation is None:
        raise CommandError(17, "No SASL session state found", "ProtocolError")
    payload = bytes(ctx.body.get("payload", b"")).decode()
    if conversation["step"] == 2:
        session(server, ctx.connection_id)["conversation"] = None
        return {"conversationId": 1, "done": True, "payload": bson.Binary(b"")}
    fields = _parse(payload)
    without_proof = payload.rsplit(",p=", 1)[0]
    auth_message = ",".join((conversation["client_first_bare"], conversation["server_first"], without_proof)).encode()
    credentials = conversation["credentials"]
    stored_key = base64.b64decode(credentials["storedKey"])
    proof = base64.b64decode(fields.get("p", ""))
    client_key = bytes(a ^ b for a, b in zip(proof, _hmac(stored_key, auth_message), strict=False))
    if conversation["user"] is None or fields.get("r") != conversation["nonce"] or _h(client_key) != stored_key:
        session(server, ctx.connection_id)["conversation"] = None
        raise CommandError(18, "Authentication failed.", "AuthenticationFailed")
    signature = _hmac(base64.b64decode(credentials["serverKey"]), auth_message)
    authenticated = session(server, ctx.connection_id)["users"]
    user = conversation["user"]
    authenticated[:] = [u for u in authenticated if u["_id"] != user["_id"]] + [user]
    conversation["step"] = 2
    done = bool(ctx.body.get("options", {}).get("skipEmptyExchange", True))
    if done:
        session(server, ctx.connection_id)["conversation"] = None
    return {
        "conversationId": 1,
        "done": done,
        "payload": bson.Binary(f"v={base64.b64encode(signature).decode()}".encode()),
    }


def sasl_supported_mechs(server: Server, qualified: str) -> list[str] | None:
    db, _, name = qualified.partition(".")
    return [MECHANISM] if find_user(server, db, name) else None


# -- user management -----------------------------------------------------------------


def _roles(raw: list, db: str) -> list[dict]:
    roles = []
    for role in raw or []:
        grant = {"role": role, "db": db} if isinstance(role, str) else {"role": role["role"], "db": role["db"]}
        # Roles marked adminOnly in src/mongo/db/auth/builtin_roles.yml (every "any
        # database" and cluster role here) exist on admin only: elsewhere they are not found.
        known = grant["role"] in ROLES and (grant["db"] == "admin" or not ROLES[grant["role"]][1])
        if not known:
            raise CommandError(31, f"Could not find role: {grant['role']}@{grant['db']}", "RoleNotFound")
        roles.append(grant)
    return roles


def _users_collection(server: Server):
    from .commands_catalog import create_plain_collection

    coll = server.store.collection(USERS_DB, USERS_COLLECTION)
    return coll or create_plain_collection(server, USERS_DB, USERS_COLLECTION, {})


def create_user(server: Server, ctx: Context) -> dict:
    name = ctx.target
    if find_user(server, ctx.db, name):
        raise CommandError(51003, f'User "{name}@{ctx.db}" already exists', "Location51003")
    if "pwd" not in ctx.body:
        raise CommandError(
            2,
            "Must provide a 'pwd' field for all user documents, except those with '$external' as the user's source db",
        )
    user = {
        "_id": f"{ctx.db}.{name}",
        "userId": bson.Binary.from_uuid(uuid.uuid4()),
        "user": name,
        "db": ctx.db,
        "credentials": {MECHANISM: scram_credentials(ctx.body["pwd"])},
        "roles": _roles(ctx.body.get("roles"), ctx.db),
    }
    _users_collection(server).documents.append(user)
    return {}


def _existing(server: Server, ctx: Context, name: str) -> dict:
    user = find_user(server, ctx.db, name)
    if user is None:
        raise CommandError(11, f'Could not find user "{name}" for db "{ctx.db}"', "UserNotFound")
    return user


def update_user(server: Server, ctx: Context) -> dict:
    user = _existing(server, ctx, ctx.target)
    if "pwd" in ctx.body:
        user["credentials"] = {MECHANISM: scram_credentials(ctx.body["pwd"])}
    if "roles" in ctx.body:
        user["roles"] = _roles(ctx.body["roles"], ctx.db)
    return {}


def grant_roles(server: Server, ctx: Context) -> dict:
    user = _existing(server, ctx, ctx.target)
    for grant in _roles(ctx.body.get("roles"), ctx.db):
        if grant not in user["roles"]:
            user["roles"].append(grant)
    return {}


def revoke_roles(server: Server, ctx: Context) -> dict:
    user = _existing(server, ctx, ctx.target)
    revoked = _roles(ctx.body.get("roles"), ctx.db)
    user["roles"] = [grant for grant in user["roles"] if grant not in revoked]
    return {}


def drop_user(server: Server, ctx: Context) -> dict:
    user = _existing(server, ctx, ctx.target)
    _users_collection(server).documents.remove(user)
    return {}


def users_info(server: Server, ctx: Context) -> dict:
    wanted = ctx.target
    if isinstance(wanted, str):
        wanted = [{"user": wanted, "db": ctx.db}]
    elif isinstance(wanted, dict):
        wanted = [wanted]
    elif wanted == 1:
        wanted = [{"user": u["user"], "db": u["db"]} for u in users(server) if u["db"] == ctx.db]
    found = []
    for item in wanted:
        item = {"user": item, "db": ctx.db} if isinstance(item, str) else item
        user = find_user(server, item["db"], item["user"])
        if user:
            entry = {k: v for k, v in user.items() if k != "credentials"}
            entry["mechanisms"] = [MECHANISM]
            if ctx.body.get("showCredentials"):
                entry["credentials"] = user["credentials"]
            found.append(entry)
    return {"users": found}


def connection_status(server: Server, ctx: Context) -> dict:
    authenticated = session(server, ctx.connection_id)["users"]
    return {
        "authInfo": {
            "authenticatedUsers": [{"user": u["user"], "db": u["db"]} for u in authenticated],
            "authenticatedUserRoles": [g for u in authenticated for g in u["roles"]],
        }
    }


def logout(server: Server, ctx: Context) -> dict:
    session(server, ctx.connection_id)["users"] = []
    return {}


HANDLERS = {
    "saslStart": (sasl_start, False),
    "saslContinue": (sasl_continue, False),
    "createUser": (create_user, True),
    "updateUser": (update_user, True),
    "dropUser": (drop_user, True),
    "grantRolesToUser": (grant_roles, True),
    "revokeRolesFromUser": (revoke_roles, True),
    "usersInfo": (users_info, False),
    "connectionStatus": (connection_status, False),
    "logout": (logout, False),
}
