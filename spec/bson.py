"""Minimal BSON (bsonspec.org 1.1) for the REST page's `application/bson` answers: documents,
arrays, strings, int32/int64, doubles, booleans, null and UTC datetimes. Written here rather than
depending on pymongo: one small format, and only these types are ever produced.

Decimals are written as doubles, as Json.NET's BSON writer (behind ASP.NET Web API's BSON
formatter) does."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

DOUBLE, STRING, DOCUMENT, ARRAY, BOOL, DATETIME, NULL, INT32, INT64 = (
    0x01, 0x02, 0x03, 0x04, 0x08, 0x09, 0x0A, 0x10, 0x12)
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLI = timedelta(milliseconds=1)


class BsonError(ValueError):
    """The bytes are not a BSON document this module reads, or a value cannot be written."""


def _cstring(name: str) -> bytes:
    raw = name.encode("utf-8")
    if b"\x00" in raw:
        raise BsonError(f"a key cannot contain NUL: {name!r}")
    return raw + b"\x00"


def _element(name: str, value: Any) -> bytes:
    key = _cstring(name)
    if value is None:
        return bytes([NULL]) + key
    if isinstance(value, bool):  # before int: bool is an int in Python
        return bytes([BOOL]) + key + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        if _INT32[0] <= value <= _INT32[1]:
            return bytes([INT32]) + key + struct.pack("<i", value)
        if _INT64[0] <= value <= _INT64[1]:
            return bytes([INT64]) + key + struct.pack("<q", value)
        raise BsonError(f"{name}: integer out of int64 range")
    if isinstance(value, (float, Decimal)):
        return bytes([DOUBLE]) + key + struct.pack("<d", float(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return bytes([STRING]) + key + struct.pack("<i", len(raw) + 1) + raw + b"\x00"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise BsonError(f"{name}: a BSON datetime needs an aware datetime")
        millis = (value - _EPOCH) // _MILLI
        return bytes([DATETIME]) + key + struct.pack("<q", millis)
    if isinstance(value, Mapping):
        return bytes([DOCUMENT]) + key + encode(value)
    if isinstance(value, (list, tuple)):
        return bytes([ARRAY]) + key + encode({str(i): v for i, v in enumerate(value)})
    raise BsonError(f"{name}: cannot write a {type(value).__name__} as BSON")


def encode(document: Mapping[str, Any]) -> bytes:
    """One BSON document, keys in the mapping's order."""
    body = b"".join(_element(str(k), v) for k, v in document.items())
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BsonError(f"truncated at byte {self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def cstring(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise BsonError(f"unterminated key at byte {self.pos}")
        raw = self.data[self.pos:end]
        self.pos = end + 1
        return _utf8(raw)

    def document(self) -> dict[str, Any]:
        start = self.pos
        size = self.unpack("<i")
        if size < 5 or start + size > len(self.data):
            raise BsonError(f"bad document length {size} at byte {start}")
        end = start + size
        out: dict[str, Any] = {}
        while self.pos < end - 1:
            kind = self.take(1)[0]
            name = self.cstring()
            out[name] = self.value(kind, name)
        if self.pos != end - 1 or self.take(1) != b"\x00":
            raise BsonError(f"document at byte {start} does not end where its length says")
        return out

    def value(self, kind: int, name: str) -> Any:
        if kind == DOUBLE:
            return self.unpack("<d")
        if kind == STRING:
            size = self.unpack("<i")
            raw = self.take(size)
            if size < 1 or raw[-1:] != b"\x00":
                raise BsonError(f"{name}: bad string")
            return _utf8(raw[:-1])
        if kind == DOCUMENT:
            return self.document()
        if kind == ARRAY:
            doc = self.document()
            if list(doc) != [str(i) for i in range(len(doc))]:
                raise BsonError(f"{name}: array keys are not 0, 1, 2, …")
            return list(doc.values())
        if kind == BOOL:
            b = self.take(1)[0]
            if b > 1:
                raise BsonError(f"{name}: bad boolean")
            return bool(b)
        if kind == DATETIME:
            return _EPOCH + self.unpack("<q") * _MILLI
        if kind == NULL:
            return None
        if kind == INT32:
            return self.unpack("<i")
        if kind == INT64:
            return self.unpack("<q")
        raise BsonError(f"{name}: unsupported element type 0x{kind:02x}")


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BsonError("a string is not UTF-8") from None


def decode(data: bytes) -> dict[str, Any]:
    """One BSON document (the whole input) as a dict in document order."""
    reader = _Reader(bytes(data))
    doc = reader.document()
    if reader.pos != len(reader.data):
        raise BsonError("bytes after the document")
    return doc
