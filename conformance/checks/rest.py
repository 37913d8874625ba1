"""REST page checks (the 003 help page), derived per `direction: rest` page of the spec.

Authentication (profile `rest_auth`, Hawk): a request without credentials, signed with another key
recipe, with a stale timestamp, or replayed, gets the profile's 401. Media types (help page
"Response Formats"): asked for each listed type, the answer is in that type with every element of
the response in the spec's order (JSON, BSON) or in DataContract's ordinal order under the page's
namespace (XML); BSON decodes to the JSON answer; no `Accept` and a q-valued `Accept` are
negotiated as the spec's gap says. Isolation: another agent never gets the order.

The order a check reads is booked by the check itself through OrderProducts with a senderid, and
the caller's dwlx/dwid are its customertype/customerid as QueryOrder answers them; a target whose
REST page does not answer booked orders has these checks not run (the spec's choice, gap
yearcardquerymain-source-of-orders, is not the help page's word)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from functools import partial

import httpx
from lxml import etree

from spec import bson, hawk
from spec.model import Element, Page, Spec
from spec.protocol import Credentials

from ..context import CheckContext, Failed, NotRun
from ..registry import Check, derive
from ..target import Exchange
from ..values import value_problem

WRONG_RECIPE = "KEY"  # the KEY alone: the commonest slip, forgetting the password part
Q_ACCEPT = "application/xml;q=0.9, application/json;q=0.8"  # the better q must win


def _stem(page: Page) -> str:
    return page.file.rsplit("/", 1)[-1].removesuffix(".yaml")


def _clause(page: Page, extra: str = "") -> str:
    return f"REST {page.rest.path if page.rest else page.page} ({page.source_file}){extra}"


class _Client:
    """An integrator of one REST page: Hawk-signed GETs, each kept as evidence."""

    def __init__(self, ctx: CheckContext, page: Page):
        assert page.rest is not None
        self.ctx, self.page, self.rest = ctx, page, page.rest
        self.url = f"{ctx.target.base_url}/{page.rest.path.strip('/')}"
        self.http = httpx.Client(timeout=ctx.target.timeout)
        self.offset = 0  # seconds from the driver's clock to the target's, learnt from a stale answer
        self.sent_authorization = ""

    def close(self) -> None:
        self.http.close()

    def credentials(self, creds: Credentials, recipe: str | None = None) -> hawk.Credentials:
        auth = self.ctx.profile.rest_auth
        return hawk.Credentials(creds.user, hawk.derive_key(recipe or auth.key_recipe, creds.key, creds.password),
                                auth.algorithm)

    def now(self) -> int:
        return int(self.ctx.now().timestamp()) + self.offset

    def get(self, params: dict[str, str], accept: str | None = "application/json", *, sign: bool = True,
            creds: Credentials | None = None, recipe: str | None = None, ts: int | None = None,
            header: str | None = None, note: str = "") -> tuple[Exchange, httpx.Response | None]:
        creds = creds or self.ctx.target.creds
        url = f"{self.url}?{httpx.QueryParams(params)}" if params else self.url
        headers: dict[str, str] = {}
        if accept is not None:
            headers["Accept"] = accept
        hawk_creds = self.credentials(creds, recipe)
        if header is not None:
            headers["Authorization"] = header
        elif sign:
            stamp = self.now() if ts is None else ts
            headers["Authorization"] = hawk.header(
                hawk_creds, hawk.artifacts_for_url("GET", url, stamp, secrets.token_hex(6)))
        ex, r = self._send(url, params, headers, note)
        # The target's clock may move under a run (the admin driver's clock checks): Hawk answers a
        # stale ts with the server time, MACed with our key; a correct client retries with it once.
        if r is not None and sign and header is None and ts is None and r.status_code == 401:
            server_ts = _stale_time(r.headers.get("www-authenticate", ""), hawk_creds)
            if server_ts is not None:
                self.offset += server_ts - self.now()
                headers["Authorization"] = hawk.header(
                    hawk_creds, hawk.artifacts_for_url("GET", url, server_ts, secrets.token_hex(6)))
                ex, r = self._send(url, params, headers, note + " (retried with the server's ts)")
        return ex, r

    def _send(self, url: str, params: dict[str, str], headers: dict[str, str],
              note: str) -> tuple[Exchange, httpx.Response | None]:
        self.sent_authorization = headers.get("Authorization", "")
        ex = Exchange(self.page.page, "GET", url.split("?")[0], list(params.items()),
                      {f"header {k}": v for k, v in headers.items()}, note=note)
        started = time.monotonic()
        response = None
        try:
            response = self.http.get(url, headers=headers)
            ex.status, ex.body = response.status_code, response.content
            ex.error = f"Content-Type: {response.headers.get('content-type', '')}"
        except httpx.HTTPError as exc:
            ex.error = f"{type(exc).__name__}: {exc}"
        ex.elapsed_ms = int((time.monotonic() - started) * 1000)
        self.ctx.exchanges.append(ex)
        if response is None:
            raise NotRun(f"no answer from the target: {ex.error}")
        return ex, response

    def order(self, ctx: CheckContext) -> dict[str, str]:
        """Query parameters naming an order of the calling agent, booked for this check."""
        senderid = f"REST{secrets.token_hex(6)}"
        orderid, _ = ctx.book(senderid=senderid)
        q = ctx.ok(ctx.call("QueryOrder.aspx", {"order_id": orderid}, note="fixture: the agent's customer type and id"),
                   "QueryOrder.aspx")
        dwlx, dwid = q.envelope.text("Item/customertype"), q.envelope.text("Item/customerid")
        if not dwlx or not dwid:
            raise NotRun("QueryOrder does not tell the agent's customertype/customerid (dwlx/dwid)")
        params = {"dwlx": dwlx, "dwid": dwid, "orderid": orderid}
        _, r = self.get(params, note="fixture: the booked order on the REST page")
        if r is None or r.status_code != 200:
            raise NotRun(f"the REST page does not answer the order booked through OrderProducts "
                         f"(HTTP {r.status_code if r is not None else '-'}); the help page does not promise it")
        return params


def _stale_time(challenge: str, creds: hawk.Credentials) -> int | None:
    attrs = dict(part.strip().split("=", 1) for part in challenge.removeprefix("Hawk").split(",") if "=" in part)
    ts, tsm = attrs.get("ts", "").strip('"'), attrs.get("tsm", "").strip('"')
    if not ts.isdigit() or tsm != hawk.timestamp_mac(creds, int(ts)):
        return None
    return int(ts)


def _run(page: Page, body, ctx: CheckContext) -> None:
    client = _Client(ctx, page)
    try:
        body(client, ctx)
    finally:
        client.close()


def _needs_hawk(ctx: CheckContext) -> None:
    if ctx.profile.rest_auth.scheme != "hawk":
        raise NotRun(f"profile {ctx.profile.name} names no REST authentication")


def _expect_401(ctx: CheckContext, r: httpx.Response, what: str) -> None:
    auth = ctx.profile.rest_auth
    ctx.expect(r.status_code == auth.unauthorized_status,
               f"{what}: HTTP {r.status_code}, expected {auth.unauthorized_status}")
    ctx.expect(r.headers.get("www-authenticate", "").startswith("Hawk"),
               f"{what}: no `WWW-Authenticate: Hawk` challenge")


def _probe() -> dict[str, str]:
    """A request that passes authentication whatever the target's data: the agent's identity is
    unknown to the suite, so it names nothing; only 401 or not matters."""
    return {"dwlx": "0", "dwid": "0", "orderid": f"NOSUCH{secrets.token_hex(4)}"}


# ---------------------------------------------------------------- authentication

def _no_credentials(client: _Client, ctx: CheckContext) -> None:
    _needs_hawk(ctx)
    _, r = client.get(_probe(), sign=False, note="no Authorization header")
    _expect_401(ctx, r, "a request without credentials")


def _wrong_key(client: _Client, ctx: CheckContext) -> None:
    _needs_hawk(ctx)
    _, r = client.get(_probe(), recipe=WRONG_RECIPE, note=f"signed with key = {WRONG_RECIPE}")
    _expect_401(ctx, r, f"a request signed with key = {WRONG_RECIPE}")


def _stale(client: _Client, ctx: CheckContext) -> None:
    _needs_hawk(ctx)
    skew = ctx.profile.rest_auth.skew_seconds
    _, r = client.get(_probe(), ts=client.now() - 10 * skew, note=f"ts {10 * skew} s in the past")
    _expect_401(ctx, r, "a request with a stale timestamp")


def _replay(client: _Client, ctx: CheckContext) -> None:
    _needs_hawk(ctx)
    params = _probe()
    _, first = client.get(params, note="a signed request")
    if first.status_code == ctx.profile.rest_auth.unauthorized_status:
        raise NotRun(f"the correctly signed request was refused ({first.headers.get('www-authenticate', '')})")
    _, again = client.get(params, header=client.sent_authorization, note="the same request again (same nonce)")
    _expect_401(ctx, again, "a replayed request (same nonce)")


# ---------------------------------------------------------------- media types

def _check_json(page: Page, ctx: CheckContext, body: bytes, what: str) -> dict:
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise Failed(f"{what}: not JSON ({exc})") from None
    ctx.expect(isinstance(doc, dict), f"{what}: not a JSON object")
    names = [e.name for e in page.response]
    ctx.expect(list(doc) == names, f"{what}: members {list(doc)[:6]}… are not the help table's {names[:6]}…")
    for el in page.response:
        _check_json_value(ctx, el, doc[el.name], what)
    return doc


def _check_json_value(ctx: CheckContext, el: Element, value, what: str) -> None:
    if value is None:
        return
    if el.children:
        ctx.expect(isinstance(value, list), f"{what}: {el.name} is not an array")
        return
    kinds = {"int": (int,), "decimal": (int, float)}.get(el.type, (str,))
    ctx.expect(isinstance(value, kinds) and not isinstance(value, bool),
               f"{what}: {el.name} is {type(value).__name__}, the help table says {el.type}")
    if isinstance(value, str) and (el.format or el.values):  # JSON numbers keep their own scale (6.0)
        wrong = value_problem(ctx.spec, el, value)
        ctx.expect(wrong is None, f"{what}: {el.name} {value!r} {wrong}")


def _in_type(page: Page, media: str, client: _Client, ctx: CheckContext) -> None:
    _, r = client.get(client.order(ctx), media, note=f"Accept: {media}")
    ctx.expect(r.status_code == 200, f"Accept {media}: HTTP {r.status_code}")
    got = r.headers.get("content-type", "").split(";")[0].strip().lower()
    ctx.expect(got == media, f"Accept {media}: answered {got or 'no Content-Type'}")
    family = media.split("/")[1]
    if family == "json":
        _check_json(page, ctx, r.content, media)
    elif family == "xml":
        _check_xml(page, ctx, r.content, media)
    else:
        try:
            doc = bson.decode(r.content)
        except bson.BsonError as exc:
            raise Failed(f"{media}: not BSON ({exc})") from None
        ctx.expect(list(doc) == [e.name for e in page.response], f"{media}: members are not the help table's")


def _check_xml(page: Page, ctx: CheckContext, body: bytes, what: str) -> None:
    assert page.rest is not None
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise Failed(f"{what}: not XML ({exc})") from None
    ns = page.rest.xml_namespace
    ctx.expect(root.tag == f"{{{ns}}}{page.rest.xml_root}",
               f"{what}: root {root.tag}, expected {page.rest.xml_root} in namespace {ns}")
    if page.rest.xml_instance_namespace:
        ctx.expect(page.rest.xml_instance_namespace in root.nsmap.values(),
                   f"{what}: the XML-instance namespace (i:nil) is not declared")
    _check_xml_members(ctx, page.response, root, ns, what)


def _check_xml_members(ctx: CheckContext, elements: tuple[Element, ...], node, ns: str, what: str) -> None:
    names = [etree.QName(c).localname for c in node]
    expected = sorted(e.name for e in elements)
    ctx.expect(names == expected, f"{what}: members of <{etree.QName(node).localname}> are {names[:6]}…, "
                                  f"DataContract's ordinal order is {expected[:6]}…")
    for el in elements:
        if el.children and len(el.children) == 1 and el.children[0].repeated:
            item = el.children[0]
            for child in node.find(f"{{{ns}}}{el.name}"):
                _check_xml_members(ctx, item.children, child, ns, what)


def _bson_is_json(page: Page, client: _Client, ctx: CheckContext) -> None:
    params = client.order(ctx)
    _, as_json = client.get(params, "application/json", note="the JSON answer")
    _, as_bson = client.get(params, "application/bson", note="the BSON answer")
    ctx.expect(as_json.status_code == 200 and as_bson.status_code == 200,
               f"HTTP {as_json.status_code} / {as_bson.status_code}")
    try:
        decoded = bson.decode(as_bson.content)
    except bson.BsonError as exc:
        raise Failed(f"application/bson: not BSON ({exc})") from None
    ctx.expect(decoded == json.loads(as_json.content), "the BSON answer does not decode to the JSON answer")


def _negotiation(page: Page, client: _Client, ctx: CheckContext) -> None:
    params = client.order(ctx)
    for accept, expected in ((None, "application/json"), (Q_ACCEPT, "application/xml")):
        _, r = client.get(params, accept, note=f"Accept: {accept or '(none)'}")
        got = r.headers.get("content-type", "").split(";")[0].strip().lower()
        ctx.expect(r.status_code == 200 and got == expected,
                   f"Accept {accept or '(none)'}: HTTP {r.status_code} {got}, expected {expected}")


def _isolation(page: Page, client: _Client, ctx: CheckContext) -> None:
    if ctx.other is None:
        raise NotRun("no second agent given (--other-user)")
    params = client.order(ctx)
    _, r = client.get(params, creds=ctx.other, note="the second agent asks for the first agent's order")
    ctx.expect(r.status_code != 200, f"the second agent got the first agent's order {params['orderid']}")


@derive
def rest_checks(spec: Spec) -> Iterable[Check]:
    for page in spec.pages_by("rest"):
        if page.rest is None:
            continue
        stem, auth = _stem(page), "profile rest_auth"
        for name, fn, claim in (
            ("no-credentials", _no_credentials, "a request without credentials gets 401 with a Hawk challenge"),
            ("wrong-key", _wrong_key, f"a request signed with key = {WRONG_RECIPE} (not the profile's recipe) gets 401"),
            ("stale", _stale, "a request whose Hawk ts is far outside the window gets 401"),
            ("replay", _replay, "the same signed request (same nonce) is refused the second time with 401"),
        ):
            yield Check(f"signature.rest-{name}.{stem}", "signature", f"{auth}; {_clause(page)}",
                        f"{page.rest.path}: {claim}", "critical", partial(_run, page, fn), page=page.page)
        for mt in page.rest.media_types:
            yield Check(f"schema.rest-media.{mt.replace('/', '-')}.{stem}", "schema",
                        _clause(page, " Response Formats"),
                        f"{page.rest.path}: Accept {mt} is answered in {mt} with the help table's members",
                        "major", partial(_run, page, partial(_in_type, page, mt)), page=page.page)
        yield Check(f"schema.rest-bson-json.{stem}", "schema", _clause(page, " Response Formats"),
                    f"{page.rest.path}: the BSON answer decodes to the JSON answer", "major",
                    partial(_run, page, partial(_bson_is_json, page)), page=page.page)
        yield Check(f"schema.rest-negotiation.{stem}", "schema", _clause(page, "; the page's negotiation gap"),
                    f"{page.rest.path}: no Accept gives JSON, and the better q-value wins", "minor",
                    partial(_run, page, partial(_negotiation, page)), page=page.page)
        yield Check(f"isolation.rest.{stem}", "isolation", _clause(page, "; the page's caller-identity gap"),
                    f"{page.rest.path}: another agent never gets an agent's order", "critical",
                    partial(_run, page, partial(_isolation, page)), page=page.page)
