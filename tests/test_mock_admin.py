"""The admin API refuses a bad body or query with 400 and a message, never 500, and changes nothing:
a table of bad values sent to every admin route of both suppliers, then the clock's range
(CLOCK_YEARS) and the event fields checked at the API's edge, each with what it says."""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from mockkit import DEMO, Ota
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from mockserver.admin import CLOCK_YEARS
from mockserver.app import create_app
from mockserver.events import EVENTS
from mockserver.server import Settings, build_mock, build_theater_mock

TOKEN = {"X-Admin-Token": "demo-admin"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2027, 3, 1, 10, 0, tzinfo=SHANGHAI)

# values of every kind a script gets wrong: wrong types, huge and non-finite numbers, negatives, bad dates
BAD_VALUES = [None, True, [], {}, [1], {"a": 1}, "", "abc", -1, 0, 1e20, -1e20, 10**30, 1e308, float("nan"),
              float("inf"), "NaN", "1e400", "9999-12-31T00:00:00", "0001-01-01T00:00:00", "20261399", "x" * 5000]
RAW_BODIES = [b"", b"null", b"[1]", b"\"text\"", b"{", b"\xff\xfe", b"[" * 50_000, b'{"a": ' + b"[" * 3000 + b"]" * 3000
              + b"}", b'{"advance": NaN}', b'{"advance": Infinity}', b'{"advance": 1e999}']
BAD_QUERIES = ["limit=-1", "limit=0", "limit=1e20", "limit=99999999999999999999999", "limit=NaN", "limit=abc",
               "after=%00", "status=%ff", "after_id=-1", "after_id=x", "after_id=99999999999999999999999",
               "since=bad", "until=9999-99", "since=0001-01-01T00:00:00%2B14:00", "only=x", "agent=%1b[31m"]


@pytest.fixture
def served(spec, tmp_path):
    """Both suppliers on a file database and the mock's own clock (frozen, so that state compares), one
    order booked."""
    settings = Settings(db=str(tmp_path / "m.db"), clock=START)
    scenic = build_mock(settings, spec=spec)
    theater = build_theater_mock(settings, scenic)
    client = TestClient(create_app(scenic, theater=theater), raise_server_exceptions=False)
    client.post("/_admin/clock", json={"set": START.isoformat(), "freeze": True}, headers=TOKEN)
    orderid = Ota(scenic, client, DEMO).book(day=f"{START:%Y%m}05")
    yield scenic, client, orderid
    scenic.store.close()
    theater.store.close()


def _admin_routes(app, prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every admin route, the theater's under /theater, path parameters filled later."""
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            found += _admin_routes(route.app, prefix + route.path)
        elif isinstance(route, Route) and route.path.startswith("/_admin"):
            found += [(m, prefix + route.path) for m in sorted(route.methods - {"HEAD"})]
    return found


def _paths(path: str, orderid: str) -> list[tuple[str, dict]]:
    """Each concrete path of a route and a good body its bad values are put into, one field at a time."""
    if "{name}" in path:
        good = {"orderid": orderid, "ticketid": "T0", "user": DEMO.user, "account": "deposit", "amount": "1.00",
                "productid": "P1004", "date": f"{START:%Y%m}05", "sold": 1}
        return [(path.replace("{name}", e.name), {f: good.get(f, "") for f in re.findall(r'"(\w+)"\??:', e.params)})
                for e in EVENTS.values()]
    return [(path.replace("{orderid}", orderid), {f: "" for f in ("set", "advance", "freeze")}
             if path.endswith("/clock") else {})]


def _state(scenic, client) -> tuple:
    """What a refused call must leave as it was: the clock, the seeding, the agents, the orders."""
    get = lambda path: client.get(path, headers=TOKEN).json()  # noqa: E731
    return (get("/_admin/clock"), scenic.store.meta("seed_instant"), get("/_admin/agents"),
            get("/_admin/orders"), get("/_admin/transactions"), get("/theater/_admin/agents"))


def test_every_admin_route_answers_a_table_of_bad_bodies_without_a_5xx(served):
    scenic, client, orderid = served
    routes = _admin_routes(client.app)
    assert {p for _, p in routes} >= {"/_admin/clock", "/_admin/reset", "/_admin/events/{name}", "/_admin/orders",
                                      "/_admin/journal", "/theater/_admin/clock", "/theater/_admin/events/{name}"}
    served_5xx = []
    for method, template in routes:
        if method == "DELETE" or template.endswith("/reset") and method == "POST":
            continue  # clearing the journal and a reset change state on purpose; reset's bodies: below
        for path, good in _paths(template, orderid):
            if method == "GET":
                sent = [client.get(f"{path}?{q}", headers=TOKEN) for q in BAD_QUERIES]
            else:
                bodies = [json.dumps({**good, f: v}).encode() for f in good for v in BAD_VALUES] + RAW_BODIES
                sent = [client.request(method, path, content=b, headers={**TOKEN, "content-type": "application/json"})
                        for b in bodies]
            for r in sent:
                if r.status_code >= 500 or r.status_code >= 400 and not r.json().get("error"):
                    served_5xx.append((method, str(r.request.url)[:120], r.status_code, r.text[:80]))
    assert served_5xx == []


@pytest.mark.parametrize("body", [{"clock": v} for v in BAD_VALUES if not (isinstance(v, str) and v.startswith("20"))]
                         + [{"clock": "2199-12-31T23:00:00-12:00"}, {"clock": "1999-12-31T23:59:59"},
                            {"freeze": True}, {"clock": START.isoformat(), "freeze": "yes"}, {"seed": 1}])
def test_a_bad_reset_body_is_400_and_changes_nothing(served, body):
    scenic, client, _ = served
    before = _state(scenic, client)
    r = client.post("/_admin/reset", content=json.dumps(body), headers={**TOKEN, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("bad request: "), r.text
    assert _state(scenic, client) == before


@pytest.mark.parametrize("body, said", [
    ({"advance": 1e20}, "advance 1e+20 s goes beyond the clock's range: the years 2000 to 2199"),
    ({"advance": 10**30}, "goes beyond the clock's range"),
    ({"advance": 1e10}, "is outside the clock's range: the years 2000 to 2199"),
    ({"advance": -1e10}, "is outside the clock's range"),
    ({"advance": "3600"}, 'advance must be a finite number of seconds (negative goes back), not "3600"'),
    ({"advance": True}, "advance must be a finite number of seconds"),
    ({"advance": None}, "not null"),
    ({"set": "9999-12-31T00:00:00"}, "set 9999-12-31T00:00:00+08:00 is outside the clock's range: the years "
                                     "2000 to 2199 (the supplier's time)"),
    ({"set": "0001-01-01T00:00:00"}, "is outside the clock's range"),
    ({"set": "1999-12-31T23:59:59"}, "is outside the clock's range"),
    ({"set": "2200-01-01T00:00:00"}, "is outside the clock's range"),
    ({"set": 2027}, "set must be an ISO 8601 date-time text (2028-02-29T10:00:00+08:00), not 2027"),
    ({"set": "tomorrow"}, "set 'tomorrow' is not an ISO 8601 date-time"),
    ({"set": "2027-01-01T00:00:00", "freeze": "yes"}, 'freeze must be true or false, not "yes"'),
    ({"advance": 60, "freeze": True}, "freeze goes with set"),
    ({"set": "2027-01-01T00:00:00", "advance": 60}, 'give {"set": ISO-8601'),
    ({}, 'give {"set": ISO-8601'),
    ({"sett": "2027-01-01T00:00:00"}, "unknown field 'sett'"),
])
def test_a_bad_clock_body_is_400_saying_why_and_the_clock_stays(served, body, said):
    scenic, client, _ = served
    for prefix in ("", "/theater"):
        before = client.get("/_admin/clock", headers=TOKEN).json()
        r = client.post(f"{prefix}/_admin/clock", json=body, headers=TOKEN)
        assert r.status_code == 400 and said in r.json()["error"], r.text
        assert client.get("/_admin/clock", headers=TOKEN).json() == before


def test_non_finite_advances_sent_as_json_literals_are_400(served):
    _, client, _ = served
    for raw in (b'{"advance": NaN}', b'{"advance": Infinity}', b'{"advance": -Infinity}'):
        r = client.post("/_admin/clock", content=raw, headers={**TOKEN, "content-type": "application/json"})
        assert r.status_code == 400 and "advance must be a finite number of seconds" in r.json()["error"]


def test_the_clock_moves_to_both_ends_of_its_range_and_pages_answer_there(served):
    scenic, client, _ = served
    ota = Ota(scenic, client, DEMO)
    for when in (f"{CLOCK_YEARS[0]}-01-01T00:00:00", f"{CLOCK_YEARS[1]}-12-31T23:00:00"):
        assert client.post("/_admin/clock", json={"set": when, "freeze": True}, headers=TOKEN).status_code == 200
        assert ota.call("GetProviderConfig.aspx").retcode == "0"
    back = client.post("/_admin/clock", json={"advance": -3600}, headers=TOKEN).json()
    assert back["now"] == f"{CLOCK_YEARS[1]}-12-31T22:00:00+08:00" and back["frozen"] is True


@pytest.mark.parametrize("event, body, said", [
    ("top-up", {"user": "demo-ota", "account": "deposit", "amount": "1e400"}, "amount must be yuan above 0 and at most"),
    ("top-up", {"user": "demo-ota", "account": "deposit", "amount": 1e20}, "amount must be yuan above 0"),
    ("top-up", {"user": "demo-ota", "account": "deposit", "amount": "NaN"}, "amount must be yuan above 0"),
    ("top-up", {"user": "demo-ota", "account": "deposit", "amount": "5.00", "memo": ["x"]}, "memo must be a text"),
    ("deduct", {"user": "demo-ota", "account": "deposit", "amount": "-5"}, "amount must be yuan above 0"),
    ("agent-disable", {"user": {"name": "demo-ota"}}, "user must be a text, not {\"name\": \"demo-ota\"}"),
    ("set-inventory", {"productid": "P1004", "date": "20270305", "sold": 10**30}, "sold must be a whole number"),
    ("set-inventory", {"productid": "P1004", "date": "20270305", "sold": -1}, "sold must be a whole number"),
    ("set-inventory", {"productid": "P1004", "date": "99991231", "sold": 1}, "date must be a day yyyyMMdd"),
    ("set-inventory", {"productid": "P1004", "date": "2027-03-05", "sold": 1}, "date must be a day yyyyMMdd"),
    ("desk-pickup", {"orderid": "ORDER", "taken": [1]}, "taken must map item seq to a number of tickets"),
    ("desk-pickup", {"orderid": "ORDER", "taken": {"1": -2}}, "taken[1] must be a whole number"),
    ("desk-pickup", {"orderid": "ORDER", "taken": {"first": 1}}, "'first' is not an item seq"),
    ("desk-pickup", {"orderid": "ORDER", "ticketdate": "tomorrow"}, "ticketdate must be a day yyyyMMdd"),
    ("gate-check", {"ticketid": "T1", "stationname": "x" * 300}, "stationname is 300 characters long; at most 256"),
])
def test_a_bad_event_field_is_400_and_moves_no_money_or_stock(served, event, body, said):
    scenic, client, orderid = served
    body = {k: (orderid if v == "ORDER" else v) for k, v in body.items()}
    before = _state(scenic, client)
    r = client.post(f"/_admin/events/{event}", json=body, headers=TOKEN)
    assert r.status_code == 400 and said in r.json()["error"], r.text
    assert _state(scenic, client) == before


@pytest.mark.parametrize("query, said", [
    ("limit=0", "limit must be a whole number from 1 to 5000, not '0'"),
    ("limit=-1", "limit must be a whole number from 1 to 5000"),
    ("limit=5001", "limit must be a whole number from 1 to 5000"),
    ("limit=1e20", "limit must be a whole number from 1 to 5000, not '1e20'"),
])
def test_orders_limit_out_of_range_is_400(served, query, said):
    _, client, _ = served
    r = client.get(f"/_admin/orders?{query}", headers=TOKEN)
    assert r.status_code == 400 and said in r.json()["error"]


@pytest.mark.parametrize("query, said", [
    ("limit=99999999999999999999999", "limit must be a whole number of at least 1"),
    ("after_id=-1", "after_id must be a whole number of at least 0"),
    ("since=yesterday", "since 'yesterday' is not an ISO 8601 date-time"),
])
def test_journal_filters_out_of_range_are_400(served, query, said):
    _, client, _ = served
    r = client.get(f"/_admin/journal?{query}", headers=TOKEN)
    assert r.status_code == 400 and said in r.json()["error"]


def test_the_admin_api_names_the_supplier_it_manages(served):
    _, client, _ = served
    scenic = client.get("/_admin", headers=TOKEN).json()["supplier"]
    theater = client.get("/theater/_admin", headers=TOKEN).json()["supplier"]
    assert scenic == {"mode": "scenic", "providerid": "20260001", "providername": scenic["providername"]}
    assert theater["mode"] == "theater" and theater["providerid"] == "20260002"
