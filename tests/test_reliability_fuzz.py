"""Fuzz: schemathesis over every operation of the OpenAPI document generated from the spec, valid
and invalid data, a few derandomized examples each, against a live `ybx-mock serve`; then
hand-made transport abuse (bad UTF-8, 2 MB values, tens of thousands of parameters, JSON and
multipart bodies, empty bodies, repeated parameters). Never a 5xx; a request page always answers
a well-formed envelope carrying a retcode, except the routing refusals the mock documents
(404 unknown page, 405 wrong method)."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest
from mockkit import DEMO
from procmock import serving

from spec import wire
from spec.model import Page, Spec
from spec.protocol import encode_request

EXAMPLES = {"positive": 3, "negative": 2}  # per operation and generation mode
ROUTING = (404, 405)  # app.py: unknown page, wrong method for the path
TWO_MB = 2 * 1024 * 1024


def verdict(spec: Spec, page: Page | None, status: int, body: bytes) -> str:
    """Why an answer breaks the rule, or ''."""
    if status >= 500:
        return f"HTTP {status}"
    if page is None or page.direction != "request" or status in ROUTING:
        return ""  # payment-platform notify pages and the REST page answer in their own formats
    if status != 200:
        return f"HTTP {status} from a request page"
    try:
        env = wire.parse(body, spec.profile().response)
    except wire.MalformedResponse as exc:
        return f"not an envelope: {exc}"
    return "" if env.retcode else "an envelope without a retcode"


@pytest.fixture(scope="module")
def served(spec, tmp_path_factory):
    with serving(spec, Path(tmp_path_factory.mktemp("fuzz")) / "mock.db") as m:
        m.admin("POST", "/clock", {"set": "2026-11-21T10:00:00+08:00"})
        yield m


def test_schemathesis_over_every_operation(spec, served):
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    from spec.openapi import generate

    schema = schemathesis.openapi.from_dict(generate(spec, spec.profile()))
    operations = [result.ok() for result in schema.get_all_operations()]
    pages = {p.page: p for p in spec.pages}
    sent: Counter[str] = Counter()
    broken: list[str] = []
    with requests.Session() as session:
        for op in operations:
            page = pages.get(op.definition.raw.get("x-ybx-page", ""))

            def send(case, op=op, page=page) -> None:
                r = case.call(base_url=served.base_url, session=session, timeout=30)
                sent[op.label] += 1
                why = verdict(spec, page, r.status_code, r.content)
                if why:
                    broken.append(f"{op.label} {case.query or case.body!r:.200}: {why}")

            for mode, examples in EXAMPLES.items():
                @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
                @given(op.as_strategy(generation_mode=GenerationMode(mode)))
                def run(case) -> None:
                    send(case)

                try:
                    run()
                except Unsatisfiable:
                    pass  # an operation without optional data may have no invalid form; the other mode covers it
    print(f"{sum(sent.values())} generated requests over {len(operations)} operations")
    assert broken == []
    assert set(sent) == {op.label for op in operations}, "every operation was fuzzed"
    assert len(operations) >= 2 * len(spec.request_pages)  # GET and POST of every request page


# ------------------------------------------------------------------ hand-made abuse

def _signed(spec: Spec, page: str, values: dict[str, str]) -> list[tuple[str, str]]:
    return encode_request(spec.page(page), values, DEMO, spec.profile())


def _form(pairs: list[tuple[str, str]]) -> str:
    return str(httpx.QueryParams(pairs))


def cases(spec: Spec) -> dict[str, tuple[str, str, dict]]:
    """name -> (method, path, httpx request arguments)."""
    order = _signed(spec, "QueryOrder.aspx", {"order_id": "2026112100000001"})
    form = {"content-type": "application/x-www-form-urlencoded"}
    many = "&".join(f"p{i}=v{i}" for i in range(50_000))
    return {
        "bad UTF-8 in the query": ("GET", "/QueryOrder.aspx?user=%ff%fe&order_id=%c3%28", {}),
        "bad UTF-8 in the body": ("POST", "/POST/QueryOrder.aspx", {"content": b"user=\xff\xfe&order_id=\xc3\x28",
                                                                     "headers": form}),
        "bad percent-escapes": ("GET", "/QueryOrder.aspx?user=%zz%&order_id=%", {}),
        "NUL bytes": ("GET", "/QueryOrder.aspx?user=demo%00ota&order_id=%00", {}),
        "a 2 MB value in the body": ("POST", "/POST/QueryOrder.aspx",
                                     {"content": _form([*order, ("Memo", "x" * TWO_MB)]).encode(), "headers": form}),
        "a 2 MB signed value": ("POST", "/POST/OrderProducts.aspx", {"content": _form(_signed(spec, "OrderProducts.aspx", {
            "Order_list": "P1001|1", "Mobile": "13800138000", "ID": "110101199003071234", "SXRQ": "20261125",
            "timespanindex": "-1", "InvoiceTitle": "x" * TWO_MB})).encode(), "headers": form}),
        "50,000 parameters in the body": ("POST", "/POST/QueryOrder.aspx", {"content": many.encode(), "headers": form}),
        "2,000 parameters in the query": ("GET", "/QueryOrder.aspx?" + "&".join(f"p{i}=v" for i in range(2000)), {}),
        "a JSON body": ("POST", "/POST/QueryOrder.aspx", {"json": dict(order)}),
        "a multipart body": ("POST", "/POST/QueryOrder.aspx", {"files": {k: (None, v) for k, v in order}}),
        "an empty body": ("POST", "/POST/QueryOrder.aspx", {"content": b"", "headers": form}),
        "no body, no type": ("POST", "/POST/QueryOrder.aspx", {}),
        "repeated parameters": ("GET", "/QueryOrder.aspx?" + _form(order + [("user", "other-ota"), ("order_id", "1"),
                                                                          ("sign", "0" * 32)]), {}),
        "a value in both query and body": ("POST", "/POST/QueryOrder.aspx?" + _form(order),
                                           {"content": _form([("order_id", "1")]).encode(), "headers": form}),
        "an unknown page": ("GET", "/NoSuchPage.aspx?" + _form(order), {}),
        "GET on a POST path": ("GET", "/POST/QueryOrder.aspx?" + _form(order), {}),
        "PUT on a page": ("PUT", "/QueryOrder.aspx", {"content": _form(order).encode(), "headers": form}),
        "a deep path": ("GET", "/a/b/c/QueryOrder.aspx", {}),
    }


CASE_NAMES = ["bad UTF-8 in the query", "bad UTF-8 in the body", "bad percent-escapes", "NUL bytes",
              "a 2 MB value in the body", "a 2 MB signed value", "50,000 parameters in the body",
              "2,000 parameters in the query", "a JSON body", "a multipart body", "an empty body", "no body, no type",
              "repeated parameters", "a value in both query and body", "an unknown page", "GET on a POST path",
              "PUT on a page", "a deep path"]


def test_the_case_list_is_complete(spec):
    assert list(cases(spec)) == CASE_NAMES


@pytest.mark.parametrize("name", CASE_NAMES)
def test_abuse_is_answered(spec, served, name):
    method, path, kwargs = cases(spec)[name]
    r = httpx.request(method, served.base_url + path, timeout=30, **kwargs)
    page_name = path.split("?", 1)[0].rsplit("/", 1)[-1]
    page = next((p for p in spec.request_pages if p.page.lower() == page_name.lower()), None)
    assert verdict(spec, page, r.status_code, r.content) == "", r.content[:300]
    if r.status_code == 200:
        assert wire.parse(r.content, spec.profile().response).retcode != "0"  # nothing abusive is served
    else:
        assert r.status_code in ROUTING


def test_a_request_line_beyond_the_http_limit_is_refused_at_the_transport(served):
    """A 2 MB query string never reaches the app: uvicorn refuses the request line with 400 (as IIS
    refuses it with 404.15/414). No 5xx, and the mock goes on serving."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
        s.sendall(b"GET /QueryOrder.aspx?order_id=" + b"x" * TWO_MB + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        try:
            while b"\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
        except ConnectionResetError:
            pass  # refused before it finished sending: no answer is also no 5xx
    if head:
        status = int(head.split(b" ", 2)[1])
        assert 400 <= status < 500, head[:200]
    assert served.admin("GET", "")["now"]


# ------------------------------------------------------------------ the judge can fail

@pytest.mark.parametrize("status, body, why", [
    (500, b"Internal Server Error", "HTTP 500"),
    (200, b"<html>oops</html>", "not an envelope"),
    (200, b"<root><retcode>0</retcode><retmsg/>", "not an envelope"),
    (200, b"<root><retcode></retcode><retmsg/><sign/></root>", "without a retcode"),
    (400, b"Invalid HTTP request received.", "HTTP 400"),
])
def test_the_verdict_catches_broken_answers(spec, status, body, why):
    assert why in verdict(spec, spec.page("QueryOrder.aspx"), status, body)
