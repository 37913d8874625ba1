"""Instant payment (即时支付, 4.1.5, 2.16.3) on the supplier side: payment attempts started by
BeginToPay, the payment platform's answers (4.2.22 notify pages, a simulated payment page,
supplier events) and the refund records of instant-paid orders (4.2.16, 4.2.28, 4.2.52, 4.2.53).

Money paid instantly goes to the supplier's own account through the platform (2.5, line 212),
so nothing here touches an agent's deposit or rebate account."""

from __future__ import annotations

import html
import json
import logging
import sqlite3
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import parse_qsl

from lxml import etree
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from spec import crypto
from spec.errors import EncryptionError, StateError, YbxError
from spec.fees import quote
from spec.model import FeeItem
from spec.signing import verify_request_sign

from . import delivery, machine
from .context import Mock
from .events import EventError, supplier_event
from .handlers import orders
from .store import money, register_schema

log = logging.getLogger("ybx.mock.instant")

register_schema(
    """
CREATE TABLE IF NOT EXISTS payments(
  token TEXT PRIMARY KEY, orderid TEXT NOT NULL, channel TEXT NOT NULL, amount TEXT NOT NULL,
  state TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS payments_order ON payments(orderid, created_at);
CREATE TABLE IF NOT EXISTS instant_refunds(
  id INTEGER PRIMARY KEY AUTOINCREMENT, orderid TEXT NOT NULL, state TEXT NOT NULL, amount TEXT NOT NULL,
  fee TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, completed_at TEXT,
  revoke_reason TEXT NOT NULL DEFAULT '', paid_status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS instant_refunds_order ON instant_refunds(orderid, id);
""",
    ("payments", "instant_refunds"),
)

# Payment attempt states (the mock's own bookkeeping, not interface values).
PENDING, SUCCEEDED, FAILED, SUPERSEDED, EXPIRED = "pending", "success", "failed", "superseded", "expired"
# A withdrawn refund record; other record states are the order status codes of the refund path (7, 8, A, B).
REVOKED = "revoked"
CLOSED = "4"  # order status 已关闭 (2.2)
PAY_PATH = "/_pay/{orderid}"


def pay_url(orderid: str) -> str:
    """Where the simulated payment page of an order is served (BeginToPay has no response body to carry it)."""
    return PAY_PATH.format(orderid=orderid)


# ---------------------------------------------------------------- payment attempts

def past_deadline(mock: Mock, order: sqlite3.Row) -> bool:
    """The order's pay deadline (paytimeout, 4.2.4) has passed, or the order was closed for passing it."""
    deadline = order["pay_deadline"]
    if not deadline:
        return False
    if order["status"] == mock.spec.initial_status:
        return mock.now() >= machine.parse_stamp(deadline, mock)
    return order["status"] == CLOSED and bool(order["closed_at"]) and order["closed_at"] >= deadline


def time_out(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row) -> None:
    """Close a booked order whose pay deadline passed (event pay_timeout, gap begintopay-2008-who-closes)."""
    if order["status"] == mock.spec.initial_status:
        orders.close(mock, db, order, "pay_timeout", None)
    db.execute("UPDATE payments SET state=? WHERE orderid=? AND state=?", (EXPIRED, order["orderid"], PENDING))


def start(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, channel: str) -> str:
    """Record a new payment attempt for the order total; an earlier unanswered attempt is superseded."""
    orderid = order["orderid"]
    db.execute("UPDATE payments SET state=? WHERE orderid=? AND state=?", (SUPERSEDED, orderid, PENDING))
    count = db.execute("SELECT COUNT(*) AS n FROM payments WHERE orderid=?", (orderid,)).fetchone()["n"]
    token = f"{orderid}-{count + 1:02d}"
    db.execute("INSERT INTO payments(token, orderid, channel, amount, state, created_at) VALUES(?,?,?,?,?,?)",
               (token, orderid, channel, str(money(order["total"])), PENDING, machine.stamp(mock.now())))
    return token


def pending(db: sqlite3.Connection, orderid: str) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM payments WHERE orderid=? AND state=? ORDER BY created_at DESC, token DESC",
                      (orderid, PENDING)).fetchone()


def _latest(db: sqlite3.Connection, orderid: str) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM payments WHERE orderid=? ORDER BY created_at DESC, token DESC",
                      (orderid,)).fetchone()


def channel_name(mock: Mock, channel_id: str) -> str:
    return next((c.name for c in mock.world.pay_channels if c.id == channel_id), "")


# ---------------------------------------------------------------- refund records

def open_refund(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, reason: str) -> sqlite3.Row:
    """A whole-order refund record: the paid amount less the default fee at this moment (4.2.16, 2.6)."""
    now = mock.now()
    fee = machine.order_fee(mock, db, order, now)
    amount = max(money(order["paid"]) - fee, Decimal("0.00"))
    db.execute("UPDATE orders SET fees=?, refund=? WHERE orderid=?", (str(fee), str(amount), order["orderid"]))
    cur = db.execute("INSERT INTO instant_refunds(orderid, state, amount, fee, reason, created_at, paid_status) "
                     "VALUES(?,?,?,?,?,?,?)", (order["orderid"], "7", str(amount), str(fee), reason,
                                               machine.stamp(now), paid_status(db, order)))
    return db.execute("SELECT * FROM instant_refunds WHERE id=?", (cur.lastrowid,)).fetchone()


def paid_status(db: sqlite3.Connection, order: sqlite3.Row) -> str:
    """5 or 6: where a revoked application returns to. After a rejected refund (A) the order is
    still paid, so the status the first application left from is kept."""
    if order["status"] in ("5", "6"):
        return order["status"]
    row = db.execute("SELECT paid_status FROM instant_refunds WHERE orderid=? ORDER BY id DESC",
                     (order["orderid"],)).fetchone()
    return row["paid_status"] if row else "6"


def open_record(db: sqlite3.Connection, orderid: str) -> sqlite3.Row | None:
    """The refund record still in progress (applied or approved)."""
    return db.execute("SELECT * FROM instant_refunds WHERE orderid=? AND state IN ('7', '8') ORDER BY id DESC",
                      (orderid,)).fetchone()


def close_record(mock: Mock, db: sqlite3.Connection, orderid: str, state: str, note: str = "") -> None:
    """Move the open refund record on; a withdrawn or rejected one refunds nothing and keeps no fee."""
    record = open_record(db, orderid)
    if record is not None:
        done = machine.stamp(mock.now()) if state == "B" else None
        db.execute("UPDATE instant_refunds SET state=?, completed_at=?, revoke_reason=? WHERE id=?",
                   (state, done, note, record["id"]))
    if state in (REVOKED, "A"):
        db.execute("UPDATE orders SET fees='0.00', refund='0.00' WHERE orderid=?", (orderid,))


def fee_item(mock: Mock, product_id: str, price: Decimal, order: sqlite3.Row, at: Any) -> FeeItem | None:
    """The feeitem (rule h) that applied to one ticket at `at`, for the calculation basis of a record."""
    product = mock.world.product(product_id)
    if product is None or not mock.world.supplier.feemode:
        return None
    reference = machine.fee_reference(mock, order)  # the scene start for theater orders (rule h)
    return quote(product.feeitems, money(price), reference, at, mock.profile.fee_bands).item


# ---------------------------------------------------------------- what the platform and finance do

def find(db: sqlite3.Connection, orderid: str) -> sqlite3.Row:
    """Any agent's order: the supplier's staff and the platform see them all."""
    order = db.execute("SELECT * FROM orders WHERE orderid=?", (orderid,)).fetchone()
    if order is None:
        raise EventError(f"no order {orderid}", status=404)
    return order


def move(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, event: str, **kwargs: Any) -> str:
    """Fire a supplier-side event; an impossible one is an `EventError`. Returns the new status."""
    try:
        return machine.fire(mock, db, order, event, **kwargs).target
    except StateError as exc:
        raise EventError(exc.detail) from None


def _result(mock: Mock, orderid: str, **extra: Any) -> dict[str, Any]:
    with mock.store.reading() as db:
        order = find(db, orderid)
    return {"orderid": orderid, "status": order["status"], **extra}


def pay_succeeded(mock: Mock, orderid: str) -> dict[str, Any]:
    """The platform reports the order's pending payment as paid (event pay_instant_success)."""
    expired = False
    with mock.store.transaction() as db:
        order = find(db, orderid)
        attempt = pending(db, orderid)
        if attempt is None:
            raise EventError(f"order {orderid} has no payment started by BeginToPay.aspx")
        if past_deadline(mock, order):
            time_out(mock, db, order)
            expired = True
        else:
            target = "5" if mock.world.supplier.payment_approval else "6"
            move(mock, db, order, "pay_instant_success", target=target, pay_type="instant")
            db.execute("UPDATE orders SET paid=total, pay_channel=? WHERE orderid=?", (attempt["channel"], orderid))
            db.execute("UPDATE payments SET state=? WHERE token=?", (SUCCEEDED, attempt["token"]))
    if expired:
        raise EventError(f"order {orderid} passed its pay deadline and is closed; the payment cannot succeed")
    return _result(mock, orderid, **activate_directly(mock, orderid))


def pay_failed(mock: Mock, orderid: str) -> dict[str, Any]:
    """The platform reports TRADE_FAIL: the order stays booked and may be paid again."""
    with mock.store.transaction() as db:
        order = find(db, orderid)
        attempt = pending(db, orderid)
        if attempt is None:
            raise EventError(f"order {orderid} has no payment started by BeginToPay.aspx")
        move(mock, db, order, "pay_instant_fail")  # no pay_type: the order is not committed to instant payment
        db.execute("UPDATE payments SET state=? WHERE token=?", (FAILED, attempt["token"]))
    return _result(mock, orderid)


def activate_directly(mock: Mock, orderid: str) -> dict[str, Any]:
    """With 直接激活 (payandactive) an approved payment is activated in a transaction of its own
    (4.2.22, line 4958): a failed activation leaves the payment standing, to be redone by hand."""
    if not mock.world.supplier.payandactive:
        return {}
    try:
        with mock.store.transaction() as db:
            order = find(db, orderid)
            if order["status"] != "6":
                return {}
            delivery.deliver(mock, db, order, "activate")
    except YbxError as exc:
        log.warning("activation of %s after payment failed: %s", orderid, exc)
        return {"activated": False, "activation_error": exc.detail or exc.key}
    return {"activated": True}


def finance(mock: Mock, orderid: str, event: str, record_state: str | None = None) -> dict[str, Any]:
    """A finance decision on a payment or refund; `record_state` moves the open refund record along."""
    with mock.store.transaction() as db:
        order = find(db, orderid)
        move(mock, db, order, event)
        if record_state:
            close_record(mock, db, orderid, record_state)
    extra = activate_directly(mock, orderid) if event == "approve_payment" else {}
    return _result(mock, orderid, **extra)


def _orderid(body: Mapping[str, Any]) -> str:
    orderid = str(body.get("orderid") or "").strip()
    if not orderid:
        raise EventError("orderid is required", status=400)
    return orderid


@supplier_event("payment-success", '{"orderid": "..."}',
                "The payment platform reports the order's pending payment (BeginToPay) as paid: status 6, or 5 when "
                "the supplier requires payment approval; activated at once when payandactive is set.")
def payment_success(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return pay_succeeded(mock, _orderid(body))


@supplier_event("payment-failure", '{"orderid": "..."}',
                "The payment platform reports the pending payment as failed (TRADE_FAIL); the order stays 0.")
def payment_failure(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return pay_failed(mock, _orderid(body))


@supplier_event("approve-payment", '{"orderid": "..."}', "Finance approves a platform payment (收款核准): 5 -> 6.")
def approve_payment(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return finance(mock, _orderid(body), "approve_payment")


@supplier_event("reject-payment", '{"orderid": "..."}', "Finance rejects a platform payment: 5 -> 9.")
def reject_payment(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return finance(mock, _orderid(body), "reject_payment")


@supplier_event("approve-refund", '{"orderid": "..."}',
                "Finance approves the refund application (退款核准): 7 -> 8; it can no longer be revoked.")
def approve_refund(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return finance(mock, _orderid(body), "approve_refund", "8")


@supplier_event("reject-refund", '{"orderid": "..."}',
                "Finance rejects the refund application: 7 -> A; the order stays paid and may apply again.")
def reject_refund(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return finance(mock, _orderid(body), "reject_refund", "A")


@supplier_event("refund-paid", '{"orderid": "..."}',
                "The approved refund (paid amount less the fee) is paid back through the platform: 8 -> B.")
def refund_paid(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return finance(mock, _orderid(body), "refund_done", "B")


# ---------------------------------------------------------------- the platform's notify pages (4.2.22)

ALIPAY_PAGE = "notify_Payback_url.aspx"
WECHAT_PAGE = "WeChatNotify.aspx"
WECHAT_OK = "SUCCESS"  # 同时为“SUCCESS”时表示交易成功 (line 5029)
_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _spec_value(mock: Mock, page: str, param: str, value: str) -> str:
    """A value of a closed value set, checked against the spec so a typo cannot drift from it."""
    values = mock.spec.page(page).param(param).values
    if value not in values:
        raise LookupError(f"{page} {param} has no value {value!r}")
    return value


def _platform_payment(mock: Mock, orderid: str, success: bool) -> None:
    """Apply a payment notice; a repeated notice for an attempt already settled the same way is
    acknowledged again without a change (platforms resend until acknowledged)."""
    with mock.store.reading() as db:
        latest = _latest(db, orderid)
        if latest is not None and latest["state"] == (SUCCEEDED if success else FAILED):
            return
    (pay_succeeded if success else pay_failed)(mock, orderid)


def _platform_refund(mock: Mock, orderid: str) -> None:
    with mock.store.reading() as db:
        if find(db, orderid)["status"] == "B":
            return
    finance(mock, orderid, "refund_done", "B")


def _alipay_agent(mock: Mock, netdh: str) -> tuple[Any, str]:
    """The agent whose KEY decrypts NETDH to one of its orders (the spec names no platform key)."""
    for agent in mock.world.agents:
        try:
            orderid = crypto.decrypt(netdh, agent.key, mock.profile.cipher)
        except EncryptionError:
            continue
        with mock.store.reading() as db:
            if machine.load(db, orderid, agent.user) is not None:
                return agent, orderid
    raise EventError("NETDH is not TripleDes(order number, KEY) of any agent's order", status=400)


def alipay_notify(mock: Mock, raw: list[tuple[str, str]]) -> None:
    """notify_Payback_url.aspx / notify_url.aspx: NETDH, STATUS, OpType 3DES-encrypted with the
    ordering agent's KEY, signed by the profile's request-sign rule with the same KEY."""
    wire = {k.lower(): v for k, v in reversed(raw)}
    agent, orderid = _alipay_agent(mock, wire.get("netdh", ""))
    if not mock.fault("accept-bad-sign") and not verify_request_sign(raw, agent.key, mock.profile.sign):
        raise EventError("Sign is missing or wrong", status=400)
    try:
        status = crypto.decrypt(wire.get("status", ""), agent.key, mock.profile.cipher)
        op_type = crypto.decrypt(wire.get("optype", ""), agent.key, mock.profile.cipher)
    except EncryptionError:
        raise EventError("STATUS and OpType must be TripleDes(value, KEY)", status=400) from None
    success = status == _spec_value(mock, ALIPAY_PAGE, "STATUS", "TRADE_SUCCESS")
    if not success and status != _spec_value(mock, ALIPAY_PAGE, "STATUS", "TRADE_FAIL"):
        raise EventError(f"unknown STATUS {status!r}", status=400)
    if op_type == _spec_value(mock, ALIPAY_PAGE, "OpType", "0"):
        _platform_payment(mock, orderid, success)
    elif op_type == _spec_value(mock, ALIPAY_PAGE, "OpType", "1"):
        if success:  # a failed refund leaves the order where finance put it
            _platform_refund(mock, orderid)
    else:
        raise EventError(f"unknown OpType {op_type!r}", status=400)


def _xml_fields(body: bytes) -> dict[str, str]:
    try:
        root = etree.fromstring(body, _XML)
    except etree.XMLSyntaxError:
        raise EventError("the body is not XML", status=400) from None
    return {child.tag: (child.text or "").strip() for child in root if isinstance(child.tag, str)}


def _fen(order: sqlite3.Row) -> int:
    return int(money(order["total"]) * 100)


def wechat_notify(mock: Mock, body: bytes) -> None:
    """WeChatNotify.aspx: the order is `attach`; success needs return_code and result_code SUCCESS;
    total_fee (fen) must match the order. A notice for an order whose refund was approved (8) is
    the refund's result, since the page has no field telling the two apart."""
    fields = _xml_fields(body)
    orderid = fields.get("attach", "")
    with mock.store.reading() as db:
        order = find(db, orderid)
    success = fields.get("return_code") == WECHAT_OK and fields.get("result_code") == WECHAT_OK
    if order["status"] == "8":
        if success:
            _platform_refund(mock, orderid)
        return
    if success and fields.get("total_fee", "") not in ("", str(_fen(order))):
        raise EventError(f"total_fee {fields['total_fee']} is not the order total {_fen(order)} fen", status=400)
    _platform_payment(mock, orderid, success)


def _wechat_answer(ok: bool, message: str) -> Response:
    code = WECHAT_OK if ok else "FAIL"
    body = (f"<xml><return_code><![CDATA[{code}]]></return_code>"
            f"<return_msg><![CDATA[{message.replace(']]>', '')}]]></return_msg></xml>")
    return Response(body, media_type="text/xml")


# ---------------------------------------------------------------- the simulated payment page

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Pay order {orderid}</title></head>
<body><h1>Simulated payment platform</h1>
<p>Order <b>{orderid}</b>: {amount} yuan through {channel} (attempt {token}).</p>
<form method="post"><button name="result" value="success">Pay</button>
<button name="result" value="failure">Fail the payment</button></form></body></html>"""


def _pay_page(mock: Mock, orderid: str) -> Response:
    with mock.store.reading() as db:
        attempt = pending(db, orderid)
    if attempt is None:
        return HTMLResponse(f"<p>No payment is pending for order {html.escape(orderid)}.</p>", status_code=404)
    return HTMLResponse(_PAGE.format(orderid=html.escape(orderid), amount=attempt["amount"], token=attempt["token"],
                                     channel=html.escape(channel_name(mock, attempt["channel"]) or attempt["channel"])))


def _pay_result(mock: Mock, orderid: str, body: bytes, content_type: str) -> Response:
    try:
        data = json.loads(body or b"{}") if "json" in content_type else dict(parse_qsl(body.decode("utf-8")))
    except (ValueError, UnicodeDecodeError):
        return JSONResponse({"error": "the body is neither JSON nor a form"}, status_code=400)
    result = str(data.get("result", "")) if isinstance(data, dict) else ""
    if result not in ("success", "failure"):
        return JSONResponse({"error": 'result must be "success" or "failure"'}, status_code=400)
    try:
        outcome = (pay_succeeded if result == "success" else pay_failed)(mock, orderid)
    except EventError as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    return JSONResponse(dict(outcome))


def _raw_params(request: Request, body: bytes) -> list[tuple[str, str]]:
    raw = parse_qsl(request.scope.get("query_string", b"").decode("utf-8", "replace"), keep_blank_values=True)
    if request.method == "POST" and body:
        raw += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return raw


def notify_routes(mock: Mock) -> list[Route]:
    """Routes the payment platform calls (4.2.22) and the simulated payment page; the platform is
    not an agent, so these bypass the request pipeline."""

    async def alipay(request: Request) -> Response:
        raw = _raw_params(request, await request.body())
        try:
            await run_in_threadpool(alipay_notify, mock, raw)
        except EventError as exc:
            log.warning("Alipay notice refused: %s", exc)
            return PlainTextResponse("fail")
        return PlainTextResponse("success")  # Alipay stops resending on this text

    async def wechat(request: Request) -> Response:
        try:
            await run_in_threadpool(wechat_notify, mock, await request.body())
        except EventError as exc:
            log.warning("WeChat notice refused: %s", exc)
            return _wechat_answer(False, str(exc))
        return _wechat_answer(True, "OK")

    async def pay_page(request: Request) -> Response:
        orderid = request.path_params["orderid"]
        if request.method == "GET":
            return await run_in_threadpool(_pay_page, mock, orderid)
        body = await request.body()
        return await run_in_threadpool(_pay_result, mock, orderid, body, request.headers.get("content-type", ""))

    alipay_paths = [f"/{name}" for name in (ALIPAY_PAGE, *mock.spec.page(ALIPAY_PAGE).aliases)]
    return [
        *(Route(path, alipay, methods=["GET", "POST"]) for path in alipay_paths),
        Route(f"/{WECHAT_PAGE}", wechat, methods=["POST"]),
        Route(PAY_PATH, pay_page, methods=["GET", "POST"]),
    ]

