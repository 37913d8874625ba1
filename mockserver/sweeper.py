"""Clock-driven transitions: the pay deadline (pay_timeout) and the end of the order's
validity (expire, 2.10). Run before requests, after clock moves, and periodically."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from weakref import WeakKeyDictionary

from . import machine
from .context import Mock
from .store import Store, money

# Statuses from which the spec's table has an `expire` transition.
def _expiring(mock: Mock) -> tuple[str, ...]:
    return tuple(sorted({t.source for t in mock.spec.transitions if t.event == "expire"}))


def _horizon(mock: Mock) -> tuple[str, str]:
    now = mock.now()
    days = max((p.preorder_days for p in mock.world.products), default=1)
    return machine.stamp(now), machine.stamp(now - timedelta(days=days))[:8]


# Per store: (clock second, database generation) at which nothing was due. The answer cannot change
# before one of them does, so the check before every request is skipped until then.
_QUIET: "WeakKeyDictionary[Store, tuple[str, tuple[int, int]]]" = WeakKeyDictionary()


def due(mock: Mock) -> bool:
    """Cheap check: is any order past its pay deadline or its validity?"""
    key = (machine.stamp(mock.now()), mock.store.generation())  # before the query: a change in between only costs a re-check
    if _QUIET.get(mock.store) == key:
        return False
    now, last_valid_day = _horizon(mock)
    key = (now, key[1])  # the second may have turned since: remember the one the query looked at
    states = _expiring(mock)
    marks = ",".join("?" * len(states))
    with mock.store.reading() as db:
        row = db.execute(
            f"SELECT 1 FROM orders WHERE (status='0' AND pay_deadline IS NOT NULL AND pay_deadline<=?) "  # noqa: S608
            f"OR (status IN ({marks}) AND effect_date<=?) LIMIT 1", (now, *states, last_valid_day)).fetchone()
    if row is None:
        _QUIET[mock.store] = key
    return row is not None


def sweep(mock: Mock) -> int:
    """Apply every clock-driven transition that is due; returns how many orders moved."""
    from .handlers.orders import close  # the same closing rules as CancelOrder

    if not due(mock):
        return 0
    now, last_valid_day = _horizon(mock)
    states = _expiring(mock)
    marks = ",".join("?" * len(states))
    moved = 0
    with mock.store.transaction() as db:
        for order in db.execute("SELECT * FROM orders WHERE status='0' AND pay_deadline IS NOT NULL "
                                "AND pay_deadline<=?", (now,)).fetchall():
            close(mock, db, order, "pay_timeout", None)
            moved += 1
        for order in db.execute(f"SELECT * FROM orders WHERE status IN ({marks}) AND effect_date<=?",  # noqa: S608
                                (*states, last_valid_day)).fetchall():
            if mock.now() < machine.expiry(mock, order):
                continue
            if order["pay_type"] == "instant":
                _expire_instant(mock, db, order)
            else:
                close(mock, db, order, "expire", None)
            moved += 1
    return moved


def _expire_instant(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row) -> None:
    """Expired instant payments become a refund application less the fee (gap instant-expiry-state)."""
    fee = machine.order_fee(mock, db, order, mock.now())
    machine.fire(mock, db, order, "expire")
    refund = max(money(order["paid"] or order["total"]) - fee, Decimal("0.00"))
    db.execute("UPDATE orders SET fees=?, refund=? WHERE orderid=?", (str(fee), str(refund), order["orderid"]))
