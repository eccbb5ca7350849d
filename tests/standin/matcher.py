"""A small query matcher and update applier for the stand-in's CRUD commands.

Covers what the project's tests and modules send: equality on (dotted) fields,
comparison operators, $in/$nin, $exists, $ne, $and/$or, and $set/$unset/$inc/$setOnInsert
updates. Errors follow the server's parsers: src/mongo/db/matcher/expression_parser.cpp
(unknown operators: BadValue), src/mongo/db/update/update_object_node.cpp (unknown
modifier: FailedToParse), src/mongo/db/update/arithmetic_node.cpp ($inc on a non-number:
TypeMismatch), src/mongo/db/update/update_driver.cpp and storage_validation.cpp (_id is
immutable: ImmutableField). In update and delete these come back as writeErrors.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import CommandError
from .rules import bson_type_name

_MISSING = object()


def get_path(document: dict, path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def set_path(document: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        document = document.setdefault(part, {})
    document[parts[-1]] = value


def unset_path(document: dict, path: str) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        document = document.get(part)
        if not isinstance(document, dict):
            return
    document.pop(parts[-1], None)


_COMPARISONS = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _operator_holds(op: str, actual: Any, operand: Any) -> bool:
    if op == "$eq":
        return _field_matches(actual, operand)
    if op == "$ne":
        return not _field_matches(actual, operand)
    if op == "$in":
        return any(_field_matches(actual, item) for item in operand)
    if op == "$nin":
        return not any(_field_matches(actual, item) for item in operand)
    if op == "$exists":
        return (actual is not _MISSING) == bool(operand)
    if op in _COMPARISONS:
        if actual is _MISSING:
            return False
        try:
            return _COMPARISONS[op](actual, operand)
        except TypeError:
            return False
    raise CommandError(2, f"unknown operator: {op}")  # expression_parser.cpp


def _field_matches(actual: Any, condition: Any) -> bool:
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        return all(_operator_holds(op, actual, operand) for op, operand in condition.items())
    if actual is _MISSING:
        return condition is None
    if isinstance(actual, list) and not isinstance(condition, list):
        return condition in actual
    return actual == condition


def matches(document: dict, query: dict | None) -> bool:
    for key, condition in (query or {}).items():
        if key == "$and":
            if not all(matches(document, part) for part in condition):
                return False
        elif key == "$or":
            if not any(matches(document, part) for part in condition):
                return False
        elif key.startswith("$"):
            raise CommandError(2, f"unknown top level operator: {key}")
        elif not _field_matches(get_path(document, key), condition):
            return False
    return True


def _increment(updated: dict, path: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CommandError(14, f"Cannot increment with non-numeric argument: {{{path}: {value!r}}}")
    current = get_path(updated, path)
    if current is _MISSING:
        current = 0
    elif isinstance(current, bool) or not isinstance(current, (int, float)):
        raise CommandError(
            14,
            f"Cannot apply $inc to a value of non-numeric type. {{_id: {updated.get('_id')!r}}} has the field "
            f"'{path}' of non-numeric type {bson_type_name(current)}",
        )
    set_path(updated, path, current + value)


def apply_update(document: dict, update: dict) -> dict:
    """Return the updated copy of document; a document without operators replaces it."""
    if not any(key.startswith("$") for key in update):
        replacement = copy.deepcopy(update)
        if "_id" in replacement and "_id" in document and replacement["_id"] != document["_id"]:
            raise CommandError(
                66,
                "After applying the update, the (immutable) field '_id' was found to have been altered to "
                f"_id: {replacement['_id']!r}",
            )
        if "_id" in document:
            replacement = {"_id": document["_id"], **replacement}
        return replacement
    updated = copy.deepcopy(document)
    for op, fields in update.items():
        if op not in ("$set", "$unset", "$inc", "$setOnInsert"):
            raise CommandError(
                9,
                f"Unknown modifier: {op}. Expected a valid update modifier or pipeline-style update "
                "specified as an array",
                "FailedToParse",
            )
        for path, value in fields.items():
            if op == "$set":
                set_path(updated, path, copy.deepcopy(value))
            elif op == "$unset":
                unset_path(updated, path)
            elif op == "$inc":
                _increment(updated, path, value)
    if "_id" in document and updated.get("_id", _MISSING) != document["_id"]:
        raise CommandError(66, "Performing an update on the path '_id' would modify the immutable field '_id'")
    return updated


def upsert_document(query: dict, update: dict) -> dict:
    """The document an upsert inserts: equality fields of the query, then the update."""
    base: dict = {}
    for key, value in query.items():
        if not key.startswith("$") and not isinstance(value, dict):
            set_path(base, key, copy.deepcopy(value))
    if not any(key.startswith("$") for key in update):
        return {**({"_id": base["_id"]} if "_id" in base else {}), **copy.deepcopy(update)}
    updated = apply_update(base, update)
    for path, value in update.get("$setOnInsert", {}).items():
        set_path(updated, path, copy.deepcopy(value))
    return updated
