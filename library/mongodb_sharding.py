#!/usr/bin/python
"""Declare a sharded cluster's shards, chunk size, balancer and sharded collections."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mongodb_sharding
short_description: Declare a MongoDB sharded cluster's shards, chunk size, balancer and shard keys
description:
  - Talks to a mongos. Adds the declared shards, sets the chunk size (C(config.settings),
    1 to 1024 MB, written with an upsert as current MongoDB versions expect), starts or
    stops the balancer and sets its window, and shards the declared collections.
  - Validates everything first against MongoDB's documented rules (chunk size range, shard
    key values, time-series shard key rules) and sends nothing when a rule is broken.
    A shard key MongoDB deprecates for the server's version gives a warning saying so.
  - When a declared shard has an arbiter, sets the cluster-wide default write concern
    first, as MongoDB requires.
  - A cluster already as declared reports no change; check and diff mode show the plan.
  - Does not start a balancer that the backup job stopped and still holds, recorded as
    the C(balancer) document of C(mongodb_backup.locks) with C(held) true and an C(until)
    that has not passed. It warns instead, and the job starts it again when it is done.
  - Written for this project because C(community.mongodb.mongodb_shard) and
    C(community.mongodb.mongodb_balancer) cover shards and the balancer one call at a time,
    without shard-key validation, time-series awareness or one plan in check mode.
options:
  shards:
    description: Shards to add; each is C(name) and C(connection) (C(<replica set>/<host:port>,...)).
    type: list
    elements: dict
    default: []
  chunk_size_mb:
    description: Cluster chunk size in MB (1 to 1024). Empty leaves it as it is.
    type: int
  balancer_enabled:
    description: Run (true) or stop (false) the balancer. Empty leaves it as it is.
    type: bool
  balancer_window:
    description:
      - Hours the balancer may run, with C(start) and C(stop) as HH:MM. Empty leaves it as it is.
    type: dict
  default_write_concern:
    description: Cluster-wide default write concern, set when a declared shard has an arbiter.
    type: dict
  collections:
    description:
      - "Collections to shard; each is C(namespace) (C(db.collection)), C(key) (ordered list of
        C({field: 1 or hashed}) items) and optionally C(unique)."
      - Shard collections after the schema created them (a time-series collection must exist
        to be sharded with its own rules).
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
  - mongodb_connection
  - mongodb_plan
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
author: monitoring-store maintainers
"""

EXAMPLES = r"""
- name: Shards, chunk size and the guide's shard keys
  mongodb_sharding:
    login_port: 27017
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"
    shards:
      - {name: monitoring-shard-01, connection: "monitoring-shard-01/shard01-a.example.internal:27017"}
    chunk_size_mb: 32
    balancer_enabled: true
    collections:
      - {namespace: monitoring.metrics, key: [{meta.asset_id: 1}, {timestamp: 1}]}
      - {namespace: monitoring.assets, key: [{_id: hashed}]}
"""

RETURN = r"""
operations:
  description:
    - Commands sent, in order; in check mode, the commands that would be sent. Empty when
      nothing differs, when the plan is refused, or with O(validate_only).
    - Each is C(kind) (the command name), C(db), C(target) (what it acts on), C(summary)
      (a line to read) and C(command) (passwords replaced by asterisks).
  returned: always
  type: list
  elements: dict
  sample:
    - kind: addShard
      db: admin
      target: monitoring-shard-01
      summary: "cluster: add shard monitoring-shard-01 (monitoring-shard-01/shard01-a.example.internal:27018)"
      command: {addShard: "monitoring-shard-01/shard01-a.example.internal:27018", name: monitoring-shard-01}
diff:
  description: Shards, chunk size, balancer mode and shard keys before and after.
  returned: in diff mode
  type: dict
refusals:
  description: Changes MongoDB does not allow, when the plan is refused (nothing is sent).
  returned: on a refused plan
  type: list
  elements: str
"""

import datetime

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.mongodb_connection import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    LoginRefused,
    PyMongoError,
    client_options,
    connect_checked,
    connection_argument_spec,
    pymongo,
    run_and_exit_at_once,
)
from ansible.module_utils.mongodb_plan import (
    NOT_STARTED_WARNING,
    apply_plan,
    checked_declaration,
    fail_before_sending,
    plan_argument_spec,
    planned_against_nothing,
)
from ansible.module_utils.mongodb_sharding_plan import plan_sharding, sharded_collections, validate


def argument_spec() -> dict:
    return {
        **connection_argument_spec(),
        **plan_argument_spec(),
        "shards": {"type": "list", "elements": "dict", "default": []},
        "chunk_size_mb": {"type": "int"},
        "balancer_enabled": {"type": "bool"},
        "balancer_window": {"type": "dict"},
        "default_write_concern": {"type": "dict"},
        "collections": {"type": "list", "elements": "dict", "default": []},
    }


def shard_has_arbiter(params: dict, connection: str) -> bool:
    """Ask the shard's members (as the inventory names them) whether the set has an arbiter."""
    set_name, _, hosts = connection.partition("/")
    client = pymongo.MongoClient(
        **{
            **client_options({**params, "login_user": None, "login_password": None}),
            "host": hosts.split(","),
            "port": None,
            "directConnection": False,
            "replicaSet": set_name,
        }
    )
    try:
        return bool(client.admin.command("hello").get("arbiters"))
    except PyMongoError:
        return False
    finally:
        client.close()


# Where the backup job records that it holds the balancer off (roles/mongodb_backup).
BACKUP_HOLD_DATABASE = "mongodb_backup"


def read_state(client, params: dict, declared: dict) -> dict:
    config = client.config
    state = {
        "shards": client.admin.command("listShards")["shards"],
        "settings": {doc["_id"]: doc for doc in config.settings.find()},
        "balancer_mode": client.admin.command("balancerStatus").get("mode"),
        # A running backup's hold on the balancer (roles/mongodb_backup: mongodb-backup).
        "backup_hold": client[BACKUP_HOLD_DATABASE].locks.find_one(
            {"_id": "balancer", "held": True, "until": {"$gt": datetime.datetime.now(datetime.UTC)}}
        ),
        "sharded": sharded_collections(list(config.collections.find())),
        "timeseries": {},
        "shard_has_arbiter": {s["name"]: shard_has_arbiter(params, s["connection"]) for s in declared["shards"]},
        "wanted_write_concern": params["default_write_concern"],
    }
    defaults = client.admin.command("getDefaultRWConcern")
    if defaults.get("defaultWriteConcernSource") == "global":
        state["default_write_concern"] = defaults.get("defaultWriteConcern")
    for collection in declared["collections"]:
        db, _, name = collection["namespace"].partition(".")
        listed = list(client[db].list_collections(filter={"name": name}))
        state["timeseries"][collection["namespace"]] = (
            listed[0].get("options", {}).get("timeseries") if listed else None
        )
    return state


def new_cluster_state(params: dict) -> dict:
    """What a cluster that has never run reports: no shard, no setting, the balancer on
    (its default), nothing sharded. Whether a shard has an arbiter cannot be asked of a
    server that is not running, so the default write concern is not in this plan."""
    return {
        "shards": [],
        "settings": {},
        "balancer_mode": "full",
        "sharded": {},
        "timeseries": {},
        "shard_has_arbiter": {},
        "wanted_write_concern": params["default_write_concern"],
    }


REFUSED = "The declaration is refused, nothing was sent"


def declaration(params: dict) -> tuple[dict, list[str]]:
    """The shards, settings and shard keys as this module's rules read them."""
    return validate(params), []


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    declared = checked_declaration(module, declaration, REFUSED)
    if params["validate_only"]:
        module.exit_json(changed=False, operations=[])
    if planned_against_nothing(module):
        module.warn(NOT_STARTED_WARNING)
        plan = plan_sharding(declared, new_cluster_state(params))
        module.exit_json(**apply_plan(module, plan, None, "sharding", errors=()))
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=str(PYMONGO_IMPORT_ERROR))
    try:
        client, _ = connect_checked(params, allow_localhost_exception=False)
        version = client.admin.command("buildInfo")["version"]
        state = read_state(client, params, declared)
    except (LoginRefused, PyMongoError) as error:
        fail_before_sending(module, f"sharding: could not read the cluster: {error}")

    def send(operation) -> None:
        client[operation.db].command(operation.command)

    plan = plan_sharding(declared, state, ".".join(version.split(".")[:2]))
    module.exit_json(**apply_plan(module, plan, send, "sharding", errors=(PyMongoError,)))


if __name__ == "__main__":
    run_and_exit_at_once(main)
