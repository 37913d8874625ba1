"""The spec's REST pages (direction `rest`): the order query of the 003 help page, over the orders
booked through the classic pages and the world's year-card orders.

A request is authenticated by the profile's `rest_auth` (Hawk), then judged in the order
ASP.NET Web API would judge it (method, required parameters, binding, caller, lookup); every
refusal is a `RestRefusal` carrying a key of the page's `rest.errors`, turned into a response in
one place (`_refusal`). Answers are negotiated by `Accept` (`formatters`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from spec import hawk
from spec.errors import YbxError
from spec.model import Page

from . import formatters, machine
from .context import Mock
from .store import Store, register_schema
from .world import AgentSeed, YearCard

log = logging.getLogger("ybx.mock.rest")
INT32 = (-(2**31), 2**31 - 1)
# The route takes every method, so that a wrong one gets the page's own 405 answer.
HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

_NONCES_SQL = """CREATE TABLE IF NOT EXISTS hawk_nonces(
  id TEXT NOT NULL, nonce TEXT NOT NULL, ts INTEGER NOT NULL, seen_at INTEGER NOT NULL,
  PRIMARY KEY(id, nonce, ts))"""
register_schema(_NONCES_SQL + ";", ("hawk_nonces",))


class RestRefusal(YbxError):
    """A failure the REST page's `rest.errors` names; `values` fill its message and detail."""

    def __init__(self, key: str, **values: str):
        super().__init__(key, ", ".join(f"{k}={v}" for k, v in values.items()))
        self.values = values


class StoreNonces:
    """Hawk nonces in the mock's database, so that every worker refuses a replay."""

    def __init__(self, store: Store):
        self._store = store
        with store.transaction() as db:  # also when the store was opened before this module registered it
            db.execute(_NONCES_SQL)

    def use(self, id: str, nonce: str, ts: int, now: int, window: int) -> bool:
        with self._store.transaction() as db:
            db.execute("DELETE FROM hawk_nonces WHERE seen_at < ?", (now - 2 * window,))
            cur = db.execute("INSERT OR IGNORE INTO hawk_nonces(id, nonce, ts, seen_at) VALUES(?,?,?,?)",
                             (id, nonce, ts, now))
            return cur.rowcount == 1


@dataclass(frozen=True)
class RestRequest:
    """What the endpoint needs of an HTTP request."""

    method: str
    url: str
    resource: str  # path and query exactly as sent (what the Hawk MAC covers)
    host: str
    port: int
    query: tuple[tuple[str, str], ...]
    authorization: str | None
    accept: str | None


def _enabled_agent(mock: Mock, user: str) -> AgentSeed | None:
    agent = mock.world.agent(user)
    if agent is None:
        return None
    with mock.store.reading() as db:
        state = Store.agent(db, user)
    return agent if state is not None and state.enabled else None


def _authenticate(mock: Mock, req: RestRequest, nonces: hawk.NonceStore) -> AgentSeed | None:
    """The agent the request is signed by; None when the profile (or a fault) asks for no authentication."""
    auth = mock.profile.rest_auth
    if auth.scheme == "none" or mock.fault("rest-no-auth"):
        return None

    def lookup(user: str) -> hawk.Credentials | None:
        agent = _enabled_agent(mock, user)
        return hawk.credentials_for(auth, agent.user, agent.key, agent.password) if agent else None

    hawk.verify(req.authorization, method=req.method, resource=req.resource, host=req.host, port=req.port,
                lookup=lookup, now=mock.clock.now().timestamp(), skew=auth.skew_seconds, nonces=nonces)
    agent = mock.world.agent(hawk.parse(req.authorization).id)
    assert agent is not None  # lookup found it
    return agent


def _values(page: Page, query: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Query values by the spec's parameter names; names are case-insensitive and the first of
    repeated values binds, as ASP.NET's model binding reads a query string."""
    values: dict[str, str] = {}
    for name, value in query:
        param = page.param(name)
        if param is not None and param.name not in values:
            values[param.name] = value
    return values


def _bind(page: Page, req: RestRequest) -> dict[str, Any]:
    values = _values(page, req.query)
    for p in page.params:
        if p.required and p.default is None and p.name not in values:
            raise RestRefusal("missing_param", uri=req.url)
    bound: dict[str, Any] = {}
    for p in page.params:
        raw = values.get(p.name, "")
        if p.base_type == "int":
            text = raw if raw != "" else (p.default or "0")
            try:
                number = int(text.strip())
            except ValueError:
                raise RestRefusal("bad_format", param=p.name, value=raw) from None
            if not INT32[0] <= number <= INT32[1]:
                raise RestRefusal("bad_format", param=p.name, value=raw)
            bound[p.name] = number
        else:
            bound[p.name] = raw if p.name in values else (p.default or "")
    return bound


def _caller(mock: Mock, signed: AgentSeed | None, dwlx: str, dwid: str) -> AgentSeed:
    """dwlx/dwid must name the signed agent (gap yearcardquerymain-caller-identity); without
    authentication they alone name the caller."""
    def named(a: AgentSeed) -> bool:
        return a.customertype == dwlx and a.customerid.lower() == dwid.lower()

    if signed is not None:
        if not named(signed):
            raise RestRefusal("customer_mismatch")
        return signed
    agent = next((a for a in mock.world.agents if named(a)), None)
    if agent is None:
        raise RestRefusal("customer_mismatch")
    return agent


def _booked(mock: Mock, agent: AgentSeed, orderid: str, sendid: str) -> YearCard | None:
    """An order booked through the classic pages as the page's main record (gap
    yearcardquerymain-source-of-orders): its first product, first ticket and first real name."""
    where, args = ["agent=?"], [agent.user]
    for column, value in (("orderid", orderid), ("senderid", sendid)):
        if value:
            where.append(f"{column}=?")
            args.append(value)
    with mock.store.reading() as db:
        order = db.execute(f"SELECT * FROM orders WHERE {' AND '.join(where)} ORDER BY created_at LIMIT 1",  # noqa: S608
                           args).fetchone()
        if order is None:
            return None
        item = db.execute("SELECT * FROM order_items WHERE orderid=? ORDER BY seq LIMIT 1", (order["orderid"],)).fetchone()
        ticket = db.execute("SELECT ticketid, status FROM tickets WHERE orderid=? ORDER BY ticketid LIMIT 1",
                            (order["orderid"],)).fetchone()
        person = db.execute("SELECT name, idno, idtype FROM realnames WHERE orderid=? ORDER BY seq LIMIT 1",
                            (order["orderid"],)).fetchone()
    created = machine.parse_stamp(order["created_at"], mock)
    deadline = machine.parse_stamp(order["pay_deadline"], mock) if order["pay_deadline"] else None
    return YearCard(
        orderid=order["orderid"], agent=agent.user, senderid=order["senderid"] or None, personalid=0,
        productid=item["productid"] if item else "", productname=item["productname"] if item else "",
        amount=item["num"] if item else 0, price=Decimal(item["price"]) if item else Decimal("0.00"),
        status=ticket["status"] if ticket else "1", ordertime=created, effectdate=machine.effect_date(order),
        statuscode=order["status"], paymenttype=order["pay_type"] or None,
        paytimeout=int((deadline - created).total_seconds()) // 60 if deadline else None,
        ticketinnernumber=ticket["ticketid"] if ticket else None, needinvoice=order["need_invoice"],
        invoicetitle=order["invoice_title"] or None, sellbillid=order["spdh"] or None,
        deliverytime=machine.parse_stamp(order["delivered_at"], mock) if order["delivered_at"] else None,
        fullname=person["name"] if person else None,
        identificationtype=person["idtype"] if person else ("1" if order["idcard"] else None),
        identificationnumber=person["idno"] if person else (order["idcard"] or None), mobile=order["mobile"] or None,
    )


def _find(mock: Mock, agent: AgentSeed, orderid: str, sendid: str, personalid: int) -> YearCard:
    if not orderid and not sendid:
        raise RestRefusal("orderid_sendid_empty")
    if not personalid:  # orders booked through the classic pages are the agent's own, never a member's
        booked = _booked(mock, agent, orderid, sendid)
        if booked is not None:
            return booked
    for card in mock.world.year_cards:
        if (card.agent == agent.user and (not orderid or card.orderid == orderid)
                and (not sendid or card.senderid == sendid) and (not personalid or card.personalid == personalid)):
            return card
    raise RestRefusal("order_not_found")


def _record(mock: Mock, page: Page, card: YearCard, agent: AgentSeed) -> dict[str, Any]:
    """The YearCardOrder of a card, keyed by the spec's element names."""
    assert page.rest is not None
    type_names = {c.code: c.name_zh for c in page.rest.customer_types}
    pay = next((t for t in mock.spec.payment_types if t.id == card.paymenttype), None)
    record: dict[str, Any] = {
        "orderid": card.orderid, "senderid": card.senderid, "productid": card.productid, "amount": card.amount,
        "productname": card.productname, "price": card.price, "ticketinnernumber": card.ticketinnernumber,
        "status": card.status, "customerid": agent.customerid, "customername": agent.name,
        "customertypecode": agent.customertype, "customertypename": type_names.get(agent.customertype),
        "ordertime": card.ordertime, "effectdate": card.effectdate, "paymenttype": pay.name_zh if pay else None,
        "paytimeout": card.paytimeout, "invoicecode": card.invoicecode, "invoicetitle": card.invoicetitle,
        "needinvoice": card.needinvoice, "sellbillid": card.sellbillid, "deliverytime": card.deliverytime,
        "statuscode": card.statuscode, "statusname": mock.spec.order_status(card.statuscode).name_zh,
        "fullname": card.fullname, "identificationtype": card.identificationtype,
        "identificationnumber": card.identificationnumber, "mobile": card.mobile,
    }
    for name in page.rest.empty_collections:  # line 3: the detail collections are always empty
        record[name] = []
    return record


def _body(mock: Mock, page: Page, media: str, shaped: dict[str, Any]) -> bytes:
    assert page.rest is not None
    # the fault writes XML members in the JSON (declaration) order instead of DataContract's ordinal order
    ordinal = not mock.fault("rest-xml-declaration-order")
    return formatters.write(media, page.rest, page.response, shaped, xml_ordinal=ordinal)


def _refusal(mock: Mock, page: Page, media: str, exc: RestRefusal) -> Response:
    """The one place a REST refusal becomes a response: status and Message from `rest.errors`."""
    assert page.rest is not None
    spec_error = page.rest.error(exc.key)
    fields = {"Message": spec_error.message.format_map(exc.values)}
    if spec_error.detail:
        fields["MessageDetail"] = spec_error.detail.format_map(exc.values)
    headers = {"Allow": "GET"} if spec_error.status == 405 else {}
    return Response(formatters.write_error(media, page.rest, fields), spec_error.status, headers,
                    formatters.content_type(media))


def _unauthorized(mock: Mock, page: Page, media: str, exc: hawk.HawkError, req: RestRequest) -> Response:
    assert page.rest is not None
    auth = mock.profile.rest_auth
    creds = None
    if exc.stale:  # the challenge carries the server time, MACed with the caller's key
        agent = _enabled_agent(mock, hawk.parse(req.authorization).id)
        creds = hawk.credentials_for(auth, agent.user, agent.key, agent.password) if agent else None
    challenge = hawk.challenge(exc, creds, mock.clock.now().timestamp())
    body = formatters.write_error(media, page.rest, {"Message": auth.unauthorized_message})
    return Response(body, auth.unauthorized_status, {"WWW-Authenticate": challenge}, formatters.content_type(media))


def answer(mock: Mock, page: Page, req: RestRequest, nonces: hawk.NonceStore) -> Response:
    """Answer one request of a REST page."""
    assert page.rest is not None
    media = formatters.negotiate(req.accept, page.rest.media_types)
    try:
        signed = _authenticate(mock, req, nonces)
    except hawk.HawkError as exc:
        return _unauthorized(mock, page, media, exc, req)
    try:
        if req.method not in page.methods:
            raise RestRefusal("method_not_allowed", method=req.method)
        values = _bind(page, req)
        agent = _caller(mock, signed, values["dwlx"], values["dwid"])
        card = _find(mock, agent, values["orderid"], values["sendid"], values["personalid"])
    except RestRefusal as exc:
        return _refusal(mock, page, media, exc)
    shaped = formatters.shape(page.response, _record(mock, page, card, agent))
    return Response(_body(mock, page, media, shaped), 200, media_type=formatters.content_type(media))


class AnyCaseRoute(Route):
    """ASP.NET routing (and IIS) ignore the case of the path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            scope = {**scope, "path": scope["path"].lower(), "root_path": scope.get("root_path", "").lower()}
        return super().matches(scope)


def _request(request: Request) -> RestRequest:
    scope = request.scope
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"").decode("latin-1")
    resource = raw_path.decode("latin-1") + (f"?{query}" if query else "")
    port = request.url.port or (443 if request.url.scheme == "https" else 80)
    return RestRequest(
        method=request.method, url=str(request.url), resource=resource, host=request.url.hostname or "", port=port,
        query=tuple(parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="replace")),
        authorization=request.headers.get("authorization"), accept=request.headers.get("accept"),
    )


def rest_routes(mock: Mock) -> list[BaseRoute]:
    """One route per REST page of the spec, at its `rest.path` (the world's year cards name statuses and
    payment types of the spec: checked when it is loaded, mockserver/worldcheck.py)."""
    nonces = StoreNonces(mock.store)
    routes: list[BaseRoute] = []
    for page in mock.spec.pages_by("rest"):
        if page.rest is None:
            continue

        async def endpoint(request: Request, page: Page = page) -> Response:
            req = _request(request)
            try:
                return await run_in_threadpool(answer, mock, page, req, nonces)
            except Exception:  # a bug must still answer like ASP.NET, never with a stack trace
                log.exception("internal error on %s", page.page)
                assert page.rest is not None
                media = formatters.negotiate(req.accept, page.rest.media_types)
                return _refusal(mock, page, media, RestRefusal("internal"))

        routes.append(AnyCaseRoute("/" + page.rest.path.strip("/").lower(), endpoint, methods=HTTP_METHODS))
    return routes
