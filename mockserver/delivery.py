"""Delivery (交割): pickup at the desk, remote activation, or pay-and-pickup at the desk.

The order is turned into tickets (2.7). Tickets not taken are charged the default fee
(2.6, 2.7): deposit and rebate orders are debited for what was taken plus the fee;
an instant-payment order gets a refund application for the rest less the fee."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from spec.model import Page, Transition

from . import ledger, machine
from .context import Mock
from .store import money, register_schema

register_schema(
    """
CREATE TABLE IF NOT EXISTS tickets(
  ticketid TEXT PRIMARY KEY, orderid TEXT NOT NULL, item_seq INTEGER NOT NULL, productid TEXT NOT NULL,
  productname TEXT NOT NULL, persons INTEGER NOT NULL, price TEXT NOT NULL, idno TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '', medium TEXT NOT NULL, status TEXT NOT NULL DEFAULT '1', created_at TEXT NOT NULL,
  checked_at TEXT, refunded_at TEXT, refund_fee TEXT NOT NULL DEFAULT '0.00',
  refund_amount TEXT NOT NULL DEFAULT '0.00', refund_mode TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS tickets_order ON tickets(orderid);
""",
    ("tickets",),
)

ACCOUNT = {"deposit": "deposit", "rebate": "rebate"}


def deliver(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, event: str, *, taken: dict[int, int] | None = None,
            medium: str = "barcode", page: Page | None = None, pay_type: str | None = None) -> Transition:
    """Deliver `order` (event activate, desk_pickup or desk_pay); `taken`: item seq -> tickets taken (all if None)."""
    transition = machine.fire(mock, db, order, event, page=page, pay_type=pay_type)
    now = mock.now()
    at = machine.stamp(now)
    pay_type = pay_type or order["pay_type"]
    rows = machine.items(db, order["orderid"])
    taken = {r["seq"]: r["num"] for r in rows} if taken is None else taken
    paid_total, fee_total = Decimal("0.00"), Decimal("0.00")
    for item in rows:
        got = min(taken.get(item["seq"], 0), item["num"])
        left = item["num"] - got
        price = money(item["price"])
        free = min(item["free_num"], got)  # free tickets are used first by what is taken
        amount = money(price * (got - free))
        fee = Decimal("0.00")
        if left and pay_type != "desk":
            fee = money(machine.fee_per_ticket(mock, item["productid"], price, order, now) * left)
        paid_total += amount
        fee_total += fee
        db.execute("UPDATE order_items SET dealnum=?, dealamount=?, fees=? WHERE orderid=? AND seq=?",
                   (got, str(amount), str(fee), order["orderid"], item["seq"]))
        _make_tickets(db, order, item, got, medium, at)
        if left:
            db.execute("UPDATE stock SET used=MAX(used-?,0) WHERE productid=? AND day=?",
                       (left, item["productid"], order["effect_date"]))
    account = ACCOUNT.get(pay_type)
    refund = Decimal("0.00")
    if account:
        ledger.release(db, order["agent"], account, money(order["held"]))
        ledger.debit(db, order["agent"], account, paid_total, "order", order["orderid"], at, "delivery")
        ledger.debit(db, order["agent"], account, fee_total, "fee", order["orderid"], at, "tickets not taken")
    elif pay_type == "instant":
        refund = money(money(order["total"]) - paid_total - fee_total)
    spdh = f"S{order['orderid']}"
    db.execute("UPDATE orders SET held='0.00', paid=?, fees=?, refund=?, spdh=? WHERE orderid=?",
               (str(money(paid_total)), str(money(fee_total)), str(max(refund, Decimal('0.00'))), spdh,
                order["orderid"]))
    return transition


def _make_tickets(db: sqlite3.Connection, order: sqlite3.Row, item: sqlite3.Row, got: int, medium: str,
                  at: str) -> None:
    """One ticket per named person (one-person-one-ticket, 2.11), otherwise one ticket for the item."""
    if got <= 0:
        return
    people = db.execute("SELECT * FROM realnames WHERE orderid=? AND item_seq=? ORDER BY seq",
                        (order["orderid"], item["seq"])).fetchall()[:got]
    base = f"T{order['orderid']}{item['seq']:02d}"
    if people:
        for i, person in enumerate(people, 1):
            db.execute("INSERT INTO tickets(ticketid, orderid, item_seq, productid, productname, persons, price, idno, "
                       "name, medium, created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                       (f"{base}{i:03d}", order["orderid"], item["seq"], item["productid"], item["productname"], 1,
                        item["price"], person["idno"], person["name"], medium, at))
    else:
        db.execute("INSERT INTO tickets(ticketid, orderid, item_seq, productid, productname, persons, price, medium, "
                   "created_at) VALUES(?,?,?,?,?,?,?,?,?)",
                   (f"{base}001", order["orderid"], item["seq"], item["productid"], item["productname"], got,
                    item["price"], medium, at))
