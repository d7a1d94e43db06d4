"""Just enough of the protobuf wire format for the CRI messages the sensor uses.

The CRI is a gRPC API.  grpcio carries the calls (HTTP/2 and gRPC framing are
not worth writing by hand); the few messages are encoded and decoded here,
by field number, instead of pulling in protobuf and generated code for a
2,000-line .proto of which we read a dozen fields.  Field numbers are from
k8s.io/cri-api, runtime/v1 (noted at each use).
"""

from __future__ import annotations

from collections.abc import Mapping

VARINT, I64, LEN, I32 = 0, 1, 2, 5


class ProtoError(ValueError):
    """Bytes that are not a protobuf message."""


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 negatives are ten-byte varints
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(num: int, wtype: int) -> bytes:
    return _varint(num << 3 | wtype)


def string(num: int, value: str | bytes | None) -> bytes:
    if not value:
        return b""  # proto3: default values are not sent
    data = value.encode() if isinstance(value, str) else value
    return _key(num, LEN) + _varint(len(data)) + data


def message(num: int, body: bytes) -> bytes:
    """An embedded message (sent even when empty: presence matters for messages)."""
    return _key(num, LEN) + _varint(len(body)) + body


def uint(num: int, value: int) -> bytes:
    return _key(num, VARINT) + _varint(value) if value else b""


def boolean(num: int, value: bool) -> bytes:
    return uint(num, 1 if value else 0)


def string_map(num: int, values: Mapping[str, str]) -> bytes:
    """map<string, string>: repeated entries of {1: key, 2: value}."""
    return b"".join(message(num, string(1, k) + string(2, v)) for k, v in values.items())


def repeated_string(num: int, values: list[str]) -> bytes:
    return b"".join(_key(num, LEN) + _varint(len(v.encode())) + v.encode() for v in values)


Fields = dict[int, list[int | bytes]]


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtoError("varint longer than 10 bytes")


def parse(buf: bytes) -> Fields:
    """Field number -> values in order; varints as int, length-delimited as bytes."""
    fields: Fields = {}
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        num, wtype = key >> 3, key & 7
        if num == 0:
            raise ProtoError("field number 0")
        value: int | bytes
        if wtype == VARINT:
            value, pos = _read_varint(buf, pos)
        elif wtype == LEN:
            size, pos = _read_varint(buf, pos)
            if pos + size > end:
                raise ProtoError(f"field {num} runs past the end")
            value = buf[pos:pos + size]
            pos += size
        elif wtype == I64:
            if pos + 8 > end:
                raise ProtoError("truncated fixed64")
            value = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wtype == I32:
            if pos + 4 > end:
                raise ProtoError("truncated fixed32")
            value = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise ProtoError(f"wire type {wtype} not supported")
        fields.setdefault(num, []).append(value)
    return fields


def get_bytes(fields: Fields, num: int) -> bytes | None:
    values = fields.get(num)
    if not values:
        return None
    value = values[-1]  # proto3: the last one wins
    if not isinstance(value, bytes):
        raise ProtoError(f"field {num} is not length-delimited")
    return value


def get_str(fields: Fields, num: int) -> str | None:
    value = get_bytes(fields, num)
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise ProtoError(f"field {num} is not UTF-8") from exc


def get_msg(fields: Fields, num: int) -> Fields | None:
    value = get_bytes(fields, num)
    return parse(value) if value is not None else None


def get_map(fields: Fields, num: int) -> dict[str, str]:
    out = {}
    for entry in fields.get(num, []):
        if not isinstance(entry, bytes):
            raise ProtoError(f"map field {num} is not length-delimited")
        kv = parse(entry)
        out[get_str(kv, 1) or ""] = get_str(kv, 2) or ""
    return out


def get_msgs(fields: Fields, num: int) -> list[Fields]:
    out = []
    for value in fields.get(num, []):
        if not isinstance(value, bytes):
            raise ProtoError(f"field {num} is not a message")
        out.append(parse(value))
    return out
