"""insert, find, update, delete, count, getMore, killCursors."""

from __future__ import annotations

import copy
import datetime

from bson import ObjectId

from . import matcher
from .commands_catalog import create_plain_collection
from .errors import CommandError
from .server import Context, Server
from .storage import Collection


def _collection_for_write(server: Server, ctx: Context) -> Collection:
    """The target collection, created implicitly like a real server does on first write."""
    name = ctx.target
    coll = server.store.collection(ctx.db, name)
    if coll is None:
        coll = create_plain_collection(server, ctx.db, name, {})
    if coll.kind == "view":
        raise CommandError(166, f"Namespace {ctx.db}.{name} is a view, not a collection")
    return coll


def _check_timeseries_document(coll: Collection, document: dict) -> None:
    # https://www.mongodb.com/docs/manual/core/timeseries/timeseries-requirements/
    time_field = coll.options["timeseries"]["timeField"]
    if not isinstance(document.get(time_field), datetime.datetime):
        raise CommandError(
            2,
            f"'{time_field}' must be present and contain a valid BSON UTC datetime value",
        )


def _check_unique(coll: Collection, document: dict, ignore: dict | None = None) -> None:
    for spec in coll.indexes:
        if spec["name"] != "_id_" and not spec.get("unique"):
            continue
        fields = list(spec["key"])
        values = [matcher.get_path(document, field) for field in fields]
        for other in coll.documents:
            if other is ignore:
                continue
            if [matcher.get_path(other, field) for field in fields] == values:
                raise CommandError(
                    11000,
                    f"E11000 duplicate key error collection: {spec.get('ns', '')} "
                    f"index: {spec['name']} dup key: {dict(zip(fields, values, strict=True))}",
                )


def _check_validator(coll: Collection, document: dict) -> None:
    validator = coll.options.get("validator")
    if not validator or coll.options.get("validationAction") == "warn":
        return
    required = validator.get("$jsonSchema", {}).get("required", [])
    missing = [field for field in required if field not in document]
    if missing:
        raise CommandError(121, "Document failed validation")


def insert(server: Server, ctx: Context) -> dict:
    coll = _collection_for_write(server, ctx)
    inserted = 0
    errors = []
    for index, document in enumerate(ctx.documents("documents")):
        document = copy.deepcopy(document)
        if "_id" not in document:
            document = {"_id": ObjectId(), **document}
        try:
            if coll.kind == "timeseries":
                _check_timeseries_document(coll, document)
            else:
                _check_validator(coll, document)
                _check_unique(coll, document)
        except CommandError as error:
            errors.append({"index": index, "code": error.code, "errmsg": error.message})
            if ctx.body.get("ordered", True):
                break
            continue
        coll.documents.append(document)
        inserted += 1
    server.opcounters["insert"] += inserted
    reply: dict = {"n": inserted}
    if errors:
        reply["writeErrors"] = errors
    return reply


def _project(document: dict, projection: dict | None) -> dict:
    if not projection:
        return document
    include = {key for key, value in projection.items() if value and key != "_id"}
    if include:
        result = {key: document[key] for key in document if key in include}
        if projection.get("_id", 1):
            result = {"_id": document.get("_id"), **result}
        return result
    return {key: value for key, value in document.items() if projection.get(key, 1)}


def _sorted(documents: list[dict], sort: dict | None) -> list[dict]:
    for key, direction in reversed(list((sort or {}).items())):
        documents = sorted(
            documents,
            key=lambda doc, key=key: (matcher.get_path(doc, key) is matcher._MISSING, str(matcher.get_path(doc, key))),
            reverse=direction < 0,
        )
    return documents


def find(server: Server, ctx: Context) -> dict:
    server.opcounters["query"] += 1
    coll = server.store.collection(ctx.db, ctx.target)
    documents = [] if coll is None else [d for d in coll.documents if matcher.matches(d, ctx.body.get("filter"))]
    documents = _sorted(documents, ctx.body.get("sort"))
    skip = ctx.body.get("skip", 0)
    limit = ctx.body.get("limit", 0)
    documents = documents[skip:]
    if limit:
        documents = documents[: abs(limit)]
    batch = [_project(copy.deepcopy(d), ctx.body.get("projection")) for d in documents]
    return {"cursor": {"id": 0, "ns": f"{ctx.db}.{ctx.target}", "firstBatch": batch}}


def update(server: Server, ctx: Context) -> dict:
    coll = _collection_for_write(server, ctx)
    matched = modified = 0
    upserted = []
    for index, statement in enumerate(ctx.documents("updates")):
        query, change = statement.get("q", {}), statement["u"]
        hits = [doc for doc in coll.documents if matcher.matches(doc, query)]
        if not statement.get("multi"):
            hits = hits[:1]
        if not hits and statement.get("upsert"):
            document = matcher.upsert_document(query, change)
            document.setdefault("_id", ObjectId())
            _check_unique(coll, document)
            coll.documents.append(document)
            upserted.append({"index": index, "_id": document["_id"]})
            continue
        for doc in hits:
            matched += 1
            updated = matcher.apply_update(doc, change)
            if updated != doc:
                _check_unique(coll, updated, ignore=doc)
                coll.documents[coll.documents.index(doc)] = updated
                modified += 1
    server.opcounters["update"] += matched + len(upserted)
    reply: dict = {"n": matched + len(upserted), "nModified": modified}
    if upserted:
        reply["upserted"] = upserted
    return reply


def delete(server: Server, ctx: Context) -> dict:
    coll = server.store.collection(ctx.db, ctx.target)
    removed = 0
    for statement in ctx.documents("deletes"):
        if coll is None:
            break
        hits = [doc for doc in coll.documents if matcher.matches(doc, statement.get("q", {}))]
        if statement.get("limit", 0) == 1:
            hits = hits[:1]
        for doc in hits:
            coll.documents.remove(doc)
        removed += len(hits)
    server.opcounters["delete"] += removed
    return {"n": removed}


def count(server: Server, ctx: Context) -> dict:
    coll = server.store.collection(ctx.db, ctx.target)
    documents = [] if coll is None else coll.documents
    return {"n": sum(1 for doc in documents if matcher.matches(doc, ctx.body.get("query")))}


def _group(documents: list[dict], spec: dict) -> list[dict]:
    groups: dict = {}
    key_expr = spec["_id"]
    for doc in documents:
        key = (
            matcher.get_path(doc, key_expr[1:]) if isinstance(key_expr, str) and key_expr.startswith("$") else key_expr
        )
        group = groups.setdefault(repr(key), {"_id": key})
        for field, accumulator in spec.items():
            if field == "_id":
                continue
            ((op, operand),) = accumulator.items()
            if op != "$sum":
                raise CommandError(168, f"Unrecognized expression '{op}'", "InvalidPipelineOperator")
            value = matcher.get_path(doc, operand[1:]) if isinstance(operand, str) else operand
            group[field] = group.get(field, 0) + (0 if value is matcher._MISSING else value)
    return list(groups.values())


def aggregate(server: Server, ctx: Context) -> dict:
    """The stages pymongo's count_documents and simple reports use."""
    coll = server.store.collection(ctx.db, ctx.target)
    documents = [] if coll is None else list(coll.documents)
    for stage in ctx.body.get("pipeline", []):
        ((name, spec),) = stage.items()
        if name == "$match":
            documents = [doc for doc in documents if matcher.matches(doc, spec)]
        elif name == "$skip":
            documents = documents[spec:]
        elif name == "$limit":
            documents = documents[:spec]
        elif name == "$sort":
            documents = _sorted(documents, spec)
        elif name == "$count":
            documents = [{spec: len(documents)}] if documents else []
        elif name == "$group":
            documents = _group(documents, spec)
        elif name == "$project":
            documents = [_project(doc, spec) for doc in documents]
        else:
            raise CommandError(40324, f"Unrecognized pipeline stage name: '{name}'", "Location40324")
    return {"cursor": {"id": 0, "ns": f"{ctx.db}.{ctx.target}", "firstBatch": copy.deepcopy(documents)}}


def get_more(server: Server, ctx: Context) -> dict:
    # Every cursor is answered whole in its first batch, so no cursor stays open.
    raise CommandError(43, f"cursor id {ctx.target} not found", "CursorNotFound")


def kill_cursors(server: Server, ctx: Context) -> dict:
    cursors = ctx.body.get("cursors", [])
    return {"cursorsKilled": [], "cursorsNotFound": cursors, "cursorsAlive": [], "cursorsUnknown": []}


HANDLERS = {
    "insert": (insert, True),
    "find": (find, False),
    "update": (update, True),
    "delete": (delete, True),
    "count": (count, False),
    "aggregate": (aggregate, False),
    "getMore": (get_more, False),
    "killCursors": (kill_cursors, False),
}
