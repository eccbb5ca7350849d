"""The recording proxy of the module tests: what it reads from a client, and what it forwards."""

from __future__ import annotations

import socket
import struct
import threading

import bson
import pytest
from support.proxy import OP_MSG, OP_QUERY, RecordingProxy, command_of


def op_msg(body: dict, sequences: dict[str, list[dict]] | None = None) -> bytes:
    """An OP_MSG payload (after the header), document sequences first as drivers may send them."""
    payload = struct.pack("<I", 0)
    for identifier, documents in (sequences or {}).items():
        section = identifier.encode() + b"\x00" + b"".join(bson.encode(document) for document in documents)
        payload += b"\x01" + struct.pack("<i", len(section) + 4) + section
    return payload + b"\x00" + bson.encode(body)


def test_op_msg_names_the_command_its_database_and_target():
    payload = op_msg({"update": "settings", "$db": "config"}, {"updates": [{"q": {}, "u": {"$set": {"value": 32}}}]})
    assert command_of(OP_MSG, payload) == {"command": "update", "db": "config", "target": "settings"}
    assert command_of(OP_MSG, op_msg({"balancerStart": 1, "$db": "admin"}))["target"] is None


def test_op_query_handshake_is_read_too():
    query = bson.encode({"isMaster": 1, "helloOk": True})
    payload = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query
    assert command_of(OP_QUERY, payload) == {"command": "isMaster", "db": "admin", "target": None}


def test_anything_else_counts_as_a_write():
    assert command_of(2012, b"")["command"] == "<opCode 2012>"


@pytest.fixture
def echo_server():
    """A server that answers every message with the same bytes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _ = listener.accept()
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def test_messages_are_recorded_and_forwarded_unchanged(echo_server):
    proxy = RecordingProxy(echo_server)
    try:
        messages = [
            op_msg({"hello": 1, "$db": "admin"}),
            op_msg({"listShards": 1, "$db": "admin"}),
            op_msg({"createUser": "app", "pwd": "x", "roles": [], "$db": "admin"}),
        ]
        framed = b"".join(struct.pack("<iiii", 16 + len(m), index, 0, OP_MSG) + m for index, m in enumerate(messages))
        with socket.create_connection(("127.0.0.1", proxy.port)) as client:
            client.sendall(framed)
            received = b""
            while len(received) < len(framed):
                received += client.recv(65536)
        assert received == framed
        assert [entry["command"] for entry in proxy.commands()] == ["listShards", "createUser"]  # no heartbeats
        assert [entry["command"] for entry in proxy.writes()] == ["createUser"]
        proxy.mark()
        assert proxy.commands() == [] and proxy.connections == 1
    finally:
        proxy.close()
