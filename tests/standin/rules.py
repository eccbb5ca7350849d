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
- server source for codes: src/mongo/db/timeseries/timeseries_options.cpp,
  src/mongo/db/catalog/index_key_validate.cpp, src/mongo/db/index_builds/index_build*.cpp
"""

from __future__ import annotations

import copy
from numbers import Number

from .errors import CommandError

MAX_INDEXES = 64
MAX_TTL_SECONDS = 2_147_483_647
MAX_BUCKET_SPAN_SECONDS = 31_536_000

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
    if not name or "$" in name or "\x00" in name or name.startswith("."):
        raise CommandError(73, f"Invalid collection name: {db}.{name}")


def check_expire_after_seconds(value) -> int:
    """Collection-level TTL (time-series and clustered collections)."""
    if isinstance(value, bool) or not isinstance(value, Number):
        raise CommandError(14, "BSON field 'expireAfterSeconds' is the wrong type, expected type 'long'")
    if value < 0:
        raise CommandError(72, "TTL index 'expireAfterSeconds' option cannot be less than 0")
    if value > MAX_TTL_SECONDS:
        raise CommandError(
            72, "TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number"
        )
    return int(value)


def check_validation_options(options: dict) -> None:
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


def _check_field_name(namespace: str, label: str, value) -> None:
    if not isinstance(value, str):
        raise CommandError(14, f"BSON field 'create.timeseries.{label}' is the wrong type, expected type 'string'")
    if "." in value:
        raise CommandError(72, f"{namespace}: '{label}' must be a top-level field and not contain a '.'")


def _bucket_value_error(series: str, label: str, value) -> CommandError:
    # The IDL range validator answers BadValue on 8.0 and location code 51024 on 7.0.
    code = 51024 if series == "7.0" else 2
    return CommandError(
        code,
        f"BSON field 'create.timeseries.{label}' value must be >= 1 and <= {MAX_BUCKET_SPAN_SECONDS}, "
        f"actual value '{value}'",
    )


def check_timeseries_options(namespace: str, options: dict, series: str) -> dict:
    """Validate create's timeseries options; return them as the server stores them."""
    timeseries = options["timeseries"]
    if not isinstance(timeseries, dict):
        raise CommandError(14, "BSON field 'create.timeseries' is the wrong type, expected type 'object'")
    unknown = sorted(set(timeseries) - TIMESERIES_FIELDS)
    if unknown:
        raise CommandError(40415, f"BSON field 'create.timeseries.{unknown[0]}' is an unknown field.", "Location40415")
    if "timeField" not in timeseries:
        raise CommandError(40414, "BSON field 'create.timeseries.timeField' is missing but a required field")
    _check_field_name(namespace, "timeField", timeseries["timeField"])
    if "metaField" in timeseries:
        _check_field_name(namespace, "metaField", timeseries["metaField"])
        if timeseries["metaField"] == "_id":
            raise CommandError(72, f"{namespace}: 'metaField' cannot be \"_id\"")
        if timeseries["metaField"] == timeseries["timeField"]:
            raise CommandError(72, f"{namespace}: 'metaField' cannot be the same as 'timeField'")
    for option in options:
        if option not in TIMESERIES_COMPATIBLE_OPTIONS and not (option == "capped" and not options["capped"]):
            raise CommandError(72, f"{namespace}: 'timeseries' is not allowed with '{option}'")

    stored = copy.deepcopy(timeseries)
    granularity = stored.get("granularity")
    max_span = stored.get("bucketMaxSpanSeconds")
    rounding = stored.get("bucketRoundingSeconds")
    if granularity is not None and granularity not in GRANULARITY_BUCKETS:
        raise CommandError(
            2,
            f"Enumeration value '{granularity}' for field 'create.timeseries.granularity' is not a valid value.",
        )
    for label, value in (("bucketMaxSpanSeconds", max_span), ("bucketRoundingSeconds", rounding)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise CommandError(14, f"BSON field 'create.timeseries.{label}' is the wrong type, expected type 'int'")
        if not 1 <= value <= MAX_BUCKET_SPAN_SECONDS:
            raise _bucket_value_error(series, label, value)
    # timeseries_options.cpp, checkBucketingParameters.
    if granularity is not None:
        default_span = GRANULARITY_BUCKETS[granularity][0]
        if rounding is not None:
            raise CommandError(
                72, "Time-series 'bucketRoundingSeconds' cannot be set alongside the granularity parameter"
            )
        if max_span is not None and max_span != default_span:
            raise CommandError(
                72,
                "Time-series 'bucketMaxSpanSeconds' cannot be set to a value other than the default of "
                f"{default_span} for the provided granularity",
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
    """The timeseries options as listCollections shows them."""
    return {
        key: stored[key]
        for key in ("timeField", "metaField", "granularity", "bucketRoundingSeconds", "bucketMaxSpanSeconds")
        if key in stored
    }


def check_timeseries_change(current: dict, change, series: str) -> dict:
    """collMod timeseries: granularity may only get coarser; custom spans may only grow."""
    if not isinstance(change, dict):
        raise CommandError(14, "BSON field 'collMod.timeseries' is the wrong type, expected type 'object'")
    unknown = sorted(set(change) - {"granularity", "bucketMaxSpanSeconds", "bucketRoundingSeconds"})
    if unknown:
        raise CommandError(40415, f"BSON field 'collMod.timeseries.{unknown[0]}' is an unknown field.", "Location40415")
    updated = copy.deepcopy(current)
    span, rounding = change.get("bucketMaxSpanSeconds"), change.get("bucketRoundingSeconds")
    if "granularity" in change:
        target = change["granularity"]
        if target not in GRANULARITY_BUCKETS:
            raise CommandError(
                2, f"Enumeration value '{target}' for field 'collMod.timeseries.granularity' is not a valid value."
            )
        if rounding is not None:
            raise CommandError(
                72, "Time-series 'bucketRoundingSeconds' cannot be set alongside the granularity parameter"
            )
        now = current.get("granularity")
        target_span, target_rounding = GRANULARITY_BUCKETS[target]
        finer = (
            GRANULARITY_ORDER.index(target) < GRANULARITY_ORDER.index(now)
            if now is not None
            else target_span < current["bucketMaxSpanSeconds"] or target_rounding < current["bucketRoundingSeconds"]
        )
        if finer:
            raise CommandError(
                72,
                "Invalid transition for timeseries.granularity. Can only transition from 'seconds' to 'minutes' "
                "or 'minutes' to 'hours'.",
            )
        updated = {key: value for key, value in updated.items() if key != "bucketRoundingSeconds"}
        updated.update({"granularity": target, "bucketMaxSpanSeconds": target_span})
        return updated
    if span is None and rounding is None:
        return updated
    if span is None or rounding is None:
        raise CommandError(
            72, "Timeseries 'bucketMaxSpanSeconds' and 'bucketRoundingSeconds' need to be set alongside each other"
        )
    if span != rounding:
        raise CommandError(72, "Timeseries 'bucketRoundingSeconds' needs to be equal to 'bucketMaxSpanSeconds'")
    if not 1 <= span <= MAX_BUCKET_SPAN_SECONDS:
        raise _bucket_value_error(series, "bucketMaxSpanSeconds", span)
    if span < current["bucketMaxSpanSeconds"]:
        raise CommandError(72, "Timeseries 'bucketMaxSpanSeconds' needs to be equal or greater to transition")
    updated.pop("granularity", None)
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


def _check_key(key) -> None:
    if not isinstance(key, dict) or not key:
        raise CommandError(67, "Index keys cannot be an empty field.")
    for field, value in key.items():
        if not field:
            raise CommandError(67, "Index keys cannot be an empty field.")
        if isinstance(value, bool) or not isinstance(value, (Number, str)):
            raise CommandError(
                67,
                f"Values in v:2 index key pattern cannot be of type {type(value).__name__}. "
                "Only numbers > 0, numbers < 0, and strings are allowed.",
            )
        if isinstance(value, Number) and value == 0:
            raise CommandError(67, "Values in the index key pattern can't be 0.")
        if isinstance(value, str) and value not in INDEX_PLUGINS:
            raise CommandError(67, f"Unknown index plugin '{value}'")


def _check_partial_filter(expression) -> None:
    if not isinstance(expression, dict):
        raise CommandError(2, "partialFilterExpression must be an object")
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


def _check_timeseries_index(spec: dict, timeseries: dict) -> None:
    """Index kinds a time-series collection refuses.

    timeseries-limitations and timeseries-secondary-index pages; codes from
    timeseries_commands_conversion_helper.cpp and jstests/core/timeseries.
    """
    meta = timeseries.get("metaField")
    time = timeseries["timeField"]
    key = spec["key"]
    if spec.get("unique"):
        raise CommandError(72, "Unique indexes are not supported on time-series collections")
    if "text" in key.values():
        raise CommandError(72, "Text indexes are not supported on time-series collections")
    if spec.get("sparse") and not all(field == time or _on_meta(field, meta) for field in key):
        raise CommandError(72, "Sparse indexes are not supported on time-series measurements")
    if "partialFilterExpression" in spec and "collation" in spec:
        raise CommandError(
            85, "On a time-series collection, partialFilterExpression and collation arguments are incompatible"
        )
    for field, value in key.items():
        if _on_meta(field, meta):
            continue
        if field == time and isinstance(value, str):
            raise CommandError(67, "Indexes on the time field must be ascending or descending (numbers only)")
        if field != time and (field.endswith("$**") or value not in (1, -1, "2dsphere")):
            raise CommandError(
                67,
                "Indexes on measurement fields must be ascending or descending (numbers only), or '2dsphere'",
            )
    if "expireAfterSeconds" in spec:
        # 6.3+: only a partial index on the metaField over the timeField may carry a TTL;
        # collection-level expireAfterSeconds is the documented way to age out data.
        if list(key) != [time]:
            raise CommandError(72, "TTL indexes on non-time fields are not supported on time-series collections")
        filter_fields = set(spec.get("partialFilterExpression", {}))
        if not filter_fields or not all(_on_meta(field, meta) for field in filter_fields):
            raise CommandError(
                72, "TTL indexes on time-series collections require a partialFilterExpression on the metaField"
            )


def _normalise_text(spec: dict) -> dict:
    key = spec["key"]
    text_fields = [field for field, value in key.items() if value == "text"]
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


def normalise_index_spec(raw: dict, coll) -> dict:
    """Validate one createIndexes spec against the collection; return it as stored."""
    if not isinstance(raw, dict):
        raise CommandError(14, "Index specification must be an object")
    if "key" not in raw:
        raise CommandError(9, "The 'key' field is a required property of an index specification", "FailedToParse")
    if "name" not in raw:
        raise CommandError(9, "The 'name' field is a required property of an index specification", "FailedToParse")
    unknown = sorted(set(raw) - INDEX_OPTIONS)
    if unknown:
        raise CommandError(
            197, f"The field '{unknown[0]}' is not valid for an index specification. Specification: {raw}"
        )
    if not isinstance(raw["name"], str) or not raw["name"]:
        raise CommandError(67, "The index name cannot be empty")
    _check_key(raw["key"])
    spec = {"v": 2, **{k: copy.deepcopy(v) for k, v in raw.items() if k not in ("v", "ns")}}
    key = spec["key"]
    if "expireAfterSeconds" in spec:
        if len(key) > 1:
            raise CommandError(67, "TTL indexes are single-field indexes, compound indexes do not support TTL.")
        if list(key) == ["_id"]:
            raise CommandError(67, "The field 'expireAfterSeconds' is not valid for an _id index specification.")
        spec["expireAfterSeconds"] = _check_ttl_value(spec["expireAfterSeconds"])
    if spec.get("sparse") and "partialFilterExpression" in spec:
        raise CommandError(67, 'cannot mix "partialFilterExpression" and "sparse" options')
    if "partialFilterExpression" in spec:
        _check_partial_filter(spec["partialFilterExpression"])
    if spec.get("unique") and "hashed" in key.values():
        raise CommandError(67, "Currently hashed indexes cannot guarantee uniqueness. Use a regular index.")
    if spec.get("hidden") and spec["name"] == "_id_":
        raise CommandError(67, "can't hide _id index")
    if "collation" in spec:
        collation = spec["collation"]
        if not isinstance(collation, dict) or "locale" not in collation:
            raise CommandError(40414, "BSON field 'collation.locale' is missing but a required field")
        if collation["locale"] == "simple":
            spec.pop("collation")
        else:
            spec["collation"] = {"locale": collation["locale"], **COLLATION_DEFAULTS, **collation}
    if spec.get("hidden") is False:
        spec.pop("hidden")
    if coll.kind == "timeseries":
        _check_timeseries_index(spec, coll.options["timeseries"])
    if "text" in key.values():
        spec = _normalise_text(spec)
    elif "weights" in spec or "default_language" in spec:
        raise CommandError(67, "weights and default_language apply to text indexes only")
    return spec


def _check_ttl_value(value) -> int:
    if isinstance(value, bool) or not isinstance(value, Number):
        raise CommandError(67, "TTL index 'expireAfterSeconds' option must be numeric")
    if not 0 <= value <= MAX_TTL_SECONDS:
        raise CommandError(
            67, "TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number"
        )
    return int(value)


def same_key_pattern(one: dict, other) -> bool:
    """Key patterns are ordered: {a: 1, b: 1} and {b: 1, a: 1} are different indexes."""
    return isinstance(other, dict) and list(one.items()) == list(other.items())


def _signature_value(spec: dict, option: str):
    value = spec.get(option)
    return None if value is False else value


def _options_of(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k not in ("v", "key", "name", "background")}


def find_conflict(spec: dict, existing: list[dict]) -> dict | None:
    """Return the existing index identical to spec, raise on a conflict, None if new.

    Mirrors IndexCatalog's checks: same name with a different definition is 86
    (IndexKeySpecsConflict); same key pattern and identifying options under another
    name, or with other options, is 85 (IndexOptionsConflict).
    """
    for current in existing:
        same_key = same_key_pattern(current["key"], spec["key"])
        same_identity = same_key and all(
            _signature_value(current, o) == _signature_value(spec, o) for o in IDENTIFYING_OPTIONS
        )
        if current["name"] == spec["name"]:
            if same_identity and _options_of(current) == _options_of(spec):
                return current
            if same_identity:
                raise CommandError(
                    85,
                    "An equivalent index already exists with the same name but different options. "
                    f"Requested index: {spec}, existing index: {current}",
                )
            raise CommandError(
                86,
                "An existing index has the same name as the requested index. When index names are not specified, "
                "they are auto generated and can cause conflicts. Please refer to our documentation. "
                f"Requested index: {spec}, existing index: {current}",
            )
        if same_identity:
            if _options_of(current) == _options_of(spec):
                raise CommandError(85, f"Index already exists with a different name: {current['name']}")
            raise CommandError(
                85,
                "An equivalent index already exists with a different name and options. "
                f"Requested index: {spec}, existing index: {current}",
            )
        text_key = {"_fts": "text", "_ftsx": 1}
        if all(current["key"].get(k) == v for k, v in text_key.items()) and all(
            spec["key"].get(k) == v for k, v in text_key.items()
        ):
            raise CommandError(
                85,
                f"An equivalent index already exists with a different name and options. "
                f"Requested index: {spec}, existing index: {current}",
            )
    return None
