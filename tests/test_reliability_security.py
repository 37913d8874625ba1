"""Security: every admin route (enumerated from the app `ybx-mock serve` builds, theater supplier
included) refuses a missing or wrong token and changes nothing; tokens, passwords and request
signs are compared in constant time (observed by spying on the comparison, not by timing);
`ybx-mock serve` binds 127.0.0.1 unless told otherwise; and one agent can never read or change
another agent's order through any page that takes an order number (derived from the spec)."""

from __future__ import annotations

import hmac
import ipaddress
import itertools
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mockkit import DEMO, OTHER, make_mock, make_ota
from procmock import serving
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from mockserver import cli
from mockserver.app import create_app
from mockserver.context import Mock
from mockserver.server import Settings, build_theater_mock
from spec import crypto, wire
from spec import signing as spec_signing
from spec.errors import GENERIC_FAILURE
from spec.model import Page, Param, Retcode, Spec
from spec.protocol import Credentials, encode_request

TOKEN = "the-right-token-0123456789"
WRONG_TOKENS = ("", "x", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), " " + TOKEN)


# ------------------------------------------------------------------ the app `ybx-mock serve` runs

@pytest.fixture
def served_app(tmp_path, monkeypatch) -> tuple[dict[str, Any], Starlette]:
    """Run `ybx-mock serve` with uvicorn.run replaced: what it would bind, and the app its workers build."""
    import uvicorn

    import mockserver.asgi

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs, target=args[0]))
    monkeypatch.setenv("YBX_MOCK_SETTINGS", "{}")  # restored afterwards; serve overwrites it
    assert cli.main(["serve", "--db", str(tmp_path / "s.db"), "--admin-token", TOKEN]) == 0
    assert seen["target"] == "mockserver.asgi:app" and seen["factory"]
    return seen, mockserver.asgi.app()


def endpoints(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, through mounts; HEAD is GET's shadow."""
    for route in routes:
        if isinstance(route, Mount):
            yield from endpoints(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                yield method, prefix + route.path


def _concrete(path: str) -> str:
    return (path.replace("{orderid}", "2026112100000001").replace("{name}", "top-up")
            .replace("{page}", "QueryOrder.aspx").replace("{prefix}", "POST"))


def admin_problems(app: Starlette) -> list[str]:
    """Every /_admin endpoint: 401 without and with each wrong token, the stored state untouched."""
    client = TestClient(app, raise_server_exceptions=False)
    admin = [(m, p) for m, p in endpoints(app.routes) if "/_admin" in p]
    problems = [] if admin else ["no admin routes found"]
    state = lambda: [client.get(f"{base}/_admin/agents", headers={"X-Admin-Token": TOKEN}).content
                     for base in {p.split("/_admin")[0] for _, p in admin}]
    before = state()
    for method, path in admin:
        for token in (None, *WRONG_TOKENS):
            headers = {} if token is None else {"X-Admin-Token": token}
            r = client.request(method, _concrete(path), headers=headers, json={"amount": "1.00", "user": DEMO.user})
            if r.status_code != 401:
                problems.append(f"{method} {path} with token {token!r}: HTTP {r.status_code}")
    if state() != before:
        problems.append("refused admin calls changed the stored state")
    return problems


def test_every_admin_route_refuses_a_missing_or_wrong_token(served_app):
    _, app = served_app
    routes = list(endpoints(app.routes))
    assert any(p.startswith("/theater/_admin") for _, p in routes), "the theater supplier's admin API is enumerated"
    assert admin_problems(app) == []


def test_the_route_judge_catches_an_unguarded_admin_route(spec):
    ota = make_ota(spec)
    leak = Route("/_admin/leak", lambda request: JSONResponse({"agents": "all of them"}))
    app = create_app(ota.mock, admin_token=TOKEN, extra_routes=[leak])
    assert admin_problems(app) == [f"GET /_admin/leak with token {t!r}: HTTP 200" for t in (None, *WRONG_TOKENS)]


# ------------------------------------------------------------------ constant-time comparisons, observed

@contextmanager
def spy(owner: Any, name: str) -> Iterator[list[tuple]]:
    """Record every call of `owner.name` (still calling it)."""
    real, calls = getattr(owner, name), []

    def wrapper(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    setattr(owner, name, wrapper)
    try:
        yield calls
    finally:
        setattr(owner, name, real)


def compared(calls: list[tuple], secret: str | bytes) -> bool:
    """Did one of the spied comparisons take `secret` as an operand?"""
    wanted = secret.encode() if isinstance(secret, str) else secret
    return any(wanted in (a if isinstance(a, bytes) else str(a).encode() for a in args[:2]) for args in calls)


def test_admin_tokens_are_compared_with_compare_digest(spec):
    client = TestClient(create_app(make_ota(spec).mock, admin_token=TOKEN))
    with spy(hmac, "compare_digest") as calls:
        assert client.get("/_admin", headers={"X-Admin-Token": "guess"}).status_code == 401
    assert compared(calls, "guess") and compared(calls, TOKEN)


def test_request_signs_are_compared_with_same_sign_which_uses_compare_digest(spec, ota):
    pairs = encode_request(spec.page("QueryOrder.aspx"), {"order_id": "1"}, DEMO, spec.profile(), sign=False)
    forged = "0123456789ABCDEF0123456789ABCDEF"
    with spy(spec_signing, "same_sign") as calls:
        r = ota.client.get("/QueryOrder.aspx", params=[*pairs, ("sign", forged)])
    assert wire.parse(r.content, spec.profile().response).retcode == spec.page("QueryOrder.aspx").retcode("bad_sign").code
    assert any(args[0] == forged for args in calls), calls
    with spy(hmac, "compare_digest") as digests:
        spec_signing.same_sign(forged, forged.lower(), True)
    assert compared(digests, forged)


def test_login_and_pay_passwords_are_compared_with_compare_digest(spec, ota):
    orderid = ota.book()
    with spy(hmac, "compare_digest") as calls:
        env = ota.as_(OTHER).call("QueryOrder.aspx", {"order_id": orderid, "password": "not-the-password"})
    assert env.retcode != "0" and compared(calls, crypto.md5_upper("not-the-password"))
    with spy(hmac, "compare_digest") as calls:
        env = ota.call("UseAccountToPayByPwd.aspx", {"Order_id": orderid, "money": "200.00", "Smscode": "999999"})
    assert env.retcode != "0" and compared(calls, crypto.md5_upper("999999"))


def test_the_spy_sees_nothing_when_a_guard_compares_with_equals():
    def naive_guard(given: str) -> bool:
        return given == TOKEN

    with spy(hmac, "compare_digest") as calls:
        naive_guard("guess")
    assert not compared(calls, "guess")


# ------------------------------------------------------------------ bind address

def test_serve_binds_loopback_by_default(served_app):
    seen, _ = served_app
    assert seen["host"] == "127.0.0.1"


def listening(port: int) -> set[str]:
    """Local addresses of the sockets listening on `port` (Linux /proc/net/tcp, tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:  # 0A = LISTEN
                raw = bytes.fromhex(addr)
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # host-order words
                found.add(str(ipaddress.ip_address(words)))
    return found


def other_address() -> str | None:
    """A non-loopback IPv4 address of this machine, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, nothing leaves
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback else address


def reachable(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def exposure(port: int) -> list[str]:
    problems = [f"listening on {a}" for a in sorted(listening(port)) if not ipaddress.ip_address(a).is_loopback]
    other = other_address()
    if other and reachable(other, port):
        problems.append(f"reachable on {other}")
    return problems


def test_a_served_mock_is_reachable_on_loopback_only(spec, tmp_path):
    with serving(spec, tmp_path / "bind.db") as m:
        assert listening(m.port) == {"127.0.0.1"}
        assert exposure(m.port) == []
    with serving(spec, tmp_path / "open.db", host="0.0.0.0") as m:  # what the judge must catch
        assert "listening on 0.0.0.0" in exposure(m.port)


# ------------------------------------------------------------------ isolation between agents

OWN_NUMBER_LABELS = ("业务单据ID", "接口方订单号")  # the integrator's own number (4.2.4, 4.2.37, 4.2.46)
ORDER_LABEL_MARKS = ("订单号", "订单编号", "定单号", "单号")


def order_params(page: Page) -> list[Param]:
    """The parameters of `page` that name an order: the supplier's order number (orderid, Order_id,
    YDDH, ...) or the integrator's own number (senderid, XCDDH), from names and labels in the spec."""
    out = []
    for p in page.params:
        name = p.name.lower().replace("_", "")
        if p.location == "query" and (name == "orderid" or name.endswith("ddh") or p.label_zh in OWN_NUMBER_LABELS
                                      or any(mark in p.label_zh for mark in ORDER_LABEL_MARKS)):
            out.append(p)
    return out


def is_own_number(p: Param) -> bool:
    return p.label_zh in OWN_NUMBER_LABELS


@dataclass
class Party:
    """An agent calling one supplier of the app `ybx-mock serve` runs (the scenic one at /, the theater at /theater)."""

    mock: Mock
    client: TestClient
    prefix: str
    creds: Credentials = DEMO
    seats: Iterator[int] = field(default_factory=itertools.count)  # pairs of seats handed out for OTHER

    def as_(self, creds: Credentials) -> Party:
        return Party(self.mock, self.client, self.prefix, creds, self.seats)

    def call(self, page: str, values: dict[str, str]) -> wire.Envelope:
        p = self.mock.spec.page(page)
        r = self.client.get(f"{self.prefix}/{p.page}", params=encode_request(p, values, self.creds, self.mock.spec.profile()))
        assert r.status_code == 200, r.text
        env = wire.parse(r.content, self.mock.spec.profile().response)
        assert env.verify(self.creds.key, self.mock.spec.profile().response), r.text
        return env


BOOKINGS = {  # supplier -> (booking page, values but the seats); dates as the worlds sell them from mockkit.START
    "scenic": ("OrderProducts.aspx", {"Order_list": "P1001|2", "Mobile": "13800138000", "ID": "110101199003071234",
                                      "SXRQ": "20261125", "timespanindex": "-1"}),
    "theater": ("OrderProducts2.aspx", {"Order_list": "TP03|2", "mobile": "13800138000", "ID": "110101199003071234",
                                        "TicketDate": "20261121", "SenceID": "S101"}),
}
PAYMENTS = (None, ("UseAccountToPayByPwd.aspx", ""), ("UseAccountToPayByPwd.aspx", "1"),
            ("UseAccountToPayByFKWithPwd.aspx", ""))  # booked, deposit-authorised, delivered, rebate-paid


def victim(spec: Spec, supplier: str) -> tuple[Party, list[dict[str, str]]]:
    """DEMO's orders at `supplier` in the states a page may serve: booked, deposit-authorised, delivered, rebate-paid."""
    scenic = make_mock(spec)
    theater = build_theater_mock(Settings(db=":memory:"), scenic)
    client = TestClient(create_app(scenic, theater=theater))
    party = Party(scenic, client, "") if supplier == "scenic" else Party(theater, client, "/theater")
    page, values = BOOKINGS[supplier]
    orders = []
    for i, pay in enumerate(PAYMENTS):
        senderid = f"victim-{i}"
        seats = {"SeatInfo": f"A3-1-{2 * i + 1}|A3-1-{2 * i + 2}"} if supplier == "theater" else {}
        env = party.call(page, {**values, **seats, "senderid": senderid})
        assert env.retcode == "0", env.retmsg
        orderid = env.text("Item/orderid")
        with party.mock.store.reading() as db:
            total = db.execute("SELECT total FROM orders WHERE orderid=?", (orderid,)).fetchone()[0]
        if pay:
            pay_page, activate = pay
            pay_values = {"Order_id": orderid, "money": total, "SmsCode": DEMO.pay_password or ""}
            if activate:
                pay_values.update(activate="1", tickettype="2")
            env = party.call(pay_page, pay_values)
            assert env.retcode == "0", (pay_page, env.retmsg)
        with party.mock.store.reading() as db:
            ticket = db.execute("SELECT ticketid FROM tickets WHERE orderid=?", (orderid,)).fetchone()
            status = db.execute("SELECT status FROM orders WHERE orderid=?", (orderid,)).fetchone()[0]
        orders.append({"orderid": orderid, "senderid": senderid, "ticket": ticket[0] if ticket else "",
                       "status": status, "total": total})
    assert len({o["status"] for o in orders}) == len(PAYMENTS), orders
    return party, orders


def snapshot(party: Party, orderid: str, agents: tuple[str, ...] = (DEMO.user, OTHER.user)) -> tuple:
    """Every stored row about DEMO's order (each table with an orderid column) and the agents' money."""
    with party.mock.store.reading() as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
                  if "orderid" in {c[1] for c in db.execute(f"PRAGMA table_info({t})").fetchall()}]
        about = tuple(tuple(tuple(r) for r in db.execute(f"SELECT * FROM {t} WHERE orderid=?", (orderid,)).fetchall())
                      for t in sorted(tables))
        marks = ",".join("?" * len(agents))
        money = tuple(tuple(r) for r in db.execute(f"SELECT * FROM agents WHERE user IN ({marks}) ORDER BY user",
                                                   agents).fetchall())
        records = db.execute(f"SELECT COUNT(*) FROM transactions WHERE agent IN ({marks})", agents).fetchone()[0]
        return about, money, records


def filler(spec: Spec, p: Param, order: dict[str, str]) -> str:
    """A plausible value for another required parameter, so that only the order makes the call foreign."""
    if p.encryption == "md5-upper-3des":
        return OTHER.pay_password or "1"
    if "金额" in p.label_zh or p.name.lower() in ("money", "total_fee"):
        return order["total"]
    if "门票" in p.label_zh and ("号码" in p.label_zh or "识别号" in p.label_zh):
        return order["ticket"] or "T1"
    if p.default is not None:
        return p.default
    if p.values:
        return p.values[0]
    if p.format:
        return spec.format(p.format).example
    return "1"


def foreign_call(party: Party, page: Page, param: Param, order: dict[str, str], value: str) -> wire.Envelope:
    values = {p.name: filler(party.mock.spec, p, order) for p in page.params
              if p.required and p.location == "query" and p.name.lower() not in ("user", "password", "sign")}
    values[param.name] = value
    return party.as_(OTHER).call(page.page, values)


def own_booking(party: Party, page: Page, param: Param, order: dict[str, str]) -> wire.Envelope:
    """OTHER books on `page` one ticket of what DEMO booked, under DEMO's own number: it must get an order
    of its own (4.2.4 senderid, 4.2.37 XCDDH: the integrator's number is the integrator's, not global)."""
    template = {k.lower(): v for k, v in BOOKINGS[party.mock.world.supplier.mode][1].items()}
    template["order_list"] = template["order_list"].replace("|2", "|1")
    one = {**order, "total": str((Decimal(order["total"]) / 2).quantize(Decimal("0.01")))}
    values = {}
    for p in page.params:
        if p.location != "query" or p.name.lower() in ("user", "password", "sign"):
            continue
        if p.name.lower() in template:
            values[p.name] = template[p.name.lower()]
        elif p.name.lower() == "seatinfo":
            values[p.name] = f"A3-2-{next(party.seats) + 1}"  # row 2 of area A3 (TP03): 10 seats left free
        elif p.required:
            values[p.name] = filler(party.mock.spec, p, one)
    values[param.name] = order["senderid"]
    return party.as_(OTHER).call(page.page, values)


PLACEHOLDER = re.compile(r"\[[A-Z]+\]|xxxx|ex|X")  # what spec.errors.render_message may fill in


def manual_retcode(page: Page, env: wire.Envelope) -> Retcode | None:
    """The page's retcode this answer is (or the spec's generic failure, where a page lists none for a
    refusal, e.g. gap remaketicket-from-states); placeholders (xxxx, ex, X, [ZJHM]) match anything."""
    for rc in (*page.retcodes, GENERIC_FAILURE):
        pattern = ".*".join(re.escape(part) for part in PLACEHOLDER.split(rc.message_zh))
        if rc.code == env.retcode and re.fullmatch(pattern, env.retmsg, re.DOTALL):
            return rc
    return None


def _leaves(env: wire.Envelope, orderid: str) -> str:
    return env.body.decode().split("</sign>", 1)[-1].replace(orderid, "#")


def isolation_problems(party: Party, page: Page, param: Param, order: dict[str, str]) -> list[str]:
    """OTHER calls `page` with DEMO's order. The answer: a refusal the page's retcode list names, the same
    as for an order that does not exist unless the manual words the two differently; or, on a read-only
    filter page, the same empty answer as for a missing order. With DEMO's own number (senderid, XCDDH)
    OTHER may book its own order, never get DEMO's. DEMO's order, tickets, callbacks and both agents'
    money stay as they were."""
    where = f"{page.page} {param.name} (order in {order['status']})"
    watched = (DEMO.user,) if is_own_number(param) else (DEMO.user, OTHER.user)  # OTHER may pay for its own order
    before = snapshot(party, order["orderid"], watched)
    problems = []
    if is_own_number(param):
        env = own_booking(party, page, param, order)
        if env.retcode != "0":
            problems.append(f"{where}: OTHER could not book with DEMO's number: {env.retcode} {env.retmsg}")
        if order["orderid"] in env.body.decode():
            problems.append(f"{where}: OTHER's answer names DEMO's order")
    else:
        env = foreign_call(party, page, param, order, order["orderid"])
        missing = foreign_call(party, page, param, order, "9" * len(order["orderid"]))
        if env.retcode == "0":
            read_only = not (page.behaviour.writes or page.behaviour.events)
            if not read_only or _leaves(env, order["orderid"]) != _leaves(missing, "9" * len(order["orderid"])):
                problems.append(f"{where}: served OTHER: {env.body.decode()[:200]}")
        else:
            mine, none = manual_retcode(page, env), manual_retcode(page, missing)
            if mine is None:
                problems.append(f"{where}: {env.retcode} {env.retmsg!r} is not a refusal the page's retcodes name")
            elif (env.retcode, env.retmsg.replace(order["orderid"], "#")) != (
                    missing.retcode, missing.retmsg.replace("9" * len(order["orderid"]), "#")) and (
                    none is None or none.key == mine.key):
                problems.append(f"{where}: DEMO's order answers {env.retcode} {env.retmsg!r}, a missing one "
                                f"{missing.retcode} {missing.retmsg!r}: the refusal tells that the order exists")
    if snapshot(party, order["orderid"], watched) != before:
        problems.append(f"{where}: DEMO's order or the agents' money changed")
    return problems


def foreign_pages(spec: Spec) -> list[tuple[Page, Param]]:
    return [(page, p) for page in spec.request_pages for p in order_params(page)]


def test_order_pages_are_derived_from_the_spec(spec):
    found = {(page.page, p.name) for page, p in foreign_pages(spec)}
    assert {("QueryOrder.aspx", "order_id"), ("CancelOrder.aspx", "Order_id"), ("QueryOrdersList.aspx", "YDDH"),
            ("RefundTicket.aspx", "orderid"), ("OrderAndPayWithYDJ.aspx", "XCDDH"), ("ChangePayPwd.aspx", "ZFDH"),
            ("OrderProducts.aspx", "senderid")} <= found
    assert len(found) >= 25


@pytest.mark.parametrize("supplier", list(BOOKINGS))
def test_no_agent_reaches_another_agents_order_through_any_page(spec, supplier):
    party, orders = victim(spec, supplier)
    pages = [(page, p) for page, p in foreign_pages(spec) if page.mode in ("both", party.mock.world.supplier.mode)]
    # a booking under DEMO's own number does not depend on the state of DEMO's order: once per page
    problems = [problem for page, param in pages for order in (orders[:1] if is_own_number(param) else orders)
                for problem in isolation_problems(party, page, param, order)]
    assert problems == []


def test_the_isolation_judge_catches_a_mock_that_serves_every_order(spec, monkeypatch):
    """`machine.load` is where a handler finds the caller's order; make it ignore the agent."""
    from mockserver import machine

    party, orders = victim(spec, "scenic")
    monkeypatch.setattr(machine, "load", lambda db, orderid, agent: db.execute(
        "SELECT * FROM orders WHERE orderid=?", (orderid,)).fetchone())
    page = spec.page("QueryOrder.aspx")
    assert any("served OTHER" in p for p in isolation_problems(party, page, order_params(page)[0], orders[0]))
    cancel = spec.page("CancelOrder.aspx")
    assert any("changed" in p for p in isolation_problems(party, cancel, order_params(cancel)[0], orders[0]))


def test_the_isolation_judge_catches_a_mock_whose_own_numbers_are_global(spec, monkeypatch):
    """`booking.existing` finds the repeat of a senderid/XCDDH; make it look across agents."""
    from mockserver import booking

    party, orders = victim(spec, "scenic")
    monkeypatch.setattr(booking, "existing", lambda db, agent, senderid: db.execute(
        "SELECT * FROM orders WHERE senderid=? LIMIT 1", (senderid,)).fetchone() if senderid else None)
    page = spec.page("OrderAndPayWithYDJ.aspx")
    assert isolation_problems(party, page, order_params(page)[0], orders[0])
    page = spec.page("OrderProducts.aspx")
    assert any("names DEMO's order" in p for p in isolation_problems(party, page, order_params(page)[0], orders[0]))
