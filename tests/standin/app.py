"""Assemble a stand-in server for a role (mongod or mongos) from its options."""

from __future__ import annotations

from pathlib import Path

from . import (
    auth,
    commands_admin,
    commands_catalog,
    commands_crud,
    diagnostics,
    elections,
    fcv,
    maintenance,
    mongos,
    replication,
    replset,
    tls,
)
from .server import Server, ServerSettings

DEFAULT_PORT = {"mongod": 27017, "mongos": 27017}


def handlers_for(role: str) -> dict:
    handlers: dict = {}
    for module in (commands_admin, commands_catalog, commands_crud, auth, tls):
        handlers.update(module.HANDLERS)
    if role == "mongod":
        handlers.update(diagnostics.HANDLERS)
        handlers.update(replset.HANDLERS)
        handlers.update(replication.HANDLERS)
        handlers.update(elections.HANDLERS)
        handlers.update(fcv.HANDLERS)
        handlers.update(maintenance.HANDLERS)
        for name in replication.RETRYABLE:
            handler, writes = handlers[name]
            handlers[name] = (replication.retryable(handler), writes)
    else:
        handlers.update(mongos.HANDLERS)
        handlers.update(fcv.MONGOS_HANDLERS)
        handlers.update(maintenance.MONGOS_HANDLERS)
    return handlers


def build_server(
    role: str, version: str, options: dict, argv: list[str], dbpath: Path | None, bind_ip: list[str]
) -> Server:
    net = options.get("net", {})
    port = int(net.get("port", DEFAULT_PORT[role]))
    settings = ServerSettings(
        role=role,
        version=version,
        port=port,
        bind_ip=bind_ip,
        dbpath=dbpath,
        parsed_options=options,
        argv=argv,
    )
    server = Server(settings, handlers_for(role))
    server.gates.append(auth.check)
    tls.configure(server, options)
    if role == "mongod":
        server.before_write.append(replset.guard_write)
        server.before_write.append(replication.remember_documents)
        server.store.virtual[("local", "oplog.rs")] = lambda: replication.oplog_collection(server)
        server.on_write.append(replication.log_write)
        server.on_write.append(diagnostics.note_index_created)
        server.after_command.append(diagnostics.record)
        server.after_write.append(replication.await_write_concern)
        server.before_shutdown.append(elections.hand_over)
        replset.resume(server)
        elections.start(server)
    else:
        mongos.configure(server)
    return server
