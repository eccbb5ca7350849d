"""Persistent state of one stand-in process, kept in its dbPath.

Files in the dbPath:
- ``storage.bson``: the storage engine options the data was created with, in the same
  form mongod writes it ({storage: {engine, options}}, src/mongo/db/storage/
  storage_engine_metadata.cpp), so roles can read it from a real or a stand-in data directory;
- ``mongod.lock``: the pid of the running process (empty after a clean shutdown);
- ``standin-state.json``: the catalogue and documents (canonical extended JSON);
- ``standin-commands.jsonl``: one line per command received, for tests.
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson import json_util

from .wire import CODEC

STATE_FILE = "standin-state.json"
COMMAND_LOG = "standin-commands.jsonl"
STORAGE_METADATA = "storage.bson"
LOCK_FILE = "mongod.lock"

JSON_OPTIONS = json_util.CANONICAL_JSON_OPTIONS.with_options(document_class=dict, tz_aware=True)


@dataclass
class Collection:
    kind: str  # "collection", "timeseries" or "view"
    options: dict
    indexes: list[dict] = field(default_factory=list)
    documents: list[dict] = field(default_factory=list)
    uuid: uuid.UUID = field(default_factory=uuid.uuid4)

    def index(self, name: str) -> dict | None:
        return next((spec for spec in self.indexes if spec["name"] == name), None)


class Store:
    """Catalogue and documents of every database, saved after each write."""

    def __init__(self, dbpath: Path | None):
        self.dbpath = dbpath
        self.databases: dict[str, dict[str, Collection]] = {}
        self.extra: dict[str, Any] = {}  # replica set, sharding and auth state grow here
        # Collections made on demand from other state, never saved (local.oplog.rs).
        self.virtual: dict[tuple[str, str], Any] = {}
        if dbpath is not None and (dbpath / STATE_FILE).exists():
            self._load()

    def _load(self) -> None:
        raw = json_util.loads((self.dbpath / STATE_FILE).read_text(), json_options=JSON_OPTIONS)
        for db_name, collections in raw["databases"].items():
            self.databases[db_name] = {
                name: Collection(
                    kind=entry["kind"],
                    options=entry["options"],
                    indexes=entry["indexes"],
                    documents=entry["documents"],
                    uuid=load_uuid(entry["uuid"]),
                )
                for name, entry in collections.items()
            }
        self.extra = raw.get("extra", {})

    def save(self) -> None:
        if self.dbpath is None:
            return
        raw = {
            "databases": {
                db_name: {
                    name: {
                        "kind": coll.kind,
                        "options": coll.options,
                        "indexes": coll.indexes,
                        "documents": coll.documents,
                        "uuid": bson.Binary.from_uuid(coll.uuid),
                    }
                    for name, coll in collections.items()
                }
                for db_name, collections in self.databases.items()
            },
            "extra": self.extra,
        }
        target = self.dbpath / STATE_FILE
        scratch = target.with_suffix(".tmp")
        scratch.write_text(json_util.dumps(raw, json_options=JSON_OPTIONS))
        os.replace(scratch, target)

    def collection(self, db_name: str, name: str) -> Collection | None:
        if (db_name, name) in self.virtual:
            return self.virtual[(db_name, name)]()
        return self.databases.get(db_name, {}).get(name)

    def collections_of(self, db_name: str) -> dict[str, Collection]:
        """The database's collections, the virtual ones included."""
        made = {name: make() for (db, name), make in self.virtual.items() if db == db_name}
        return {**self.databases.get(db_name, {}), **{name: coll for name, coll in made.items() if coll}}

    def add_collection(self, db_name: str, name: str, coll: Collection) -> None:
        self.databases.setdefault(db_name, {})[name] = coll

    def drop_collection(self, db_name: str, name: str) -> bool:
        collections = self.databases.get(db_name, {})
        if name not in collections:
            return False
        del collections[name]
        if not collections:
            del self.databases[db_name]
        return True


def load_uuid(value: Any) -> uuid.UUID:
    return value.as_uuid() if isinstance(value, bson.Binary) else value


class CommandLog:
    """Append-only JSON-lines record of every command the process received."""

    def __init__(self, dbpath: Path | None):
        self.path = dbpath / COMMAND_LOG if dbpath is not None else None

    def record(self, name: str, db: str, writes: bool, ok: bool, code: int | None) -> None:
        if self.path is None:
            return
        entry = {
            "t": datetime.datetime.now(datetime.UTC).isoformat(),
            "command": name,
            "db": db,
            "write": writes,
            "ok": ok,
        }
        if code is not None:
            entry["code"] = code
        with self.path.open("a") as log:
            log.write(json.dumps(entry) + "\n")


def read_storage_metadata(dbpath: Path) -> dict | None:
    path = dbpath / STORAGE_METADATA
    if not path.exists():
        return None
    return bson.decode(path.read_bytes(), CODEC)


def write_storage_metadata(dbpath: Path, options: dict) -> None:
    document = {"storage": {"engine": "wiredTiger", "options": options}}
    (dbpath / STORAGE_METADATA).write_bytes(bson.encode(document))
