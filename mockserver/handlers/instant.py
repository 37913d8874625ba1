"""Instant payment (4.2.7) and the refund of instant payments (4.2.16, 4.2.28, 4.2.52, 4.2.53).
What the payment platform and the supplier's finance do is in `mockserver.instant_pay`."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from spec.errors import BusinessError, ParamError, StateError
from spec.model import Page

from .. import descriptions, instant_pay, machine, returns
from ..context import Call, Mock, Reply
from ..store import money
from ..world import PayChannel
from . import handles
from .tickets import REFUNDED

ORDER_CHANGED = "Notify_OrderChanged.aspx"
# QueryOrderRefund's gaps that word a record
REASONS, BASIS_NAMES, DEDUCTION = "-refundreason-words", "-calculationbasis-names", "-description-format"


def pay_channel(mock: Mock, call: Call) -> PayChannel:
    """The channel asked for, by GetPayChannel's paychannelname or paychannelid (gap
    begintopay-paychannelid-name-or-code), if the agent may pay instantly at all (2.5, line 212)."""
    wanted = call.get("Paychannelid").strip()
    found = next((c for c in mock.world.pay_channels if wanted in (c.id, c.name)), None)
    if found is None or "instant" not in call.agent.pay_types:
        raise BusinessError("unsupported_pay_method", f"channel {wanted!r} is not offered to {call.agent.user}")
    return found


def check_payable(db: sqlite3.Connection, order: sqlite3.Row) -> None:
    """The amount to pay is the order total of its lines, the tickets those of its lines (-2005, -2006)."""
    rows = machine.items(db, order["orderid"])
    if sum(r["num"] for r in rows) <= 0:
        raise BusinessError("wrong_ticket_count", f"order {order['orderid']} has no tickets")
    total = money(order["total"])
    if total <= 0 or total != money(sum((money(r["amount"]) for r in rows), Decimal("0"))):
        raise BusinessError("wrong_pay_amount", f"order {order['orderid']} has nothing to pay ({total})")


@handles("BeginToPay.aspx")
def begin_to_pay(mock: Mock, call: Call) -> dict:
    orderid = call.get("Order_id").strip()
    if not orderid:
        raise ParamError("internal_order_no_missing", "Order_id is empty", param="Order_id")
    channel = pay_channel(mock, call)
    expired = False
    with mock.store.transaction() as db:
        order = machine.load_or_refuse(db, orderid, call.agent.user, "lookup_failed", f"no order {orderid}")
        if instant_pay.past_deadline(mock, order):
            instant_pay.time_out(mock, db, order)
            expired = True
        else:
            machine.fire(mock, db, order, "pay_instant_start", page=call.page)
            check_payable(db, order)
            instant_pay.start(mock, db, order, channel.id)
    if expired:  # raised after the commit: the closing stands
        raise BusinessError("pay_time_limit_exceeded", f"order {orderid} passed {order['pay_deadline']}")
    # the manual gives BeginToPay no element for the payment page: its URL is the retmsg (gap begintopay-no-response-body)
    return Reply({}, call.base_url + instant_pay.pay_url(orderid))


@handles("ApplyRefund.aspx")
def apply_refund(mock: Mock, call: Call) -> dict:
    with mock.store.transaction() as db:
        order = machine.load_or_refuse(db, call.get("Order_id").strip(), call.agent.user,
                                       "order_not_found_or_not_booking", call.get("Order_id"))
        machine.fire(mock, db, order, "apply_refund", page=call.page)
        instant_pay.open_refund(mock, db, order, call.get("PaybackReason"))
    return {}


def _full_refund(order: sqlite3.Row, total_fee: str) -> None:
    """total_fee is the whole order: only full refunds exist (gap revokeorder-total-fee)."""
    try:
        given = money(total_fee)
    except (InvalidOperation, ValueError):
        given = None
    if given is None or not given.is_finite() or given != money(order["total"]):
        raise ParamError("bad_params", f"total_fee {total_fee!r} is not the order total {order['total']}",
                         param="total_fee")


def _back_to(db: sqlite3.Connection, order: sqlite3.Row) -> str | None:
    """The status before the application (gap revokeorder-target-state); an application made after
    a rejected refund (A) returns to the paid status the first one left from."""
    if order["prev_status"] in ("5", "6"):
        return order["prev_status"]
    record = instant_pay.open_record(db, order["orderid"])
    return record["paid_status"] if record else order["prev_status"]


@handles("RevokeOrder.aspx")
def revoke_order(mock: Mock, call: Call) -> dict:
    with mock.store.transaction() as db:
        order = machine.load_or_refuse(db, call.get("Order_id").strip(), call.agent.user,
                                       "order_not_found_or_not_refund_applied", call.get("Order_id"))
        transition = machine.fire(mock, db, order, "revoke_refund", page=call.page, target=_back_to(db, order))
        _full_refund(order, call.get("total_fee"))
        instant_pay.close_record(mock, db, order["orderid"], instant_pay.REVOKED, call.get("PaybackReason"))
        if transition.target == "6" and ORDER_CHANGED not in transition.callbacks:
            # back to 已支付（即时支付）, a state 4.2.45.1 reports (gap revokeorder-callback)
            machine.enqueue(mock, db, order, replace(transition, callbacks=(ORDER_CHANGED,)), mock.now())
    return {"Item": {"Order_id": order["orderid"], "OrderInnerID": order["senderid"]}}


def _orderid(call: Call) -> str:
    orderid = call.get("orderid").strip()
    if not orderid:
        raise ParamError("orderid_empty", "orderid is empty", param="orderid")
    return orderid


@handles("OrderRefundDeal.aspx")
def order_refund_deal(mock: Mock, call: Call) -> dict:
    orderid = _orderid(call)
    with mock.store.transaction() as db:
        order = machine.load_or_refuse(db, orderid, call.agent.user, "order_not_found", orderid)
        status = order["status"]
        if status != "8":  # already accepted: the lock is in place, a repeated call changes nothing
            try:
                status = machine.fire(mock, db, order, "approve_refund", page=call.page).target
            except StateError as exc:  # the page lists no wrong-state code; its -1 is the nearest
                raise BusinessError("order_not_found", exc.detail) from None
            instant_pay.close_record(mock, db, orderid, "8")
    return {"Item": {"orderid": orderid, "status": status}}


def _when(stamp: str | None) -> tuple[str, str]:
    return (stamp[:8], stamp[8:14]) if stamp else ("", "")


def _line(mock: Mock, order: sqlite3.Row, item: sqlite3.Row, status: str) -> dict[str, Any]:
    channel = order["pay_channel"]
    return {"orderid": order["orderid"], "productid": item["productid"], "productname": item["productname"],
            "price": item["price"], "paychannelid": channel,
            "paychannelname": instant_pay.channel_name(mock, channel), "status": status,
            "selleremail": "", "buyeremail": ""}


def _application_lines(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, record: sqlite3.Row) -> list[dict]:
    """A whole-order refund record, one line per order line, the fee as it stood when applied for."""
    at = machine.parse_stamp(record["created_at"], mock)
    (cdate, ctime), (ddate, dtime) = _when(record["created_at"]), _when(record["completed_at"])
    out = []
    for item in machine.items(db, order["orderid"]):
        per = machine.fee_per_ticket(mock, item["productid"], money(item["price"]), order, at)
        basis = instant_pay.fee_item(mock, item["productid"], money(item["price"]), order, at) if per else None
        fee = money(per * item["num"])
        out.append({**_line(mock, order, item, record["state"]), "personcount": item["num"], "summary": item["amount"],
                    "calculationbasis": basis.feecalmode if basis else "",
                    "debitcount": item["num"] if per else 0, "debitprice": str(money(per)), "totalfees": str(fee),
                    "debitsummary": str(max(money(item["amount"]) - fee, Decimal("0.00"))),
                    "createdate": cdate, "createtime": ctime, "completedate": ddate, "completetime": dtime,
                    "refundreason": record["reason"]})
    return out


def _delivery_lines(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, page: Page) -> list[dict]:
    """Tickets not taken at delivery become a refund application less their fee (2.7, line 251)."""
    if not order["delivered_at"]:
        return []
    cdate, ctime = _when(order["delivered_at"])
    at = machine.parse_stamp(order["delivered_at"], mock)
    out = []
    for item in machine.items(db, order["orderid"]):
        left = item["num"] - item["dealnum"]
        if left <= 0:
            continue
        summary, fee = money(item["amount"]) - money(item["dealamount"]), money(item["fees"])
        basis = instant_pay.fee_item(mock, item["productid"], money(item["price"]), order, at) if fee else None
        out.append({**_line(mock, order, item, "7"), "personcount": left, "summary": str(summary),
                    "calculationbasis": basis.feecalmode if basis else "", "debitcount": left if fee else 0,
                    "debitprice": str(money(fee / left)), "totalfees": str(fee),
                    "debitsummary": str(max(summary - fee, Decimal("0.00"))), "createdate": cdate,
                    "createtime": ctime, "completedate": "", "completetime": "", "refundreason": _reason(page, 0)})
    return out


def _return_lines(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, page: Page) -> list[dict]:
    """Tickets returned to the source of the instant payment: each a refund application for its
    amount less the return fee, which finance pays back (2.7.3 line 295)."""
    out = []
    for t in db.execute("SELECT * FROM tickets WHERE orderid=? AND status=? AND refund_mode!=? ORDER BY ticketid",
                        (order["orderid"], REFUNDED, returns.CASH)):
        fee, back, price = money(t["refund_fee"]), money(t["refund_amount"]), money(t["price"])
        paying = int((fee + back) / price) if price else t["persons"]
        at = machine.parse_stamp(t["refunded_at"], mock)
        basis = instant_pay.fee_item(mock, t["productid"], price, order, at) if fee else None
        cdate, ctime = _when(t["refunded_at"])
        out.append({**_line(mock, order, t, "7"), "personcount": t["persons"], "summary": str(fee + back),
                    "calculationbasis": basis.feecalmode if basis else "",
                    "debitcount": paying if fee else 0, "debitprice": str(money(fee / paying)) if paying else "0.00",
                    "totalfees": str(fee), "debitsummary": str(back), "createdate": cdate, "createtime": ctime,
                    "completedate": "", "completetime": "", "refundreason": _reason(page, 1)})
    return out


@handles("QueryOrderRefund.aspx")
def query_order_refund(mock: Mock, call: Call) -> dict:
    orderid = _orderid(call)
    with mock.store.reading() as db:
        order = machine.load(db, orderid, call.agent.user)
        if order is None:
            exists = db.execute("SELECT 1 FROM orders WHERE orderid=?", (orderid,)).fetchone()
            raise BusinessError("order_not_owned" if exists else "order_not_found", orderid)
        if order["pay_type"] != "instant":  # no third-party refund data (gap queryorderrefund-no-refund-data)
            return {"total": "0.00", "totalfee": "0.00", "totalrefund": "0.00", "details": {"Item": []}}
        records = db.execute("SELECT * FROM instant_refunds WHERE orderid=? AND state!=? ORDER BY id",
                             (orderid, instant_pay.REVOKED)).fetchall()
        lines = [line for r in records for line in _application_lines(mock, db, order, r)]
        lines += _delivery_lines(mock, db, order, call.page)
        returned = _return_lines(mock, db, order, call.page)
    fees = money(order["fees"]) + sum((money(r["totalfees"]) for r in returned), Decimal("0"))
    return {"total": order["total"], "totalfee": str(fees), "totalrefund": order["refund"],
            "details": {"Item": [_worded(call.page, r) for r in lines + returned]}}


def _reason(page: Page, which: int) -> str:
    """The reason of an application the supplier makes itself: 0 tickets not taken, 1 a ticket returned."""
    return (descriptions.words(page, REASONS).split("/") + ["", ""])[which]


def _worded(page: Page, record: dict[str, Any]) -> dict[str, Any]:
    """A record with its deduction and its basis's name in the page's words (gaps
    queryorderrefund-description-format, -calculationbasis-names); nothing deducted, nothing said."""
    names = dict(pair.split(":", 1) for pair in descriptions.words(page, BASIS_NAMES).split("/") if ":" in pair)
    deduction, fee = descriptions.words(page, DEDUCTION), money(record["totalfees"])
    return {**record, "calculationbasisname": names.get(record["calculationbasis"], ""),
            "description": deduction.format(fees=fee) if fee > 0 and deduction else ""}
