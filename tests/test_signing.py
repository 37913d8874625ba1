"""Request sign (rule d), response sign (rule e), and alternative recipes as data."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from spec import crypto, wire
from spec.protocol import Credentials, encode_request
from spec.signing import canonical_string, request_sign, response_sign, verify_request_sign, verify_response_sign

KEY = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def test_canonical_string_follows_rule_d(profile):
    params = [("User", "demo-ota"), ("password", "PW=="), ("sign_type", "MD5"), ("ServiceCode", ""), ("sign", "x"),
              ("Order_id", "123")]
    assert canonical_string(params, KEY, profile.sign) == "order_id=123&password=PW==&user=demo-ota" + KEY


def test_sign_is_upper_md5_of_canonical_string(profile):
    params = {"User": "demo-ota", "password": "PW==", "Order_id": "123"}
    expected = hashlib.md5(("order_id=123&password=PW==&user=demo-ota" + KEY).encode()).hexdigest().upper()
    assert request_sign(params, KEY, profile.sign) == expected


def test_verify_round_trip_and_negatives(profile, spec):
    page = spec.page("QueryOrder.aspx")
    creds = Credentials("demo-ota", "demo-pass", KEY)
    first = page.params[7].name if len(page.params) > 7 else "orderid"
    pairs = encode_request(page, {first: "20261121000001"}, creds, profile)
    assert verify_request_sign(pairs, KEY, profile.sign)
    # lower-case hex is accepted (compared case-insensitively)
    lowered = [(k, v.lower() if k == "sign" else v) for k, v in pairs]
    assert verify_request_sign(lowered, KEY, profile.sign)
    # wrong key
    assert not verify_request_sign(pairs, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", profile.sign)
    # tampered value
    tampered = [(k, v + "1" if k == first else v) for k, v in pairs]
    assert not verify_request_sign(tampered, KEY, profile.sign)
    # missing sign
    assert not verify_request_sign([(k, v) for k, v in pairs if k != "sign"], KEY, profile.sign)
    # a name in another case signs the same (names are case-insensitive, 3.5)
    recased = [(k.upper() if k != "sign" else k, v) for k, v in pairs]
    assert verify_request_sign(recased, KEY, profile.sign)


def test_empty_values_and_sign_type_are_not_signed(profile):
    base = {"user": "a", "x": "1"}
    assert request_sign(base, KEY, profile.sign) == request_sign({**base, "y": "", "sign_type": "MD5"}, KEY, profile.sign)


@pytest.mark.parametrize(
    "change, differs",
    [
        ({"name_case": "as-sent"}, True),
        ({"sort": "none"}, True),
        ({"key_position": "prepend"}, True),
        ({"key_position": "param", "key_param": "key"}, True),
        ({"hex_case": "lower"}, True),
        ({"hash": "sha256"}, True),
        ({"value_form": "url-encoded"}, True),
        ({"compare_case_insensitive": False}, False),
    ],
)
def test_alternative_recipes_are_data(profile, change, differs):
    params = [("User", "demo ota"), ("b", "2"), ("A", "1+1")]
    other = replace(profile.sign, **change)
    assert (request_sign(params, KEY, other) != request_sign(params, KEY, profile.sign)) is differs


def test_response_sign_round_trip_and_tamper(profile):
    body = wire.render(profile.response, "0", "", [wire.Node.record("Item", [("orderid", "1"), ("price", "100.00")])], KEY)
    env = wire.parse(body, profile.response)
    assert env.retcode == "0" and len(env.sign) == 32 and env.sign == env.sign.upper()
    assert env.verify(KEY, profile.response)
    expected = hashlib.md5(body.replace(env.sign.encode(), b"") + KEY.encode()).hexdigest().upper()
    assert env.sign == expected
    assert not verify_response_sign(body.replace(b"100.00", b"100.01"), KEY, profile.response)
    assert not verify_response_sign(body, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", profile.response)
    assert response_sign(body, KEY, profile.response) == env.sign


def test_unknown_agent_gets_empty_sign(profile):
    body = wire.render(profile.response, "-1", "签名不正确，不能完成操作；", (), None)
    assert wire.parse(body, profile.response).sign == ""
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><root><retcode>-1</retcode><retmsg>')


def test_escaping_in_envelope(profile):
    body = wire.render(profile.response, "-1", "a<b&c", (wire.Node("x", "<&>"),), KEY)
    env = wire.parse(body, profile.response)
    assert env.retmsg == "a<b&c" and env.text("x") == "<&>" and env.verify(KEY, profile.response)


@pytest.mark.parametrize("body", [b"", b"<root>", b"<other><retcode>0</retcode></other>", b"<root><retcode>0</retcode></root>"])
def test_malformed_responses_are_rejected(profile, body):
    with pytest.raises(wire.MalformedResponse):
        wire.parse(body, profile.response)


def test_encode_request_encrypts_fields_the_page_marks(profile, spec):
    page = spec.page("OrderProducts.aspx")
    creds = Credentials("demo-ota", "demo-pass", KEY)
    pairs = dict(encode_request(page, {"Mobile": "13800138000", "Order_list": "P1|1"}, creds, profile))
    assert crypto.decrypt(pairs["Mobile"], KEY, profile.cipher) == "13800138000"
    assert pairs["Order_list"] == "P1|1"
    assert crypto.decrypt(pairs["password"], KEY, profile.cipher) == crypto.md5_upper("demo-pass")
    assert verify_request_sign(list(pairs.items()), KEY, profile.sign)
