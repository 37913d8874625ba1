"""`ybx-conform certify-ota`: plan loading, flow judging against a journal, the certificate and
its fingerprint. The journal side is a fake admin API serving the journal contract here."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from conformance.cli import main
from conformance.plan import PlanError, load_plan, parse_plan
from receiver import free_port
from reports.certificate import fingerprint

TOKEN = "fake-token"
AGENT = "demo-ota"


# ---------------------------------------------------------------- plans

def test_default_plan_loads_with_every_name_from_the_spec(spec):
    plan = load_plan(spec)
    ids = [f.id for f in plan.flows]
    assert {"browse-products", "stock", "book-real-name", "pay-deposit", "pay-rebate", "pay-instant", "cancel-free",
            "cancel-with-fee", "apply-refund", "query-order", "callback-order-changed"} <= set(ids)
    assert set(plan.payment_types) == {"deposit", "rebate", "instant"}
    assert len(plan.sha256) == 64
    for flow in plan.flows:
        for step in flow.steps:
            for m in step.requests:
                assert all(spec.page(p).page == p for p in m.pages)


PLAN_HEAD = "id: t\ntitle: test plan\nflows:\n"


def _plan(spec, body: str):
    return parse_plan(PLAN_HEAD + body, spec, "test.yaml")


def test_unknown_page_is_named_with_its_line_and_flow(spec):
    with pytest.raises(PlanError) as err:
        _plan(spec, "  - id: pay\n    title: pay\n    instruction: do it\n    steps:\n"
                    "      - label: x\n        request: {pages: UseAcountToPay.aspx, retcode: '0'}\n")
    text = str(err.value)
    assert "UseAcountToPay.aspx" in text and "flow 'pay'" in text and "line 9" in text and "test.yaml" in text


def test_unknown_param_retcode_status_type_and_format_are_each_named(spec):
    body = ("  - id: book\n    title: book\n    instruction: do it\n    payment_types: [cash]\n    steps:\n"
            "      - label: x\n        request:\n          pages: OrderProducts.aspx\n          retcode: '-4242'\n"
            "          values: {Momo: present, Memo: {format: memo_recs}}\n"
            "          order: {id_from: Order_id, status: 'Z', fees: some}\n"
            "      - label: y\n        callback: {page: GetProducts.aspx}\n")
    with pytest.raises(PlanError) as err:
        _plan(spec, body)
    text = str(err.value)
    for needle in ("unknown parameter 'Momo' of page OrderProducts.aspx", "no retcode '-4242'",
                   "unknown payment type 'cash'", "unknown order status 'Z'", "unknown format 'memo_recs'",
                   "fees must be one of zero, positive", "unknown parameter 'Order_id' of page OrderProducts.aspx",
                   "GetProducts.aspx is a request page, not a callback page"):
        assert needle in text, text
    assert len(err.value.problems) == 8


def test_unknown_keys_and_duplicate_flows_are_refused(spec):
    flow = "  - id: a\n    title: a\n    instruction: i\n    steps: [{label: x, request: {pages: GetProducts.aspx}}]\n"
    with pytest.raises(PlanError) as err:
        _plan(spec, flow + flow + "    wait: 3\n")
    assert "two flows with this id" in str(err.value) and "unknown key 'wait'" in str(err.value)
    with pytest.raises(PlanError, match="not YAML"):
        parse_plan("id: [", spec)


def test_a_plan_file_given_on_the_command_line_is_validated(spec, tmp_path, capsys):
    bad = tmp_path / "plan.yaml"
    bad.write_text(PLAN_HEAD + "  - id: a\n    title: a\n    instruction: i\n"
                   "    steps: [{label: x, request: {pages: NoSuchPage.aspx}}]\n", encoding="utf-8")
    code = main(["certify-ota", "--mock", "http://127.0.0.1:9", "--admin-token", "t", "--agent", AGENT,
                 "--plan", str(bad), "--no-wait", "--report", str(tmp_path / "r")])
    assert code == 2 and "NoSuchPage.aspx" in capsys.readouterr().err


# ---------------------------------------------------------------- a fake journal (the admin API contract)

@dataclass
class FakeAdmin:
    """Serves /_admin, /_admin/agents, /_admin/journal, /_admin/callbacks, /_admin/orders/{id}."""

    journal: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    flushes: int = 0
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, page: str, retcode: str = "0", values: dict[str, str] | None = None,
            findings: list[dict[str, Any]] | None = None, agent: str = AGENT) -> int:
        with self.lock:
            n = len(self.journal) + 1
            values = values or {}
            self.journal.append({
                "id": n, "at": f"2026-11-21T10:{n // 60:02d}:{n % 60:02d}+08:00", "agent": agent, "method": "GET",
                "path": f"/{page}", "page": page, "http_status": 200, "retcode": retcode, "retmsg": "" if retcode == "0" else "失败",
                "params": [["user", agent], *[[k, v] for k, v in values.items()], ["sign", "ABC"]], "values": values,
                "findings": findings or [], "verdict": "mistakes" if findings else "clean"})
            return n

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path == "/_admin":
            return 200, {"now": "2026-11-21T10:00:00+08:00", "world": "scenic.yaml", "profile": "default", "faults": []}
        if path == "/_admin/agents":
            return 200, [{"user": AGENT, "enabled": 1, "responseaddr": "http://127.0.0.1:1/cb"}]
        if path == "/_admin/callbacks":
            return 200, self.callbacks
        if path.startswith("/_admin/orders/"):
            order = self.orders.get(path.rsplit("/", 1)[-1])
            return (200, order) if order else (404, {"error": "no order"})
        if path == "/_admin/journal":
            after, limit = int(query.get("after_id", 0)), int(query.get("limit", 100))
            with self.lock:
                rows = [e for e in self.journal if e["id"] > after and e["agent"] == query.get("agent", e["agent"])]
            return 200, rows[:limit]
        return 404, {"error": "no such admin path"}

    def __enter__(self) -> "FakeAdmin":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802
                if self.headers.get("X-Admin-Token") != TOKEN:
                    return self._send(401, {"error": "token"})
                parts = urlsplit(self.path)
                self._send(*fake.answer(parts.path, dict(parse_qsl(parts.query))))

            def do_POST(self) -> None:  # noqa: N802
                fake.flushes += 1
                self._send(200, {"attempts": []})

            def log_message(self, *args) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


LOWER_HEX = {"mistake": "sign.lower-hex", "rule": "The sign is upper-case hex MD5.", "clause": "3.3; profile rule (d)",
             "severity": "error", "param": "sign", "message": "sign is lower-case hex",
             "hint": "Upper-case the MD5 hex digest before sending it."}
PLAIN_MOBILE = {"mistake": "encryption.plaintext", "rule": "Mobile is 3DES-encrypted with KEY.",
                "clause": "4.2.4 Mobile row", "severity": "error", "param": "Mobile",
                "message": "Mobile sent in plain text", "hint": "Encrypt Mobile with TripleDes(value, KEY)."}
STYLE = {"mistake": "params.unknown", "rule": "Only the page's parameters.", "clause": "4.2.4", "severity": "warning",
         "param": "foo", "message": "unknown parameter foo", "hint": "Drop foo."}
MEMO = "110101199003071234^张三^13800138000^1^1"


def clean_run(fake: FakeAdmin) -> None:
    """Journal and outbox of an OTA that shows every deposit flow correctly."""
    fake.add("GetProducts.aspx")
    fake.add("GetProductsInventory.aspx", values={"StartDate": "20261125", "EndDate": "20261130"})
    fake.add("OrderProducts.aspx", values={"Memo": MEMO, "senderid": "OTA-1", "Mobile": "13800138000"})
    fake.add("UseAccountToPayByPwd.aspx", values={"Order_id": "A1"})
    fake.add("CancelOrder.aspx", values={"Order_id": "A1"})
    fake.add("CancelOrder.aspx", values={"Order_id": "A2"})
    fake.add("QueryOrder.aspx", values={"order_id": "A1"})
    fake.orders.update({"A1": {"orderid": "A1", "status": "4", "pay_type": "deposit", "fees": "0.00"},
                        "A2": {"orderid": "A2", "status": "4", "pay_type": "deposit", "fees": "20.00"}})
    fake.callbacks.append({"id": 1, "agent": AGENT, "orderid": "A1", "page": "Notify_OrderChanged.aspx",
                           "params": {"orderid": "A1", "senderid": "OTA-1", "status": "0"}, "event_at": "20261121100000",
                           "state": "delivered", "attempts_log": [{"at": "20261121100001", "url": "http://x/cb",
                                                                   "http_status": 200, "retcode": "0", "error": "",
                                                                   "duration_ms": 3}]})


def certify(fake: FakeAdmin, out: Path, *extra: str) -> int:
    return main(["certify-ota", "--mock", fake.url, "--admin-token", TOKEN, "--agent", AGENT, "--pay-types", "deposit",
                 "--report", str(out), *extra])


def test_a_clean_journal_is_certified_and_the_certificate_verifies(tmp_path, capsys):
    with FakeAdmin() as fake:
        clean_run(fake)
        code = certify(fake, tmp_path / "c", "--no-wait")
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    assert doc["verdict"] == "certified" and doc["reasons"] == []
    flows = {f["id"]: f for f in doc["flows"]}
    assert flows["pay-rebate"]["verdict"] == "not_selected" and flows["pay-instant"]["verdict"] == "not_selected"
    assert flows["callback-checked"]["verdict"] == "not_shown"
    assert flows["cancel-free"]["steps"][0]["evidence"][0]["entry"] == 5
    assert flows["cancel-with-fee"]["steps"][0]["evidence"][0]["entry"] == 6
    ev = flows["book-real-name"]["steps"][0]["evidence"][0]
    assert ev["curl"].startswith("curl -s") and "OrderProducts.aspx" in ev["curl"] and ["senderid", "OTA-1"] in ev["params"]
    assert doc["supplier"]["world"] == "scenic.yaml" and doc["plan"]["id"] == "ybx-ota-default"
    html = (tmp_path / "c" / "index.html").read_text(encoding="utf-8")
    assert "CERTIFIED" in html and fingerprint(doc) in html and "<script" not in html
    assert main(["verify-certificate", str(tmp_path / "c")]) == 0
    assert main(["verify-certificate", str(tmp_path / "c"), "--fingerprint", fingerprint(doc)]) == 0
    assert main(["verify-certificate", str(tmp_path / "c"), "--fingerprint", "0" * 64]) == 1


def test_mistakes_fail_the_certificate_each_named_with_its_hint(tmp_path, capsys):
    with FakeAdmin() as fake:
        clean_run(fake)
        # a booking accepted but signed in lower-case hex, a refused one with a plaintext mobile, a warning
        fake.add("OrderProducts.aspx", values={"Memo": MEMO, "senderid": "OTA-2"}, findings=[LOWER_HEX])
        fake.add("OrderProducts.aspx", retcode="-1", values={"Mobile": "13800138000"}, findings=[PLAIN_MOBILE])
        fake.add("GetProducts.aspx", findings=[STYLE, LOWER_HEX])
        code = certify(fake, tmp_path / "c", "--no-wait")
    out = capsys.readouterr().out
    assert code == 1
    assert "fix: Upper-case the MD5 hex digest" in out and "fix: Encrypt Mobile" in out
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    assert doc["verdict"] == "not certified"
    mistakes = {m["mistake"]: m for m in doc["mistakes"]}
    assert mistakes["sign.lower-hex"]["count"] == 2 and mistakes["sign.lower-hex"]["entries"] == [8, 10]
    assert mistakes["encryption.plaintext"]["hint"] == PLAIN_MOBILE["hint"]
    assert mistakes["params.unknown"]["severity"] == "warning"
    assert [m["mistake"] for m in doc["mistakes"]][-1] == "params.unknown"  # warnings after errors
    assert any("sign.lower-hex" in r and "Upper-case" in r for r in doc["reasons"])
    assert not any("params.unknown" in r for r in doc["reasons"])  # a warning never blocks
    html = (tmp_path / "c" / "index.html").read_text(encoding="utf-8")
    for needle in ("NOT CERTIFIED", "sign.lower-hex", PLAIN_MOBILE["hint"], LOWER_HEX["rule"], PLAIN_MOBILE["clause"]):
        assert needle in html


def test_a_flow_shown_only_with_mistakes_or_not_at_all_fails(tmp_path):
    with FakeAdmin() as fake:
        clean_run(fake)
        fake.journal[3]["findings"] = [LOWER_HEX]  # the only deposit payment
        fake.orders["A2"]["fees"] = "0.00"  # no cancellation carried a fee
        fake.callbacks[0]["attempts_log"][0].update(retcode="1")  # the OTA's page refused the callback
        code = certify(fake, tmp_path / "c", "--no-wait")
    assert code == 1
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    flows = {f["id"]: f for f in doc["flows"]}
    assert flows["pay-deposit"]["verdict"] == "failed" and "only by requests with mistakes" in flows["pay-deposit"]["message"]
    fee = flows["cancel-with-fee"]
    assert fee["verdict"] == "failed" and "expected a fee" in fee["message"]
    assert {e["entry"] for e in fee["steps"][0]["evidence"]} == {5, 6}
    cb = flows["callback-order-changed"]
    assert cb["verdict"] == "failed" and "none answered retcode 0" in cb["message"]
    assert flows["cancel-free"]["verdict"] == "passed"


def test_verify_certificate_detects_an_edited_certificate(tmp_path, capsys):
    with FakeAdmin() as fake:
        fake.add("GetProducts.aspx", findings=[LOWER_HEX])
        assert certify(fake, tmp_path / "c", "--no-wait") == 1
    path = tmp_path / "c" / "certificate.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    # whitespace is not content: re-indented, the canonical form and the fingerprint stay
    path.write_text(json.dumps(doc, indent=4, ensure_ascii=True), encoding="utf-8")
    assert main(["verify-certificate", str(tmp_path / "c")]) == 0
    doc["verdict"], doc["reasons"] = "certified", []
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    assert main(["verify-certificate", str(tmp_path / "c")]) == 1
    assert "certificate.json was changed after it was issued" in capsys.readouterr().err


def test_an_edited_page_is_detected_too(tmp_path, capsys):
    with FakeAdmin() as fake:
        fake.add("GetProducts.aspx", findings=[LOWER_HEX])
        certify(fake, tmp_path / "c", "--no-wait")
    page = tmp_path / "c" / "index.html"
    page.write_text(page.read_text(encoding="utf-8").replace("NOT CERTIFIED", "CERTIFIED"), encoding="utf-8")
    capsys.readouterr()
    assert main(["verify-certificate", str(tmp_path / "c")]) == 1
    assert "index.html differs" in capsys.readouterr().err
