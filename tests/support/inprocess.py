"""The stand-in's command layer in-process, as a model of a server for unit tests.

No socket, no files: commands go straight to the handlers, so property tests can
apply thousands of plans quickly against the same rules the stand-in enforces.
"""

from __future__ import annotations

from standin import app, wire
from standin.server import Server, ServerSettings


class InProcessServer:
    def __init__(self, version: str = "8.0.17"):
        settings = ServerSettings(
            role="mongod", version=version, port=0, bind_ip=[], dbpath=None, parsed_options={}, argv=[]
        )
        self.server = Server(settings, app.handlers_for("mongod"))
        self.commands: list[str] = []

    def command(self, db: str, document: dict) -> dict:
        self.commands.append(next(iter(document)))
        reply = self.server.execute(wire.Request(0, wire.OP_MSG, {**document, "$db": db}), 1, "127.0.0.1")
        if not reply.get("ok"):
            raise RuntimeError(f"{reply.get('code')} {reply.get('codeName')}: {reply.get('errmsg')}")
        return reply

    def state(self, db: str, names: set[str]) -> tuple[dict, dict]:
        """What the module reads: listCollections, then listIndexes per existing collection."""
        listed = self.command(db, {"listCollections": 1})["cursor"]["firstBatch"]
        collections = {info["name"]: info for info in listed}
        indexes = {
            name: self.command(db, {"listIndexes": name})["cursor"]["firstBatch"]
            for name in sorted(names)
            if name in collections and collections[name]["type"] in ("collection", "timeseries")
        }
        return collections, indexes
