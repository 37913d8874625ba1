"""Booking, order queries and cancellation (4.2.4, 4.2.8-4.2.10, 4.2.15)."""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime
from decimal import Decimal
from typing import Any

from spec.errors import BusinessError, ParamError
from spec.model import Element, Page

from .. import booking, descriptions, ledger, machine, returns, seats
from ..context import Call, Mock
from ..store import money
from . import handles


def order_item(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, agent_name: str, agent_type: str,
               agent_id: str, page: Page) -> dict[str, Any]:
    """An order as the Item of OrderProducts / QueryOrder / QueryOrdersList (unknown names are dropped
    per page by `fit`); `page` words the descriptions."""
    rows = machine.items(db, order["orderid"])
    returned, returned_lines = returns.fields(mock, db, order, page, rows)
    described = descriptions.fields(mock, page, order, rows)
    deadline = order["pay_deadline"]
    # minutes from booking to the deadline: paytimeout, or a theater's shorter seat limit (-2008)
    minutes = 0
    if deadline:
        span = machine.parse_stamp(deadline, mock) - machine.parse_stamp(order["created_at"], mock)
        minutes = int(span.total_seconds()) // 60
    status = mock.spec.order_status(order["status"])
    return {
        "orderid": order["orderid"], "ordertime": order["created_at"], "customertype": agent_type,
        "customerid": agent_id, "customername": agent_name, "description": status.name_zh,
        "paytimeout": minutes, "orderstatus": order["status"], "summary": order["total"],
        "spdh": order["spdh"], "sxrq": order["effect_date"], "jgrqsj": order["delivered_at"] or "",
        "mobile": order["mobile"], "cardid": order["idcard"], "xyfp": order["need_invoice"],
        "fptt": order["invoice_title"], "dealtotal": str(money(Decimal(order["paid"]) + Decimal(order["fees"]))),
        "dealamount": order["paid"], "totalfees": order["fees"], "feetotal": order["fees"],
        **described, **returned,
        "subitem": [
            {"productid": r["productid"], "productname": r["productname"], "num": r["num"], "unit": "张",
             "price": r["price"], "productstatus": "1", "timeindex": order["timespanindex"] or "",
             "timeindexdesc": _segment_desc(mock, order), "serverstationid": order["service_code"],
             "serverstationname": _service_name(mock, order["service_code"]),
             "seatlistdesc": seats.describe(mock, db, order["orderid"], r["seq"]),
             "dealnum": r["dealnum"], "dealamount": r["dealamount"], "fees": r["fees"], **returned_lines[r["seq"]]}
            for r in rows
        ],
    }


def _service_name(mock: Mock, code: str) -> str:
    return next((s.name for s in mock.world.service_items if s.code == code), "")


def _segment_desc(mock: Mock, order: sqlite3.Row) -> str:
    seg = next((s for s in mock.world.time_segments
                if s.service == order["service_code"] and s.index == order["timespanindex"]), None)
    return f"{seg.start}-{seg.end}" if seg else ""


def element(call: Call, *path: str) -> Element:
    """The response element at `path` (names as the page's spec spells them)."""
    found = call.page.element(*path)
    if found is None:
        raise KeyError(f"{call.page.page} answers no element {'/'.join(path)}")
    return found


def fit(element: Element, data: dict[str, Any]) -> dict[str, Any]:
    """Keep the fields `element` defines (pages show different subsets of an order)."""
    names = {c.name: c for c in element.children}
    out = {}
    for k, v in data.items():
        if k not in names:
            continue
        child = names[k]
        if child.children and isinstance(v, list):
            sub = {c.name for c in child.children}
            v = [{kk: vv for kk, vv in row.items() if kk in sub} for row in v]
        out[k] = v
    return out


def agent_item(mock: Mock, db: sqlite3.Connection, call: Call, order: sqlite3.Row, *path: str) -> dict[str, Any]:
    a = call.agent
    return fit(element(call, *(path or ("Item",))),
               order_item(mock, db, order, a.name, a.customertype, a.customerid, call.page))


@handles("OrderProducts.aspx")
def order_products(mock: Mock, call: Call) -> dict:
    request = booking.Booking(
        order_list=call.get("Order_list"), mobile=call.get("Mobile"), idcard=call.get("ID"),
        effect_date=call.get("SXRQ"), senderid=call.get("senderid"), memo=call.get("Memo"),
        idcount=call.get("IDCount"), need_invoice=call.get("NeedInvoice") or "0",
        invoice_title=call.get("InvoiceTitle"), service_code=call.get("ServiceCode"),
        timespanindex=call.get("timespanindex"),
    )
    with mock.store.transaction() as db:
        order, _ = booking.book(mock, db, call, request)
        return {"Item": agent_item(mock, db, call, order)}


@handles("QueryOrder.aspx")
def query_order(mock: Mock, call: Call) -> dict:
    with mock.store.reading() as db:
        order = machine.load_or_refuse(db, call.get("order_id"), call.agent.user,
                                       "order_not_found", call.get("order_id"))
        return {"Item": agent_item(mock, db, call, order)}


def _list_filter(mock: Mock, call: Call) -> tuple[str, list[Any]]:
    column = {"1": "created_at", "2": "effect_date", "3": "delivered_at"}[call.get("Query_model") or "1"]
    where, args = ["agent=?"], [call.agent.user]
    for name, bound, suffix in (("Start_datetime", ">=", "000000"), ("End_datetime", "<=", "235959")):
        value = call.get(name)
        if value:
            if column != "effect_date":
                value = value[:8] + suffix
            where.append(f"{column} {bound} ?")
            args.append(value[:8] if column == "effect_date" else value)
    for name, column_name in (("SJHM", "mobile"), ("ZJHM", "idcard"), ("YDDH", "orderid"), ("ZT", "status")):
        if call.get(name):
            where.append(f"{column_name}=?")
            args.append(call.get(name))
    if call.get("ProductID"):
        where.append("orderid IN (SELECT orderid FROM order_items WHERE productid=?)")
        args.append(call.get("ProductID"))
    start, end = call.get("Start_datetime"), call.get("End_datetime")
    if start and end:
        try:
            span = (datetime.strptime(end[:8], "%Y%m%d") - datetime.strptime(start[:8], "%Y%m%d")).days
        except ValueError:
            raise ParamError("bad_params", "bad date") from None
        if span < 0 or span > 31:  # the list pages allow at most 31 days (gap querylist-31-days)
            raise ParamError("bad_params", "the period must be 0..31 days", param="End_datetime")
    return " AND ".join(where), args


@handles("QueryOrdersList.aspx")
def query_orders_list(mock: Mock, call: Call) -> dict:
    where, args = _list_filter(mock, call)
    size = mock.world.supplier.page_size
    first = call.page.param("Page_index").first_page or 0  # gap queryorderslist-page-base
    index = int(call.get("Page_index") or first) - first
    if index < 0:
        raise ParamError("bad_params", f"Page_index must be >= {first}", param="Page_index")
    with mock.store.reading() as db:
        rows = db.execute(f"SELECT * FROM orders WHERE {where} ORDER BY created_at DESC, orderid DESC "  # noqa: S608
                          "LIMIT ? OFFSET ?", (*args, size, index * size)).fetchall()
        if not rows:
            raise BusinessError("no_orders")
        return {"Items": {"Item": [agent_item(mock, db, call, r, "Items", "Item") for r in rows]}}


@handles("QueryOrderPageListCount.aspx")
def query_order_page_count(mock: Mock, call: Call) -> dict:
    where, args = _list_filter(mock, call)
    size = mock.world.supplier.page_size
    with mock.store.reading() as db:
        count = db.execute(f"SELECT COUNT(*) AS n FROM orders WHERE {where}", args).fetchone()["n"]  # noqa: S608
    container = call.page.response[0]
    return {container.name: fit(container, {"pagesize": size, "pagecount": math.ceil(count / size), "recordcount": count})}


@handles("CancelOrder.aspx")
def cancel_order(mock: Mock, call: Call) -> dict:
    with mock.store.transaction() as db:
        order = machine.load_or_refuse(db, call.get("Order_id"), call.agent.user,
                                       "fee_order_not_found", call.get("Order_id"))
        close(mock, db, order, "cancel", call)
    return {}


def close(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, event: str, call: Call | None) -> None:
    """Close an order (cancel, expiry): release holds, charge the fee the transition names."""
    transition = machine.fire(mock, db, order, event, page=call.page if call else None)
    now = mock.now()
    account = {"deposit": "deposit", "rebate": "rebate"}.get(order["pay_type"])
    if account and Decimal(order["held"]) > 0:
        ledger.release(db, order["agent"], account, Decimal(order["held"]))
        fee = Decimal("0.00")
        if transition.fees != "none":
            fee = min(machine.order_fee(mock, db, order, now), Decimal(order["held"]))
            ledger.debit(db, order["agent"], account, fee, "fee", order["orderid"], machine.stamp(now),
                         f"{event} fee")
        db.execute("UPDATE orders SET held='0.00', fees=? WHERE orderid=?", (str(money(fee)), order["orderid"]))
    if transition.target == "4":
        booking.release_usage(db, order)
