"""Declarative collections and indexes: validation and planning, as pure functions.

The module ``mongodb_collections`` reads the current state of a database
(``listCollections`` once, ``listIndexes`` once per managed collection), then calls
``plan_database`` with the desired specification. The result lists the commands that
bring the database to the specification, the refusals (changes MongoDB does not allow
in place, or rules the specification breaks) and warnings. No server is needed here,
so every rule is unit-tested.

Rules follow MongoDB 8.0's documentation (7.0 where it differs):
- create: https://www.mongodb.com/docs/manual/reference/command/create/
- time-series: https://www.mongodb.com/docs/manual/core/timeseries/timeseries-limitations/,
  .../timeseries-secondary-index/, .../timeseries-granularity/,
  .../timeseries-automatic-removal/
- collMod: https://www.mongodb.com/docs/manual/reference/command/collMod/
- indexes: https://www.mongodb.com/docs/manual/reference/command/createIndexes/,
  .../core/index-ttl/, .../core/index-partial/, .../core/index-sparse/,
  .../core/indexes/index-types/index-text/
- names: https://www.mongodb.com/docs/manual/reference/limits/#naming-restrictions
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ansible.module_utils.mongodb_plan import DeclarationError, Operation, Plan

GRANULARITY_BUCKETS: dict[str, tuple[int, int]] = {
    # granularity: (bucketMaxSpanSeconds, bucketRoundingSeconds)
    "seconds": (3600, 60),
    "minutes": (86400, 3600),
    "hours": (2_592_000, 86400),
}
GRANULARITY_ORDER = ["seconds", "minutes", "hours"]
MAX_BUCKET_SECONDS = 31_536_000
MAX_TTL_SECONDS = 2_147_483_647
MAX_INDEXES = 64
MAX_NAMESPACE_BYTES = 255
MAX_DATABASE_NAME_BYTES = 63
INDEX_TYPES = {"text", "2dsphere", "2d", "hashed"}
DATABASE_NAME_FORBIDDEN = set('/\\. "$*<>:|?')
PARTIAL_FILTER_OPERATORS = {"$eq", "$exists", "$gt", "$gte", "$lt", "$lte", "$type", "$in"}
# Index options the planner manages; anything else a server reports (v, ns,
# textIndexVersion, 2dsphereIndexVersion, language_override, background...) is its own.
MANAGED_INDEX_OPTIONS = (
    "unique",
    "sparse",
    "partialFilterExpression",
    "expireAfterSeconds",
    "collation",
    "weights",
    "default_language",
    "hidden",
)
# Options that make two indexes on the same key pattern different indexes (5.0+).
IDENTIFYING_OPTIONS = ("collation", "partialFilterExpression", "unique", "sparse")


# -- specification -------------------------------------------------------------------


@dataclass
class IndexSpec:
    name: str
    key: list[tuple[str, Any]]
    options: dict[str, Any]
    allow_recreate: bool = False

    def server_key(self) -> dict[str, Any]:
        """The key pattern as listIndexes reports it (text fields become _fts/_ftsx)."""
        if not any(direction == "text" for _, direction in self.key):
            return dict(self.key)
        key: dict[str, Any] = {}
        placed = False
        for field_name, direction in self.key:
            if direction == "text":
                if not placed:
                    key.update({"_fts": "text", "_ftsx": 1})
                    placed = True
            else:
                key[field_name] = direction
        return key

    def server_options(self) -> dict[str, Any]:
        options = dict(self.options)
        if any(direction == "text" for _, direction in self.key):
            weights = {field_name: 1 for field_name, direction in self.key if direction == "text"}
            weights.update(options.get("weights", {}))
            options["weights"] = weights
        return options

    def create_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"key": dict(self.key), "name": self.name}
        document.update(self.server_options())
        return document


@dataclass
class CollectionSpec:
    database: str
    name: str
    timeseries: dict[str, Any] | None
    expire_after_seconds: int | str | None
    validator: dict | None
    validation_level: str | None
    validation_action: str | None
    indexes: list[IndexSpec]

    def validation_options(self) -> dict[str, Any]:
        """The validator settings the spec sets, under their server names."""
        given = {
            "validator": self.validator,
            "validationLevel": self.validation_level,
            "validationAction": self.validation_action,
        }
        return {option: value for option, value in given.items() if value is not None}


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise DeclarationError(message)


def default_index_name(key: list[tuple[str, Any]]) -> str:
    """The name MongoDB's shell and drivers generate: field_direction joined by _."""
    return "_".join(f"{field_name}_{direction}" for field_name, direction in key)


def _parse_key(where: str, raw: Any) -> list[tuple[str, Any]]:
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = []
        for item in raw:
            if isinstance(item, dict) and len(item) == 1:
                pairs.append(next(iter(item.items())))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                pairs.append((item[0], item[1]))
            else:
                raise DeclarationError(
                    f"{where}: each key must be {{field: direction}} or [field, direction], got {item!r}"
                )
    else:
        raise DeclarationError(f"{where}: keys must be a list of {{field: direction}} items")
    _require(bool(pairs), f"{where}: keys cannot be empty")
    seen = set()
    key: list[tuple[str, Any]] = []
    for field_name, direction in pairs:
        _require(isinstance(field_name, str) and field_name != "", f"{where}: key field names must be non-empty text")
        _require(field_name not in seen, f"{where}: field {field_name} appears twice in the keys")
        seen.add(field_name)
        if isinstance(direction, str) and direction.lstrip("-").isdigit():
            direction = int(direction)
        if isinstance(direction, bool) or not (
            (isinstance(direction, (int, float)) and direction in (1, -1)) or direction in INDEX_TYPES
        ):
            raise DeclarationError(
                f"{where}: key {field_name} has direction {direction!r}; MongoDB accepts 1, -1, "
                f"'text', '2dsphere', '2d' or 'hashed'"
            )
        is_wildcard = field_name == "$**" or field_name.endswith(".$**")
        _require(
            not field_name.startswith("$") or is_wildcard,
            f"{where}: key {field_name} starts with '$', which only a wildcard key ($**) may",
        )
        _require(
            not is_wildcard or direction in (1, -1),
            f"{where}: a wildcard key takes 1 or -1, not {direction!r}",
        )
        key.append((field_name, int(direction) if isinstance(direction, (int, float)) else direction))
    plugins = {direction for _, direction in key if isinstance(direction, str)}
    _require(len(plugins) <= 1, f"{where}: keys mix index types {sorted(plugins)}; one index has one type")
    return key


def _check_ttl(where: str, value: Any) -> int:
    _require(
        isinstance(value, int) and not isinstance(value, bool),
        f"{where}: expire_after_seconds must be a whole number of seconds",
    )
    _require(
        0 <= value <= MAX_TTL_SECONDS,
        f"{where}: expire_after_seconds must be between 0 and {MAX_TTL_SECONDS} (TTL range)",
    )
    return value


def _check_partial_filter(where: str, expression: Any) -> None:
    _require(isinstance(expression, dict) and expression, f"{where}: partial_filter_expression must be a non-empty map")
    for name, condition in expression.items():
        if name in ("$and", "$or"):
            _require(isinstance(condition, list), f"{where}: {name} in partial_filter_expression takes a list")
            for part in condition:
                _check_partial_filter(where, part)
            continue
        _require(
            not name.startswith("$"),
            f"{where}: partial_filter_expression does not support {name} "
            "(allowed: equality, $exists: true, $gt, $gte, $lt, $lte, $type, $in, $and, $or)",
        )
        if isinstance(condition, dict) and any(op.startswith("$") for op in condition):
            for op, operand in condition.items():
                _require(
                    op in PARTIAL_FILTER_OPERATORS,
                    f"{where}: partial_filter_expression does not support {op} "
                    "(allowed: equality, $exists: true, $gt, $gte, $lt, $lte, $type, $in, $and, $or)",
                )
                _require(op != "$exists" or operand is True, f"{where}: a partial index supports only $exists: true")


INDEX_FIELDS = {
    "name",
    "keys",
    "unique",
    "sparse",
    "partial_filter_expression",
    "expire_after_seconds",
    "collation",
    "weights",
    "default_language",
    "hidden",
    "background",
    "allow_recreate",
}


def parse_index(collection: str, raw: dict, warnings: list[str]) -> IndexSpec:
    where = f"collection {collection}, index {raw.get('name', '(unnamed)')}"
    unknown = sorted(set(raw) - INDEX_FIELDS)
    if unknown:
        raise DeclarationError(f"{where}: unknown index option {unknown[0]}")
    key = _parse_key(where, raw.get("keys"))
    name = raw.get("name") or default_index_name(key)
    where = f"collection {collection}, index {name}"
    _require(isinstance(name, str), f"{where}: name must be text")
    _require(name != "*", f"{where}: '*' is not a valid index name")
    _require(name != "_id_" or key == [("_id", 1)], f"{where}: the name _id_ is reserved for the {{_id: 1}} index")
    if raw.get("background") is not None:
        warnings.append(
            f"{where}: background is ignored since MongoDB 4.2 (index builds take an exclusive lock only at "
            "their start and end) and refused under the Stable API; it is not sent"
        )
    options: dict[str, Any] = {}
    for flag in ("unique", "sparse", "hidden"):
        if raw.get(flag) is not None:
            _require(isinstance(raw[flag], bool), f"{where}: {flag} must be true or false")
            if raw[flag]:
                options[flag] = True
    if raw.get("partial_filter_expression") is not None:
        _check_partial_filter(where, raw["partial_filter_expression"])
        options["partialFilterExpression"] = raw["partial_filter_expression"]
    if raw.get("expire_after_seconds") is not None:
        options["expireAfterSeconds"] = _check_ttl(where, raw["expire_after_seconds"])
    if raw.get("collation") is not None:
        collation = raw["collation"]
        _require(isinstance(collation, dict) and "locale" in collation, f"{where}: collation needs a locale")
        if collation["locale"] != "simple":
            options["collation"] = dict(collation)
    directions = {direction for _, direction in key}
    is_text = "text" in directions
    if raw.get("weights") is not None:
        _require(is_text, f"{where}: weights apply to text indexes only")
        weights = raw["weights"]
        _require(isinstance(weights, dict) and weights, f"{where}: weights must map fields to numbers")
        for field_name, weight in weights.items():
            _require(
                isinstance(weight, int) and not isinstance(weight, bool) and 1 <= weight <= 99999,
                f"{where}: weight of {field_name} must be a whole number from 1 to 99999",
            )
        options["weights"] = dict(weights)
    if raw.get("default_language") is not None:
        _require(is_text, f"{where}: default_language applies to text indexes only")
        options["default_language"] = raw["default_language"]

    # Option combinations MongoDB refuses (createIndexes, index-ttl, index-partial).
    _require(
        not (options.get("sparse") and "partialFilterExpression" in options),
        f"{where}: sparse and partial_filter_expression cannot be combined (a partial index is the general form)",
    )
    _require(
        not (options.get("unique") and "hashed" in directions),
        f"{where}: a hashed index cannot be unique",
    )
    if "expireAfterSeconds" in options:
        _require(len(key) == 1, f"{where}: a TTL index (expire_after_seconds) must have exactly one key field")
        _require(key[0][0] != "_id", f"{where}: the _id index cannot expire documents")
        _require(isinstance(key[0][1], int), f"{where}: a TTL index needs an ascending or descending key")
    _require(not (options.get("hidden") and name == "_id_"), f"{where}: the _id index cannot be hidden")
    _require(not (is_text and "collation" in options), f"{where}: text indexes support only the simple collation")
    return IndexSpec(name=name, key=key, options=options, allow_recreate=bool(raw.get("allow_recreate", False)))


TIMESERIES_FIELDS = {"time_field", "meta_field", "granularity", "bucket_max_span_seconds", "bucket_rounding_seconds"}


def _parse_timeseries(collection: str, raw: dict) -> dict[str, Any]:
    where = f"collection {collection}, timeseries"
    unknown = sorted(set(raw) - TIMESERIES_FIELDS)
    if unknown:
        raise DeclarationError(f"{where}: unknown option {unknown[0]}")
    time_field = raw.get("time_field")
    _require(isinstance(time_field, str) and time_field != "", f"{where}: time_field is required")
    meta_field = raw.get("meta_field")
    for label, value in (("time_field", time_field), ("meta_field", meta_field)):
        if value is None:
            continue
        _require(isinstance(value, str) and value != "", f"{where}: {label} must be a field name")
        _require("." not in value, f"{where}: {label} must be a top-level field (no '.')")
        _require(not value.startswith("$"), f"{where}: {label} cannot start with '$'")
    _require(meta_field != "_id", f"{where}: meta_field cannot be _id")
    _require(meta_field != time_field, f"{where}: meta_field and time_field must differ")
    granularity = raw.get("granularity")
    span = raw.get("bucket_max_span_seconds")
    rounding = raw.get("bucket_rounding_seconds")
    if granularity is not None:
        _require(
            granularity in GRANULARITY_BUCKETS,
            f"{where}: granularity is {granularity!r}; MongoDB accepts seconds, minutes or hours",
        )
    for label, value in (("bucket_max_span_seconds", span), ("bucket_rounding_seconds", rounding)):
        if value is not None:
            _require(
                isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_BUCKET_SECONDS,
                f"{where}: {label} must be a whole number from 1 to {MAX_BUCKET_SECONDS}",
            )
    if granularity is not None and (span is not None or rounding is not None):
        raise DeclarationError(
            f"{where}: bucket_max_span_seconds/bucket_rounding_seconds cannot be set beside granularity "
            f"(MongoDB 6.3+ refuses the combination): choose granularity {granularity!r} alone, or custom "
            "bucketing with both values equal and no granularity"
        )
    if span is not None or rounding is not None:
        _require(
            span is not None and rounding is not None and span == rounding,
            f"{where}: custom bucketing needs bucket_max_span_seconds and bucket_rounding_seconds, equal",
        )
    spec: dict[str, Any] = {"timeField": time_field}
    if meta_field is not None:
        spec["metaField"] = meta_field
    if span is not None:
        spec.update(bucketMaxSpanSeconds=span, bucketRoundingSeconds=rounding)
    else:
        spec["granularity"] = granularity or "seconds"
        spec["bucketMaxSpanSeconds"] = GRANULARITY_BUCKETS[spec["granularity"]][0]
    return spec


def _on_meta(field_name: str, meta: str | None) -> bool:
    return bool(meta) and (field_name == meta or field_name.startswith(meta + "."))


def _check_timeseries_index(collection: str, index: IndexSpec, timeseries: dict) -> None:
    where = f"collection {collection}, index {index.name}"
    time_field, meta = timeseries["timeField"], timeseries.get("metaField")
    options = index.options
    _require(not options.get("unique"), f"{where}: time-series collections do not support unique indexes")
    _require(
        all(direction != "text" for _, direction in index.key),
        f"{where}: time-series collections do not support text indexes",
    )
    _require(
        not options.get("sparse") or all(f == time_field or _on_meta(f, meta) for f, _ in index.key),
        f"{where}: on a time-series collection a sparse index may only cover the metaField and timeField",
    )
    _require(
        not ("partialFilterExpression" in options and "collation" in options),
        f"{where}: on a time-series collection partial_filter_expression and collation cannot be combined",
    )
    for field_name, direction in index.key:
        if _on_meta(field_name, meta):
            continue
        if field_name == time_field:
            _require(isinstance(direction, int), f"{where}: the timeField can only be indexed ascending or descending")
        else:
            _require(
                not field_name.endswith("$**") and direction in (1, -1, "2dsphere"),
                f"{where}: measurement field {field_name} can only be indexed 1, -1 or '2dsphere' "
                "(hashed and wildcard indexes need the metaField)",
            )
    if "expireAfterSeconds" in options:
        filter_fields = list(options.get("partialFilterExpression", {}))
        _require(
            index.key[0][0] == time_field and filter_fields and all(_on_meta(f, meta) for f in filter_fields),
            f"{where}: a TTL index on a time-series collection must be on the timeField with a "
            "partial_filter_expression on the metaField only; use the collection's expire_after_seconds "
            "for retention",
        )


COLLECTION_FIELDS = {
    "name",
    "timeseries",
    "expire_after_seconds",
    "validator",
    "validation_level",
    "validation_action",
    "indexes",
}


def check_names(database: str, collection: str) -> None:
    where = f"collection {collection}"
    _require(isinstance(collection, str) and collection != "", "every collection needs a name")
    _require("$" not in collection and "\x00" not in collection, f"{where}: names cannot contain '$' or NUL")
    _require(not collection.startswith("system."), f"{where}: the system. prefix is reserved for MongoDB")
    namespace = f"{database}.{collection}"
    _require(
        len(namespace.encode()) <= MAX_NAMESPACE_BYTES,
        f"{where}: namespace {namespace} is {len(namespace.encode())} bytes; MongoDB allows {MAX_NAMESPACE_BYTES}",
    )


def check_database_name(database: str) -> None:
    _require(isinstance(database, str) and database != "", "database must be named")
    bad = sorted(DATABASE_NAME_FORBIDDEN & set(database))
    _require(not bad, f"database {database}: names cannot contain {' '.join(bad)}")
    _require(
        len(database.encode()) <= MAX_DATABASE_NAME_BYTES,
        f"database {database}: names are limited to {MAX_DATABASE_NAME_BYTES} bytes",
    )


def parse_collection(database: str, raw: dict, warnings: list[str]) -> CollectionSpec:
    name = raw.get("name")
    check_names(database, name)
    where = f"collection {name}"
    unknown = sorted(set(raw) - COLLECTION_FIELDS)
    if unknown:
        raise DeclarationError(f"{where}: unknown option {unknown[0]}")
    timeseries = _parse_timeseries(name, raw["timeseries"]) if raw.get("timeseries") else None
    expire = raw.get("expire_after_seconds")
    if expire is not None and expire != "off":
        expire = _check_ttl(where, expire)
    _require(
        expire is None or timeseries is not None,
        f"{where}: expire_after_seconds on a collection needs a time-series collection; for a plain collection "
        "add a TTL index (an index with expire_after_seconds on a date field)",
    )
    validator = raw.get("validator")
    level, action = raw.get("validation_level"), raw.get("validation_action")
    _require(
        timeseries is None or (validator is None and level is None and action is None),
        f"{where}: time-series collections do not support document validation",
    )
    _require(level in (None, "off", "strict", "moderate"), f"{where}: validation_level is off, strict or moderate")
    _require(
        action in (None, "error", "warn", "errorAndLog"), f"{where}: validation_action is error, warn or errorAndLog"
    )
    _require(validator is None or isinstance(validator, dict), f"{where}: validator must be a map")

    indexes: list[IndexSpec] = []
    for raw_index in raw.get("indexes") or []:
        _require(isinstance(raw_index, dict), f"{where}: each index must be a map")
        index = parse_index(name, raw_index, warnings)
        if timeseries is not None and _is_seed_style_ttl(index, timeseries):
            expire = _fold_ttl_into_collection(name, index, expire, warnings)
            continue
        if timeseries is not None:
            _check_timeseries_index(name, index, timeseries)
        indexes.append(index)
    _check_index_set(name, indexes)
    return CollectionSpec(database, name, timeseries, expire, validator, level, action, indexes)


def _is_seed_style_ttl(index: IndexSpec, timeseries: dict) -> bool:
    return (
        "expireAfterSeconds" in index.options
        and index.key[0][0] == timeseries["timeField"]
        and "partialFilterExpression" not in index.options
    )


def _fold_ttl_into_collection(collection: str, index: IndexSpec, expire: Any, warnings: list[str]) -> int:
    """A TTL index on the timeField of a time-series collection means retention.

    MongoDB refuses that index; the collection's expireAfterSeconds does what it meant
    (timeseries-automatic-removal). The index is not created.
    """
    ttl = index.options["expireAfterSeconds"]
    _require(
        expire in (None, ttl),
        f"collection {collection}, index {index.name}: a TTL index on the timeField says retention {ttl}s but "
        f"expire_after_seconds says {expire}; keep one",
    )
    warnings.append(
        f"collection {collection}, index {index.name}: time-series collections refuse TTL indexes on the "
        f"timeField; retention of {ttl}s is set as the collection's expireAfterSeconds instead and the index "
        "is not created"
    )
    return ttl


def _identity(index: IndexSpec) -> tuple:
    options = index.server_options()
    return (
        tuple(index.server_key().items()),
        *(repr(options.get(option)) for option in IDENTIFYING_OPTIONS),
    )


def _check_index_set(collection: str, indexes: list[IndexSpec]) -> None:
    where = f"collection {collection}"
    names = [index.name for index in indexes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DeclarationError(f"{where}: index name {duplicates[0]} is used twice")
    identities: dict[tuple, str] = {}
    for index in indexes:
        identity = _identity(index)
        _require(
            identity not in identities,
            f"{where}: indexes {identities.get(identity)} and {index.name} have the same keys and options",
        )
        identities[identity] = index.name
    text = [index.name for index in indexes if any(d == "text" for _, d in index.key)]
    _require(len(text) <= 1, f"{where}: a collection has at most one text index, the spec has {', '.join(text)}")
    _require(len(indexes) < MAX_INDEXES, f"{where}: at most {MAX_INDEXES} indexes per collection, _id included")


def parse_spec(database: str, collections: list[dict]) -> tuple[list[CollectionSpec], list[str]]:
    """Validate the whole specification; raises DeclarationError listing every problem."""
    warnings: list[str] = []
    problems: list[str] = []
    specs: list[CollectionSpec] = []
    try:
        check_database_name(database)
    except DeclarationError as error:
        problems.append(str(error))
    seen: set[str] = set()
    for raw in collections:
        try:
            _require(isinstance(raw, dict), "each collection must be a map")
            spec = parse_collection(database, raw, warnings)
            _require(spec.name not in seen, f"collection {spec.name} is listed twice")
            seen.add(spec.name)
            specs.append(spec)
        except DeclarationError as error:
            problems.append(str(error))
    if problems:
        raise DeclarationError("; ".join(problems))
    return specs, warnings


# -- current state -------------------------------------------------------------------


def _index_view(listed: dict) -> dict[str, Any]:
    """What the planner compares of an index listIndexes reported."""
    view: dict[str, Any] = {"key": dict(listed["key"])}
    for option in MANAGED_INDEX_OPTIONS:
        if option in listed and listed[option] is not False:
            view[option] = listed[option]
    return view


def _desired_index_view(index: IndexSpec) -> dict[str, Any]:
    return {"key": index.server_key(), **index.server_options()}


def _same_index(current: dict[str, Any], desired: dict[str, Any], ignore: tuple[str, ...] = ()) -> bool:
    if list(current["key"].items()) != list(desired["key"].items()):
        return False
    for option in MANAGED_INDEX_OPTIONS:
        if option in ignore:
            continue
        want, have = desired.get(option), current.get(option)
        if option == "collation" and want is not None and have is not None:
            # The server expands a collation with every default; compare what the spec sets.
            if any(have.get(key) != value for key, value in want.items()):
                return False
            continue
        if option == "default_language" and want is None:
            continue  # a text index's default language is the server's unless the spec sets it
        if option == "weights" and want is not None and have is not None:
            if {k: int(v) for k, v in have.items()} != {k: int(v) for k, v in want.items()}:
                return False
            continue
        if want != have:
            return False
    return True


def _in_place_change(have: dict, desired: dict, allow_ttl: bool) -> dict[str, Any] | None:
    """collMod index changes when only the TTL value or the hidden flag differ.

    collMod changes an existing TTL value and hides or unhides an index; adding or
    removing a TTL needs a rebuild, and a time-series collection takes no TTL change.
    """
    if not _same_index(have, desired, ignore=("expireAfterSeconds", "hidden")):
        return None
    change: dict[str, Any] = {}
    if have.get("expireAfterSeconds") != desired.get("expireAfterSeconds"):
        if not allow_ttl or "expireAfterSeconds" not in have or "expireAfterSeconds" not in desired:
            return None
        change["expireAfterSeconds"] = desired["expireAfterSeconds"]
    if bool(have.get("hidden")) != bool(desired.get("hidden")):
        change["hidden"] = bool(desired.get("hidden"))
    return change or None


def _protected_indexes(info: dict) -> set[str]:
    """Indexes MongoDB creates itself: never pruned."""
    protected = {"_id_"}
    timeseries = info.get("options", {}).get("timeseries")
    if timeseries and timeseries.get("metaField"):
        protected.add(f"{timeseries['metaField']}_1_{timeseries['timeField']}_1")
    return protected


# -- planning ------------------------------------------------------------------------


def _create_command(spec: CollectionSpec) -> dict[str, Any]:
    command: dict[str, Any] = {"create": spec.name}
    if spec.timeseries is not None:
        sent = (
            ("timeField", "metaField", "granularity")
            if "granularity" in spec.timeseries
            else ("timeField", "metaField", "bucketMaxSpanSeconds", "bucketRoundingSeconds")
        )
        command["timeseries"] = {key: spec.timeseries[key] for key in sent if key in spec.timeseries}
        if isinstance(spec.expire_after_seconds, int):
            command["expireAfterSeconds"] = spec.expire_after_seconds
    command.update(spec.validation_options())
    return command


def _collection_view(info: dict | None, indexes: list[dict]) -> dict[str, Any] | None:
    if info is None:
        return None
    options = copy.deepcopy(info.get("options", {}))
    return {
        "type": info.get("type", "collection"),
        "options": options,
        "indexes": {listed["name"]: _index_view(listed) for listed in indexes},
    }


def _desired_view(spec: CollectionSpec, current: dict | None, prune: bool, protected: set[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if spec.timeseries is not None:
        options["timeseries"] = dict(spec.timeseries)
        if isinstance(spec.expire_after_seconds, int):
            options["expireAfterSeconds"] = spec.expire_after_seconds
        elif spec.expire_after_seconds is None and current and "expireAfterSeconds" in current["options"]:
            options["expireAfterSeconds"] = current["options"]["expireAfterSeconds"]
    for option in ("validator", "validationLevel", "validationAction"):
        if current and option in current["options"]:
            options[option] = current["options"][option]
    options.update(spec.validation_options())
    indexes: dict[str, Any] = {}
    if current is not None:
        for name, view in current["indexes"].items():
            if not prune or name in protected:
                indexes[name] = view
    elif spec.timeseries is None:
        indexes["_id_"] = {"key": {"_id": 1}}
    elif "metaField" in spec.timeseries:
        meta, time_field = spec.timeseries["metaField"], spec.timeseries["timeField"]
        indexes[f"{meta}_1_{time_field}_1"] = {"key": {meta: 1, time_field: 1}}
    for index in spec.indexes:
        indexes[index.name] = _desired_index_view(index)
    return {
        "type": "timeseries" if spec.timeseries is not None else "collection",
        "options": options,
        "indexes": indexes,
    }


def _plan_timeseries_change(spec: CollectionSpec, current_ts: dict, plan: Plan) -> dict | None:
    """The collMod timeseries change needed, None when none is, or a refusal in plan."""
    where = f"collection {spec.name}"
    desired = spec.timeseries
    assert desired is not None
    for option, label in (("timeField", "time_field"), ("metaField", "meta_field")):
        if desired.get(option) != current_ts.get(option):
            plan.refusals.append(
                f"{where}: {label} is {current_ts.get(option)!r} on the server and {desired.get(option)!r} in the "
                "spec; MongoDB cannot change it in place (create a new collection and migrate the data)"
            )
            return None
    if "granularity" in desired:
        target = desired["granularity"]
        now = current_ts.get("granularity")
        if now == target:
            return None
        span, rounding = GRANULARITY_BUCKETS[target]
        finer = (
            GRANULARITY_ORDER.index(target) < GRANULARITY_ORDER.index(now)
            if now is not None
            else span < current_ts.get("bucketMaxSpanSeconds", 0)
            or rounding < current_ts.get("bucketRoundingSeconds", 0)
        )
        if finer:
            plan.refusals.append(
                f"{where}: granularity {now or 'custom'} cannot become the finer {target}; MongoDB only allows "
                "coarser granularity in place (seconds -> minutes -> hours)"
            )
            return None
        return {"granularity": target}
    span = desired["bucketMaxSpanSeconds"]
    current_span = current_ts.get("bucketMaxSpanSeconds", 0)
    current_rounding = (
        current_ts.get("bucketRoundingSeconds") or GRANULARITY_BUCKETS.get(current_ts.get("granularity", ""), (0, 0))[1]
    )
    if current_span == span and current_rounding == span and "granularity" not in current_ts:
        return None
    if span < current_span or span < current_rounding:
        plan.refusals.append(
            f"{where}: buckets cannot shrink from bucketMaxSpanSeconds {current_span} / bucketRoundingSeconds "
            f"{current_rounding} to {span}; MongoDB only allows larger buckets in place"
        )
        return None
    return {"bucketMaxSpanSeconds": span, "bucketRoundingSeconds": span}


def _plan_collection_options(spec: CollectionSpec, info: dict, plan: Plan) -> None:
    where = f"collection {spec.name}"
    kind = info.get("type", "collection")
    options = info.get("options", {})
    if kind == "view":
        plan.refusals.append(f"{where}: a view by this name exists; the module manages collections only")
        return
    if spec.timeseries is not None and kind != "timeseries":
        plan.refusals.append(
            f"{where}: exists as a plain collection but the spec makes it time-series; MongoDB cannot convert it "
            "(create a new time-series collection and migrate the data)"
        )
        return
    if spec.timeseries is None and kind == "timeseries":
        plan.refusals.append(f"{where}: exists as a time-series collection but the spec makes it a plain collection")
        return
    change: dict[str, Any] = {}
    if spec.timeseries is not None:
        timeseries_change = _plan_timeseries_change(spec, options.get("timeseries", {}), plan)
        if timeseries_change:
            change["timeseries"] = timeseries_change
        current_ttl = options.get("expireAfterSeconds")
        if isinstance(spec.expire_after_seconds, int) and spec.expire_after_seconds != current_ttl:
            change["expireAfterSeconds"] = spec.expire_after_seconds
        elif spec.expire_after_seconds == "off" and current_ttl is not None:
            change["expireAfterSeconds"] = "off"
    for option, value in spec.validation_options().items():
        if options.get(option) != value:
            change[option] = value
    # MongoDB takes one timeseries change per collMod; the others ride along.
    if change:
        command = {"collMod": spec.name, **change}
        plan.operations.append(Operation(spec.database, command, f"{where}: change {', '.join(change)}", spec.name))


def _plan_indexes(spec: CollectionSpec, info: dict | None, listed: list[dict], prune: bool, plan: Plan) -> None:
    where = f"collection {spec.name}"
    current = {index["name"]: _index_view(index) for index in listed}
    protected = _protected_indexes(info or {})
    to_create: list[IndexSpec] = []
    to_drop: list[str] = []
    mods: list[Operation] = []
    for index in spec.indexes:
        desired = _desired_index_view(index)
        have = current.get(index.name)
        if have is not None:
            if _same_index(have, desired):
                continue
            change = _in_place_change(have, desired, allow_ttl=spec.timeseries is None)
            if change:
                mods.append(
                    Operation(
                        spec.database,
                        {"collMod": spec.name, "index": {"name": index.name, **change}},
                        f"{where}: change index {index.name} ({', '.join(change)})",
                        spec.name,
                    )
                )
                continue
            if index.allow_recreate:
                to_drop.append(index.name)
                to_create.append(index)
                plan.warnings.append(f"{where}: index {index.name} is dropped and rebuilt to change its definition")
                continue
            plan.refusals.append(
                f"{where}: index {index.name} exists with a different definition ({have}); MongoDB cannot change "
                "it in place: set allow_recreate: true on the index to drop and rebuild it"
            )
            continue
        clash = next(
            (
                name
                for name, view in current.items()
                if name not in [i.name for i in spec.indexes]
                and _same_index(
                    view, desired, ignore=tuple(o for o in MANAGED_INDEX_OPTIONS if o not in IDENTIFYING_OPTIONS)
                )
            ),
            None,
        )
        if clash is not None:
            if prune and clash not in protected:
                to_drop.append(clash)
            else:
                plan.refusals.append(
                    f"{where}: index {index.name} has the keys and options of existing index {clash}; MongoDB "
                    "refuses a second one: name it the same, or enable prune to drop the unlisted one"
                )
                continue
        to_create.append(index)
    if prune:
        wanted = {index.name for index in spec.indexes}
        for name in current:
            if name not in wanted and name not in protected and name not in to_drop:
                to_drop.append(name)
    total = len(current) - len(to_drop) + len(to_create)
    if total > MAX_INDEXES:
        plan.refusals.append(f"{where}: would hold {total} indexes; MongoDB allows {MAX_INDEXES}")
        return
    plan.operations.extend(mods)
    if to_drop:
        plan.operations.append(
            Operation(
                spec.database,
                {"dropIndexes": spec.name, "index": to_drop},
                f"{where}: drop indexes {', '.join(to_drop)}",
                spec.name,
            )
        )
    if to_create:
        plan.operations.append(
            Operation(
                spec.database,
                {"createIndexes": spec.name, "indexes": [index.create_document() for index in to_create]},
                f"{where}: create indexes {', '.join(index.name for index in to_create)}",
                spec.name,
            )
        )


def plan_database(
    specs: list[CollectionSpec],
    collections: dict[str, dict],
    indexes: dict[str, list[dict]],
    prune: bool = False,
) -> Plan:
    """Commands that bring a database from its current state to specs.

    collections: listCollections entries by name; indexes: listIndexes entries by
    collection name (for the managed collections that exist).
    """
    plan = Plan()
    for spec in specs:
        info = collections.get(spec.name)
        listed = indexes.get(spec.name, [])
        current_view = _collection_view(info, listed)
        if current_view is not None:
            plan.before[spec.name] = current_view
        refusals_before = len(plan.refusals)
        if info is None:
            plan.operations.append(
                Operation(
                    spec.database,
                    _create_command(spec),
                    f"collection {spec.name}: create {'time-series ' if spec.timeseries else ''}collection",
                    spec.name,
                )
            )
        else:
            _plan_collection_options(spec, info, plan)
        if len(plan.refusals) == refusals_before:
            _plan_indexes(spec, info, listed, prune, plan)
        plan.after[spec.name] = _desired_view(spec, current_view, prune, _protected_indexes(info or {}))
    return plan
