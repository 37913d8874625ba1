"""spec.bson: the specification's own examples byte for byte, round trips of every type the
module writes, and malformed input refused with BsonError (never another exception)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec import bson
from spec.bson import BsonError

# bsonspec.org, "Examples"
HELLO = b"\x16\x00\x00\x00\x02hello\x00\x06\x00\x00\x00world\x00\x00"
AWESOME = (b"\x31\x00\x00\x00\x04BSON\x00\x26\x00\x00\x00\x020\x00\x08\x00\x00\x00awesome\x00"
           b"\x011\x00\x33\x33\x33\x33\x33\x33\x14\x40\x102\x00\xc2\x07\x00\x00\x00\x00")


def test_spec_examples_encode():
    assert bson.encode({"hello": "world"}) == HELLO
    assert bson.encode({"BSON": ["awesome", 5.05, 1986]}) == AWESOME


def test_spec_examples_decode():
    assert bson.decode(HELLO) == {"hello": "world"}
    assert bson.decode(AWESOME) == {"BSON": ["awesome", 5.05, 1986]}


def test_every_type_round_trips_in_order():
    when = datetime(2026, 11, 21, 2, 0, 0, 123000, tzinfo=UTC)
    doc = {"s": "门票", "i32": -5, "i64": 2**40, "d": 6.5, "t": True, "f": False, "n": None, "dt": when,
           "arr": [1, "x", None, {"k": []}], "doc": {"inner": {"deep": 1.0}}, "empty": {}}
    back = bson.decode(bson.encode(doc))
    assert back == doc
    assert list(back) == list(doc)


def test_integer_widths_and_decimal_as_double():
    raw = bson.encode({"a": 2**31 - 1, "b": 2**31, "c": Decimal("100.00")})
    assert raw[4] == bson.INT32 and b"\x12b\x00" in raw and b"\x01c\x00" in raw
    assert bson.decode(raw) == {"a": 2**31 - 1, "b": 2**31, "c": 100.0}


def test_datetime_is_milliseconds_since_the_epoch():
    raw = bson.encode({"t": datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone(timedelta(hours=8)))})
    assert raw[4] == bson.DATETIME
    assert struct.unpack("<q", raw[7:15])[0] == 1000 - 8 * 3600 * 1000


@pytest.mark.parametrize("doc", [{"t": datetime(2026, 1, 1)}, {"x": object()}, {"a\x00b": 1}, {"big": 2**64}])
def test_unwritable_values(doc):
    with pytest.raises(BsonError):
        bson.encode(doc)


@pytest.mark.parametrize("data", [
    b"", b"\x05\x00\x00", HELLO[:-1], HELLO + b"\x00", b"\x04\x00\x00\x00\x00",
    b"\x0c\x00\x00\x00\x7fx\x00\x00\x00\x00\x00\x00",  # unknown type 0x7f
    b"\x0d\x00\x00\x00\x02s\x00\x02\x00\x00\x00\xff\x00\x00",  # not UTF-8
    b"\x0d\x00\x00\x00\x02s\x00\x02\x00\x00\x00ab\x00",  # string without its NUL
    b"\x09\x00\x00\x00\x08b\x00\x02\x00",  # boolean 2
    b"\x0d\x00\x00\x00\x04a\x00\x09\x00\x00\x00\x00\x00",  # array that overruns its parent
    bson.encode({"a": {"1": "x"}}).replace(b"\x03a", b"\x04a"),  # array whose keys are not 0..n
])
def test_malformed_input_is_refused(data):
    with pytest.raises(BsonError):
        bson.decode(data)


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
    | st.floats(allow_nan=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text().filter(lambda k: "\x00" not in k), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text().filter(lambda k: "\x00" not in k), values, max_size=6))
def test_any_document_round_trips(doc):
    assert bson.decode(bson.encode(doc)) == doc


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_raise_anything_but_bson_error(data):
    try:
        bson.decode(data)
    except BsonError:
        pass
