"""Catalogue commands: create, drop, collMod, listCollections, index commands."""

from __future__ import annotations

import copy

import bson

from . import rules
from .errors import CommandError
from .server import Context, Server
from .storage import Collection

ID_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}

# Options of `create` that a client may send and the server keeps in listCollections.
# https://www.mongodb.com/docs/manual/reference/command/create/
CREATE_OPTIONS = {
    "capped",
    "size",
    "max",
    "timeseries",
    "expireAfterSeconds",
    "clusteredIndex",
    "changeStreamPreAndPostImages",
    "storageEngine",
    "validator",
    "validationLevel",
    "validationAction",
    "indexOptionDefaults",
    "viewOn",
    "pipeline",
    "collation",
    "writeConcern",
    "comment",
    "autoIndexId",
}
# Fields every command may carry that are not command options.
GENERIC_FIELDS = {
    "$db",
    "lsid",
    "$clusterTime",
    "$readPreference",
    "txnNumber",
    "apiVersion",
    "writeConcern",
    "comment",
    "$standinClusterKey",
}


def _namespace(ctx: Context) -> str:
    return f"{ctx.db}.{ctx.target}"


def _require_collection(server: Server, ctx: Context) -> Collection:
    coll = server.store.collection(ctx.db, ctx.target)
    if coll is None:
        raise CommandError(26, f"ns does not exist: {_namespace(ctx)}")
    return coll


def create_plain_collection(server: Server, db: str, name: str, options: dict) -> Collection:
    rules.check_collection_name(db, name)
    coll = Collection(kind="collection", options=options, indexes=[dict(ID_INDEX)])
    server.store.add_collection(db, name, coll)
    return coll


def create(server: Server, ctx: Context) -> dict:
    name = ctx.target
    if not isinstance(name, str):
        raise CommandError(2, "collection name has invalid type")
    options = {key: value for key, value in ctx.body.items() if key != ctx.name and key not in GENERIC_FIELDS}
    unknown = sorted(set(options) - CREATE_OPTIONS)
    if unknown:
        raise CommandError(40415, f"BSON field 'create.{unknown[0]}' is an unknown field.", "Location40415")
    rules.check_collection_name(ctx.db, name)
    if "timeseries" in options:
        options["timeseries"] = rules.check_timeseries_options(_namespace(ctx), options, server.version_series)
    elif "expireAfterSeconds" in options and "clusteredIndex" not in options:
        raise CommandError(
            72,
            "'expireAfterSeconds' is only supported on time-series collections or when the 'clusteredIndex' "
            "option is specified",
        )
    if "expireAfterSeconds" in options:
        options["expireAfterSeconds"] = rules.check_expire_after_seconds(options["expireAfterSeconds"])
    rules.check_validation_options(options)

    existing = server.store.collection(ctx.db, name)
    if existing is not None:
        # Since 7.0 a create that matches the existing collection exactly succeeds.
        if existing.options == options:
            return {}
        raise CommandError(48, f"Collection {_namespace(ctx)} already exists.")

    if "timeseries" in options:
        coll = Collection(kind="timeseries", options=options, indexes=rules.default_timeseries_indexes(options))
        server.store.add_collection(ctx.db, name, coll)
        # A real server backs a time-series collection with a buckets collection and a
        # view; both show up in listCollections.
        server.store.add_collection(
            ctx.db,
            f"system.buckets.{name}",
            Collection(kind="collection", options={"validator": {}, "clusteredIndex": True}),
        )
        if server.store.collection(ctx.db, "system.views") is None:
            create_plain_collection(server, ctx.db, "system.views", {})
    elif "viewOn" in options:
        server.store.add_collection(ctx.db, name, Collection(kind="view", options=options))
    else:
        create_plain_collection(server, ctx.db, name, options)
    return {}


def drop(server: Server, ctx: Context) -> dict:
    coll = server.store.collection(ctx.db, ctx.target)
    if coll is None:
        # Since 7.0, dropping a collection that does not exist succeeds.
        return {"ns": _namespace(ctx), "nIndexesWas": 0}
    server.store.drop_collection(ctx.db, ctx.target)
    if coll.kind == "timeseries":
        server.store.drop_collection(ctx.db, f"system.buckets.{ctx.target}")
    return {"ns": _namespace(ctx), "nIndexesWas": len(coll.indexes)}


def drop_database(server: Server, ctx: Context) -> dict:
    server.store.databases.pop(ctx.db, None)
    return {"dropped": ctx.db}


def _collection_info(name: str, coll: Collection, name_only: bool) -> dict:
    info: dict = {"name": name, "type": coll.kind}
    if name_only:
        return info
    info["options"] = copy.deepcopy(coll.options)
    if coll.kind == "timeseries":
        info["options"]["timeseries"] = rules.listed_timeseries_options(coll.options["timeseries"])
    info["info"] = {"readOnly": False}
    if coll.kind == "collection":
        info["info"]["uuid"] = bson.Binary.from_uuid(coll.uuid)
        info["idIndex"] = dict(ID_INDEX)
    return info


def list_collections(server: Server, ctx: Context) -> dict:
    query = ctx.body.get("filter") or {}
    name_only = bool(ctx.body.get("nameOnly"))
    from .matcher import matches

    batch = []
    for name, coll in sorted(server.store.databases.get(ctx.db, {}).items()):
        info = _collection_info(name, coll, name_only)
        if matches(info, query):
            batch.append(info)
    return {"cursor": {"id": 0, "ns": f"{ctx.db}.$cmd.listCollections", "firstBatch": batch}}


def coll_mod(server: Server, ctx: Context) -> dict:
    coll = _require_collection(server, ctx)
    changes = {key: value for key, value in ctx.body.items() if key != ctx.name and key not in GENERIC_FIELDS}
    reply: dict = {}
    for key, value in changes.items():
        if key == "index":
            if coll.kind == "timeseries" and "expireAfterSeconds" in value:
                raise CommandError(72, "TTL indexes are not supported on time-series collections through collMod")
            reply.update(_coll_mod_index(coll, value, _namespace(ctx)))
        elif key == "expireAfterSeconds":
            if coll.kind != "timeseries" and "clusteredIndex" not in coll.options:
                raise CommandError(
                    72, "'expireAfterSeconds' option is only supported on time-series and clustered collections"
                )
            if value == "off":
                coll.options.pop("expireAfterSeconds", None)
            else:
                coll.options["expireAfterSeconds"] = rules.check_expire_after_seconds(value)
        elif key == "timeseries":
            if coll.kind != "timeseries":
                raise CommandError(72, "option only supported on a time-series collection: timeseries")
            coll.options["timeseries"] = rules.check_timeseries_change(
                coll.options["timeseries"], value, server.version_series
            )
        elif key in ("validator", "validationLevel", "validationAction", "viewOn", "pipeline") and (
            coll.kind == "timeseries"
        ):
            raise CommandError(72, f"option not supported on a time-series collection: {key}")
        elif key in ("validator", "validationLevel", "validationAction"):
            coll.options[key] = value
            rules.check_validation_options(coll.options)
        else:
            raise CommandError(40415, f"BSON field 'collMod.{key}' is an unknown field.", "Location40415")
    return reply


def _coll_mod_index(coll: Collection, change: dict, namespace: str) -> dict:
    if "name" in change:
        spec = coll.index(change["name"])
    else:
        spec = next((s for s in coll.indexes if rules.same_key_pattern(s["key"], change.get("keyPattern"))), None)
    if spec is None:
        raise CommandError(27, f"cannot find index {change.get('name', change.get('keyPattern'))} for ns {namespace}")
    reply = {}
    if "expireAfterSeconds" in change:
        if "expireAfterSeconds" not in spec:
            raise CommandError(72, "no expireAfterSeconds field to update")
        reply["expireAfterSeconds_old"] = spec["expireAfterSeconds"]
        spec["expireAfterSeconds"] = rules.check_expire_after_seconds(change["expireAfterSeconds"])
        reply["expireAfterSeconds_new"] = spec["expireAfterSeconds"]
    if "hidden" in change:
        if spec["name"] == "_id_":
            raise CommandError(72, "can't hide _id index")
        reply["hidden_old"] = bool(spec.get("hidden", False))
        if change["hidden"]:
            spec["hidden"] = True
        else:
            spec.pop("hidden", None)
        reply["hidden_new"] = bool(change["hidden"])
    return reply


def create_indexes(server: Server, ctx: Context) -> dict:
    specs = ctx.body.get("indexes")
    if not isinstance(specs, list) or not specs:
        raise CommandError(2, "Must specify at least one index to create")
    coll = server.store.collection(ctx.db, ctx.target)
    created_collection = False
    if coll is None:
        rules.check_collection_name(ctx.db, ctx.target)
        coll = Collection(kind="collection", options={}, indexes=[dict(ID_INDEX)])
        created_collection = True
    if coll.kind == "view":
        raise CommandError(166, f"Namespace {_namespace(ctx)} is a view, not a collection")
    before = len(coll.indexes)
    pending = []
    for raw in specs:
        spec = rules.normalise_index_spec(raw, coll)
        existing = rules.find_conflict(spec, coll.indexes + pending)
        if existing is None:
            pending.append(spec)
    if len(coll.indexes) + len(pending) > rules.MAX_INDEXES:
        raise CommandError(67, f"add index fails, too many indexes for {_namespace(ctx)}")
    coll.indexes.extend(pending)
    if created_collection:
        server.store.add_collection(ctx.db, ctx.target, coll)
    reply: dict = {
        "numIndexesBefore": before,
        "numIndexesAfter": len(coll.indexes),
        "createdCollectionAutomatically": created_collection,
    }
    if not pending:
        reply["note"] = "all indexes already exist"
    return reply


def list_indexes(server: Server, ctx: Context) -> dict:
    coll = _require_collection(server, ctx)
    if coll.kind == "view":
        raise CommandError(166, f"Namespace {_namespace(ctx)} is a view, not a collection")
    return {"cursor": {"id": 0, "ns": _namespace(ctx), "firstBatch": copy.deepcopy(coll.indexes)}}


def drop_indexes(server: Server, ctx: Context) -> dict:
    coll = _require_collection(server, ctx)
    target = ctx.body.get("index")
    before = len(coll.indexes)
    names = target if isinstance(target, list) else [target]
    if target == "*":
        coll.indexes = [spec for spec in coll.indexes if spec["name"] == "_id_"]
        return {"nIndexesWas": before, "msg": "non-_id indexes dropped for collection"}
    doomed = []
    for name in names:
        if isinstance(name, str):
            spec = coll.index(name)
        else:
            spec = next((s for s in coll.indexes if rules.same_key_pattern(s["key"], name)), None)
        if spec is None:
            raise CommandError(27, f"index not found with name [{name}]")
        if spec["name"] == "_id_":
            raise CommandError(72, "cannot drop _id index")
        doomed.append(spec)
    coll.indexes = [spec for spec in coll.indexes if spec not in doomed]
    return {"nIndexesWas": before}


HANDLERS = {
    "create": (create, True),
    "drop": (drop, True),
    "dropDatabase": (drop_database, True),
    "listCollections": (list_collections, False),
    "collMod": (coll_mod, True),
    "createIndexes": (create_indexes, True),
    "listIndexes": (list_indexes, False),
    "dropIndexes": (drop_indexes, True),
}
