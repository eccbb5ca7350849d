#!/usr/bin/python
"""Declare the collections and indexes of one MongoDB database."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mongodb_collections
short_description: Declare the collections and indexes of a MongoDB database
description:
  - Brings one database to a declared set of collections (plain or time-series), their
    retention, validators and indexes, and reports what it did or would do.
  - Validates the whole specification against MongoDB's documented rules before any
    command is sent; each refusal names the collection, the index or option, and the rule.
  - Reads the current state with one C(listCollections) and one C(listIndexes) per managed
    collection, plans the commands, then runs them unless in check mode. A database
    already as declared costs those reads and no write.
  - Changes MongoDB does not allow in place (another timeField, a finer granularity, a
    plain collection that should be time-series) are refused; nothing is dropped unless
    the specification allows it (O(prune), or C(allow_recreate) on an index).
  - Written for this project because C(community.mongodb.mongodb_index) only checks
    whether an index name exists (not its keys or options), and no collection module
    there knows time-series collections, retention or check mode with a plan.
    C(community.mongodb.mongodb_schema) manages JSON-schema validators only.
options:
  database:
    description: Database to manage.
    type: str
    required: true
  collections:
    description:
      - Collections to manage. Collections not listed are left alone.
      - "Each item: C(name); C(timeseries) (C(time_field), C(meta_field), C(granularity) or
        C(bucket_max_span_seconds) with an equal C(bucket_rounding_seconds)); C(expire_after_seconds)
        (retention of a time-series collection, or C(off)); C(validator), C(validation_level),
        C(validation_action); C(indexes)."
      - "Each index: C(name) (default: MongoDB's generated name), C(keys) (a list of
        C({field: direction}) items in order; direction 1, -1, text, 2dsphere, 2d or hashed),
        C(unique), C(sparse), C(partial_filter_expression), C(expire_after_seconds),
        C(collation), C(weights), C(default_language), C(hidden), C(allow_recreate) (drop and
        rebuild the index when its definition differs)."
      - A TTL index on the timeField of a time-series collection (the seed guide's C(ttl_idx))
        is refused by MongoDB; it is turned into the collection's C(expire_after_seconds), with
        a warning. C(background) is ignored by MongoDB since 4.2 and not sent, with a warning.
    type: list
    elements: dict
    required: true
  prune:
    description:
      - Drop indexes of the listed collections that the specification does not list.
      - Never drops C(_id_) nor the index MongoDB creates on a time-series collection's
        metaField and timeField.
    type: bool
    default: false
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
- name: Declare the monitoring schema through mongos
  mongodb_collections:
    login_host: 127.0.0.1
    login_port: 27017
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"
    database: monitoring
    collections:
      - name: metrics
        timeseries:
          time_field: timestamp
          meta_field: meta
          granularity: minutes
        expire_after_seconds: 7776000
        indexes:
          - name: asset_time_idx
            keys: [{meta.asset_id: 1}, {timestamp: 1}]
      - name: assets
        indexes:
          - name: hostname_text_idx
            keys: [{hostname: text}]
          - name: parent_asset_idx
            keys: [{data.parent_asset_id: 1}]
            sparse: true
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
    - kind: collMod
      db: monitoring
      target: metrics
      summary: "collection metrics: change expireAfterSeconds"
      command: {collMod: metrics, expireAfterSeconds: 2592000}
diff:
  description: Collections before and after (type, options, indexes by name).
  returned: in diff mode
  type: dict
refusals:
  description: Changes MongoDB does not allow, when the plan is refused (nothing is sent).
  returned: on a refused plan
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.mongodb_collections_plan import parse_spec, plan_database
from ansible.module_utils.mongodb_connection import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    PyMongoError,
    connect,
    connection_argument_spec,
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

# listCollections types the planner manages; views and system collections are left alone.
MANAGED_TYPES = ("collection", "timeseries")


def read_state(db, names: set[str]) -> tuple[dict, dict]:
    """listCollections once; listIndexes for each managed collection that exists."""
    collections = {info["name"]: info for info in db.list_collections()}
    indexes = {}
    for name in sorted(names):
        info = collections.get(name)
        if info is not None and info.get("type", "collection") in MANAGED_TYPES:
            indexes[name] = list(db.command("listIndexes", name)["cursor"]["firstBatch"])
    return collections, indexes


def argument_spec() -> dict:
    return {
        **connection_argument_spec(),
        **plan_argument_spec(),
        "database": {"type": "str", "required": True},
        "collections": {"type": "list", "elements": "dict", "required": True},
        "prune": {"type": "bool", "default": False},
    }


REFUSED = "The specification is refused, nothing was sent"


def declaration(params: dict) -> tuple[list, list[str]]:
    """The collections and indexes as this module's rules read them, and the warnings."""
    return parse_spec(params["database"], params["collections"])


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    specs = checked_declaration(module, declaration, REFUSED)
    if params["validate_only"]:
        module.exit_json(changed=False, operations=[])
    if planned_against_nothing(module):
        module.warn(NOT_STARTED_WARNING)
        db, collections, indexes = None, {}, {}
    else:
        if not HAS_PYMONGO:
            module.fail_json(msg=missing_required_lib("pymongo"), exception=str(PYMONGO_IMPORT_ERROR))
        try:
            client = connect(params)
            db = client[params["database"]]
            collections, indexes = read_state(db, {spec.name for spec in specs})
        except PyMongoError as error:
            fail_before_sending(module, f"Could not read the current state of {params['database']}: {error}")

    def send(operation) -> None:
        db.command(operation.command)

    plan = plan_database(specs, collections, indexes, prune=params["prune"])
    result = apply_plan(module, plan, send, f"database {params['database']}", errors=(PyMongoError,))
    module.exit_json(**result)


if __name__ == "__main__":
    run_and_exit_at_once(main)
