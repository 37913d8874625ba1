"""Each pipeline fault switch breaks exactly its rule: the healthy mock refuses, the faulty one
does not (or answers wrongly)."""

from __future__ import annotations


from mockkit import DEMO, make_ota
from spec import crypto, wire
from spec.protocol import encode_request
from spec.signing import request_sign

ORDER = {"Order_list": "P1001|1", "Mobile": "13800138000", "ID": "110101199003071234", "SXRQ": "20261125",
         "timespanindex": "-1"}


def send(ota, pairs, page="OrderProducts.aspx"):
    r = ota.client.get(f"/{page}", params=pairs)
    assert r.status_code == 200
    return wire.parse(r.content, ota.mock.spec.profile().response)


def resign(pairs, profile):
    body = [(k, v) for k, v in pairs if k != "sign"]
    return body + [("sign", request_sign(body, DEMO.key, profile.sign))]


def pairs_for(ota, values=ORDER, page="OrderProducts.aspx"):
    return encode_request(ota.mock.spec.page(page), dict(values), DEMO, ota.mock.spec.profile())


def both(spec, fault):
    return make_ota(spec), make_ota(spec, faults=(fault,))


def test_accept_bad_sign(spec):
    healthy, faulty = both(spec, "accept-bad-sign")
    bad = [(k, "0" * 32 if k == "sign" else v) for k, v in pairs_for(healthy)]
    assert send(healthy, bad).retcode != "0"
    assert send(faulty, bad).retcode == "0"


def test_wrong_response_sign(spec):
    healthy, faulty = both(spec, "wrong-response-sign")
    profile = spec.profile()
    assert send(healthy, pairs_for(healthy, {}, "GetProducts.aspx"), "GetProducts.aspx").verify(DEMO.key, profile.response)
    assert not send(faulty, pairs_for(faulty, {}, "GetProducts.aspx"), "GetProducts.aspx").verify(DEMO.key, profile.response)


def test_accept_plaintext(spec):
    healthy, faulty = both(spec, "accept-plaintext")
    plain = resign([(k, "13800138000" if k == "Mobile" else v) for k, v in pairs_for(healthy)], spec.profile())
    assert send(healthy, plain).retcode != "0"
    assert send(faulty, plain).retcode == "0"


def test_wrong_key_derivation(spec):
    healthy, faulty = both(spec, "wrong-key-derivation")
    assert send(healthy, pairs_for(healthy)).retcode == "0"
    assert send(faulty, pairs_for(faulty)).retcode != "0"  # it cannot read a correctly encrypted request


def test_case_sensitive_names(spec):
    healthy, faulty = both(spec, "case-sensitive-names")
    lowered = resign([(k.lower(), v) for k, v in pairs_for(healthy)], spec.profile())
    assert send(healthy, lowered).retcode == "0"
    assert send(faulty, lowered).retcode != "0"


def test_ignore_required(spec):
    healthy, faulty = both(spec, "ignore-required")
    values = {k: v for k, v in ORDER.items() if k != "ID"}
    assert send(healthy, pairs_for(healthy, values)).retcode != "0"
    assert send(faulty, pairs_for(faulty, values)).retcode == "0"


def test_allow_forbidden_transition(spec):
    from mockserver import delivery

    for ota, expect_closed in ((make_ota(spec), False), (make_ota(spec, faults=("allow-forbidden-transition",)), True)):
        orderid = ota.book()
        with ota.mock.store.transaction() as db:
            order = db.execute("SELECT * FROM orders WHERE orderid=?", (orderid,)).fetchone()
            delivery.deliver(ota.mock, db, order, "desk_pay", pay_type="desk")
        env = ota.call("CancelOrder.aspx", {"Order_id": orderid})
        assert (env.retcode == "0") is expect_closed
        assert ota.status(orderid) == ("4" if expect_closed else "X")


def test_password_field_must_be_encrypted(spec):
    ota = make_ota(spec)
    plain = resign([(k, crypto.md5_upper("demo-pass") if k == "password" else v) for k, v in pairs_for(ota)],
                   spec.profile())
    assert send(ota, plain).retcode != "0"
