"""The descriptive elements of an order as the order pages show them: what was booked
(tickettypedesc), what was delivered (dealdesc) and how the order was paid (paychannel)
(4.2.8 line 2708, 4.2.9 lines 3071, 3083, 3107). The first two are worded by the pages' gaps
(`-tickettypedesc-format`, `-dealdesc-format`), paychannel names the payment type or channel as
gap `-paychannel-words` chooses; an element a page does not answer is dropped by the page's fit.
`words` reads such a gap's value for the other pages that word a choice too."""

from __future__ import annotations

import sqlite3
from typing import Any

from spec.model import Page

from . import instant_pay
from .context import Mock

TICKETS, DEAL = "-tickettypedesc-format", "-dealdesc-format"
PARTS_JOIN = ","  # both examples join their parts so (lines 3071, 3083: 散客票5张,优惠票1张)
FAULT = "empty-descriptions"


def words(page: Page, suffix: str | tuple[str, ...]) -> str:
    """The value of `page`'s gap ending in `suffix`: the words a choice of the spec fixes ("" if none)."""
    return next((g.value for g in page.gaps if g.id.endswith(suffix) and g.value), "")


def _parts(pattern: str, counted: list[tuple[str, int]]) -> str:
    return PARTS_JOIN.join(pattern.format(productname=name, count=count) for name, count in counted if count > 0)


def paid_through(mock: Mock, order: sqlite3.Row) -> str:
    """paychannel: the instant-payment channel's name, else the payment type's name; empty while the
    order has no payment (gap queryorder-paychannel-words)."""
    if order["pay_type"] == "instant":
        named = instant_pay.channel_name(mock, order["pay_channel"])
        if named:
            return named
    return next((p.name_zh for p in mock.spec.payment_types if p.id == order["pay_type"]), "")


def fields(mock: Mock, page: Page, order: sqlite3.Row, items: list[sqlite3.Row]) -> dict[str, Any]:
    """tickettypedesc, dealdesc and paychannel of `order` (lines `items`), as `page` words them."""
    if mock.fault(FAULT):
        return {"tickettypedesc": "", "dealdesc": "", "paychannel": ""}
    line_words = words(page, TICKETS)
    booked = _parts(line_words, [(i["productname"], i["num"]) for i in items]) if line_words else ""
    dealt = _parts(line_words, [(i["productname"], i["dealnum"]) for i in items]) if line_words else ""
    deal_words = words(page, DEAL)
    # nothing delivered yet (or ever): empty, like jgrqsj (gap -dealdesc-format)
    return {"tickettypedesc": booked, "dealdesc": deal_words.format(parts=dealt) if deal_words and dealt else "",
            "paychannel": paid_through(mock, order)}
