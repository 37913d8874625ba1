"""Ticket returns and refunds after delivery as the order pages report them (4.2.8 lines
2710-2735 and 2816-2837, 4.2.9): counts, fees, amounts and descriptions from the tickets
returned (2.7.3), the way their money went back, and what is still in progress. How each element
is read, and the words of the descriptions, are the page's gaps (queryorder-return-fields and the
`-returnticketdesc-format`, `-returnpaychanneldesc-format` and `-backstatus-words` gaps)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from spec.model import Page

from . import descriptions
from .context import Mock
from .handlers.tickets import REFUNDED
from .store import money

TICKET_DESC, CHANNEL_DESC, STATE_WORDS = "-returnticketdesc-format", "-returnpaychanneldesc-format", "-backstatus-words"
JOIN = "；"  # the parts of returnpaychanneldesc's example are joined so (line 2735)
CASH = "1"  # refund mode 前台退现 (tables/refund_modes.yaml): cash at the desk, whatever the payment


@dataclass(frozen=True)
class _Part:
    """The tickets of one order line returned in one refund mode."""

    seq: int
    productname: str
    mode: str
    count: int
    fees: Decimal
    total: Decimal


def _parts(db: sqlite3.Connection, orderid: str) -> list[_Part]:
    rows = db.execute("SELECT item_seq, productname, refund_mode, persons, refund_fee, refund_amount FROM tickets "
                      "WHERE orderid=? AND status=? ORDER BY item_seq, refund_mode, ticketid", (orderid, REFUNDED))
    merged: dict[tuple[int, str], _Part] = {}
    for r in rows:  # amounts are summed as decimals, never as SQLite floats
        key = (r["item_seq"], r["refund_mode"])
        was = merged.get(key, _Part(r["item_seq"], r["productname"], r["refund_mode"], 0, Decimal("0"), Decimal("0")))
        merged[key] = _Part(was.seq, was.productname, was.mode, was.count + r["persons"],
                            was.fees + money(r["refund_fee"]), was.total + money(r["refund_amount"]))
    return list(merged.values())


def _untaken_refund(order: sqlite3.Row, items: list[sqlite3.Row]) -> Decimal:
    """Instant payment: the refund application delivery made for the tickets not taken (2.7 line 251)."""
    if order["pay_type"] != "instant" or not order["delivered_at"]:
        return Decimal("0.00")
    left = sum(money(i["amount"]) - money(i["dealamount"]) - money(i["fees"]) for i in items)
    return max(money(left), Decimal("0.00"))


def _channel(mock: Mock, order: sqlite3.Row, mode: str) -> str:
    if mode == CASH:
        return next((m.name_zh for m in mock.spec.refund_modes if m.code == mode), "")
    return descriptions.paid_through(mock, order)  # back where it came from: the order's paychannel


def _pending(order: sqlite3.Row, mode: str) -> bool:
    """A return to the source of an instant payment is an application finance still pays back (line 295)."""
    return mode != CASH and order["pay_type"] == "instant"


def _describe(mock: Mock, page: Page, order: sqlite3.Row, parts: list[_Part]) -> tuple[str, str]:
    """returnticketdesc and returnpaychanneldesc of `parts`."""
    ticket_words, channel_words = descriptions.words(page, TICKET_DESC), descriptions.words(page, CHANNEL_DESC)
    pending, done = (descriptions.words(page, STATE_WORDS).split("/") + ["", ""])[:2]
    modes = {m.code: m.name_zh for m in mock.spec.refund_modes}
    tickets = [ticket_words.format(productname=p.productname, count=p.count, amount=money(p.total),
                                   mode=modes.get(p.mode, "")) for p in parts] if ticket_words else []
    by_channel: dict[tuple[str, bool], Decimal] = {}
    for p in parts:
        key = (_channel(mock, order, p.mode), _pending(order, p.mode))
        by_channel[key] = by_channel.get(key, Decimal("0")) + p.total
    channels = [channel_words.format(channel=name, amount=money(amount), state=pending if waiting else done)
                for (name, waiting), amount in by_channel.items()] if channel_words else []
    return JOIN.join(tickets), JOIN.join(channels)


def fields(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, page: Page,
           items: list[sqlite3.Row]) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """The order's return and refund elements, and each line's by item seq, as `page` words them."""
    if mock.fault("return-fields-frozen"):
        line = {"returncount": 0, "returnfees": "0.00", "returntotal": "0.00", "returnpaychanneldesc": ""}
        return ({**line, "backtotal": order["refund"], "backstatus": "", "returnticketdesc": ""},
                {i["seq"]: dict(line) for i in items})
    parts = _parts(db, order["orderid"])
    lines: dict[int, dict[str, Any]] = {}
    for item in items:
        mine = [p for p in parts if p.seq == item["seq"]]
        _, channels = _describe(mock, page, order, mine)
        lines[item["seq"]] = {"returncount": sum(p.count for p in mine),
                              "returnfees": str(money(sum((p.fees for p in mine), Decimal("0")))),
                              "returntotal": str(money(sum((p.total for p in mine), Decimal("0")))),
                              "returnpaychanneldesc": channels}
    returned = money(sum((p.total for p in parts), Decimal("0")))
    untaken = _untaken_refund(order, items)
    back = money(returned + untaken)
    pending, done = (descriptions.words(page, STATE_WORDS).split("/") + ["", ""])[:2]
    waiting = untaken > 0 or any(_pending(order, p.mode) and p.total > 0 for p in parts)
    tickets, channels = _describe(mock, page, order, parts)
    return ({"returncount": sum(p.count for p in parts),
             "returnfees": str(money(sum((p.fees for p in parts), Decimal("0")))), "returntotal": str(returned),
             "returnticketdesc": tickets, "returnpaychanneldesc": channels, "backtotal": str(back),
             "backstatus": (pending if waiting else done) if back > 0 else ""}, lines)
