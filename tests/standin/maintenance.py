"""compact, and the server parameters the maintenance playbook reads and its tests set.

compact (docs https://www.mongodb.com/docs/v8.0/reference/command/compact/;
src/mongo/db/commands/compact.idl and compact.cpp):
- The IDL is strict: a field other than the command's own is 40415. 8.0 has `force`,
  `freeSpaceTargetMB` (7.3+) and `dryRun` (new in 8.0); 7.0 has `force` only.
- A replica set primary refuses without `force: true`: IllegalOperation (20) "will not run
  compact on an active replica set primary as this will slow down other running
  operations. use force:true to force"; SERVER-90500 shows 8.0 refusing `dryRun: true`
  the same way.
- A collection that does not exist is NamespaceNotFound (26); a view is
  CommandNotSupportedOnView (166); a time-series collection is compacted by its own name
  (jstests/core/timeseries/timeseries_compact.js).
- mongod only (that jstest's tag `assumes_against_mongod_not_mongos`): mongos has no such
  command (59).
- Needs the compact action on the collection: dbAdmin, dbAdminAnyDatabase or hostManager
  (the docs page's "Required Privileges").
- Replies {bytesFreed}; it is not replicated: each member compacts its own files. The
  stand-in keeps no files, so it frees nothing: bytesFreed is always 0.

getParameter and setParameter (src/mongo/db/commands/parameters.cpp): admin only (13);
getParameter answers each parameter asked for, and 72 "no option found to get" when one
is not registered on this process; setParameter replies {was: <old value>}, and an
unknown parameter is 72 "attempted to set unrecognized parameter [<name>], use help:true
to see options". Registered here: featureCompatibilityVersion (read only, mongod;
tests/standin/fcv.py), ttlMonitorEnabled (src/mongo/db/ttl/ttl.idl: a bool, set at
startup and at runtime, default true; mongod only) and clusterAuthMode (mongod and
mongos; membership.py).
"""

from __future__ import annotations

from . import fcv, membership, replset
from .commands_catalog import GENERIC_FIELDS
from .errors import CommandError
from .server import Context, Server

COMPACT_FIELDS = {"7.0": {"force"}, "8.0": {"force", "freeSpaceTargetMB", "dryRun"}}
PRIMARY_REFUSAL = (
    "will not run compact on an active replica set primary as this will slow down other running operations. "
    "use force:true to force"
)
TTL_MONITOR = "ttlMonitorEnabled"


def compact(server: Server, ctx: Context) -> dict:
    allowed = COMPACT_FIELDS.get(server.version_series, COMPACT_FIELDS["8.0"])
    unknown = [key for key in ctx.body if key != ctx.name and key not in GENERIC_FIELDS and key not in allowed]
    if unknown:
        raise CommandError(40415, f"BSON field 'compact.{unknown[0]}' is an unknown field.")
    if replset.config(server) and replset.is_primary(server) and ctx.body.get("force") is not True:
        raise CommandError(20, PRIMARY_REFUSAL, "IllegalOperation")
    coll = server.store.collection(ctx.db, ctx.target)
    if coll is None:
        raise CommandError(26, "collection does not exist", "NamespaceNotFound")
    if coll.kind == "view":
        raise CommandError(166, "can't compact a view", "CommandNotSupportedOnView")
    return {"bytesFreed": 0}


def ttl_monitor_enabled(server: Server) -> bool:
    started = server.settings.parsed_options.get("setParameter", {}).get(TTL_MONITOR, True)
    return server.extra_state.get(TTL_MONITOR, str(started).lower() not in ("false", "0"))


def _admin_only(name: str, ctx: Context) -> None:
    if ctx.db != "admin":
        raise CommandError(13, f"{name} may only be run against the admin database.", "Unauthorized")


def _registered(server: Server) -> dict:
    both = {membership.PARAMETER: lambda: membership.mode(server)}
    if server.settings.role != "mongod":
        return both
    return {
        **both,
        fcv.KEY: lambda: {"version": fcv.current(server)},
        TTL_MONITOR: lambda: ttl_monitor_enabled(server),
    }


def get_parameter(server: Server, ctx: Context) -> dict:
    _admin_only("getParameter", ctx)
    registered = _registered(server)
    asked = [key for key in ctx.body if key != ctx.name and key not in GENERIC_FIELDS]
    if not asked or any(name not in registered for name in asked):
        raise CommandError(72, "no option found to get", "InvalidOptions")
    return {name: registered[name]() for name in asked}


def set_parameter(server: Server, ctx: Context) -> dict:
    _admin_only("setParameter", ctx)
    [name, *_] = [key for key in ctx.body if key != ctx.name and key not in GENERIC_FIELDS] or [""]
    if name == membership.PARAMETER:
        return membership.set_mode(server, ctx.body[name])
    if name != TTL_MONITOR or server.settings.role != "mongod":
        raise CommandError(
            72, f"attempted to set unrecognized parameter [{name}], use help:true to see options ", "InvalidOptions"
        )
    value = ctx.body[name]
    if not isinstance(value, bool):
        raise CommandError(14, f"Invalid value for {name}: expected a boolean", "TypeMismatch")
    was = ttl_monitor_enabled(server)
    server.extra_state[TTL_MONITOR] = value
    return {"was": was}


HANDLERS = {
    "compact": (compact, False),
    "getParameter": (get_parameter, False),
    "setParameter": (set_parameter, False),
}
MONGOS_HANDLERS = {"getParameter": (get_parameter, False), "setParameter": (set_parameter, False)}
