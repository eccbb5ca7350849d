"""Benchmark the collections planner and the round trips of a converged schema.

Prints numbers; asserts nothing.
1. Planner time for 1,000 collections x 10 indexes, from an empty database and from a
   database already in the desired state (pure Python, no server).
2. Commands a server receives when the seed schema is already in place: the
   mongodb_monitoring_schema role (mongodb_collections) versus the same indexes
   declared with community.mongodb.mongodb_index tasks. Uses MONGODB_BIN_DIR when set,
   the stand-in otherwise; counts come from the stand-in's command log (a real server's
   profiler does not see every command, so the count is shown for the stand-in only).

    .venv/bin/python tests/bench/bench_schema.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tests"))
sys.path.insert(0, str(PROJECT / "module_utils"))
import ansible.module_utils  # noqa: E402

# The planner imports its shared code as ansible.module_utils.<name>, as on a host.
ansible.module_utils.__path__.append(str(PROJECT / "module_utils"))

from mongodb_collections_plan import parse_spec, plan_database  # noqa: E402
from support import servers  # noqa: E402
from support.ansible import run_playbook  # noqa: E402

SEED_INDEXES = [
    ("metrics", [["meta.asset_id", 1], ["timestamp", 1]], "asset_time_idx", {}),
    ("metrics", [["meta.metric_name", 1], ["timestamp", 1]], "metric_time_idx", {}),
    ("assets", [["asset_type", 1]], "asset_type_idx", {}),
    ("assets", [["hostname", "text"]], "hostname_text_idx", {}),
    ("assets", [["data.parent_asset_id", 1]], "parent_asset_idx", {"sparse": True}),
    ("assets", [["last_updated", -1]], "last_updated_idx", {}),
]


def large_spec(collections: int = 1000, indexes: int = 10) -> list[dict]:
    return [
        {
            "name": f"c{c:04d}",
            "indexes": [{"name": f"i{i}", "keys": [{f"f{i}": 1}, {f"g{i}": -1}]} for i in range(indexes)],
        }
        for c in range(collections)
    ]


def converged_state(specs) -> tuple[dict, dict]:
    """The listCollections/listIndexes answers of a database already as declared."""
    collections = {spec.name: {"name": spec.name, "type": "collection", "options": {}} for spec in specs}
    indexes = {
        spec.name: [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]
        + [{"v": 2, "key": index.server_key(), "name": index.name, **index.server_options()} for index in spec.indexes]
        for spec in specs
    }
    return collections, indexes


def bench_planner() -> None:
    raw = large_spec()
    started = time.perf_counter()
    specs, _ = parse_spec("monitoring", raw)
    validated = time.perf_counter()
    plan = plan_database(specs, {}, {})
    planned_empty = time.perf_counter()
    collections, indexes = converged_state(specs)
    prepared = time.perf_counter()
    converged = plan_database(specs, collections, indexes)
    planned_converged = time.perf_counter()
    print("planner, 1,000 collections x 10 indexes (pure Python, no server):")
    print(f"  validate the specification     {validated - started:6.3f} s")
    print(f"  plan from an empty database    {planned_empty - validated:6.3f} s   {len(plan.operations)} operations")
    operations = len(converged.operations)
    print(f"  plan a converged database      {planned_converged - prepared:6.3f} s   {operations} operations")
    print(f"  validate + plan (converged)    {validated - started + planned_converged - prepared:6.3f} s")


INDEX_PLAYBOOK = """---
- name: The seed indexes with community.mongodb.mongodb_index
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Declare the seed indexes
      community.mongodb.mongodb_index:
        login_host: 127.0.0.1
        login_port: "{{ schema_port }}"
        indexes: "{{ seed_indexes }}"
"""


def count(process, run) -> Counter:
    recorder = servers.CommandRecorder(process, ["monitoring"])
    recorder.mark()
    result = run()
    assert result.returncode == 0, result.stdout[-3000:]
    return Counter(entry["command"] for entry in recorder.commands())


def bench_round_trips() -> None:
    import json

    with tempfile.TemporaryDirectory() as root:
        config = servers.base_config(Path(root), servers.free_port())
        process = servers.MongoProcess(servers.write_config(Path(root) / "mongod.conf", config), config)
        assert process.start().returncode == 0
        try:
            port = ["-i", "localhost,", "-e", f"schema_port={process.port}"]
            schema = lambda: run_playbook("tests/playbooks/apply-schema.yml", *port)  # noqa: E731
            schema()  # create the schema
            ours = count(process, schema)
            playbook = Path(root) / "indexes.yml"
            playbook.write_text(INDEX_PLAYBOOK)
            indexes = [
                {
                    "database": "monitoring",
                    "collection": c,
                    "keys": dict(keys),
                    "options": {"name": name, **options},
                    "state": "present",
                }
                for c, keys, name, options in SEED_INDEXES
            ]
            extra = ["-e", json.dumps({"seed_indexes": indexes})]
            theirs = count(process, lambda: run_playbook(str(playbook), *port, *extra))
        finally:
            process.stop()
    label = "stand-in" if servers.using_standin() else f"real server ({servers.bin_dir()})"
    print(f"\nconverged seed schema, commands received ({label}):")
    for name, counter in (("mongodb_collections (role)", ours), ("community.mongodb.mongodb_index", theirs)):
        writes = sum(n for command, n in counter.items() if command in servers.WRITE_COMMANDS)
        detail = ", ".join(f"{command} x{n}" for command, n in sorted(counter.items()))
        print(f"  {name:<33} {sum(counter.values()):3d} commands, {writes} writes   ({detail})")
    print("  (mongodb_index checks index names only: it cannot see a changed key or option, a time-series")
    print("   collection or retention, so its count is for less work)")


if __name__ == "__main__":
    bench_planner()
    bench_round_trips()
