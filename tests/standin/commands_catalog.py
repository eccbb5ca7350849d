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
# Fields of collMod (src/mongo/db/coll_mod.idl) the stand-in knows.
COLL_MOD_OPTIONS = {
    "index",
    "validator",
    "validationLevel",
    "validationAction",
    "viewOn",
    "pipeline",
    "expireAfterSeconds",
    "timeseries",
    "changeStreamPreAndPostImages",
    "dryRun",
    "collectionUUID",
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
    # create.idl is strict: an unknown field is location 40415 (IDL parser).
    unknown = [option for option in options if option not in CREATE_OPTIONS]
    if unknown:
        raise CommandError(40415, f"BSON field 'create.{unknown[0]}' is an unknown field.")
    rules.check_collection_name(ctx.db, name)
    rules.check_validation_options(options)
    expire = options.get("expireAfterSeconds")
    if expire is not None and (isinstance(expire, bool) or not isinstance(expire, (int, float))):
        raise CommandError(14, "BSON field 'create.expireAfterSeconds' is the wrong type, expected type 'long'")
    # create_command.cpp, CmdCreate::typedRun, in its order.
    if "clusteredIndex" not in options:
        if options.get("capped") and not options.get("size"):
            raise CommandError(72, "the 'size' field is required when 'capped' is true")
        if (options.get("size") or options.get("max")) and not options.get("capped"):
            raise CommandError(
                72, "the 'capped' field needs to be true when either the 'size' or 'max' fields are present"
            )
    if "pipeline" in options and "viewOn" not in options:
        raise CommandError(72, "'pipeline' requires 'viewOn' to also be specified")
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

    existing = server.store.collection(ctx.db, name)
    if existing is not None:
        # Since 7.0 a create that matches the existing collection exactly succeeds; other
        # options are NamespaceExists (create_command.cpp, checkCollectionOptions).
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
    for name, coll in sorted(server.store.collections_of(ctx.db).items()):
        info = _collection_info(name, coll, name_only)
        if matches(info, query):
            batch.append(info)
    return {"cursor": {"id": 0, "ns": f"{ctx.db}.$cmd.listCollections", "firstBatch": batch}}


def coll_mod(server: Server, ctx: Context) -> dict:
    """collMod; checks from src/mongo/db/catalog/coll_mod.cpp (parseCollModRequest) and
    timeseries_options.cpp. coll_mod.idl is strict: an unknown field is 40415."""
    coll = _require_collection(server, ctx)
    changes = {key: value for key, value in ctx.body.items() if key != ctx.name and key not in GENERIC_FIELDS}
    unknown = [key for key in changes if key not in COLL_MOD_OPTIONS]
    if unknown:
        raise CommandError(40415, f"BSON field 'collMod.{unknown[0]}' is an unknown field.")
    reply: dict = {}
    timeseries = coll.kind == "timeseries"
    for key, value in changes.items():
        if key == "index":
            reply.update(_coll_mod_index(coll, value, _namespace(ctx)))
        elif key == "expireAfterSeconds":
            # A time-series collection's buckets are clustered, so it takes the option too.
            if not timeseries and "clusteredIndex" not in coll.options:
                raise CommandError(72, "'expireAfterSeconds' option is only supported on collections clustered by _id")
            if isinstance(value, str):
                if value != "off":
                    raise CommandError(
                        72,
                        "Invalid string value for the 'clusteredIndex::expireAfterSeconds' option. "
                        f"Got: '{value}'. Accepted value is 'off'",
                    )
                coll.options.pop("expireAfterSeconds", None)
            else:
                coll.options["expireAfterSeconds"] = rules.check_expire_after_seconds(value, "collMod")
        elif key == "timeseries":
            if not timeseries:
                raise CommandError(72, "option only supported on a time-series collection: timeseries")
            coll.options["timeseries"] = rules.check_timeseries_change(
                coll.options["timeseries"], value, server.version_series
            )
        elif timeseries:
            raise CommandError(72, f"option not supported on a time-series collection: {key}")
        elif key in ("viewOn", "pipeline"):
            if coll.kind != "view":
                raise CommandError(72, f"'{key}' option only supported on a view")
            coll.options[key] = value
        elif key in ("dryRun", "collectionUUID"):
            continue
        else:
            coll.options[key] = value
            rules.check_validation_options(coll.options)
    return reply


def _coll_mod_index(coll: Collection, change, namespace: str) -> dict:
    if not isinstance(change, dict):
        raise CommandError(14, "BSON field 'collMod.index' is the wrong type, expected type 'object'")
    if "name" in change and "keyPattern" in change:
        raise CommandError(72, "Cannot specify both key pattern and name.")
    if "name" not in change and "keyPattern" not in change:
        raise CommandError(72, "Must specify either index name or key pattern.")
    if not any(option in change for option in ("expireAfterSeconds", "hidden", "unique", "prepareUnique")):
        raise CommandError(72, "no expireAfterSeconds, hidden, unique, or prepareUnique field")
    if "expireAfterSeconds" in change:
        if coll.kind == "timeseries":
            raise CommandError(
                72,
                "TTL indexes are not supported for time-series collections. Please refer to the documentation "
                "and use the top-level 'expireAfterSeconds' option instead",
            )
        value = change["expireAfterSeconds"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise CommandError(
                14, "BSON field 'collMod.index.expireAfterSeconds' is the wrong type, expected type 'long'"
            )
        if value < 0:
            raise CommandError(72, "TTL index 'expireAfterSeconds' option cannot be less than 0")
        if value > rules.MAX_TTL_SECONDS:
            raise CommandError(
                72, "TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number"
            )
    if "name" in change:
        spec = coll.index(change["name"])
    else:
        spec = next((s for s in coll.indexes if rules.same_key_pattern(s["key"], change.get("keyPattern"))), None)
    if spec is None:
        raise CommandError(27, f"cannot find index {change.get('name', change.get('keyPattern'))} for ns {namespace}")
    reply = {}
    if "expireAfterSeconds" in change:
        # Since 5.1 collMod turns a non-TTL single-field index into a TTL index.
        if "expireAfterSeconds" not in spec:
            if spec["name"] == "_id_":
                raise CommandError(72, "the _id field does not support TTL indexes")
            if len(spec["key"]) != 1:
                raise CommandError(72, "TTL indexes are single-field indexes, compound indexes do not support TTL")
        else:
            reply["expireAfterSeconds_old"] = spec["expireAfterSeconds"]
        spec["expireAfterSeconds"] = int(change["expireAfterSeconds"])
        reply["expireAfterSeconds_new"] = spec["expireAfterSeconds"]
    if "hidden" in change:
        if spec["name"] == "_id_":
            raise CommandError(2, "can't hide _id index")
        reply["hidden_old"] = bool(spec.get("hidden", False))
        if change["hidden"]:
            spec["hidden"] = True
        else:
            spec.pop("hidden", None)
        reply["hidden_new"] = bool(change["hidden"])
    return reply


def create_indexes(server: Server, ctx: Context) -> dict:
    # create_indexes_cmd.cpp: BadValue for an empty list.
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
        existing = rules.find_conflict(spec, coll.indexes + pending, _namespace(ctx))
        if existing is None:
            pending.append(spec)
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
        # src/mongo/db/catalog/drop_indexes.cpp: IndexNotFound; the _id index is InvalidOptions.
        if spec is None and isinstance(name, str):
            raise CommandError(27, f"index not found with name [{name}]")
        if spec is None:
            raise CommandError(27, f"can't find index with key: {name}")
        if spec["name"] == "_id_":
            raise CommandError(72, "cannot drop _id index")
        doomed.append(spec)
    coll.indexes = [spec for spec in coll.indexes if spec not in doomed]
    return {"nIndexesWas": before}


def validate(server: Server, ctx: Context) -> dict:
    """validate (https://www.mongodb.com/docs/manual/reference/command/validate/): the
    stand-in keeps no on-disk structures to check, so a collection that exists is valid;
    a missing one is NamespaceNotFound (src/mongo/db/commands/validate.cpp)."""
    coll = server.store.collection(ctx.db, ctx.target)
    if coll is None or coll.kind == "view":
        raise CommandError(26, f"Collection '{ctx.db}.{ctx.target}' does not exist to validate.")
    return {
        "ns": f"{ctx.db}.{ctx.target}",
        "nInvalidDocuments": 0,
        "nrecords": len(coll.documents),
        "nIndexes": len(coll.indexes),
        "valid": True,
        "repaired": False,
        "warnings": [],
        "errors": [],
    }


HANDLERS = {
    "validate": (validate, False),
    "create": (create, True),
    "drop": (drop, True),
    "dropDatabase": (drop_database, True),
    "listCollections": (list_collections, False),
    "collMod": (coll_mod, True),
    "createIndexes": (create_indexes, True),
    "listIndexes": (list_indexes, False),
    "dropIndexes": (drop_indexes, True),
}
