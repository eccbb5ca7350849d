"""featureCompatibilityVersion (FCV): what an upgrade has to step through.

- Every mongod keeps it as {_id: "featureCompatibilityVersion", version} in
  admin.system.version; it replicates with the set; a clean start creates it at the
  binary's own version (src/mongo/db/repl/FCV_AND_FEATURE_FLAG_README.md). Here it is
  kept in the store's metadata and replicates as an oplog entry.
- A binary accepts the FCV of its last LTS release and its own: 8.0 starts on 7.0 or
  8.0 data, 7.0 on 6.0 or 7.0 (the rapid releases between, 7.1-7.3, are not modelled).
  On any other the start fails: "Wrong mongod version" (log id 20573), "UPGRADE PROBLEM:
  Found an invalid featureCompatibilityVersion document ...", exit code 62
  (EXIT_NEED_UPGRADE, src/mongo/util/exit_code.h; src/mongo/db/startup_recovery.cpp).
- getParameter {featureCompatibilityVersion: 1} answers {featureCompatibilityVersion:
  {version}} on mongod; mongos does not register it (tests/standin/maintenance.py
  answers getParameter).
- setFeatureCompatibilityVersion (src/mongo/db/commands/set_feature_compatibility_version_command.cpp):
  admin only (13); never on a secondary (secondaryAllowed kNever: NotWritablePrimary
  10107); needs the setFeatureCompatibilityVersion action (clusterManager); a value this
  binary does not accept is BadValue 2 "Invalid feature compatibility version value
  '<v>'. Expected one of the following versions: ..."
  (src/mongo/db/commands/feature_compatibility_version_parser.cpp); without confirm:
  true 7369100 (jstests/multiVersion/genericSetFCVUsage/feature_compatibility_version_confirm.js,
  checked before the no-op below); the version it already has changes nothing.
  Through mongos it goes to the config servers, then to every shard
  (src/mongo/s/commands/cluster_set_feature_compatibility_version_cmd.cpp forwards it to
  the config server, whose setFeatureCompatibilityVersion sets the shards).
"""

from __future__ import annotations

from . import mongos
from .errors import CommandError
from .server import Context, Server

LAST_LTS = {"8.0": "7.0", "7.0": "6.0"}
KEY = "featureCompatibilityVersion"
# The code is the source's; the message is shortened.
CONFIRM_MESSAGE = (
    "Once you have upgraded to {version}, you cannot downgrade FCV and binary version without support "
    "assistance. Please re-run this command with 'confirm: true' to acknowledge this."
)


def accepted(series: str) -> list[str]:
    return [LAST_LTS[series], series]


def current(server: Server) -> str:
    return server.store.extra.get(KEY) or server.version_series


def startup_problem(server: Server) -> str:
    """Why this binary cannot start on its data ("" when it can); a clean start takes its own version."""
    stored = server.store.extra.get(KEY)
    if stored is None:
        server.store.extra[KEY] = server.version_series
        server.store.save()
        return ""
    valid = accepted(server.version_series)
    if stored in valid:
        return ""
    expected = " or ".join(f"'{v}'" for v in valid)
    return (
        "Wrong mongod version: UPGRADE PROBLEM: Found an invalid featureCompatibilityVersion document (ERROR: "
        f'Location4926900: Invalid featureCompatibilityVersion document in admin.system.version: {{ _id: "{KEY}", '
        f"version: \"{stored}\" }} :: caused by :: Invalid feature compatibility version value '{stored}'; "
        f"expected {expected}). If the current featureCompatibilityVersion is below {valid[0]}, see the "
        "documentation on upgrading."
    )


def set_feature_compatibility_version(server: Server, ctx: Context) -> dict:
    """On a mongod; replayed from the oplog (peer "internal") it only records the version."""
    requested = ctx.body.get("setFeatureCompatibilityVersion")
    if ctx.peer_host != "internal":
        if ctx.db != "admin":
            raise CommandError(
                13, "setFeatureCompatibilityVersion may only be run against the admin database.", "Unauthorized"
            )
        valid = accepted(server.version_series)
        if requested not in valid:
            listed = ", ".join(f"'{v}'" for v in valid)
            raise CommandError(
                2,
                f"Invalid feature compatibility version value '{requested}'. Expected one of the following "
                f"versions: {listed}",
                "BadValue",
            )
        if ctx.body.get("confirm") is not True:
            raise CommandError(7369100, CONFIRM_MESSAGE.format(version=requested), "Location7369100")
    if requested != current(server):
        server.store.extra[KEY] = requested
    return {}


def set_through_mongos(server: Server, ctx: Context) -> dict:
    """mongos: the same request to the config servers, then to each shard."""
    if ctx.db != "admin":
        raise CommandError(
            13, "setFeatureCompatibilityVersion may only be run against the admin database.", "Unauthorized"
        )
    request = {key: ctx.body[key] for key in ("setFeatureCompatibilityVersion", "confirm") if key in ctx.body}
    link = mongos.cluster(server)
    link.config("admin", request)
    for shard in link.shards():
        link.run(shard["host"], "admin", request)
    return {}


MONGOS_HANDLERS = {"setFeatureCompatibilityVersion": (set_through_mongos, False)}

HANDLERS = {"setFeatureCompatibilityVersion": (set_feature_compatibility_version, True)}
