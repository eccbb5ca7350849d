"""Rules a MongoDB 8.0 router applies when shards are added and collections sharded.

Held by real binaries (MONGODB_BIN_DIR) and the stand-in alike:
- addShard checks every seed host against the hosts, passives and arbiters the set
  advertises (OperationFailed, 96), and adding the same shard again is a success
  (src/mongo/db/s/config/sharding_catalog_manager_shard_operations.cpp,
  _validateHostAsShard and _checkIfShardExists);
- a sharded time-series collection is recorded in config.collections under its buckets
  collection with the key on bucket fields (src/mongo/db/s/README_timeseries.md,
  jstests/sharding/timeseries_shard_collection.js);
- a router that has loaded a database's routing information goes on reading and
  writing it while the config servers are down
  (jstests/sharding/all_shard_and_config_hosts_brought_down_one_by_one.js);
- dropDatabase through a router removes the database's entry and those of its sharded
  collections from the config servers (src/mongo/db/s/drop_database_coordinator.cpp,
  removeCollAndChunksMetadataFromConfig and removeDatabaseFromConfigAndUpdatePlacementHistory).
"""

from __future__ import annotations

import pymongo
import pytest
from support import servers


@pytest.fixture
def cluster(start_mongod, tmp_path):
    """A one-member config server set, a one-member shard that advertises itself as
    localhost:<port>, and a router; returns (router client, shard port, config server)."""
    config_root, shard_root = tmp_path / "cfg", tmp_path / "shard"
    config_root.mkdir()
    shard_root.mkdir()
    config_server = servers.base_config(config_root, servers.free_port())
    config_server["replication"] = {"replSetName": "cfg"}
    config_server["sharding"] = {"clusterRole": "configsvr"}
    config_process = start_mongod(config_server, name="cfg.conf")
    shard = servers.base_config(shard_root, servers.free_port())
    shard["replication"] = {"replSetName": "shard-a"}
    shard["sharding"] = {"clusterRole": "shardsvr"}
    shard_process = start_mongod(shard, name="shard.conf")
    for process, name, advertised in ((config_process, "cfg", "127.0.0.1"), (shard_process, "shard-a", "localhost")):
        process.client().admin.command(
            "replSetInitiate", {"_id": name, "members": [{"_id": 0, "host": f"{advertised}:{process.port}"}]}
        )
        servers.wait_for(lambda p=process: p.client().admin.command("hello").get("isWritablePrimary"), 60)
    port = servers.start_mongos(tmp_path, f"cfg/127.0.0.1:{config_process.port}")
    router = pymongo.MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=20000)
    yield router, shard_process.port, config_process
    router.close()
    servers.terminate(int((tmp_path / "mongos.pid").read_text().strip()))


def test_add_shard_refuses_a_seed_host_the_set_does_not_advertise(cluster):
    router, shard_port, _ = cluster
    with pytest.raises(pymongo.errors.OperationFailure) as refused:
        router.admin.command("addShard", f"shard-a/127.0.0.1:{shard_port}")
    assert refused.value.code == 96
    assert router.admin.command("listShards")["shards"] == []


def test_add_shard_with_the_advertised_name_and_again_is_one_shard(cluster):
    router, shard_port, _ = cluster
    seed = f"shard-a/localhost:{shard_port}"
    assert router.admin.command("addShard", seed)["shardAdded"] == "shard-a"
    assert router.admin.command("addShard", seed)["shardAdded"] == "shard-a"
    assert [shard["_id"] for shard in router.admin.command("listShards")["shards"]] == ["shard-a"]


def test_a_sharded_time_series_collection_is_recorded_under_its_buckets_collection(cluster):
    router, shard_port, _ = cluster
    router.admin.command("addShard", f"shard-a/localhost:{shard_port}")
    router.monitoring.create_collection("metrics", timeseries={"timeField": "timestamp", "metaField": "meta"})
    key = {"meta.asset_id": 1, "timestamp": 1}
    router.admin.command("shardCollection", "monitoring.metrics", key=key)
    entries = {entry["_id"]: entry for entry in router.config.collections.find()}
    assert "monitoring.metrics" not in entries
    buckets = entries["monitoring.system.buckets.metrics"]
    assert list(buckets["key"].items()) == [("meta.asset_id", 1), ("control.min.timestamp", 1)]
    assert buckets["timeseriesFields"]["timeField"] == "timestamp"
    # The same key again is a success; another key is refused (AlreadyInitialized).
    assert router.admin.command("shardCollection", "monitoring.metrics", key=key)["collectionsharded"]
    with pytest.raises(pymongo.errors.OperationFailure) as refused:
        router.admin.command("shardCollection", "monitoring.metrics", key={"meta.asset_id": 1})
    assert refused.value.code == 23


def test_a_router_writes_to_a_known_database_while_the_config_servers_are_down(cluster):
    router, shard_port, config_server = cluster
    router.admin.command("addShard", f"shard-a/localhost:{shard_port}")
    probe = router.monitoring.probe
    probe.insert_one({"_id": 1})
    config_server.stop()
    probe.insert_one({"_id": 2})
    assert sorted(doc["_id"] for doc in probe.find()) == [1, 2]


def test_a_database_dropped_through_the_router_leaves_no_entry_on_the_config_servers(cluster):
    router, shard_port, _ = cluster
    router.admin.command("addShard", f"shard-a/localhost:{shard_port}")
    router.monitoring.assets.insert_one({"_id": 1})
    router.admin.command("shardCollection", "monitoring.assets", key={"_id": 1})
    assert router.config.databases.find_one({"_id": "monitoring"})
    router.drop_database("monitoring")
    assert router.config.databases.find_one({"_id": "monitoring"}) is None
    assert router.config.collections.find_one({"_id": "monitoring.assets"}) is None
    # The next write creates the database again, unsharded.
    router.monitoring.assets.insert_one({"_id": 2})
    assert [doc["_id"] for doc in router.monitoring.assets.find()] == [2]
    assert router.config.databases.find_one({"_id": "monitoring"})
