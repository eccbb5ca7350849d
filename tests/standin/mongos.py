"""The stand-in mongos: cluster metadata on the config servers, data on the shards.

Metadata lives where MongoDB keeps it, in the config server replica set's config
database (config.shards, config.databases, config.collections, config.settings), so
clients see it through mongos as on a real cluster. Database commands go to the
database's primary shard (chosen on first use), which is enough for the catalogue work
this project does through mongos. Users live on the config servers.

Rules and codes: https://www.mongodb.com/docs/manual/reference/command/addShard/,
.../shardCollection/, .../balancerStart/, .../balancerStop/, .../balancerStatus/,
.../core/sharding-shard-key/, .../core/timeseries/timeseries-shard-collection/ and
https://www.mongodb.com/docs/manual/tutorial/modify-chunk-size-in-sharded-cluster/.
"""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pymongo

from . import replication, replset, tls
from .errors import CommandError
from .server import Context, Server

ROUTED = {
    "create",
    "drop",
    "collMod",
    "createIndexes",
    "listIndexes",
    "dropIndexes",
    "insert",
    "find",
    "update",
    "delete",
    "count",
    "aggregate",
    "listCollections",
    "dropDatabase",
    "getMore",
    "killCursors",
}
USER_COMMANDS = {"createUser", "updateUser", "dropUser", "usersInfo", "grantRolesToUser", "revokeRolesFromUser"}
MAX_CHUNK_MB = 1024
WRITES = {"insert": "documents", "update": "updates", "delete": "deletes"}
# How long mongos waits to find a shard's primary (defaultFindReplicaSetHostTimeoutMS) and
# how often it sends a retryable write again (kMaxNumFailedHostRetryAttempts).
FIND_HOST_TIMEOUT_MS = 15000
MAX_RETRIES = 3
# The RetriableError category of src/mongo/base/error_codes.yml that a shard answers with.
RETRIABLE_CODES = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}


class Cluster:
    """Clients to the config server replica set and to each shard, authenticated by keyfile."""

    def __init__(self, server: Server):
        self.server = server
        self.clients: dict[str, pymongo.MongoClient] = {}
        self.lock = threading.Lock()
        # The catalog cache: each known database's primary shard, with that shard's entry.
        self.routing_cache: dict[str, dict] = {}

    def _client(self, connection: str) -> pymongo.MongoClient:
        with self.lock:
            if connection not in self.clients:
                name, _, hosts = connection.partition("/")
                self.clients[connection] = pymongo.MongoClient(
                    f"mongodb://{hosts}/?replicaSet={name}",
                    serverSelectionTimeoutMS=FIND_HOST_TIMEOUT_MS,
                    **tls.INTERNAL_CLIENT_OPTIONS,
                )
            return self.clients[connection]

    def run(self, connection: str, db: str, command: dict, retry: bool = False) -> dict:
        """Run a command on a shard's (or the config servers') primary.

        Finding the primary waits up to defaultFindReplicaSetHostTimeoutMS (15 s), then
        FailedToSatisfyReadPreference (133); a retryable write is sent again, up to 3
        times, after a retriable error such as a lost connection or NotWritablePrimary
        (src/mongo/client/streamable_replica_set_monitor.cpp, replica_set_monitor_server_parameters.idl;
        src/mongo/s/async_requests_sender.cpp, kMaxNumFailedHostRetryAttempts;
        src/mongo/s/write_ops/batch_write_exec.cpp, RetryPolicy::kIdempotent).
        """
        document = {**command, replset.INTERNAL_KEY_FIELD: replset.internal_credential(self.server)}
        attempts = 1 + (MAX_RETRIES if retry else 0)
        for attempt in range(1, attempts + 1):
            try:
                return self._client(connection)[db].command(document)
            except pymongo.errors.OperationFailure as error:
                details = error.details or {}
                if attempt < attempts and error.code in RETRIABLE_CODES:
                    continue
                raise CommandError(
                    error.code or 8, str(details.get("errmsg", error)), details.get("codeName")
                ) from error
            except pymongo.errors.ServerSelectionTimeoutError as error:
                name = connection.partition("/")[0]
                raise CommandError(
                    133,
                    f'Could not find host matching read preference {{ mode: "primary" }} for set {name}',
                    "FailedToSatisfyReadPreference",
                ) from error
            except pymongo.errors.PyMongoError as error:
                if attempt < attempts:
                    continue
                raise CommandError(6, f"Could not reach {connection}: {error}", "HostUnreachable") from error
        raise AssertionError("unreachable")

    def config(self, db: str, command: dict) -> dict:
        return self.run(self.server.settings.parsed_options["sharding"]["configDB"], db, command)

    def find(self, collection: str, query: dict | None = None, db: str = "config") -> list[dict]:
        return self.config(db, {"find": collection, "filter": query or {}})["cursor"]["firstBatch"]

    def upsert(self, collection: str, document: dict) -> None:
        self.config(
            "config",
            {"update": collection, "updates": [{"q": {"_id": document["_id"]}, "u": document, "upsert": True}]},
        )

    def remove(self, collection: str, query: dict) -> None:
        self.config("config", {"delete": collection, "deletes": [{"q": query, "limit": 0}]})

    def drop_database(self, db: str, shard: dict, command: dict) -> dict:
        """dropDatabase through the router, in the order of the primary shard's
        DropDatabaseCoordinator (src/mongo/db/s/drop_database_coordinator.cpp): each
        sharded collection's entry leaves config.collections
        (removeCollAndChunksMetadataFromConfig), the database is dropped on the shard, and
        its config.databases entry goes last (removeDatabaseFromConfigAndUpdatePlacementHistory).
        The router forgets the database whether or not the drop succeeded
        (src/mongo/s/commands/cluster_drop_database_cmd.cpp, purgeDatabase on exit)."""
        try:
            tracked = [entry["_id"] for entry in self.find("collections") if entry["_id"].startswith(db + ".")]
            if tracked:
                self.remove("collections", {"_id": {"$in": tracked}})
            reply = self.run(shard["host"], db, command)
            self.remove("databases", {"_id": db})
            return reply
        finally:
            self.routing_cache.pop(db, None)

    def shards(self) -> list[dict]:
        return self.find("shards")

    def shard(self, name: str) -> dict:
        found = next((s for s in self.shards() if s["_id"] == name), None)
        if found is None:
            raise CommandError(70, f"Shard {name} not found", "ShardNotFound")
        return found

    def primary_shard(self, db: str, create: bool) -> dict | None:
        """The shard a database's commands go to, from the catalog cache once known.

        A real mongos keeps each database's routing entry and the shard registry in its
        catalog cache and reads the config servers only to load or refresh them, so reads
        and writes to a known database go on while every config server is down; only a
        router with nothing loaded (after flushRouterConfig) fails, with HostUnreachable or
        FailedToSatisfyReadPreference
        (jstests/sharding/all_shard_and_config_hosts_brought_down_one_by_one.js;
        src/mongo/s/catalog_cache.cpp). A database not yet known is looked up every time,
        and dropDatabase through this router forgets it (drop_database).
        """
        if db in self.routing_cache:
            return self.routing_cache[db]
        shard = self._primary_shard_from_config(db, create)
        if shard is not None:
            self.routing_cache[db] = shard
        return shard

    def _primary_shard_from_config(self, db: str, create: bool) -> dict | None:
        entry = next(iter(self.find("databases", {"_id": db})), None)
        if entry is None:
            if not create:
                return None
            shards = self.shards()
            if not shards:
                raise CommandError(70, "Database " + db + " could not be created: no shards found", "ShardNotFound")
            entry = {"_id": db, "primary": shards[0]["_id"]}
            self.upsert("databases", entry)
        return self.shard(entry["primary"])


def cluster(server: Server) -> Cluster:
    return server.extra_state.setdefault("cluster", Cluster(server))


# -- routing -------------------------------------------------------------------------


def route(server: Server, ctx: Context) -> dict:
    """Send a database command to the database's primary shard (config db: config servers)."""
    link = cluster(server)
    command = {k: v for k, v in ctx.body.items() if k not in ("$db", "lsid", "$clusterTime", "$readPreference")}
    command.update(ctx.sequences)
    if ctx.db in ("config", "admin"):
        return link.config(ctx.db, command)
    writes = ctx.name not in ("find", "count", "aggregate", "listCollections", "listIndexes", "getMore")
    shard = link.primary_shard(ctx.db, create=writes)
    if shard is None:
        if ctx.name in ("listCollections", "find", "aggregate", "listIndexes"):
            if ctx.name == "listIndexes":
                raise CommandError(26, f"ns does not exist: {ctx.db}.{ctx.target}")
            return {"cursor": {"id": 0, "ns": f"{ctx.db}.{ctx.target}", "firstBatch": []}}
        return {"n": 0} if ctx.name == "count" else {}
    if ctx.name in WRITES:
        return _routed_write(link, shard, ctx, command)
    if ctx.name == "dropDatabase":
        reply = link.drop_database(ctx.db, shard, command)
    else:
        reply = link.run(shard["host"], ctx.db, command)
    reply.pop("$clusterTime", None)
    reply.pop("operationTime", None)
    return reply


def _routed_write(link: Cluster, shard: dict, ctx: Context, command: dict) -> dict:
    """insert/update/delete on a shard; a shard that cannot be reached fails the batch's writes.

    A retryable write (lsid and txnNumber) carries the client's session to the shard, so a
    retry there answers what the first attempt did. When the shard cannot be reached the
    reply is ok with a write error per statement (the first only when ordered), not a
    command error: BatchWriteExec's noteBatchError (src/mongo/s/write_ops/batch_write_exec.cpp,
    "Write results unavailable from failing to target a host in the shard").
    """
    retryable = "txnNumber" in ctx.body and isinstance(ctx.body.get("lsid"), dict)
    if retryable:
        command[replication.ROUTED_SESSION_FIELD] = ctx.body["lsid"]
    try:
        reply = link.run(shard["host"], ctx.db, command, retry=retryable)
    except CommandError as error:
        if error.code in (13, 18):
            raise
        statements = ctx.documents(WRITES[ctx.name])
        ordered = ctx.body.get("ordered", True) is not False
        message = (
            f"Write results unavailable from failing to target a host in the shard {shard['_id']} :: caused by :: "
            f"{error.message}"
        )
        failed = statements[:1] if ordered else statements
        return {
            "n": 0,
            "writeErrors": [
                {"index": index, "code": error.code, "codeName": error.code_name, "errmsg": message}
                for index, _ in enumerate(failed)
            ],
        }
    reply.pop("$clusterTime", None)
    reply.pop("operationTime", None)
    return reply


def user_command(server: Server, ctx: Context) -> dict:
    command = {k: v for k, v in ctx.body.items() if k not in ("$db", "lsid", "$clusterTime", "$readPreference")}
    return cluster(server).config(ctx.db, command)


def config_users(server: Server) -> list[dict]:
    try:
        return cluster(server).find("system.users", db="admin")
    except CommandError:
        return []


# -- sharding commands ---------------------------------------------------------------


def add_shard(server: Server, ctx: Context) -> dict:
    """addShard, as ShardingCatalogManager::addShard checks it.

    src/mongo/db/s/config/sharding_catalog_manager_shard_operations.cpp
    (_checkIfShardExists, _validateHostAsShard): a shard already there with the same name
    and set and an overlapping host is success (idempotent), any other clash is
    IllegalOperation (20); every seed host must be among the set's hosts, passives or
    arbiters as its hello advertises them, else OperationFailed (96).
    """
    connection = ctx.target
    if not isinstance(connection, str) or "/" not in connection:
        raise CommandError(2, "Invalid connection string: a shard is a replica set, give <set name>/<host:port>,...")
    set_name, _, seeds = connection.partition("/")
    seed_hosts = [host for host in seeds.split(",") if host]
    link = cluster(server)
    name = ctx.body.get("name") or set_name
    for existing in link.shards():
        existing_set, _, existing_hosts = existing["host"].partition("/")
        same_set = existing_set == set_name
        if existing["_id"] == name and same_set and set(existing_hosts.split(",")) & set(seed_hosts):
            return {"shardAdded": name}
        if existing["_id"] == name:
            raise CommandError(20, f"A shard named {name} already exists", "IllegalOperation")
        if same_set:
            raise CommandError(
                20, f"A shard already exists containing the replica set '{set_name}'", "IllegalOperation"
            )
    try:
        hello = link.run(connection, "admin", {"hello": 1})
        options = link.run(connection, "admin", {"getCmdLineOpts": 1})["parsed"]
    except CommandError as error:
        raise CommandError(96, f"failed to add shard {connection}: {error.message}", "OperationFailed") from error
    if hello.get("setName") != set_name:
        raise CommandError(
            96,
            f"the provided connection string ({connection}) does not match the actual set name {hello.get('setName')}",
            "OperationFailed",
        )
    advertised = hello.get("hosts", []) + hello.get("passives", []) + hello.get("arbiters", [])
    for host in seed_hosts:
        if host not in advertised:
            raise CommandError(
                96,
                f"in seed list {connection}, host {host} does not belong to replica set {set_name}; found "
                f"{{hosts: {hello.get('hosts', [])}, passives: {hello.get('passives', [])}, "
                f"arbiters: {hello.get('arbiters', [])}}}",
                "OperationFailed",
            )
    if options.get("sharding", {}).get("clusterRole") != "shardsvr":
        raise CommandError(
            96,
            f"Cannot add {connection} as a shard since it was not started with sharding.clusterRole: shardsvr",
            "OperationFailed",
        )
    link.upsert("shards", {"_id": name, "host": f"{set_name}/{','.join(advertised)}", "state": 1})
    return {"shardAdded": name}


def list_shards(server: Server, ctx: Context) -> dict:
    return {"shards": cluster(server).shards()}


def enable_sharding(server: Server, ctx: Context) -> dict:
    cluster(server).primary_shard(ctx.target, create=True)
    return {}


def _check_shard_key(namespace: str, key: Any, timeseries: dict | None) -> None:
    """sharding-shard-key and timeseries-shard-collection rules."""
    if not isinstance(key, dict) or not key:
        raise CommandError(2, f"shard key for {namespace} must be a non-empty document")
    values = list(key.values())
    if any(value not in (1, "hashed") for value in values):
        raise CommandError(2, f'Unsupported shard key pattern {key}: values must be 1 or "hashed"')
    if values.count("hashed") > 1:
        raise CommandError(2, "A shard key can have at most one hashed field")
    if timeseries is None:
        return
    meta, time = timeseries.get("metaField"), timeseries["timeField"]
    for field, value in key.items():
        on_meta = bool(meta) and (field == meta or field.startswith(meta + "."))
        if field == time:
            if value != 1 or field != list(key)[-1]:
                raise CommandError(
                    5914001,
                    "the timeField can only be at the end of a time-series shard key and must be ranged (1)",
                    "Location5914001",
                )
        elif not on_meta:
            raise CommandError(
                5914001,
                f"Only the metaField and timeField may be in a time-series shard key, not {field}",
                "Location5914001",
            )


def buckets_shard_key(key: dict, timeseries: dict) -> dict:
    """A time-series shard key as config.collections records it, on the buckets collection.

    src/mongo/db/s/README_timeseries.md (8.0): the metaField becomes "meta" (its
    subfields "meta.<x>"), the timeField "control.min.<timeField>";
    jstests/sharding/timeseries_shard_collection.js.
    """
    meta, time_field = timeseries.get("metaField"), timeseries["timeField"]
    converted = {}
    for field, value in key.items():
        if field == time_field:
            converted[f"control.min.{time_field}"] = value
        elif meta and (field == meta or field.startswith(meta + ".")):
            converted["meta" + field[len(meta) :]] = value
        else:
            converted[field] = value
    return converted


def shard_collection(server: Server, ctx: Context) -> dict:
    namespace = ctx.target
    if not isinstance(namespace, str) or "." not in namespace:
        raise CommandError(73, f"Invalid namespace {namespace}", "InvalidNamespace")
    db, _, name = namespace.partition(".")
    key = ctx.body.get("key")
    link = cluster(server)
    shard = link.primary_shard(db, create=True)
    listed = link.run(shard["host"], db, {"listCollections": 1, "filter": {"name": name}})["cursor"]["firstBatch"]
    timeseries = listed[0].get("options", {}).get("timeseries") if listed else None
    _check_shard_key(namespace, key, timeseries)
    if ctx.body.get("unique") and "hashed" in key.values():
        raise CommandError(2, "hashed shard keys cannot be declared unique")
    tracked, tracked_key = namespace, key
    if timeseries is not None:
        tracked, tracked_key = f"{db}.system.buckets.{name}", buckets_shard_key(key, timeseries)
    existing = next(iter(link.find("collections", {"_id": tracked})), None)
    if existing is not None:
        # create_collection_coordinator.cpp, checkIfCollectionAlreadyTrackedWithSameOptions.
        if list(existing["key"].items()) == list(tracked_key.items()):
            return {"collectionsharded": namespace}
        raise CommandError(
            23, f"collection already tracked with different options for collection {tracked}", "AlreadyInitialized"
        )
    if not listed:
        link.run(shard["host"], db, {"create": name})
    index_key = {field: value for field, value in key.items()}
    if timeseries is None:
        indexes = link.run(shard["host"], db, {"listIndexes": name})["cursor"]["firstBatch"]
        if not any(list(index["key"].items())[: len(key)] == list(index_key.items()) for index in indexes):
            name_parts = "_".join(f"{f}_{v}" for f, v in key.items())
            link.run(shard["host"], db, {"createIndexes": name, "indexes": [{"key": index_key, "name": name_parts}]})
    entry: dict = {
        "_id": tracked,
        "key": tracked_key,
        "unique": bool(ctx.body.get("unique", False)),
        "lastmod": datetime.datetime.now(datetime.UTC),
        "primary": shard["_id"],
    }
    if timeseries is not None:
        entry["timeseriesFields"] = timeseries
    link.upsert("collections", entry)
    return {"collectionsharded": namespace}


def _balancer(server: Server) -> dict:
    return next(iter(cluster(server).find("settings", {"_id": "balancer"})), {"_id": "balancer", "stopped": False})


def balancer_start(server: Server, ctx: Context) -> dict:
    cluster(server).upsert("settings", {**_balancer(server), "stopped": False, "mode": "full"})
    return {}


def balancer_stop(server: Server, ctx: Context) -> dict:
    cluster(server).upsert("settings", {**_balancer(server), "stopped": True, "mode": "off"})
    return {}


def balancer_status(server: Server, ctx: Context) -> dict:
    stopped = _balancer(server).get("stopped", False)
    return {"mode": "off" if stopped else "full", "inBalancerRound": False, "numBalancerRounds": 0}


def check_settings_write(server: Server, ctx: Context) -> None:
    """config.settings chunksize: 1 to 1024 MB (modify-chunk-size-in-sharded-cluster)."""
    if ctx.db != "config" or ctx.name != "update" or ctx.target != "settings":
        return
    for statement in ctx.documents("updates"):
        query, change = statement.get("q", {}), statement.get("u", {})
        if query.get("_id") != "chunksize":
            continue
        value = change.get("$set", change).get("value")
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CHUNK_MB:
            raise CommandError(2, f"chunksize must be an integer between 1 and {MAX_CHUNK_MB} (MB), got {value!r}")


def set_default_rw_concern(server: Server, ctx: Context) -> dict:
    concern = ctx.body.get("defaultWriteConcern")
    if not isinstance(concern, dict) or concern.get("w") == 0:
        raise CommandError(2, "defaultWriteConcern must be a write concern document other than w:0")
    concern = replset.stored_write_concern(concern)
    link = cluster(server)
    link.upsert("settings", {"_id": "ReadWriteConcernDefaults", "defaultWriteConcern": concern})
    for shard in link.shards():
        link.run(shard["host"], "admin", {"setDefaultRWConcern": 1, "defaultWriteConcern": concern})
    return replset.rw_concern_reply(concern, "majority")


def get_default_rw_concern(server: Server, ctx: Context) -> dict:
    stored = next(iter(cluster(server).find("settings", {"_id": "ReadWriteConcernDefaults"})), None)
    return replset.rw_concern_reply(stored["defaultWriteConcern"] if stored else None, "majority")


def list_databases(server: Server, ctx: Context) -> dict:
    link = cluster(server)
    names = {"admin", "config"} | {entry["_id"] for entry in link.find("databases")}
    databases = [{"name": name, "sizeOnDisk": 4096, "empty": False} for name in sorted(names)]
    if ctx.body.get("nameOnly"):
        databases = [{"name": entry["name"]} for entry in databases]
    return {"databases": databases, "totalSize": 4096 * len(databases)}


HANDLERS: dict = {
    **{
        name: (
            route,
            name not in ("find", "count", "aggregate", "listCollections", "listIndexes", "getMore", "killCursors"),
        )
        for name in ROUTED
    },
    **{name: (user_command, name != "usersInfo") for name in USER_COMMANDS},
    "addShard": (add_shard, True),
    "listShards": (list_shards, False),
    "enableSharding": (enable_sharding, True),
    "shardCollection": (shard_collection, True),
    "balancerStart": (balancer_start, True),
    "balancerStop": (balancer_stop, True),
    "balancerStatus": (balancer_status, False),
    "setDefaultRWConcern": (set_default_rw_concern, True),
    "getDefaultRWConcern": (get_default_rw_concern, False),
    "listDatabases": (list_databases, False),
}


def configure(server: Server) -> None:
    server.user_source = lambda: config_users(server)
    server.before_write.append(check_settings_write)
