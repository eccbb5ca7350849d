"""insert, find, update, delete, count, getMore, killCursors."""

from __future__ import annotations

import copy
import datetime

from bson import ObjectId, Timestamp

from . import diagnostics, matcher
from .commands_catalog import create_plain_collection
from .errors import CommandError, write_error
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
    # https://www.mongodb.com/docs/manual/core/timeseries/timeseries-requirements/ and
    # jstests/noPassthrough/timeseries_insert_invalid_timefield.js: BadValue, per document.
    time_field = coll.options["timeseries"]["timeField"]
    if not isinstance(document.get(time_field), datetime.datetime):
        raise CommandError(
            2,
            f"'{time_field}' must be present and contain a valid BSON UTC datetime value",
        )


def _indexed(spec: dict, document: dict) -> bool:
    """Whether the document has an entry in the index: partial indexes hold the documents
    their filter matches, sparse ones those that have one of the key's fields."""
    if "partialFilterExpression" in spec and not matcher.matches(document, spec["partialFilterExpression"]):
        return False
    if spec.get("sparse"):
        return any(matcher.get_path(document, field) is not matcher._MISSING for field in spec["key"])
    return True


def _key_value(document: dict, fields: list[str]) -> dict:
    # A missing field is indexed as null.
    values = [matcher.get_path(document, field) for field in fields]
    return {field: None if value is matcher._MISSING else value for field, value in zip(fields, values, strict=True)}


def _check_unique(coll: Collection, namespace: str, document: dict, ignore: dict | None = None) -> None:
    """DuplicateKey (11000), with keyPattern and keyValue beside the message
    (src/mongo/db/storage/duplicate_key_error_info.cpp, key_string / buildDupKeyErrorStatus)."""
    for spec in coll.indexes:
        if spec["name"] != "_id_" and not spec.get("unique"):
            continue
        if not _indexed(spec, document):
            continue
        fields = list(spec["key"])
        value = _key_value(document, fields)
        for other in coll.documents:
            if other is ignore or not _indexed(spec, other):
                continue
            if _key_value(other, fields) == value:
                shown = ", ".join(f"{field}: {item!r}" for field, item in value.items())
                raise CommandError(
                    11000,
                    f"E11000 duplicate key error collection: {namespace} index: {spec['name']} dup key: {{ {shown} }}",
                    extra={"keyPattern": dict(spec["key"]), "keyValue": value},
                )


def _violates_validator(coll: Collection, document: dict) -> bool:
    """The validator subset the stand-in understands: $jsonSchema.required."""
    validator = coll.options.get("validator")
    if not validator:
        return False
    required = validator.get("$jsonSchema", {}).get("required", [])
    return any(field not in document for field in required)


def _check_validator(coll: Collection, document: dict, before: dict | None = None) -> None:
    """DocumentValidationFailure (121) as a write error.

    https://www.mongodb.com/docs/manual/core/schema-validation/specify-validation-level/ and
    .../handle-invalid-documents/: validationLevel off checks nothing, moderate leaves updates
    of documents that were already invalid alone; validationAction warn only logs.
    """
    level = coll.options.get("validationLevel", "strict")
    if level == "off" or coll.options.get("validationAction") == "warn":
        return
    if level == "moderate" and before is not None and _violates_validator(coll, before):
        return
    if _violates_validator(coll, document):
        raise CommandError(
            121,
            "Document failed validation",
            extra={"errInfo": {"failingDocumentId": document.get("_id"), "details": {}}},
        )


def _ordered(ctx: Context) -> bool:
    return ctx.body.get("ordered", True) is not False


def _with_write_errors(reply: dict, errors: list[dict]) -> dict:
    if errors:
        reply["writeErrors"] = errors
    return reply


def insert(server: Server, ctx: Context) -> dict:
    """Per-document failures are writeErrors of an ok: 1 reply; an ordered insert stops at
    the first one, an unordered insert goes on (src/mongo/db/ops/write_ops_exec.cpp,
    performInserts; https://www.mongodb.com/docs/manual/reference/command/insert/)."""
    coll = _collection_for_write(server, ctx)
    namespace = f"{ctx.db}.{ctx.target}"
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
                _check_unique(coll, namespace, document)
        except CommandError as error:
            errors.append(write_error(index, error))
            if _ordered(ctx):
                break
            continue
        coll.documents.append(document)
        inserted += 1
    server.opcounters["insert"] += inserted
    return _with_write_errors({"n": inserted}, errors)


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


def _sort_key(value) -> tuple:
    """Values of one BSON type compare as that type (numbers, strings, timestamps, dates);
    the order between types is not modelled."""
    if value is matcher._MISSING:
        return (0,)
    if isinstance(value, bool):
        return (5, value)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, Timestamp):
        return (3, value.time, value.inc)
    if isinstance(value, datetime.datetime):
        return (4, value.timestamp())
    return (6, str(value))


def _sorted(documents: list[dict], sort: dict | None) -> list[dict]:
    if sort and "$natural" in sort:
        # Insertion order, or its reverse (https://www.mongodb.com/docs/manual/reference/operator/meta/natural/).
        return list(reversed(documents)) if sort["$natural"] < 0 else list(documents)
    for key, direction in reversed(list((sort or {}).items())):
        documents = sorted(
            documents, key=lambda doc, key=key: _sort_key(matcher.get_path(doc, key)), reverse=direction < 0
        )
    return documents


def find(server: Server, ctx: Context) -> dict:
    server.opcounters["query"] += 1
    coll = server.store.collection(ctx.db, ctx.target)
    diagnostics.note_read(server, ctx.db, ctx.target, coll, ctx.body.get("filter"))
    documents = [] if coll is None else [d for d in coll.documents if matcher.matches(d, ctx.body.get("filter"))]
    documents = _sorted(documents, ctx.body.get("sort"))
    skip = ctx.body.get("skip", 0)
    limit = ctx.body.get("limit", 0)
    documents = documents[skip:]
    if limit:
        documents = documents[: abs(limit)]
    batch = [_project(copy.deepcopy(d), ctx.body.get("projection")) for d in documents]
    return {"cursor": {"id": 0, "ns": f"{ctx.db}.{ctx.target}", "firstBatch": batch}}


def _update_one_statement(coll: Collection, namespace: str, index: int, statement: dict) -> tuple[int, int, list]:
    """Apply one update statement; return (matched, modified, upserted entries)."""
    query, change = statement.get("q", {}), statement["u"]
    hits = [doc for doc in coll.documents if matcher.matches(doc, query)]
    if not statement.get("multi"):
        hits = hits[:1]
    if not hits and statement.get("upsert"):
        document = matcher.upsert_document(query, change)
        document.setdefault("_id", ObjectId())
        _check_validator(coll, document)
        _check_unique(coll, namespace, document)
        coll.documents.append(document)
        return 0, 0, [{"index": index, "_id": document["_id"]}]
    modified = 0
    for doc in hits:
        updated = matcher.apply_update(doc, change)
        if updated != doc:
            _check_validator(coll, updated, before=doc)
            _check_unique(coll, namespace, updated, ignore=doc)
            coll.documents[coll.documents.index(doc)] = updated
            modified += 1
    return len(hits), modified, []


def update(server: Server, ctx: Context) -> dict:
    """Like insert: a failing statement (duplicate key, validation, a bad operator or
    filter) is a writeError; ordered updates stop there (write_ops_exec.cpp, performUpdates)."""
    coll = _collection_for_write(server, ctx)
    namespace = f"{ctx.db}.{ctx.target}"
    matched = modified = 0
    upserted: list = []
    errors = []
    for index, statement in enumerate(ctx.documents("updates")):
        try:
            hits, changed, new = _update_one_statement(coll, namespace, index, statement)
        except CommandError as error:
            errors.append(write_error(index, error))
            if _ordered(ctx):
                break
            continue
        matched += hits
        modified += changed
        upserted += new
    server.opcounters["update"] += matched + len(upserted)
    reply: dict = {"n": matched + len(upserted), "nModified": modified}
    if upserted:
        reply["upserted"] = upserted
    return _with_write_errors(reply, errors)


def delete(server: Server, ctx: Context) -> dict:
    coll = server.store.collection(ctx.db, ctx.target)
    removed = 0
    errors = []
    for index, statement in enumerate(ctx.documents("deletes")):
        if coll is None:
            break
        try:
            hits = [doc for doc in coll.documents if matcher.matches(doc, statement.get("q", {}))]
        except CommandError as error:
            errors.append(write_error(index, error))
            if _ordered(ctx):
                break
            continue
        if statement.get("limit", 0) == 1:
            hits = hits[:1]
        for doc in hits:
            coll.documents.remove(doc)
        removed += len(hits)
    server.opcounters["delete"] += removed
    return _with_write_errors({"n": removed}, errors)


def count(server: Server, ctx: Context) -> dict:
    coll = server.store.collection(ctx.db, ctx.target)
    diagnostics.note_read(server, ctx.db, ctx.target, coll, ctx.body.get("query"))
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
    pipeline = ctx.body.get("pipeline", [])
    if pipeline and "$indexStats" in pipeline[0]:
        documents = [] if coll is None else diagnostics.index_stats(server, ctx, coll)
        pipeline = pipeline[1:]
    else:
        first = pipeline[0].get("$match") if pipeline else None
        diagnostics.note_read(server, ctx.db, ctx.target, coll, first)
        documents = [] if coll is None else list(coll.documents)
    for stage in pipeline:
        ((name, spec),) = stage.items()
        if name == "$indexStats":
            # An initial source anywhere but first is 40602 ("... is only valid as the first
            # stage in a pipeline.", src/mongo/db/pipeline/pipeline.cpp).
            raise CommandError(40602, "$indexStats is only valid as the first stage in a pipeline.", "Location40602")
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
