"""The documented server rules the stand-in enforces for collections and indexes.

Sources (MongoDB 8.0 manual unless noted):
- create / collMod: https://www.mongodb.com/docs/manual/reference/command/create/,
  https://www.mongodb.com/docs/manual/reference/command/collMod/
- time-series options and limits:
  https://www.mongodb.com/docs/manual/core/timeseries/timeseries-bucketing/,
  https://www.mongodb.com/docs/manual/core/timeseries/timeseries-limitations/,
  https://www.mongodb.com/docs/manual/core/timeseries/timeseries-secondary-index/
- index options: https://www.mongodb.com/docs/manual/reference/method/db.collection.createIndex/,
  https://www.mongodb.com/docs/manual/core/index-ttl/, .../core/index-partial/
- server source for codes (read at 7.x/8.0-era commits of mongodb/mongo):
  src/mongo/db/commands/create_command.cpp (create's checks),
  src/mongo/db/timeseries/timeseries_options.cpp (bucketing parameters),
  src/mongo/db/timeseries/timeseries.idl (field types and ranges),
  src/mongo/db/timeseries/timeseries_commands_conversion_helper.cpp and
  timeseries_index_schema_conversion_functions.cpp (time-series indexes),
  src/mongo/db/catalog/index_key_validate.cpp (index specs, TTL values),
  src/mongo/db/catalog/index_catalog_impl.cpp (_isSpecOk, _doesSpecConflictWithExisting),
  src/mongo/db/catalog/coll_mod.cpp (collMod), src/mongo/idl/idl_parser.h (IDL errors).
"""

from __future__ import annotations

import copy
import time
from numbers import Number

from .errors import CommandError

MAX_INDEXES = 64  # kMaxNumIndexesAllowed, index_catalog_impl.cpp
MAX_TTL_SECONDS = 2_147_483_647  # secondary TTL indexes: a 32-bit int (index_key_validate.cpp)
MAX_BUCKET_SPAN_SECONDS = 31_536_000  # timeseries.idl validator: lte 86400 * 365

# granularity -> (bucketMaxSpanSeconds, bucketRoundingSeconds)
GRANULARITY_BUCKETS = {"seconds": (3600, 60), "minutes": (86400, 3600), "hours": (2_592_000, 86400)}
GRANULARITY_ORDER = ["seconds", "minutes", "hours"]
TIMESERIES_FIELDS = {"timeField", "metaField", "granularity", "bucketMaxSpanSeconds", "bucketRoundingSeconds"}

INDEX_PLUGINS = {"text", "2dsphere", "2d", "hashed"}
INDEX_OPTIONS = {
    "key",
    "name",
    "v",
    "ns",
    "unique",
    "sparse",
    "partialFilterExpression",
    "expireAfterSeconds",
    "collation",
    "weights",
    "default_language",
    "language_override",
    "textIndexVersion",
    "2dsphereIndexVersion",
    "bits",
    "min",
    "max",
    "wildcardProjection",
    "hidden",
    "background",
    "storageEngine",
    "prepareUnique",
    "clustered",
}
# Options that make two indexes on the same key pattern different indexes.
# Since 5.0 (SERVER-47657) unique and sparse are part of an index's signature too.
IDENTIFYING_OPTIONS = ("collation", "partialFilterExpression", "unique", "sparse")
PARTIAL_FILTER_OPERATORS = {"$eq", "$exists", "$gt", "$gte", "$lt", "$lte", "$type", "$and", "$or", "$in"}

COLLATION_DEFAULTS = {
    "caseLevel": False,
    "caseFirst": "off",
    "strength": 3,
    "numericOrdering": False,
    "alternate": "non-ignorable",
    "maxVariable": "punct",
    "normalization": False,
    "backwards": False,
    "version": "57.1",
}


def check_collection_name(db: str, name: str) -> None:
    # NamespaceString::validCollectionName via IDLParserContext::checkAndAssertCollectionName
    # (src/mongo/idl/idl_parser.cpp): InvalidNamespace.
    if not name or "$" in name or "\x00" in name or name.startswith("."):
        raise CommandError(73, f"Invalid namespace specified '{db}.{name}'")


def check_expire_after_seconds(value, command: str = "create") -> int:
    """Collection-level TTL (time-series and clustered collections).

    The field is a safeInt64 in create.idl / coll_mod.idl (a wrong type is TypeMismatch);
    the range is index_key_validate::validateExpireAfterSeconds in kClusteredTTLIndex mode:
    InvalidOptions below 0 or beyond the current time since the epoch.
    """
    if isinstance(value, bool) or not isinstance(value, Number):
        raise CommandError(14, f"BSON field '{command}.expireAfterSeconds' is the wrong type, expected type 'long'")
    if value < 0:
        raise CommandError(72, "TTL index 'expireAfterSeconds' option cannot be less than 0")
    if value > time.time():
        raise CommandError(
            72, "TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number"
        )
    return int(value)


def check_validation_options(options: dict) -> None:
    # IDL enums ValidationLevel / ValidationAction (src/mongo/db/catalog/collection_options.idl):
    # an unknown value is BadValue. errorAndLog is new in 8.0.
    if "validationLevel" in options and options["validationLevel"] not in ("off", "strict", "moderate"):
        raise CommandError(
            2,
            f"Enumeration value '{options['validationLevel']}' for field 'validationLevel' is not a valid value.",
        )
    if "validationAction" in options and options["validationAction"] not in ("error", "warn", "errorAndLog"):
        raise CommandError(
            2,
            f"Enumeration value '{options['validationAction']}' for field 'validationAction' is not a valid value.",
        )


# -- time-series ---------------------------------------------------------------------


# Create options a time-series collection accepts besides timeseries itself
# (kAllowedCollectionCreationOptions in timeseries_constants.h).
TIMESERIES_COMPATIBLE_OPTIONS = {
    "timeseries",
    "expireAfterSeconds",
    "storageEngine",
    "indexOptionDefaults",
    "collation",
}


def idl_range_error(series: str, field: str, value, low, high) -> CommandError:
    """An IDL validator's {gte: low, lte: high} refusing value. IDL comparison errors are
    location 51024 on 7.0 (idl_parser.h throwComparisonError) and BadValue from 7.1 on:
    jstests/core/timeseries/ddl/bucket_span_and_rounding_seconds.js accepts
    [BadValue, 51024] "getting BadValue when binary is > 7.1, else idlInvalidValueError"."""
    code = 51024 if series == "7.0" else 2
    bound = f">= {low}, actual value '{value}'" if value < low else f"<= {high}, actual value '{value}'"
    return CommandError(code, f"BSON field '{field}' value must be {bound}")


def _bucket_value_error(series: str, command: str, label: str, value) -> CommandError:
    # timeseries.idl range validator (gte 1, lte 31536000).
    return idl_range_error(series, f"{command}.timeseries.{label}", value, 1, MAX_BUCKET_SPAN_SECONDS)


def _parse_timeseries(command: str, timeseries, series: str, required_time_field: bool) -> None:
    """The IDL parse of TimeseriesOptions / CollModTimeseries (timeseries.idl).

    Unknown field: 40415; wrong type: TypeMismatch (14); unknown granularity: BadValue
    (IDL enum); bucket values out of range: _bucket_value_error; missing timeField: 40414.
    """
    if not isinstance(timeseries, dict):
        raise CommandError(14, f"BSON field '{command}.timeseries' is the wrong type, expected type 'object'")
    allowed = TIMESERIES_FIELDS if required_time_field else TIMESERIES_FIELDS - {"timeField", "metaField"}
    for label, value in timeseries.items():
        if label not in allowed:
            raise CommandError(40415, f"BSON field '{command}.timeseries.{label}' is an unknown field.")
        wrong_type = f"BSON field '{command}.timeseries.{label}' is the wrong type, expected type"
        if label in ("timeField", "metaField") and not isinstance(value, str):
            raise CommandError(14, f"{wrong_type} 'string'")
        if label == "granularity" and value not in GRANULARITY_BUCKETS:
            raise CommandError(
                2, f"Enumeration value '{value}' for field '{command}.timeseries.granularity' is not a valid value."
            )
        if label in ("bucketMaxSpanSeconds", "bucketRoundingSeconds"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise CommandError(14, f"{wrong_type} 'int'")
            if not 1 <= value <= MAX_BUCKET_SPAN_SECONDS:
                raise _bucket_value_error(series, command, label, value)
    if required_time_field and "timeField" not in timeseries:
        raise CommandError(40414, f"BSON field '{command}.timeseries.timeField' is missing but a required field")


def check_timeseries_options(namespace: str, options: dict, series: str) -> dict:
    """Validate create's timeseries options; return them as the server stores them."""
    timeseries = options["timeseries"]
    _parse_timeseries("create", timeseries, series, required_time_field=True)
    # create_command.cpp, CmdCreate::typedRun: other create options, then the field names.
    for option in options:
        if option not in TIMESERIES_COMPATIBLE_OPTIONS and not (option == "capped" and not options["capped"]):
            raise CommandError(72, f"{namespace}: 'timeseries' is not allowed with '{option}'")
    if "." in timeseries["timeField"]:
        raise CommandError(72, f"{namespace}: 'timeField' must be a top-level field and not contain a '.'")
    if "metaField" in timeseries:
        meta = timeseries["metaField"]
        if meta == "_id":
            raise CommandError(72, "'metaField' cannot be \"_id\"")
        if meta == timeseries["timeField"]:
            raise CommandError(72, "'metaField' cannot be the same as 'timeField'")
        if "." in meta:
            raise CommandError(72, f"{namespace}: 'metaField' must be a top-level field and not contain a '.'")

    stored = copy.deepcopy(timeseries)
    granularity = stored.get("granularity")
    max_span = stored.get("bucketMaxSpanSeconds")
    rounding = stored.get("bucketRoundingSeconds")
    # timeseries_options.cpp, checkBucketingParameters.
    if granularity is not None:
        default_span = GRANULARITY_BUCKETS[granularity][0]
        if max_span is not None and max_span != default_span:
            raise CommandError(
                72,
                "Time-series 'bucketMaxSpanSeconds' cannot be set to a value other than the default of "
                f"{default_span} for the provided granularity",
            )
        if rounding is not None:
            raise CommandError(
                72, "Time-series 'bucketRoundingSeconds' cannot be set alongside the granularity parameter"
            )
    elif max_span is not None or rounding is not None:
        if max_span != rounding:
            raise CommandError(72, "Time-series 'bucketRoundingSeconds' must be equal to 'bucketMaxSpanSeconds'")
    else:
        stored["granularity"] = granularity = "seconds"
    if granularity is not None:
        stored["bucketMaxSpanSeconds"] = GRANULARITY_BUCKETS[granularity][0]
    return stored


def listed_timeseries_options(stored: dict) -> dict:
    """The timeseries options as listCollections shows them (no bucketRoundingSeconds for a
    granularity: jstests/core/timeseries/ddl/bucket_span_and_rounding_seconds.js)."""
    return {
        key: stored[key]
        for key in ("timeField", "metaField", "granularity", "bucketRoundingSeconds", "bucketMaxSpanSeconds")
        if key in stored
    }


def _bucketing_of(options: dict) -> tuple[int, int]:
    """(bucketMaxSpanSeconds, bucketRoundingSeconds), falling back to the granularity's."""
    span, rounding = GRANULARITY_BUCKETS[options.get("granularity") or "seconds"]
    return options.get("bucketMaxSpanSeconds", span), options.get("bucketRoundingSeconds", rounding)


def check_timeseries_change(current: dict, change, series: str) -> dict:
    """collMod timeseries, timeseries_options.cpp isTimeseriesGranularityValidAndUnchanged:
    granularity may only get coarser; custom bucketing values may only grow."""
    _parse_timeseries("collMod", change, series, required_time_field=False)
    target = change.get("granularity")
    span, rounding = change.get("bucketMaxSpanSeconds"), change.get("bucketRoundingSeconds")
    if target is None and span is None and rounding is None:
        return copy.deepcopy(current)
    if target is not None:
        if span is not None and span != GRANULARITY_BUCKETS[target][0]:
            raise CommandError(
                72,
                "Timeseries 'bucketMaxSpanSeconds' is not configurable to a value other than the default for "
                "the provided granularity",
            )
        if rounding is not None:
            raise CommandError(
                72, "Timeseries 'bucketRoundingSeconds' is not configurable alongside the granularity parameter"
            )
        now = current.get("granularity")
        if now is not None:
            if GRANULARITY_ORDER.index(target) < GRANULARITY_ORDER.index(now):
                raise CommandError(
                    72,
                    "Invalid transition for timeseries.granularity. Can only transition from 'seconds' to "
                    "'minutes' or 'minutes' to 'hours'.",
                )
            updated = {key: value for key, value in current.items() if key != "bucketRoundingSeconds"}
            updated.update({"granularity": target, "bucketMaxSpanSeconds": GRANULARITY_BUCKETS[target][0]})
            return updated
        span, rounding = GRANULARITY_BUCKETS[target]
    elif span is None or rounding is None:
        raise CommandError(
            72, "Timeseries 'bucketMaxSpanSeconds' and 'bucketRoundingSeconds' need to be set alongside each other"
        )
    elif span != rounding:
        raise CommandError(72, "Timeseries 'bucketRoundingSeconds' needs to be equal to 'bucketMaxSpanSeconds'")
    current_span, current_rounding = _bucketing_of(current)
    if current_span > span:
        raise CommandError(72, "Timeseries 'bucketMaxSpanSeconds' needs to be equal or greater to transition")
    if current_rounding > rounding:
        raise CommandError(72, "Timeseries 'bucketRoundingSeconds' needs to be equal or greater to transition")
    updated = {key: value for key, value in current.items() if key not in ("granularity", "bucketRoundingSeconds")}
    if target is not None:
        updated.update({"granularity": target, "bucketMaxSpanSeconds": span})
    else:
        updated.update({"bucketMaxSpanSeconds": span, "bucketRoundingSeconds": rounding})
    return updated


def default_timeseries_indexes(options: dict) -> list[dict]:
    """Since 6.3 a new time-series collection with a metaField gets {meta: 1, time: 1}."""
    timeseries = options["timeseries"]
    if "metaField" not in timeseries:
        return []
    meta, time = timeseries["metaField"], timeseries["timeField"]
    return [{"v": 2, "key": {meta: 1, time: 1}, "name": f"{meta}_1_{time}_1"}]


# -- indexes -------------------------------------------------------------------------


def bson_type_name(value) -> str:
    """The BSON type name the server prints (typeName in src/mongo/bson/bsontypes.cpp)."""
    names = {bool: "bool", str: "string", dict: "object", list: "array", type(None): "null"}
    return next((name for kind, name in names.items() if isinstance(value, kind)), type(value).__name__)


def _check_key(key) -> None:
    """index_key_validate.cpp, validateIndexSpec ('key' must be an object) and
    validateKeyPattern (v:2 rules): everything but the type is CannotCreateIndex."""
    if not isinstance(key, dict):
        raise CommandError(14, f"The field 'key' must be an object, but got {bson_type_name(key)}")
    if not key:
        raise CommandError(67, "Index keys cannot be empty.")
    plugins = {value for value in key.values() if isinstance(value, str)}
    for field, value in key.items():
        if isinstance(value, bool) or not isinstance(value, (Number, str)):
            raise CommandError(
                67,
                f"Values in v:2 index key pattern cannot be of type {bson_type_name(value)}. "
                "Only numbers > 0, numbers < 0, and strings are allowed.",
            )
        if isinstance(value, Number) and value != value:
            raise CommandError(67, "Values in the index key pattern cannot be NaN.")
        if isinstance(value, Number) and value == 0:
            raise CommandError(67, "Values in the index key pattern cannot be 0.")
        if isinstance(value, str) and value not in INDEX_PLUGINS:
            raise CommandError(67, f"Unknown index plugin '{value}'")
        if len(plugins) > 1:
            raise CommandError(67, "Can't use more than one index plugin for a single index.")
        if not field:
            raise CommandError(67, "Index keys cannot be an empty field.")
        if field == "$**" and (isinstance(value, Number) or value == "text"):
            continue
        parts = field.split(".")
        if any(not part for part in parts):
            raise CommandError(67, "Index keys cannot contain an empty field.")
        for position, part in enumerate(parts):
            dbref = position > 0 and part in ("$db", "$id", "$ref")
            if part.startswith("$") and not dbref and not (part == "$**" and position == len(parts) - 1):
                raise CommandError(67, "Index key contains an illegal field name: field name starts with '$'.")


def _filter_fields(expression: dict) -> set[str]:
    fields: set[str] = set()
    for field, condition in expression.items():
        if field in ("$and", "$or"):
            for part in condition:
                fields |= _filter_fields(part)
        else:
            fields.add(field)
    return fields


def _check_partial_filter(expression) -> None:
    """index_catalog_impl.cpp _checkValidFilterExpressions: $eq, $exists: true, $gt(e),
    $lt(e), $type, $and, and (since 6.0) $or and $in; anything else CannotCreateIndex."""
    for field, condition in expression.items():
        if field in ("$and", "$or"):
            for part in condition:
                _check_partial_filter(part)
        elif field.startswith("$"):
            raise CommandError(67, f"Expression not supported in partial index: {field}")
        elif isinstance(condition, dict) and any(op.startswith("$") for op in condition):
            for op, operand in condition.items():
                if op not in PARTIAL_FILTER_OPERATORS:
                    raise CommandError(67, f"Expression not supported in partial index: {op}")
                if op == "$exists" and not operand:
                    raise CommandError(67, "Expression not supported in partial index: $not exists")


def _on_meta(field: str, meta: str | None) -> bool:
    return bool(meta) and (field == meta or field.startswith(meta + "."))


def _check_timeseries_index(raw: dict, timeseries: dict) -> None:
    """timeseries_commands_conversion_helper.cpp, makeTimeseriesCreateIndexesCommand, which
    runs before the buckets collection sees the index: the spec's fields in order, then TTL.
    Key conversion failures (timeseries_index_schema_conversion_functions.cpp,
    createBucketsSpecFromTimeseriesSpec) come back as CannotCreateIndex.
    """
    meta = timeseries.get("metaField")
    time_field = timeseries["timeField"]
    partial_on_meta = False
    for option, value in raw.items():
        if option == "partialFilterExpression":
            if "collation" in raw:
                raise CommandError(
                    85, "On a time-series collection, partialFilterExpression and collation arguments are incompatible"
                )
            partial_on_meta = isinstance(value, dict) and all(_on_meta(f, meta) for f in _filter_fields(value))
        elif option == "sparse" and value:
            if not all(field == time_field or _on_meta(field, meta) for field in raw.get("key", {})):
                raise CommandError(72, "Sparse indexes are not supported on time-series measurements")
        elif option == "unique" and value:
            raise CommandError(72, "Unique indexes are not supported on time-series collections")
        elif option == "key" and isinstance(value, dict):
            if "text" in value.values():
                raise CommandError(72, "Text indexes are not supported on time-series collections")
            for field, direction in value.items():
                if _on_meta(field, meta):
                    continue
                numeric = isinstance(direction, Number) and not isinstance(direction, bool)
                if field == time_field and not numeric:
                    raise CommandError(67, "Indexes on the time field must be ascending or descending (numbers only)")
                if field != time_field and not numeric and direction != "2dsphere":
                    raise CommandError(
                        67,
                        "Indexes on measurement fields must be ascending or descending (numbers only), or '2dsphere'",
                    )
    if "expireAfterSeconds" in raw:
        # 6.3+: only a partial index on the metaField over the timeField may carry a TTL;
        # collection-level expireAfterSeconds is the documented way to age out data.
        if not partial_on_meta:
            raise CommandError(
                72, "TTL indexes on time-series collections require a partialFilterExpression on the metaField"
            )
        key = raw.get("key", {})
        if len(key) != 1:
            raise CommandError(
                67, f"TTL indexes are single-field indexes, compound indexes do not support TTL. Index spec: {key}"
            )
        if list(key) != [time_field]:
            raise CommandError(72, "TTL indexes on non-time fields are not supported on time-series collections")


def _normalise_text(spec: dict) -> dict:
    """A text index in its stored form: key {<prefix>, _fts: "text", _ftsx: 1} and the text
    fields as weights. A spec already in that form (as listIndexes shows it, and as
    mongorestore sends it back) keeps its weights (src/mongo/db/fts/fts_spec.cpp, fixSpec)."""
    key = spec["key"]
    text_fields = [field for field, value in key.items() if value == "text" and field != "_fts"]
    prefix = {f: v for f, v in key.items() if v != "text" and f not in ("_fts", "_ftsx")}
    normalised = dict(spec)
    normalised["key"] = {**prefix, "_fts": "text", "_ftsx": 1}
    weights = dict(spec.get("weights", {}))
    for field in text_fields:
        weights.setdefault(field, 1)
    normalised["weights"] = dict(sorted(weights.items()))
    normalised.setdefault("default_language", "english")
    normalised.setdefault("language_override", "language")
    normalised.setdefault("textIndexVersion", 3)
    return normalised


# Fields an {_id: 1} index spec may carry (index_key_validate.cpp, allowedIdIndexFieldNames).
ID_INDEX_FIELDS = {"key", "name", "v", "ns", "collation", "_id"}
BOOL_OPTIONS = ("background", "unique", "sparse", "prepareUnique")


def normalise_index_spec(raw: dict, coll) -> dict:
    """Validate one createIndexes spec against the collection; return it as stored.

    Order as the server runs it: time-series conversion first (for a time-series
    collection), then index_key_validate::validateIndexSpec and parseAndValidateIndexSpecs,
    then IndexCatalogImpl::_isSpecOk.
    """
    if not isinstance(raw, dict):
        raise CommandError(14, f"The field 'indexes' must be an array of objects, but got {bson_type_name(raw)}")
    if coll.kind == "timeseries":
        _check_timeseries_index(raw, coll.options["timeseries"])
    # validateIndexSpecFieldNames: an unknown field is InvalidIndexSpecificationOption.
    unknown = [option for option in raw if option not in INDEX_OPTIONS]
    if unknown:
        raise CommandError(
            197, f"The field '{unknown[0]}' is not valid for an index specification. Specification: {raw}"
        )
    if "key" in raw:
        _check_key(raw["key"])
    if "name" in raw and not isinstance(raw["name"], str):
        raise CommandError(14, f"The field 'name' must be a string, but got {bson_type_name(raw['name'])}")
    # (sic: the server names 'name' in this message; index_key_validate.cpp)
    if "hidden" in raw and not isinstance(raw["hidden"], bool):
        raise CommandError(14, f"The field 'name' must be a bool, but got {bson_type_name(raw['hidden'])}")
    if "partialFilterExpression" in raw and not isinstance(raw["partialFilterExpression"], dict):
        raise CommandError(
            14,
            "The field 'partialFilterExpression' must be an object, but got "
            f"{bson_type_name(raw['partialFilterExpression'])}",
        )
    if "collation" in raw and not isinstance(raw["collation"], dict):
        raise CommandError(14, f"The field 'collation' must be an object, but got {bson_type_name(raw['collation'])}")
    for option in BOOL_OPTIONS:
        if option in raw and (not isinstance(raw[option], (bool, Number))):
            raise CommandError(
                14, f"The field '{option} has value {option}: {raw[option]!r}, which is not convertible to bool"
            )
    if "key" not in raw:
        raise CommandError(9, "The 'key' field is a required property of an index specification", "FailedToParse")
    if "name" not in raw:
        raise CommandError(9, "The 'name' field is a required property of an index specification", "FailedToParse")
    key = raw["key"]
    if "weights" in raw and "text" not in key.values():
        raise CommandError(
            67, f"Invalid index specification {raw}; the field 'weights' can only be specified with text indexes"
        )
    # parseAndValidateIndexSpecs: {_id: 1} specs take only a few fields; the names _id_ and *
    # are reserved.
    if list(key.items()) == [("_id", 1)]:
        extra = [option for option in raw if option not in ID_INDEX_FIELDS]
        if extra:
            raise CommandError(
                197, f"The field '{extra[0]}' is not valid for an _id index specification. Specification: {raw}"
            )
    elif raw["name"] == "_id_":
        raise CommandError(
            2,
            f"The index name '_id_' is reserved for the _id index, which must have key pattern {{_id: 1}}, found {key}",
        )
    elif raw["name"] == "*":
        raise CommandError(2, "The index name '*' is not valid.")
    if "expireAfterSeconds" in raw:
        _check_ttl_value(raw["expireAfterSeconds"], raw)
    spec = {"v": 2, **{k: copy.deepcopy(v) for k, v in raw.items() if k not in ("v", "ns")}}
    # IndexCatalogImpl::_isSpecOk.
    if not spec["name"]:
        raise CommandError(67, "index name cannot be empty")
    if spec.get("sparse") and "partialFilterExpression" in spec:
        raise CommandError(67, 'cannot mix "partialFilterExpression" and "sparse" options')
    if "partialFilterExpression" in spec:
        _check_partial_filter(spec["partialFilterExpression"])
    # The hashed access method (src/mongo/db/index/expression_params.cpp) refuses unique.
    if spec.get("unique") and "hashed" in key.values():
        raise CommandError(16764, "Currently hashed indexes cannot guarantee uniqueness. Use a regular index.")
    if "collation" in spec:
        collation = spec["collation"]
        if not collation:
            raise CommandError(2, "The field 'collation' cannot be an empty object.")
        if "locale" not in collation:
            raise CommandError(40414, "BSON field 'locale' is missing but a required field")
        if collation["locale"] == "simple":
            spec.pop("collation")
        else:
            spec["collation"] = {"locale": collation["locale"], **COLLATION_DEFAULTS, **collation}
    if spec.get("hidden") is False:
        spec.pop("hidden")
    if "text" in key.values():
        spec = _normalise_text(spec)
    return spec


def _check_ttl_value(value, raw: dict) -> None:
    """index_key_validate.cpp validateExpireAfterSeconds (kSecondaryTTLIndex) and
    validateIndexSpecTTL: all CannotCreateIndex."""
    if isinstance(value, bool) or not isinstance(value, Number):
        raise CommandError(
            67,
            f"TTL index 'expireAfterSeconds' option must be numeric, but received a type of '{bson_type_name(value)}'",
        )
    if value != value:
        raise CommandError(67, "TTL index 'expireAfterSeconds' option must not be NaN")
    if value > MAX_TTL_SECONDS:
        raise CommandError(67, "TTL index 'expireAfterSeconds' must be within the range of a 32-bit integer")
    if value < 0:
        raise CommandError(67, f"TTL index 'expireAfterSeconds' option cannot be less than 0. Index spec: {raw}")
    if len(raw["key"]) != 1:
        raise CommandError(
            67, f"TTL indexes are single-field indexes, compound indexes do not support TTL. Index spec: {raw}"
        )


def same_key_pattern(one: dict, other) -> bool:
    """Key patterns are ordered: {a: 1, b: 1} and {b: 1, a: 1} are different indexes."""
    return isinstance(other, dict) and list(one.items()) == list(other.items())


def _signature_value(spec: dict, option: str):
    value = spec.get(option)
    return None if value is False else value


def _options_of(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k not in ("v", "key", "name", "background")}


def _comparison(spec: dict, current: dict) -> str:
    """IndexDescriptor::compareIndexOptions: different, equivalent or identical."""
    if not same_key_pattern(current["key"], spec["key"]) or any(
        _signature_value(current, o) != _signature_value(spec, o) for o in IDENTIFYING_OPTIONS
    ):
        return "different"
    return "identical" if _options_of(current) == _options_of(spec) else "equivalent"


def find_conflict(spec: dict, existing: list[dict], namespace: str) -> dict | None:
    """Return the existing index identical to spec, raise on a conflict, None if new.

    IndexCatalogImpl::_doesSpecConflictWithExisting, in its order: an index of the same
    name (86 if it differs, 85 if only non-identifying options differ); then an index with
    the same key and identifying options under another name (85); then the index count
    (67); then a second text index (67).
    """
    same_name = next((current for current in existing if current["name"] == spec["name"]), None)
    if same_name is not None:
        comparison = _comparison(spec, same_name)
        if comparison == "different":
            raise CommandError(
                86,
                "An existing index has the same name as the requested index. When index names are not specified, "
                "they are auto generated and can cause conflicts. Please refer to our documentation. "
                f"Requested index: {spec}, existing index: {same_name}",
            )
        if comparison == "equivalent":
            raise CommandError(
                85,
                "An equivalent index already exists with the same name but different options. "
                f"Requested index: {spec}, existing index: {same_name}",
            )
        return same_name
    for current in existing:
        comparison = _comparison(spec, current)
        if comparison == "equivalent":
            raise CommandError(
                85,
                "An equivalent index already exists with a different name and options. "
                f"Requested index: {spec}, existing index: {current}",
            )
        if comparison == "identical":
            raise CommandError(85, f"Index already exists with a different name: {current['name']}")
    if len(existing) >= MAX_INDEXES:
        raise CommandError(67, f"add index fails, too many indexes for {namespace} key:{spec['key']}")
    if "_fts" in spec["key"]:
        text = next((current for current in existing if "_fts" in current["key"]), None)
        if text is not None:
            raise CommandError(
                67, f'only one text index per collection allowed, found existing text index "{text["name"]}"'
            )
    return None
