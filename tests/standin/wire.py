"""MongoDB wire protocol framing: just enough of OP_MSG, OP_QUERY and OP_REPLY.

Reference: https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

import bson
from bson.codec_options import CodecOptions

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

MSG_CHECKSUM_PRESENT = 1 << 0
MSG_MORE_TO_COME = 1 << 1

HEADER = struct.Struct("<iiii")
CODEC = CodecOptions(document_class=dict, tz_aware=True)


class ProtocolError(Exception):
    """The peer sent something this stand-in cannot parse; the connection is closed."""


@dataclass
class Request:
    request_id: int
    op_code: int
    body: dict
    more_to_come: bool = False
    # OP_MSG kind-1 sections, e.g. {"documents": [...]} for insert.
    sequences: dict[str, list[dict]] = field(default_factory=dict)


def recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionError("peer closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_cstring(data: bytes, offset: int) -> tuple[str, int]:
    end = data.index(b"\x00", offset)
    return data[offset:end].decode(), end + 1


def _read_document(data: bytes, offset: int) -> tuple[dict, int]:
    (size,) = struct.unpack_from("<i", data, offset)
    return bson.decode(data[offset : offset + size], CODEC), offset + size


def read_request(sock: socket.socket) -> Request:
    header = recv_exact(sock, HEADER.size)
    length, request_id, _response_to, op_code = HEADER.unpack(header)
    payload = recv_exact(sock, length - HEADER.size)
    if op_code == OP_MSG:
        return _parse_op_msg(request_id, payload)
    if op_code == OP_QUERY:
        return _parse_op_query(request_id, payload)
    raise ProtocolError(f"unsupported opCode {op_code}")


def _parse_op_msg(request_id: int, payload: bytes) -> Request:
    (flags,) = struct.unpack_from("<I", payload, 0)
    end = len(payload) - (4 if flags & MSG_CHECKSUM_PRESENT else 0)
    offset = 4
    body: dict | None = None
    sequences: dict[str, list[dict]] = {}
    while offset < end:
        kind = payload[offset]
        offset += 1
        if kind == 0:
            body, offset = _read_document(payload, offset)
        elif kind == 1:
            (size,) = struct.unpack_from("<i", payload, offset)
            section_end = offset + size
            identifier, cursor = _read_cstring(payload, offset + 4)
            documents = []
            while cursor < section_end:
                document, cursor = _read_document(payload, cursor)
                documents.append(document)
            sequences[identifier] = documents
            offset = section_end
        else:
            raise ProtocolError(f"unknown OP_MSG section kind {kind}")
    if body is None:
        raise ProtocolError("OP_MSG without a body section")
    return Request(request_id, OP_MSG, body, bool(flags & MSG_MORE_TO_COME), sequences)


def _parse_op_query(request_id: int, payload: bytes) -> Request:
    offset = 4  # flags
    collection, offset = _read_cstring(payload, offset)
    offset += 8  # numberToSkip, numberToReturn
    query, offset = _read_document(payload, offset)
    if "$query" in query:
        query = query["$query"]
    database = collection.split(".", 1)[0]
    query.setdefault("$db", database)
    return Request(request_id, OP_QUERY, query)


def encode_reply(request: Request, reply: dict, reply_id: int) -> bytes:
    document = bson.encode(reply, codec_options=CODEC)
    if request.op_code == OP_QUERY:
        body = struct.pack("<iqii", 0, 0, 0, 1) + document
        op_code = OP_REPLY
    else:
        body = struct.pack("<I", 0) + b"\x00" + document
        op_code = OP_MSG
    return HEADER.pack(HEADER.size + len(body), reply_id, request.request_id, op_code) + body
