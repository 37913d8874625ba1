"""The mock's REST year-card page (003 help page): Hawk authentication, the five media types,
content negotiation, the ASP.NET-style refusals, agent isolation and lookup — in process, and
once against a live server."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from livemock import live_mock
from lxml import etree
from mockkit import DEMO, DISABLED, OTHER, START, Ota, make_mock
from starlette.testclient import TestClient

from mockserver import formatters
from mockserver.app import create_app
from spec import bson, hawk
from spec.protocol import Credentials

PAGE = "api/WebInterface/Order/YearCard/Query/Main"
DEMO_ID = {"dwlx": "2", "dwid": "0b9a3f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"}
OTHER_ID = {"dwlx": "2", "dwid": "7c4d2b1a-5e6f-4a3b-9c8d-1e2f3a4b5c6d"}
PAID, UNPAID, MEMBER, OTHERS = "YK202611010001", "YK202611150002", "YK202611180003", "YK202611100004"
_nonces = itertools.count()


@pytest.fixture(scope="module")
def page(spec):
    return spec.page(PAGE)


class Rest:
    """An integrator of the REST page: signs each request with Hawk like the profile says."""

    def __init__(self, client: httpx.Client | TestClient, base: str, profile, now: int, creds: Credentials = DEMO):
        self.client, self.base, self.profile, self.now, self.creds = client, base, profile, now, creds

    def hawk_creds(self, recipe: str | None = None) -> hawk.Credentials:
        key = hawk.derive_key(recipe or self.profile.key_recipe, self.creds.key, self.creds.password)
        return hawk.Credentials(self.creds.user, key, self.profile.algorithm)

    def url(self, params: dict[str, str] | str, path: str = PAGE) -> str:
        query = params if isinstance(params, str) else str(httpx.QueryParams(params))
        return f"{self.base}/{path}" + (f"?{query}" if query else "")

    def authorization(self, url: str, method: str = "GET", *, ts: int | None = None, nonce: str | None = None,
                      recipe: str | None = None) -> str:
        a = hawk.artifacts_for_url(method, url, self.now if ts is None else ts, nonce or f"n{next(_nonces)}")
        return hawk.header(self.hawk_creds(recipe), a)

    def get(self, params: dict[str, str] | str, accept: str | None = "application/json", *, auth: bool = True,
            method: str = "GET", path: str = PAGE, **sign) -> httpx.Response:
        url = self.url(params, path)
        request = self.client.build_request(method, url)
        if auth:
            request.headers["Authorization"] = self.authorization(url, method, **sign)
        if accept is None:
            del request.headers["Accept"]  # no Accept header at all
        else:
            request.headers["Accept"] = accept
        return self.client.send(request)

    def order(self, orderid: str, accept: str = "application/json", ident: dict[str, str] | None = None, **extra):
        return self.get({**(ident or DEMO_ID), "orderid": orderid, **extra}, accept)


def rest_for(spec, *, faults: tuple[str, ...] = (), db: str = ":memory:", creds: Credentials = DEMO) -> Rest:
    mock = make_mock(spec, faults=faults, db=db)
    return Rest(TestClient(create_app(mock)), "http://testserver", spec.profile().rest_auth,
                int(START.timestamp()), creds)


@pytest.fixture
def rest(spec) -> Rest:
    return rest_for(spec)


def _json(r: httpx.Response) -> dict:
    return json.loads(r.content, parse_float=Decimal)


# ---------------------------------------------------------------- the five media types

def test_json_in_declaration_order_with_the_spec_names(rest, page, spec):
    r = rest.order(PAID)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body = _json(r)
    assert list(body) == [e.name for e in page.response]
    assert body["orderid"] == PAID and body["senderid"] == "DEMO-YC-0001"
    assert body["amount"] == 1 and b'"price":398.00' in r.content  # Json.NET keeps a decimal's scale
    # the world's "-20d 09:30:15" and "-19d": days before the day the world was seeded on (the mock's clock)
    seeded = START.astimezone(ZoneInfo(spec.profile().fee_bands.timezone)).date()
    assert body["ordertime"] == f"{seeded - timedelta(days=20):%Y%m%d}093015"  # the element formats
    assert body["effectdate"] == f"{seeded - timedelta(days=19):%Y%m%d}"
    assert body["deliverytime"] == f"{seeded - timedelta(days=20):%Y%m%d}093102"
    assert body["statusname"] == spec.order_status("3").name_zh
    assert body["customertypename"] == next(c.name_zh for c in page.rest.customer_types if c.code == "2")
    assert body["paymenttype"] == next(t.name_zh for t in spec.payment_types if t.id == "deposit")
    assert body["paytimeout"] == "30"  # typed string on the help page
    assert body["feeitem"] == [] and body["logs"] == []  # line 3: the detail collections are empty


def test_text_json_is_the_same_body(rest):
    a, b = rest.order(PAID), rest.order(PAID, "text/json")
    assert b.headers["content-type"] == "text/json; charset=utf-8"
    assert a.content == b.content


def test_unpaid_order_has_nulls(rest):
    body = _json(rest.order(UNPAID))
    for name in ("sellbillid", "deliverytime", "ticketinnernumber", "paymenttype", "invoicecode", "invoicetitle"):
        assert body[name] is None, name
    assert body["statuscode"] == "0" and body["price"] == Decimal("299.50")


def _xml(r: httpx.Response):
    assert not r.content.startswith(b"<?xml")  # Web API's XmlMediaTypeFormatter writes no declaration
    return etree.fromstring(r.content)


@pytest.mark.parametrize("accept", ["application/xml", "text/xml"])
def test_xml_namespace_order_and_values(rest, page, accept):
    r = rest.order(PAID, accept)
    assert r.headers["content-type"] == f"{accept}; charset=utf-8"
    root = _xml(r)
    ns = page.rest.xml_namespace
    assert root.tag == f"{{{ns}}}{page.rest.xml_root}"
    assert root.nsmap == {"i": page.rest.xml_instance_namespace, None: ns}
    names = [etree.QName(c).localname for c in root]
    assert names == sorted(e.name for e in page.response)  # DataContract: ordinal order
    assert names != [e.name for e in page.response]
    body = _json(rest.order(PAID))
    for child in root:
        name = etree.QName(child).localname
        if name in page.rest.empty_collections:
            assert len(child) == 0 and not (child.text or "").strip()
        else:
            assert child.text == str(body[name]), name
    assert root.find(f"{{{ns}}}price").text == "398.00"


def test_xml_nil_elements(rest, page):
    root = _xml(rest.order(UNPAID, "application/xml"))
    nil = f"{{{page.rest.xml_instance_namespace}}}nil"
    nils = {etree.QName(c).localname for c in root if c.get(nil) == "true"}
    assert nils == {"sellbillid", "deliverytime", "ticketinnernumber", "paymenttype", "invoicecode", "invoicetitle"}
    assert all(len(c) == 0 and c.text is None for c in root if c.get(nil))


def test_bson_decodes_to_the_json_answer(rest):
    r = rest.order(PAID, "application/bson")
    assert r.headers["content-type"] == "application/bson"
    decoded = bson.decode(r.content)
    as_json = json.loads(rest.order(PAID).content)
    assert decoded == as_json
    assert list(decoded) == list(as_json)
    assert isinstance(decoded["amount"], int) and isinstance(decoded["price"], float)
    unpaid = bson.decode(rest.order(UNPAID, "application/bson").content)
    assert unpaid == json.loads(rest.order(UNPAID).content)


# ---------------------------------------------------------------- negotiation

@pytest.mark.parametrize("accept, expected", [
    (None, "application/json"),
    ("*/*", "application/json"),
    ("application/xml;q=0.9, application/json;q=0.8", "application/xml"),
    ("application/json;q=0.5, text/xml", "text/xml"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/xml"),  # a browser
    ("application/xml, application/json", "application/json"),  # a tie goes to the earlier formatter
    ("application/bson;q=0.7, text/xml;q=0.7", "text/xml"),
    ("text/*", "text/json"),
    ("application/*;q=0.5, application/bson", "application/bson"),
    ("application/json;q=0, text/json;q=0, application/xml;q=0.1", "application/xml"),
    ("image/png", "application/json"),  # nothing acceptable: JSON, never 406
    ("not a media type", "application/json"),
    ("application/bson;q=abc, text/xml;q=0.2", "text/xml"),  # an unreadable q drops that entry
])
def test_accept_negotiation(rest, accept, expected):
    r = rest.order(PAID, accept)
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == expected


@pytest.mark.parametrize("accept", ["application/xml", "application/bson", "text/json"])
def test_error_bodies_are_negotiated_too(rest, page, spec, accept):
    r = rest.get({**DEMO_ID, "orderid": PAID}, accept, auth=False)
    assert r.status_code == 401
    message = spec.profile().rest_auth.unauthorized_message
    kind = formatters.family(accept)
    if kind == "xml":
        root = etree.fromstring(r.content)
        assert root.tag == page.rest.error_root and root.findtext("Message") == message
    elif kind == "bson":
        assert bson.decode(r.content) == {"Message": message}
    else:
        assert json.loads(r.content) == {"Message": message}


# ---------------------------------------------------------------- 401

def _assert_401(r: httpx.Response, spec, reason: str) -> None:
    auth = spec.profile().rest_auth
    assert r.status_code == auth.unauthorized_status, r.text
    assert json.loads(r.content) == {"Message": auth.unauthorized_message}
    challenge = r.headers["www-authenticate"]
    if reason:
        assert challenge.startswith("Hawk ") and challenge.endswith(f'error="{reason}"'), challenge
    else:
        assert challenge == "Hawk"


def test_no_credentials(rest, spec):
    _assert_401(rest.get({**DEMO_ID, "orderid": PAID}, auth=False), spec, "")


def test_bad_mac(rest, spec):
    url = rest.url({**DEMO_ID, "orderid": PAID})
    header = rest.authorization(url)
    tampered = header.replace('mac="', 'mac="A', 1)
    r = rest.client.get(url, headers={"Authorization": tampered})
    _assert_401(r, spec, "Bad mac")
    # a MAC over another query does not cover this one
    r = rest.client.get(url.replace(PAID, UNPAID), headers={"Authorization": rest.authorization(url)})
    _assert_401(r, spec, "Bad mac")


def test_stale_timestamp_tells_the_server_time(rest, spec):
    r = rest.get({**DEMO_ID, "orderid": PAID}, ts=rest.now - 61)
    _assert_401(r, spec, "Stale timestamp")
    attrs = dict(part.split("=", 1) for part in r.headers["www-authenticate"][5:].split(", "))
    assert attrs["ts"] == f'"{rest.now}"'
    assert attrs["tsm"] == f'"{hawk.timestamp_mac(rest.hawk_creds(), rest.now)}"'
    assert rest.get({**DEMO_ID, "orderid": PAID}, ts=rest.now + 60).status_code == 200  # inside the window


def test_replayed_nonce(rest, spec):
    url = rest.url({**DEMO_ID, "orderid": PAID})
    header = rest.authorization(url)
    assert rest.client.get(url, headers={"Authorization": header}).status_code == 200
    _assert_401(rest.client.get(url, headers={"Authorization": header}), spec, "Invalid nonce")


@pytest.mark.parametrize("recipe", ["KEY", "KEY + LOWER(MD5(login password))", "UPPER(MD5(login password)) + KEY"])
def test_wrong_key_recipe(rest, spec, recipe):
    _assert_401(rest.get({**DEMO_ID, "orderid": PAID}, recipe=recipe), spec, "Bad mac")


def test_unknown_and_disabled_agents(spec):
    for creds in (Credentials("nobody", "x", DEMO.key, "1"), DISABLED):
        rest = rest_for(spec, creds=creds)
        _assert_401(rest.get({"dwlx": "2", "dwid": "2a3b4c5d-6e7f-4081-92a3-b4c5d6e7f809", "orderid": PAID}),
                    spec, "Unknown credentials")


def test_replay_is_refused_by_another_worker_on_the_same_database(spec, tmp_path: Path):
    db = str(tmp_path / "mock.db")
    one, two = rest_for(spec, db=db), rest_for(spec, db=db)
    url = one.url({**DEMO_ID, "orderid": PAID})
    header = one.authorization(url)
    assert one.client.get(url, headers={"Authorization": header}).status_code == 200
    _assert_401(two.client.get(url, headers={"Authorization": header}), spec, "Invalid nonce")


def test_authentication_comes_before_every_other_answer(rest, spec):
    for params in ({}, {**DEMO_ID}, {**OTHER_ID, "orderid": PAID}):
        _assert_401(rest.get(params, auth=False), spec, "")
    _assert_401(rest.get({**DEMO_ID, "orderid": PAID}, auth=False, method="POST"), spec, "")


# ---------------------------------------------------------------- refusals and lookup

def _refused(r: httpx.Response, page, key: str, **values: str) -> dict:
    error = page.rest.error(key)
    assert r.status_code == error.status, r.text
    body = json.loads(r.content)
    assert body["Message"] == error.message.format(**values)
    if error.detail:
        assert body["MessageDetail"] == error.detail.format(**values)
    else:
        assert "MessageDetail" not in body
    return body


def test_other_agents_order_is_not_visible(spec, page):
    demo, other = rest_for(spec), rest_for(spec, creds=OTHER)
    _refused(demo.order(OTHERS), page, "order_not_found")
    assert _json(other.order(OTHERS, ident=OTHER_ID))["customername"] == "另一家旅行社"
    _refused(other.order(PAID, ident=OTHER_ID), page, "order_not_found")


def test_dwlx_dwid_must_name_the_signed_agent(rest, page):
    _refused(rest.order(OTHERS, ident=OTHER_ID), page, "customer_mismatch")
    _refused(rest.order(PAID, ident={**DEMO_ID, "dwlx": "1"}), page, "customer_mismatch")
    _refused(rest.order(PAID, ident={**DEMO_ID, "dwid": ""}), page, "customer_mismatch")
    upper = {**DEMO_ID, "dwid": DEMO_ID["dwid"].upper()}  # a GUID compares case-insensitively
    assert rest.order(PAID, ident=upper).status_code == 200


def test_lookup_by_orderid_sendid_and_personalid(spec, page):
    demo, other = rest_for(spec), rest_for(spec, creds=OTHER)
    assert _json(demo.get({**DEMO_ID, "sendid": "DEMO-YC-0001"}))["orderid"] == PAID
    # the same integrator number at another agent finds that agent's own order
    assert _json(other.get({**OTHER_ID, "sendid": "DEMO-YC-0001"}))["orderid"] == OTHERS
    assert _json(demo.get({**DEMO_ID, "orderid": PAID, "sendid": "DEMO-YC-0001"}))["orderid"] == PAID
    _refused(demo.get({**DEMO_ID, "orderid": PAID, "sendid": "DEMO-YC-0002"}), page, "order_not_found")
    _refused(demo.get({**DEMO_ID, "orderid": "YK000000000000"}), page, "order_not_found")
    assert _json(demo.order(MEMBER, personalid="10086"))["orderid"] == MEMBER
    assert _json(demo.order(MEMBER))["orderid"] == MEMBER  # personalid 0: the agent's orders, any member
    assert _json(demo.order(MEMBER, personalid=""))["orderid"] == MEMBER  # empty binds the default 0
    _refused(demo.order(MEMBER, personalid="1"), page, "order_not_found")
    _refused(demo.order(PAID, personalid="10086"), page, "order_not_found")


def test_orderid_and_sendid_both_empty(rest, page):
    _refused(rest.get({**DEMO_ID}), page, "orderid_sendid_empty")
    _refused(rest.get({**DEMO_ID, "orderid": "", "sendid": ""}), page, "orderid_sendid_empty")


@pytest.mark.parametrize("value", ["abc", "1.5", "99999999999"])
def test_personalid_must_be_an_int32(rest, page, value):
    _refused(rest.order(PAID, personalid=value), page, "bad_format", param="personalid", value=value)


@pytest.mark.parametrize("missing", ["dwlx", "dwid"])
def test_missing_required_parameter_is_no_action(rest, page, missing):
    params = {k: v for k, v in {**DEMO_ID, "orderid": PAID}.items() if k != missing}
    r = rest.get(params)
    _refused(r, page, "missing_param", uri=rest.url(params))


def test_names_are_case_insensitive_and_the_first_value_binds(rest):
    r = rest.get(f"DWLX=2&DwId={DEMO_ID['dwid']}&OrderId={PAID}&orderid={UNPAID}")
    assert _json(r)["orderid"] == PAID


def test_only_get(rest, page):
    for method in ("POST", "PUT", "DELETE"):
        r = rest.get({**DEMO_ID, "orderid": PAID}, method=method)
        _refused(r, page, "method_not_allowed", method=method)
        assert r.headers["allow"] == "GET"


def test_path_is_case_insensitive(rest):
    r = rest.get({**DEMO_ID, "orderid": PAID}, path=PAGE.lower())
    assert r.status_code == 200 and _json(r)["orderid"] == PAID


@pytest.fixture(scope="module")
def fuzz_rest(spec) -> Rest:
    return rest_for(spec)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=st.lists(st.tuples(st.sampled_from(["dwlx", "dwid", "orderid", "sendid", "personalid", "x"]),
                                st.text(max_size=12)), max_size=6),
       accept=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30))
def test_any_query_and_accept_gets_an_aspnet_answer(fuzz_rest, query, accept):
    r = fuzz_rest.get(str(httpx.QueryParams(query)), accept)
    assert r.status_code in (200, 400, 403, 404), r.text
    if r.status_code != 200:  # an error body in the negotiated type, naming its Message
        kind = formatters.family(r.headers["content-type"].split(";")[0])
        decoded = (bson.decode(r.content) if kind == "bson" else json.loads(r.content) if kind == "json"
                   else {"Message": etree.fromstring(r.content).findtext("Message")})
        assert decoded["Message"]


# ---------------------------------------------------------------- orders booked through the classic pages

def test_an_order_booked_with_senderid_is_found_by_sendid(spec, page):
    mock = make_mock(spec)
    client = TestClient(create_app(mock))
    ota = Ota(mock, client)
    rest = Rest(client, "http://testserver", spec.profile().rest_auth, int(START.timestamp()))
    orderid = ota.book("P1001|2", senderid="MY-ORDER-42")
    by_sendid = _json(rest.get({**DEMO_ID, "sendid": "MY-ORDER-42"}))
    assert by_sendid == _json(rest.order(orderid))
    assert by_sendid["orderid"] == orderid and by_sendid["senderid"] == "MY-ORDER-42"
    assert (by_sendid["productid"], by_sendid["amount"], by_sendid["price"]) == ("P1001", 2, Decimal("100.00"))
    assert by_sendid["statuscode"] == "0" and by_sendid["statusname"] == spec.order_status("0").name_zh
    assert by_sendid["ordertime"] == START.astimezone(mock.tz).strftime("%Y%m%d%H%M%S")
    assert by_sendid["effectdate"] == "20261125" and by_sendid["identificationnumber"] == "110101199003071234"
    assert by_sendid["sellbillid"] is None and by_sendid["deliverytime"] is None and by_sendid["paymenttype"] is None
    # paid and activated: delivered, with its sale bill, first ticket and delivery time
    env = ota.call("UseAccountToPayByPwd.aspx", {"Order_id": orderid, "money": "200.00", "Smscode": DEMO.pay_password,
                                                 "smsModel": "0", "activate": "1", "tickettype": "2"})
    assert env.retcode == "0", env.retmsg
    paid = _json(rest.order(orderid))
    assert paid["statuscode"] == ota.status(orderid) and paid["statusname"] == spec.order_status(paid["statuscode"]).name_zh
    assert paid["sellbillid"] and paid["ticketinnernumber"] and paid["deliverytime"]
    assert paid["paymenttype"] == next(t.name_zh for t in spec.payment_types if t.id == "deposit")
    # the other agent does not see it, not even by its integrator number
    other = Rest(client, "http://testserver", spec.profile().rest_auth, int(START.timestamp()), OTHER)
    _refused(other.get({**OTHER_ID, "sendid": "MY-ORDER-42"}), page, "order_not_found")
    _refused(rest.order(orderid, personalid="10086"), page, "order_not_found")  # not a member's order


# ---------------------------------------------------------------- faults

def test_fault_rest_no_auth_answers_unsigned_requests(spec):
    rest = rest_for(spec, faults=("rest-no-auth",))
    r = rest.get({**DEMO_ID, "orderid": PAID}, auth=False)
    assert r.status_code == 200 and _json(r)["orderid"] == PAID


def test_fault_rest_xml_declaration_order(spec, page):
    rest = rest_for(spec, faults=("rest-xml-declaration-order",))
    names = [etree.QName(c).localname for c in _xml(rest.order(PAID, "application/xml"))]
    assert names == [e.name for e in page.response]


# ---------------------------------------------------------------- formatters with filled collections

def test_filled_collections_render_in_each_format(page):
    item = {"autoid": 1, "productid": "P", "productname": "N", "price": Decimal(4), "amount": Decimal("5.0"),
            "feeamount": 9, "needrefundsummary": None}
    shaped = formatters.shape(page.response, {"orderid": "O", "feeitem": [item], "logs": []})
    text = formatters.write("application/json", page.rest, page.response, shaped).decode()
    assert '"feeitem":[{"autoid":1,"productid":"P","productname":"N","price":4.0,"amount":5.0,' in text
    root = etree.fromstring(formatters.write("text/xml", page.rest, page.response, shaped))
    ns = {"d": page.rest.xml_namespace}
    fee = root.find("d:feeitem/d:YearCardOrderFeeItem", ns)
    names = [etree.QName(c).localname for c in fee]
    assert names == sorted(names) and names[0] == "amount"
    assert fee.findtext("d:price", namespaces=ns) == "4" and fee.findtext("d:amount", namespaces=ns) == "5.0"
    assert bson.decode(formatters.write("application/bson", page.rest, page.response, shaped))["feeitem"][0]["price"] == 4.0
    with pytest.raises(formatters.UnknownField):
        formatters.shape(page.response, {"orderid": "O", "nosuchfield": 1})


# ---------------------------------------------------------------- a live server

def test_live_server_answers_signed_requests(spec):
    with live_mock(spec) as live, httpx.Client(timeout=10) as client:
        clock = client.get(f"{live.admin_url}/clock", headers={"X-Admin-Token": live.token}).json()
        now = int(datetime.fromisoformat(clock["now"]).timestamp())  # Hawk's ts is the supplier's clock
        rest = Rest(client, live.base_url, spec.profile().rest_auth, now)
        r = rest.order(PAID, "application/xml")
        assert r.status_code == 200, r.text
        assert etree.QName(_xml(r)).localname == "YearCardOrder"
        assert bson.decode(rest.order(PAID, "application/bson").content) == json.loads(rest.order(PAID).content)
        assert rest.get({**DEMO_ID, "orderid": PAID}, auth=False).status_code == 401

