"""Callback-page certification (conformance/callback_pages.py): every check passes against a
correct callback page, and each sloppy page — breaking one rule — is caught by the named check."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from conformance.callback_pages import CallbackPageConfig, certify_callback_pages, registered, stale_pair
from conformance.cli import main
from spec import wire
from spec.errors import YbxError
from spec.loader import load_spec
from spec.model import Spec
from spec.protocol import Credentials, check_password
from spec.signing import verify_request_sign

from receiver import free_port

SPEC = load_spec()
PROFILE = SPEC.profile("default")
CREDS = Credentials("demo-ota", "demo-pass", "3f2504e0-4f89-11d3-9a0c-0305e82c3301")
STATUS = "status"  # Notify_OrderChanged's order-status parameter (4.2.45.1 line 9217)


@dataclass
class CallbackPage:
    """An OTA's callback folder. Correct by default: checks user, password, sign and required
    parameters, answers duplicates the same way, ignores stale statuses, signs its answers.
    Each fault breaks exactly one of those rules."""

    spec: Spec
    creds: Credentials
    faults: frozenset[str] = frozenset()
    delay: float = 0.0
    seen: set[tuple[tuple[str, str], ...]] = field(default_factory=set)
    closed: set[str] = field(default_factory=set)  # orders that reached a terminal status

    def answer(self, path: str, pairs: list[tuple[str, str]]) -> tuple[int, bytes]:
        if self.delay:
            time.sleep(self.delay)
        if "http-500" in self.faults:
            return 500, b"Server Error in '/' Application."
        if "html" in self.faults:
            return 200, b"<html><body>OK</body></html>"
        try:
            page = self.spec.page(path.rsplit("/", 1)[-1])
        except KeyError:
            return 404, b"not found"
        key = tuple(pairs)
        if "dup-500" in self.faults and key in self.seen:
            return 500, b"duplicate key row in object 'dbo.Notify'"
        self.seen.add(key)
        values = {k.lower(): v for k, v in pairs}
        ok = self.verify(page, values, pairs)
        status = page.param(STATUS)
        if ok and status is not None:
            orderid = values.get("orderid", "")
            if orderid in self.closed and not self.spec.order_status(values[STATUS]).terminal:
                if "stale-500" in self.faults:
                    return 500, b"NullReferenceException"
                # acknowledged and ignored: the order is already closed
            elif self.spec.order_status(values[STATUS]).terminal:
                self.closed.add(orderid)
        retcode = "1" if "retcode-1" in self.faults else ("0" if ok else "1")
        key_for_sign = None if "unsigned" in self.faults else self.creds.key[::-1] if "wrong-sign" in self.faults \
            else self.creds.key
        return 200, wire.render(PROFILE.response, retcode, "" if ok else "refused", (), key_for_sign)

    def verify(self, page, values: dict[str, str], pairs: list[tuple[str, str]]) -> bool:
        if "ignore-required" not in self.faults and any(not values.get(p.name.lower()) for p in page.required_params):
            return False
        if values.get("user") != self.creds.user:
            return False
        if "accept-wrong-password" not in self.faults:
            try:
                if not check_password(page, values.get("password"), self.creds.password, self.creds.key, PROFILE):
                    return False
            except YbxError:  # missing or undecryptable
                return False
        return "accept-bad-sign" in self.faults or verify_request_sign(pairs, self.creds.key, PROFILE.sign)

    def __enter__(self) -> "CallbackPage":
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                status, body = page.answer(parts.path, parse_qsl(parts.query, keep_blank_values=True))
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/notify"


def certify(page: CallbackPage, **kw) -> dict[str, dict]:
    results = certify_callback_pages(CallbackPageConfig(page.url, CREDS, SPEC, PROFILE, **kw))
    return {r["id"]: r for r in results}


def test_correct_page_passes_every_check():
    with CallbackPage(SPEC, CREDS) as page:
        results = certify(page)
    callback_pages = SPEC.pages_by("callback")
    assert {r["page"] for r in results.values()} == {p.page for p in callback_pages}
    assert len(results) == sum(1 for p in callback_pages for c in registered() if c.applies(SPEC, p))
    bad = {i: (r["verdict"], r["message"]) for i, r in results.items() if r["verdict"] != "passed"}
    assert bad == {}
    r = results["callback-page.accepts.Notify_OrderChanged"]
    assert r["category"] == "callbacks" and r["severity"] == "critical" and r["clause"].startswith("4.2.45.1")
    assert set(r) == {"id", "category", "clause", "claim", "severity", "page", "needs", "verdict", "message",
                      "duration_ms", "exchanges", "notes"}
    ex = r["exchanges"][0]
    assert ex["method"] == "GET" and ex["url"] == page.url + "/Notify_OrderChanged.aspx" and ex["retcode"] == "0"
    assert any("SYNTHETIC" in n for n in r["notes"])
    stale = results["callback-page.out-of-order.Notify_OrderChanged"]
    assert any("stale event" in n and "acknowledged" in n for n in stale["notes"])
    json.dumps(list(results.values()))  # plain data, ready for results.json


def test_known_orders_are_used():
    with CallbackPage(SPEC, CREDS) as page:
        results = certify(page, orders=(("SO1001", "ota-1"), ("SO1002", "ota-2")), pages=("Notify_OrderChanged",),
                          only=("accepts", "out-of-order"))
    sent = dict(results["callback-page.accepts.Notify_OrderChanged"]["exchanges"][0]["params"])
    assert (sent["orderid"], sent["senderid"]) == ("SO1001", "ota-1")
    stale = results["callback-page.out-of-order.Notify_OrderChanged"]
    later, old = stale_pair(SPEC, SPEC.page("Notify_OrderChanged"))
    assert [dict(e["params"])["status"] for e in stale["exchanges"]] == [later, old]
    assert all(dict(e["params"])["orderid"] == "SO1002" for e in stale["exchanges"])
    assert not any("SYNTHETIC" in n for n in stale["notes"])


# fault -> (check name, words its message must contain)
SLOPPY = {
    "accept-bad-sign": ("bad-sign", "sign computed with a wrong KEY: acknowledged"),
    "accept-wrong-password": ("wrong-password", "acknowledged with retcode 0"),
    "ignore-required": ("missing-param", "without required orderid"),
    "retcode-1": ("accepts", "retcode 1"),
    "http-500": ("accepts", "HTTP 500, body \"Server Error"),
    "html": ("accepts", "not a response envelope"),
    "unsigned": ("answer-sign", "unsigned"),
    "wrong-sign": ("answer-sign", "wrongly signed"),
    "dup-500": ("duplicate", "repeated callback was not acknowledged — HTTP 500, body \"duplicate key"),
}


@pytest.mark.parametrize("fault", sorted(SLOPPY))
def test_sloppy_page_is_caught_by_the_named_check(fault):
    name, words = SLOPPY[fault]
    with CallbackPage(SPEC, CREDS, frozenset({fault})) as page:
        results = certify(page)
    for p in SPEC.pages_by("callback"):
        r = results[f"callback-page.{name}.{p.stem}"]
        assert r["verdict"] == "failed", (p.page, r["verdict"], r["message"])
        assert words in r["message"], r["message"]
        assert r["exchanges"], "a failure carries its evidence"


def test_refusal_checks_need_a_page_that_accepts_correct_callbacks():
    """A page refusing everything has not shown that it refuses forgeries: not run, never passed."""
    with CallbackPage(SPEC, CREDS, frozenset({"retcode-1"})) as page:
        results = certify(page, pages=("Notify_Checked",))
    for name in ("bad-sign", "wrong-password", "missing-param", "duplicate"):
        r = results[f"callback-page.{name}.Notify_Checked"]
        assert r["verdict"] == "not_run" and "callback-page.accepts" in r["message"], (name, r["message"])


def test_stale_event_that_breaks_the_page_is_a_warning():
    with CallbackPage(SPEC, CREDS, frozenset({"stale-500"})) as page:
        results = certify(page, pages=("Notify_OrderChanged",), only=("out-of-order",))
    r = results["callback-page.out-of-order.Notify_OrderChanged"]
    assert r["verdict"] == "warning" and "stale event: HTTP 500" in r["message"], r["message"]
    assert "refused" in " ".join(r["notes"])


@pytest.mark.parametrize("delay, verdict", [(0.35, "failed"), (0.2, "warning"), (0.0, "passed")])
def test_answer_time_against_the_timeout(delay, verdict):
    with CallbackPage(SPEC, CREDS, delay=delay) as page:
        results = certify(page, timeout=0.3, pages=("Notify_Checked",), only=("answer-time", "accepts"))
    r = results["callback-page.answer-time.Notify_Checked"]
    assert r["verdict"] == verdict, r["message"]
    # a slow answer is judged by answer-time alone: the content checks still see it
    assert results["callback-page.accepts.Notify_Checked"]["verdict"] == "passed"


def test_hanging_page_fails_answer_time():
    with CallbackPage(SPEC, CREDS, delay=0.7) as page:
        results = certify(page, timeout=0.3, pages=("Notify_Checked",), only=("answer-time",))
    r = results["callback-page.answer-time.Notify_Checked"]
    assert r["verdict"] == "failed" and "waited up to 0.6 s" in r["message"], r["message"]


def test_timeout_defaults_to_the_spec():
    config = CallbackPageConfig("http://127.0.0.1:9", CREDS, SPEC, PROFILE)
    assert config.answer_timeout == SPEC.callback_policy.timeout_seconds == 5.0


def test_unknown_check_name_is_a_usage_error():
    with pytest.raises(ValueError, match="unknown callback-page checks: nope"):
        certify_callback_pages(CallbackPageConfig("http://127.0.0.1:9", CREDS, SPEC, PROFILE, only=("nope",)))


def _cli(page: CallbackPage, out, *extra: str) -> int:
    return main(["callback-pages", "--url", page.url, "--user", CREDS.user, "--password", CREDS.password,
                 "--key", CREDS.key, "--report", str(out), *extra])


def test_cli_writes_results_and_report(tmp_path, capsys):
    with CallbackPage(SPEC, CREDS) as page:
        assert _cli(page, tmp_path / "ok", "--order", "SO1001:ota-1") == 0
    doc = json.loads((tmp_path / "ok" / "results.json").read_text(encoding="utf-8"))
    assert doc["kind"] == "callback-pages" and doc["summary"]["failed"] == 0 and doc["summary"]["passed"] > 20
    assert doc["coverage"]["pages_exercised"] == doc["coverage"]["pages_total"] == len(SPEC.pages_by("callback"))
    assert "callback-page.bad-sign.Notify_Refund" in (tmp_path / "ok" / "index.html").read_text(encoding="utf-8")
    with CallbackPage(SPEC, CREDS, frozenset({"accept-bad-sign"})) as page:
        assert _cli(page, tmp_path / "bad", "--pages", "Notify_Checked") == 1
    out = capsys.readouterr().out
    assert "failed" in out and "index.html" in out


def test_cli_usage_errors(tmp_path, capsys):
    assert main(["callback-pages", "--url", f"http://127.0.0.1:{free_port()}/notify", "--user", "u", "--password", "p",
                 "--key", "k", "--report", str(tmp_path)]) == 2
    assert "cannot reach" in capsys.readouterr().err
    with CallbackPage(SPEC, CREDS) as page:
        assert _cli(page, tmp_path, "--order", "no-colon") == 2
        assert _cli(page, tmp_path, "--only", "nope") == 2
