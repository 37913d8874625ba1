"""`ybx-conform certify-ota`: plan loading, flow judging against a journal, the certificate and
its fingerprint. The journal side is a fake admin API serving the journal contract here."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree as ET

import httpx
import pytest
from Crypto.Cipher import DES3
from Crypto.Util.Padding import pad

from conformance.cli import main
from conformance.plan import PlanError, load_plan, parse_plan
from livemock import live_mock
from mockkit import DEMO
from receiver import Receiver, free_port
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


def test_each_value_condition_can_fail(spec):
    from conformance.plan import ValueCondition

    memo = next(f for f in spec.formats if f.id == "memo_records").pattern
    cases = [(ValueCondition("senderid", present=True), {"SenderID": "x"}, {"senderid": ""}),
             (ValueCondition("senderid", present=False), {}, {"senderid": "x"}),
             (ValueCondition("smsModel", equals="0"), {"smsModel": "0"}, {"smsModel": "1"}),
             (ValueCondition("Mobile", matches=r"^1\d{10}$"), {"Mobile": "13800138000"}, {"Mobile": "abc"}),
             (ValueCondition("Memo", format="memo_records", format_pattern=memo), {"Memo": MEMO}, {"Memo": "张三"})]
    for cond, good, bad in cases:
        assert cond.test(good) is None and cond.test(bad), cond


# ---------------------------------------------------------------- a fake journal (the admin API contract)

@dataclass
class FakeAdmin:
    """Serves /_admin, /_admin/agents, /_admin/journal, /_admin/callbacks, /_admin/orders/{id}."""

    journal: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    flushes: int = 0
    served: list[str] = field(default_factory=list)
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
        self.served.append(path)
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


def test_only_the_agents_own_orders_count(tmp_path):
    with FakeAdmin() as fake:
        clean_run(fake)
        fake.orders["A2"]["agent"] = "other-ota"  # the fee-charged cancellation names someone else's order
        assert certify(fake, tmp_path / "c", "--no-wait") == 1
    flows = {f["id"]: f for f in json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))["flows"]}
    assert flows["cancel-with-fee"]["verdict"] == "failed" and "has no order A2" in flows["cancel-with-fee"]["message"]


def test_order_conditions_and_a_wrongly_shown_optional_flow_fail(tmp_path):
    with FakeAdmin() as fake:
        clean_run(fake)
        fake.orders["A1"]["pay_type"] = ""  # closed before it was paid: no proof of the free band
        fake.orders["A2"]["status"] = "2"  # still authorised: not cancelled
        fake.callbacks.append({**fake.callbacks[0], "id": 2, "page": "Notify_Checked.aspx",
                               "attempts_log": [{"at": "20261121100002", "url": "http://x/cb", "http_status": 500,
                                                 "retcode": "", "error": "HTTP 500", "duration_ms": 2}]})
        assert certify(fake, tmp_path / "c", "--no-wait") == 1
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    flows = {f["id"]: f for f in doc["flows"]}
    whys = {f: [e["why"] for e in flows[f]["steps"][0]["evidence"]] for f in ("cancel-free", "cancel-with-fee")}
    assert flows["cancel-free"]["verdict"] == "failed" and flows["cancel-with-fee"]["verdict"] == "failed"
    assert "order A1 was paid by nothing, not deposit/rebate" in whys["cancel-free"]
    assert "order A2 is in status 2, not 4" in whys["cancel-with-fee"]
    assert flows["callback-checked"]["verdict"] == "failed" and "HTTP 500" in flows["callback-checked"]["message"]
    assert any(r.startswith("flow callback-checked") for r in doc["reasons"])


def test_unknown_pay_types_are_a_usage_error(tmp_path, capsys):
    with FakeAdmin() as fake:
        code = main(["certify-ota", "--mock", fake.url, "--admin-token", TOKEN, "--agent", AGENT,
                     "--pay-types", "deposit,cash", "--no-wait", "--report", str(tmp_path / "c")])
    assert code == 2 and "unknown payment types: cash" in capsys.readouterr().err


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


def test_live_mode_guides_flow_by_flow_and_ignores_what_came_before(tmp_path, capsys):
    results: dict[str, int] = {}
    with FakeAdmin() as fake:
        fake.add("GetProducts.aspx", findings=[LOWER_HEX])  # before the run: not this run's
        runner = threading.Thread(target=lambda: results.update(code=certify(fake, tmp_path / "c", "--wait", "20")))
        runner.start()
        deadline = time.monotonic() + 20
        while "/_admin/callbacks" not in fake.served and time.monotonic() < deadline:
            time.sleep(0.05)  # certify-ota has taken its starting point (journal, then outbox)
        clean_run(fake)
        fake.add("OrderProducts.aspx", retcode="-1", values={"Mobile": "13800138000"}, findings=[STYLE])
        runner.join(60)
    out = capsys.readouterr().out
    assert results["code"] == 0, out
    assert "Flow 1/9 — browse products:" in out and "Flow 9/9 — receive order-change callbacks" in out
    assert out.count("✓ passed") >= 9 and "fix: Drop foo." in out
    assert fake.flushes > 0  # callbacks were asked for while their flow was waiting
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    assert doc["mode"] == "live" and doc["window"]["first_entry"] == 2
    assert [m["mistake"] for m in doc["mistakes"]] == ["params.unknown"]


def test_live_mode_fails_a_flow_not_shown_within_its_wait(tmp_path, capsys):
    with FakeAdmin() as fake:
        started = time.monotonic()
        code = certify(fake, tmp_path / "c", "--wait", "0.2")
    out = capsys.readouterr().out
    assert code == 1 and time.monotonic() - started < 30
    assert "not shown within 0.2 s" in out
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    assert {f["verdict"] for f in doc["flows"] if not f["optional"] and f["verdict"] != "not_selected"} == {"failed"}
    assert any("flow browse-products" in r for r in doc["reasons"])


# ---------------------------------------------------------------- an OTA of its own, against the real mock

class OtaClient:
    """An integrator's client written from the manual alone (not the project's protocol code), with
    switchable mistakes: lower-case hex sign, plaintext mobile, no senderid."""

    def __init__(self, base: str, user: str, password: str, key: str, pay_password: str, *,
                 lower_hex: bool = False, plain_mobile: bool = False, senderid: bool = True, retry: bool = False, tag: str = "OTA"):
        self.tag = tag  # this client's order numbers (senderid) start with it
        self.base, self.user, self.password, self.key, self.pay_password = base, user, password, key, pay_password
        self.lower_hex, self.plain_mobile, self.senderid, self.retry = lower_hex, plain_mobile, senderid, retry
        self.http = httpx.Client(timeout=10)
        self.seq = 0

    def des(self, text: str) -> str:
        key = (self.key + "0" * 24)[:24].encode("utf-8")
        return base64.b64encode(DES3.new(key, DES3.MODE_ECB).encrypt(pad(text.encode("utf-8"), 8))).decode()

    def pwd(self, secret: str) -> str:
        return self.des(hashlib.md5(secret.encode("utf-8")).hexdigest().upper())

    def call(self, page: str, params: dict[str, str], *, user_name: str = "User") -> ET.Element:
        pairs = {user_name: self.user, "password": self.pwd(self.password), **params}
        text = "&".join(f"{k.lower()}={v}" for k, v in sorted(pairs.items(), key=lambda kv: kv[0].lower()) if v != "")
        digest = hashlib.md5((text + self.key).encode("utf-8")).hexdigest()
        pairs["sign"] = digest if self.lower_hex else digest.upper()
        return ET.fromstring(self.http.get(f"{self.base}/{page}", params=pairs).content)

    def book(self, day: str, idno: str, name: str) -> str | None:
        self.seq += 1
        mobile = "13800138000"
        params = {"Order_list": "P1003|1", "Mobile": mobile if self.plain_mobile else self.des(mobile),
                  "ID": self.des(idno), "SXRQ": self.des(day), "timespanindex": "-1",
                  "Memo": self.des(f"{idno}^{name}^{mobile}^1^1")}
        if self.senderid:
            params["senderid"] = f"{self.tag}-{day}-{self.seq}"
        root = self.call("OrderProducts.aspx", params, user_name="user")
        if self.retry:  # as after a lost answer: the same booking sent again
            root = self.call("OrderProducts.aspx", params, user_name="user")
        return root.findtext("Item/orderid") if root.findtext("retcode") == "0" else None

    def pay_and_cancel(self, orderid: str) -> None:
        self.call("UseAccountToPayByPwd.aspx", {"Order_id": orderid, "money": "120.00",
                                                "Smscode": self.pwd(self.pay_password), "smsModel": "0"}, user_name="user")
        self.call("CancelOrder.aspx", {"Order_id": orderid})

    def run(self, callback_url: str) -> None:
        """Every flow of the default plan for an OTA paying by deposit."""
        self.call("SetAgentParameters.aspx", {"responseaddr": callback_url, "sendofficiallysnotify": "1"}, user_name="user")
        self.call("GetProducts.aspx", {})
        self.call("GetProductsInventory.aspx", {"StartDate": "20261125", "EndDate": "20261130"})
        for day, idno, name in (("20261201", "110101199003071234", "张三"), ("20261122", "110101199105082345", "李四")):
            orderid = self.book(day, idno, name)
            if orderid:
                self.call("QueryOrder.aspx", {"order_id": orderid}, user_name="user")
                self.pay_and_cancel(orderid)  # 10 days ahead: free; tomorrow: inside the fee band


def _delivered(live) -> None:
    """Wait until the mock has delivered every callback it queued (its background loop sends them)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        queue = httpx.get(f"{live.admin_url}/callbacks", headers={"X-Admin-Token": live.token}).json()
        if all(item["state"] != "pending" for item in queue):
            return
        time.sleep(0.2)


def _certify_live(live, out: Path, *extra: str) -> int:
    return main(["certify-ota", "--mock", live.base_url, "--admin-token", live.token, "--agent", DEMO.user,
                 "--pay-types", "deposit", "--report", str(out), *extra])


def _client(live, **mistakes) -> OtaClient:
    return OtaClient(live.base_url, DEMO.user, DEMO.password, DEMO.key, DEMO.pay_password, **mistakes)


def test_a_sloppy_ota_is_not_certified_and_each_mistake_is_named_with_its_fix(spec, tmp_path, capsys):
    with live_mock(spec, certify=True) as live, Receiver(spec.profile(), DEMO.key) as rx:
        _client(live, lower_hex=True, plain_mobile=True, senderid=False).run(f"http://127.0.0.1:{rx.port}")
        _delivered(live)
        code = _certify_live(live, tmp_path / "c", "--no-wait")
    out = capsys.readouterr().out
    assert code == 1, out
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    assert doc["verdict"] == "not certified"
    mistakes = {m["mistake"]: m for m in doc["mistakes"]}
    assert set(mistakes) == {"sign.lower-hex", "encryption.plaintext"}
    assert mistakes["encryption.plaintext"]["severity"] == "error" and mistakes["encryption.plaintext"]["params"] == ["Mobile"]
    assert mistakes["sign.lower-hex"]["count"] == doc["window"]["entries"]  # every request was signed so
    flows = {f["id"]: f for f in doc["flows"]}
    for failed in ("book-real-name", "book-with-senderid", "pay-deposit", "cancel-free", "cancel-with-fee",
                   "query-order", "callback-order-changed"):
        assert flows[failed]["verdict"] == "failed", failed
    assert flows["browse-products"]["verdict"] == "passed"  # a warning does not spoil a flow
    assert "retcode -1501" in flows["book-real-name"]["message"]
    assert "senderid missing" in flows["book-with-senderid"]["message"]  # every reason of a near miss is given
    assert any("encryption.plaintext" in r for r in doc["reasons"])
    html = (tmp_path / "c" / "index.html").read_text(encoding="utf-8")
    for m in mistakes.values():
        assert m["mistake"] in html and m["hint"].split()[0] in html and m["clause"] in html
    assert f"fix: {mistakes['encryption.plaintext']['hint']}" in out
    assert main(["verify-certificate", str(tmp_path / "c")]) == 0


def test_a_booking_retried_without_senderid_is_named(spec, tmp_path):
    with live_mock(spec, certify=True) as live, Receiver(spec.profile(), DEMO.key) as rx:
        _client(live, senderid=False, retry=True).run(f"http://127.0.0.1:{rx.port}")
        code = _certify_live(live, tmp_path / "c", "--no-wait")
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    assert code == 1 and [m["mistake"] for m in doc["mistakes"]] == ["booking.repeat-without-senderid"]
    assert doc["mistakes"][0]["count"] == 2 and doc["mistakes"][0]["hint"]
    failed = {f["id"] for f in doc["flows"] if f["verdict"] == "failed"}
    assert {"book-with-senderid", "callback-order-changed"} <= failed and "browse-products" not in failed


def test_the_same_ota_fixed_is_certified(spec, tmp_path, capsys):
    with live_mock(spec, certify=True) as live, Receiver(spec.profile(), DEMO.key) as rx:
        _client(live, retry=True).run(f"http://127.0.0.1:{rx.port}")
        _delivered(live)
        code = _certify_live(live, tmp_path / "c", "--no-wait")
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    assert doc["verdict"] == "certified" and doc["mistakes"] == []
    flows = {f["id"]: f for f in doc["flows"]}
    assert flows["cancel-with-fee"]["verdict"] == "passed" and flows["cancel-free"]["verdict"] == "passed"
    assert flows["callback-order-changed"]["steps"][0]["evidence"][0]["attempts"][0]["retcode"] == "0"
    assert "CERTIFIED" in (tmp_path / "c" / "index.html").read_text(encoding="utf-8")


def test_live_mode_waits_while_the_ota_works(spec, tmp_path, capsys):
    code: dict[str, int] = {}
    seen = ""
    with live_mock(spec, certify=True) as live, Receiver(spec.profile(), DEMO.key) as rx:
        _client(live, lower_hex=True).run(f"http://127.0.0.1:{rx.port}")  # before the run: not judged
        runner = threading.Thread(target=lambda: code.update(rc=_certify_live(live, tmp_path / "c", "--wait", "30")))
        runner.start()
        deadline = time.monotonic() + 30
        while "Flow 1/" not in seen and time.monotonic() < deadline:
            time.sleep(0.1)
            seen += capsys.readouterr().out
        _client(live, tag="OTA2").run(f"http://127.0.0.1:{rx.port}")
        runner.join(120)
    final = capsys.readouterr()
    seen += final.out
    assert code["rc"] == 0, seen + final.err
    assert "Flow 1/9 — browse products" in seen and "Flow 5/9 — pay by deposit" in seen
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    assert doc["mode"] == "live" and doc["mistakes"] == [] and doc["verdict"] == "certified"


@pytest.mark.parametrize("faults,certified", [(frozenset(), True), (frozenset({"accept-bad-sign"}), False)])
def test_callback_pages_are_certified_along(spec, tmp_path, capsys, faults, certified):
    from test_callback_pages import CallbackPage  # an OTA's callback folder, correct unless faulted

    with live_mock(spec, certify=True) as live, CallbackPage(spec, DEMO, faults) as page:
        _client(live).run(page.url)
        _delivered(live)
        code = _certify_live(live, tmp_path / "c", "--no-wait", "--callback-url", page.url,
                             "--password", DEMO.password, "--key", DEMO.key)
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    assert (code == 0) == certified and (doc["verdict"] == "certified") == certified, out
    assert doc["callback_url"] == page.url and len(doc["callback_pages"]) >= 4
    failed = [c["id"] for c in doc["callback_pages"] if c["verdict"] == "failed"]
    known = {c["params"]["orderid"] for f in doc["flows"] for s in f["steps"] for c in s["evidence"] if "callback" in c}
    assert any(o in n for c in doc["callback_pages"] for n in c["notes"] for o in known)  # the OTA's own orders
    if certified:
        assert failed == []
    else:
        assert failed and all(i.startswith("callback-page.bad-sign.") for i in failed)
        assert any(r.startswith(f"callback page check {failed[0]} failed") for r in doc["reasons"])
        assert failed[0] in (tmp_path / "c" / "index.html").read_text(encoding="utf-8")


def test_callback_url_without_credentials_is_a_usage_error(tmp_path, capsys):
    code = main(["certify-ota", "--mock", "http://127.0.0.1:9", "--admin-token", "t", "--agent", AGENT,
                 "--callback-url", "http://127.0.0.1:9/notify", "--no-wait", "--report", str(tmp_path / "r")])
    assert code == 2 and "--password and --key" in capsys.readouterr().err


def test_since_judges_only_what_came_after(spec, tmp_path):
    with live_mock(spec, certify=True) as live, Receiver(spec.profile(), DEMO.key) as rx:
        _client(live, plain_mobile=True).run(f"http://127.0.0.1:{rx.port}")
        since = httpx.get(f"{live.admin_url}/clock", headers={"X-Admin-Token": live.token}).json()["now"]
        time.sleep(0.05)
        _client(live, tag="OTA2").run(f"http://127.0.0.1:{rx.port}")
        _delivered(live)
        assert _certify_live(live, tmp_path / "all", "--no-wait") == 1  # the plaintext mobile counts
        assert _certify_live(live, tmp_path / "later", "--no-wait", "--since", since) == 0
    doc = json.loads((tmp_path / "later" / "certificate.json").read_text(encoding="utf-8"))
    assert doc["window"]["since"] == since and doc["mistakes"] == []


def test_requests_under_an_unknown_user_are_shown_on_the_certificate(spec, tmp_path, capsys):
    with live_mock(spec, certify=True) as live:
        stray = OtaClient(live.base_url, "demo-0ta", DEMO.password, DEMO.key, DEMO.pay_password)
        stray.call("GetProducts.aspx", {})
        code = _certify_live(live, tmp_path / "c", "--no-wait")
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "c" / "certificate.json").read_text(encoding="utf-8"))
    assert code == 1 and doc["mistakes"] == []  # nothing of demo-ota's own
    assert [e["agent"] for e in doc["unknown_user_requests"]] == ["demo-0ta"]
    assert "demo-0ta" in out and "demo-0ta" in (tmp_path / "c" / "index.html").read_text(encoding="utf-8")


def test_a_value_condition_says_missing_instead_of_none():
    from conformance.plan import ValueCondition

    shaped = ValueCondition("Memo", format="memo_records", format_pattern=r"\d+")
    assert shaped.test({}) == "Memo missing (it must be in the format memo_records)"
    assert shaped.test({"memo": ""}) == "Memo empty (it must be in the format memo_records)"
    assert shaped.test({"Memo": "x"}) == "Memo 'x' is not in the format memo_records"
    assert ValueCondition("Memo", matches="^a").test({}) == "Memo missing (it must match '^a')"
