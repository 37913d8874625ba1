"""The order state machine, driven by the spec's transition table.

`fire` moves an order along the transition the spec defines for (status, event, payment
type), refuses forbidden ones with the page's retcode, and writes the callbacks the
transition fires into the outbox in the same transaction."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta
from decimal import Decimal

from spec.errors import BusinessError, StateError
from spec.fees import quote, scenic_reference
from spec.model import Page, Transition

from . import seats
from .context import Mock
from .store import Store, money

STAMP = "%Y%m%d%H%M%S"


def stamp(when: datetime) -> str:
    # what when.strftime(STAMP) gives, at a sixth of its cost (several stamps per request)
    return "%04d%02d%02d%02d%02d%02d" % (when.year, when.month, when.day, when.hour, when.minute, when.second)


def parse_stamp(value: str, mock: Mock) -> datetime:
    if len(value) == 14 and value.isdigit() and value.isascii():  # what stamp() writes: no strptime (7 us)
        return datetime(int(value[:4]), int(value[4:6]), int(value[6:8]), int(value[8:10]), int(value[10:12]),
                        int(value[12:]), tzinfo=mock.tz)
    return datetime.strptime(value, STAMP).replace(tzinfo=mock.tz)


def _choose(mock: Mock, candidates: tuple[Transition, ...], target: str | None) -> Transition | None:
    if target is not None:
        return next((t for t in candidates if t.target == target), None)
    return candidates[0] if len(candidates) == 1 else None


def _codes(mock: Mock) -> set[str]:
    return {s.code for s in mock.spec.order_statuses}


def fire(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, event: str, *, page: Page | None = None,
         target: str | None = None, pay_type: str | None = None) -> Transition:
    """Apply `event` to `order`; return the transition taken. Raises `StateError` when the spec has none."""
    status = order["status"]
    pay_type = pay_type or order["pay_type"] or None
    transition = _choose(mock, mock.spec.transitions_from(status, event, pay_type), target)
    if transition is None and mock.fault("allow-forbidden-transition") and event == "cancel":
        transition = Transition("fault-cancel", status, event, "4", (pay_type or "desk",), "", ("Notify_OrderChanged.aspx",),
                                "none", "", "fault", None)
    if transition is None:
        key = "wrong_state"  # no page lists it: the page's fallback, worded by tables/reasons.yaml
        for rule in mock.spec.forbidden:
            if rule.event == event and status in rule.sources and (page is None or rule.page == page.page):
                key = rule.retcode_key
                break
        raise StateError(key, f"order {order['orderid']} is {status}; {event} is not allowed",
                         fill=mock.spec.order_status(status).name_zh if status in _codes(mock) else status)
    now = mock.now()
    fields = {"status": transition.target}
    if pay_type and not order["pay_type"]:
        fields["pay_type"] = pay_type
    if transition.target in ("3", "D", "X") and transition.target != status:
        fields["delivered_at"] = stamp(now)
    if transition.target == "4":
        fields["closed_at"] = stamp(now)
    if event == "apply_refund":
        fields["prev_status"] = status
    sets = ", ".join(f"{k}=?" for k in fields)
    db.execute(f"UPDATE orders SET {sets} WHERE orderid=?", (*fields.values(), order["orderid"]))  # noqa: S608
    seats.follow(mock, db, order["orderid"])  # seat holds follow the order (theater suppliers)
    enqueue(mock, db, order, transition, now)
    return transition


def enqueue(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, transition: Transition, now: datetime,
            extra: dict[str, str] | None = None) -> None:
    """Write the transition's callbacks into the outbox (no senderid or no address: none, 4.2.45.1, 4.2.44)."""
    if not order["senderid"]:
        return
    agent = Store.agent(db, order["agent"])
    if agent is None or not agent.responseaddr:
        return
    for page in transition.callbacks:
        params = {"orderid": order["orderid"], "senderid": order["senderid"], "status": transition.target}
        if page != "Notify_OrderChanged.aspx":
            params = {"orderid": order["orderid"], "senderid": order["senderid"], **(extra or {})}
        mock.store.enqueue_callback(db, order["agent"], order["orderid"], page, params, stamp(now))


def load(db: sqlite3.Connection, orderid: str, agent: str) -> sqlite3.Row | None:
    """An order of this agent (another agent's order is as absent as a missing one)."""
    return db.execute("SELECT * FROM orders WHERE orderid=? AND agent=?", (orderid, agent)).fetchone()


def load_or_refuse(db: sqlite3.Connection, orderid: str, agent: str, key: str, detail: str) -> sqlite3.Row:
    """`load`, refusing a missing (or another agent's) order with the page's retcode `key`."""
    order = load(db, orderid, agent)
    if order is None:
        raise BusinessError(key, detail)
    return order


def items(db: sqlite3.Connection, orderid: str) -> list[sqlite3.Row]:
    return db.execute("SELECT * FROM order_items WHERE orderid=? ORDER BY seq", (orderid,)).fetchall()


def effect_date(order: sqlite3.Row) -> date:
    return datetime.strptime(order["effect_date"], "%Y%m%d").date()


def fee_per_ticket(mock: Mock, product_id: str, price: Decimal, order: sqlite3.Row, at: datetime) -> Decimal:
    """Rule (h) for one ticket of `product_id` in `order`, at time `at`."""
    product = mock.world.product(product_id)
    if product is None or not mock.world.supplier.feemode:
        return Decimal("0.00")
    return quote(product.feeitems, money(price), fee_reference(mock, order), at, mock.profile.fee_bands).per_ticket


def fee_reference(mock: Mock, order: sqlite3.Row) -> datetime:
    """R of rule (h): the scene start of a theater order (fee_bands.theater_reference), else the
    scenic reference of its effect date."""
    return seats.scene_start(mock, order["orderid"]) or scenic_reference(effect_date(order), mock.profile.fee_bands)


def order_fee(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, at: datetime,
              taken: dict[int, int] | None = None) -> Decimal:
    """Fee for every ticket of the order not taken (`taken`: item seq -> tickets delivered)."""
    total = Decimal("0.00")
    for item in items(db, order["orderid"]):
        left = item["num"] - (taken or {}).get(item["seq"], 0)
        if left > 0:
            total += fee_per_ticket(mock, item["productid"], money(item["price"]), order, at) * left
    return money(total)


def expiry(mock: Mock, order: sqlite3.Row) -> datetime:
    """End of the order's validity: the effect date plus the longest Preorder of its products (2.10)."""
    days = max((p.preorder_days for p in mock.world.products), default=1)
    return datetime.combine(effect_date(order) + timedelta(days=days), datetime.min.time(), tzinfo=mock.tz)
