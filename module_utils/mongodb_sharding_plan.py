"""Sharded cluster settings as declared vs as they are: validation and planning.

Pure functions, tested without a server. The module reads listShards, config.settings,
balancerStatus, getDefaultRWConcern, config.collections and (for the collections to
shard) listCollections, then asks for a plan.

Rules:
- chunk size: config.settings {_id: "chunksize", value: <MB>}, 1 to 1024, written with
  an upsert (https://www.mongodb.com/docs/manual/tutorial/modify-chunk-size-in-sharded-cluster/);
- balancer window: config.settings {_id: "balancer", activeWindow: {start, stop}} as
  "HH:MM" (https://www.mongodb.com/docs/manual/tutorial/manage-sharded-cluster-balancer/);
- shard keys: values 1 or "hashed", one hashed field at most; a hashed key cannot be
  unique (https://www.mongodb.com/docs/manual/core/sharding-shard-key/);
- time-series shard keys: only the metaField (or its subfields, ranged or hashed) and
  the timeField, the timeField last and ranged; since 8.0 a timeField in the key is
  deprecated (https://www.mongodb.com/docs/manual/core/timeseries/timeseries-shard-collection/).
"""

from __future__ import annotations

import re
from typing import Any

from ansible.module_utils.mongodb_plan import DeclarationError, Operation, Plan
from ansible.module_utils.mongodb_write_concern import same_write_concern

MIN_CHUNK_MB, MAX_CHUNK_MB = 1, 1024
WINDOW_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _fail(message: str) -> None:
    raise DeclarationError(message)


def parse_key(namespace: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = [
            next(iter(item.items())) if isinstance(item, dict) and len(item) == 1 else (None, None) for item in raw
        ]
    else:
        pairs = []
    if not pairs or any(name is None for name, _ in pairs):
        _fail(f"collection {namespace}: key must be a list of {{field: 1 or hashed}} items")
    key: dict[str, Any] = {}
    for name, value in pairs:
        if value not in (1, "hashed") or isinstance(value, bool):
            _fail(f'collection {namespace}: shard key field {name} is {value!r}; MongoDB accepts 1 or "hashed"')
        key[name] = value
    if list(key.values()).count("hashed") > 1:
        _fail(f"collection {namespace}: a shard key can have one hashed field at most")
    return key


def check_timeseries_key(namespace: str, key: dict, timeseries: dict, series: str, warnings: list[str]) -> None:
    meta, time = timeseries.get("metaField"), timeseries["timeField"]
    for name, value in key.items():
        on_meta = bool(meta) and (name == meta or name.startswith(meta + "."))
        if name == time:
            if value != 1:
                _fail(f"collection {namespace}: the timeField {time} must be ranged (1) in a time-series shard key")
            if name != list(key)[-1]:
                _fail(f"collection {namespace}: the timeField {time} must be the last field of a time-series shard key")
        elif not on_meta:
            _fail(
                f"collection {namespace}: a time-series shard key may only use the metaField ({meta}) and its "
                f"subfields, and the timeField ({time}); {name} is neither"
            )
    if time in key and series >= "8.0":
        warnings.append(
            f"collection {namespace}: MongoDB {series} deprecates the timeField ({time}) in a time-series shard key; "
            "plan to reshard on metaField fields only"
        )


def _declared_field(field: str, meta: str | None, time_field: str) -> str:
    """A buckets-collection shard key field as the user declared it."""
    if field == f"control.min.{time_field}":
        return time_field
    if meta and (field == "meta" or field.startswith("meta.")):
        return meta + field[len("meta") :]
    return field


def sharded_collections(entries: list[dict]) -> dict[str, dict]:
    """config.collections entries by the namespace and key the user declared.

    MongoDB 8.0 records a sharded time-series collection under its buckets collection,
    <db>.system.buckets.<coll>, with the key on bucket fields: the metaField as "meta"
    (subfields "meta.<x>") and the timeField as "control.min.<timeField>"
    (src/mongo/db/s/README_timeseries.md, jstests/sharding/timeseries_shard_collection.js).
    """
    found = {}
    for entry in entries:
        namespace, key = entry["_id"], dict(entry["key"])
        timeseries = entry.get("timeseriesFields")
        if timeseries and ".system.buckets." in namespace:
            db, _, name = namespace.partition(".system.buckets.")
            namespace = f"{db}.{name}"
            meta, time_field = timeseries.get("metaField"), timeseries["timeField"]
            key = {_declared_field(field, meta, time_field): value for field, value in key.items()}
        found[namespace] = {**entry, "_id": namespace, "key": key}
    return found


def validate(params: dict) -> dict:
    """Checked declaration: chunk size, balancer window, shards and collections."""
    chunk = params.get("chunk_size_mb")
    if chunk is not None and (
        isinstance(chunk, bool) or not isinstance(chunk, int) or not MIN_CHUNK_MB <= chunk <= MAX_CHUNK_MB
    ):
        _fail(f"chunk_size_mb is {chunk}; MongoDB accepts {MIN_CHUNK_MB} to {MAX_CHUNK_MB} (MB)")
    window = params.get("balancer_window")
    if window:
        for edge in ("start", "stop"):
            if not isinstance(window.get(edge), str) or not WINDOW_TIME.match(window[edge]):
                _fail(f"balancer_window.{edge} is {window.get(edge)!r}; give a time as HH:MM")
    shards = []
    for raw in params.get("shards") or []:
        connection = raw.get("connection", "")
        if "/" not in connection:
            _fail(f"shard {raw.get('name')}: connection must be <replica set>/<host:port>[,...]")
        shards.append({"name": raw.get("name") or connection.split("/")[0], "connection": connection})
    collections = []
    for raw in params.get("collections") or []:
        namespace = raw.get("namespace", "")
        if namespace.count(".") < 1 or namespace.startswith(".") or namespace.endswith("."):
            _fail(f"collection {namespace!r}: namespace must be <database>.<collection>")
        key = parse_key(namespace, raw.get("key"))
        if raw.get("unique") and "hashed" in key.values():
            _fail(f"collection {namespace}: a hashed shard key cannot be unique")
        collections.append({"namespace": namespace, "key": key, "unique": bool(raw.get("unique", False))})
    return {
        "chunk_size_mb": chunk,
        "balancer_enabled": params.get("balancer_enabled"),
        "balancer_window": window,
        "shards": shards,
        "collections": collections,
    }


def plan_sharding(declared: dict, state: dict, series: str = "8.0") -> Plan:
    """state: shards (listShards), settings (config.settings by _id), balancer_mode,
    sharded (config.collections by _id), timeseries (namespace -> timeseries options or
    None), shard_has_arbiter (shard name -> bool), default_write_concern (dict or None),
    wanted_write_concern (dict or None)."""
    plan = Plan()
    current_shards = {shard["_id"]: shard for shard in state.get("shards", [])}
    needs_wc = any(state.get("shard_has_arbiter", {}).get(s["name"]) for s in declared["shards"])
    wanted_wc = state.get("wanted_write_concern")
    if needs_wc and not same_write_concern(state.get("default_write_concern"), wanted_wc):
        if wanted_wc is None:
            plan.refusals.append(
                "a shard has an arbiter: MongoDB needs an explicit cluster-wide default write concern "
                "before it is added; set default_write_concern"
            )
        else:
            plan.operations.append(
                Operation(
                    "admin",
                    {"setDefaultRWConcern": 1, "defaultWriteConcern": wanted_wc},
                    f"cluster: set the default write concern to {wanted_wc}",
                    "cluster",
                )
            )
    for shard in declared["shards"]:
        existing = current_shards.get(shard["name"])
        if existing is None:
            plan.operations.append(
                Operation(
                    "admin",
                    {"addShard": shard["connection"], "name": shard["name"]},
                    f"cluster: add shard {shard['name']} ({shard['connection']})",
                    shard["name"],
                )
            )
        elif existing["host"].split("/")[0] != shard["connection"].split("/")[0]:
            plan.refusals.append(
                f"shard {shard['name']} exists for replica set {existing['host'].split('/')[0]}, "
                f"not {shard['connection'].split('/')[0]}"
            )
    plan.before["shards"] = sorted(current_shards)
    plan.after["shards"] = sorted(set(current_shards) | {s["name"] for s in declared["shards"]})

    settings = state.get("settings", {})
    chunk = declared["chunk_size_mb"]
    current_chunk = settings.get("chunksize", {}).get("value")
    plan.before["chunk_size_mb"] = current_chunk
    plan.after["chunk_size_mb"] = chunk if chunk is not None else current_chunk
    if chunk is not None and current_chunk != chunk:
        plan.operations.append(
            Operation(
                "config",
                {
                    "update": "settings",
                    "updates": [{"q": {"_id": "chunksize"}, "u": {"$set": {"value": chunk}}, "upsert": True}],
                },
                f"cluster: chunk size {current_chunk or 'default'} -> {chunk} MB",
                "cluster",
            )
        )

    enabled = declared["balancer_enabled"]
    mode = state.get("balancer_mode")
    plan.before["balancer"] = mode
    hold = state.get("backup_hold")
    if enabled and mode == "off" and hold:
        # The backup job stopped it and puts it back when it is done (mongodb-backup).
        plan.warnings.append(
            f"the balancer stays off: a backup on {hold.get('by', 'the backup host')} holds it "
            f"(since {hold.get('since')}, until {hold.get('until')} at the latest)"
        )
        enabled = None
    if enabled is not None and (mode != "off") != enabled:
        command = {"balancerStart": 1} if enabled else {"balancerStop": 1}
        plan.operations.append(
            Operation("admin", command, f"cluster: {'start' if enabled else 'stop'} the balancer", "cluster")
        )
    plan.after["balancer"] = mode if enabled is None else ("full" if enabled else "off")
    window = declared["balancer_window"]
    current_window = settings.get("balancer", {}).get("activeWindow")
    if window is not None and current_window != {"start": window["start"], "stop": window["stop"]}:
        plan.operations.append(
            Operation(
                "config",
                {
                    "update": "settings",
                    "updates": [
                        {
                            "q": {"_id": "balancer"},
                            "u": {"$set": {"activeWindow": {"start": window["start"], "stop": window["stop"]}}},
                            "upsert": True,
                        }
                    ],
                },
                f"cluster: balancer window {window['start']}-{window['stop']}",
                "cluster",
            )
        )

    sharded = state.get("sharded", {})
    for collection in declared["collections"]:
        namespace, key = collection["namespace"], collection["key"]
        timeseries = state.get("timeseries", {}).get(namespace)
        try:
            if timeseries is not None:
                check_timeseries_key(namespace, key, timeseries, series, plan.warnings)
        except DeclarationError as error:
            plan.refusals.append(str(error))
            continue
        existing = sharded.get(namespace)
        plan.before.setdefault("collections", {})[namespace] = existing["key"] if existing else None
        plan.after.setdefault("collections", {})[namespace] = key
        if existing is None:
            command: dict[str, Any] = {"shardCollection": namespace, "key": key}
            if collection["unique"]:
                command["unique"] = True
            plan.operations.append(Operation("admin", command, f"collection {namespace}: shard on {key}", namespace))
        elif list(existing["key"].items()) != list(key.items()):
            plan.refusals.append(
                f"collection {namespace} is sharded on {existing['key']}, not {key}; changing a shard key needs "
                "reshardCollection (or refineCollectionShardKey), which this module does not run"
            )
    return plan
