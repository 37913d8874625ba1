"""Seat state of theater performances (scene x ticket date) and the seat holds of orders.

A hold follows its order (gap queryseatsstate-s-vs-order-states): S while the order is booked,
B once it is paid, authorised or delivered, free again when it ends without delivery (closed,
refunded). The codes are the spec's seat states of role free, booking and sold (tables/seat_status.yaml).
A seat is taken by one UPDATE guarded on its state inside the booking transaction, so a seat is never
held by two orders, whatever the number of workers."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby

from spec.errors import BusinessError

from .context import Mock
from .stage import Scene, Seat, Stage
from .store import register_schema

DAY = "%Y%m%d"
STAMP = "%Y%m%d%H%M%S"

register_schema(
    """
CREATE TABLE IF NOT EXISTS seats(
  scene TEXT NOT NULL, day TEXT NOT NULL, seat TEXT NOT NULL, state TEXT NOT NULL,
  orderid TEXT NOT NULL DEFAULT '', PRIMARY KEY(scene, day, seat));
CREATE INDEX IF NOT EXISTS seats_order ON seats(orderid);
CREATE TABLE IF NOT EXISTS stage_orders(
  orderid TEXT PRIMARY KEY, scene TEXT NOT NULL, day TEXT NOT NULL, starts TEXT NOT NULL, seated INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS stage_orders_show ON stage_orders(scene, day);
CREATE TABLE IF NOT EXISTS order_seats(
  orderid TEXT NOT NULL, item_seq INTEGER NOT NULL, seat TEXT NOT NULL, PRIMARY KEY(orderid, seat));
""",
    ("seats", "stage_orders", "order_seats"),
)


class SeatTaken(BusinessError):
    """A chosen seat is not free (4.1.3 line 2269); no page lists a retcode for it (gap orderproducts2-seat-taken)."""

    fallback = "internal"


@dataclass(frozen=True)
class Show:
    """One performance: a scene on a ticket date."""

    scene: Scene
    day: date

    @property
    def key(self) -> tuple[str, str]:
        return self.scene.id, self.day.strftime(DAY)


def held_state(mock: Mock, status: str, delivered: bool) -> str:
    """The state of the seats an order in `status` holds: booking (S) when booked, free when the
    order ended without delivery, otherwise sold (B)."""
    spec = mock.spec
    if status in {t.target for t in spec.transitions if t.event == "book"}:
        return spec.seat_code("sold" if mock.fault("seat-sold-at-booking") else "booking")
    if spec.order_status(status).terminal and not delivered:
        return spec.seat_code("free")
    return spec.seat_code("booking" if mock.fault("seat-not-sold") else "sold")


def follow(mock: Mock, db: sqlite3.Connection, orderid: str) -> None:
    """Move the seats of `orderid` to the state its order's status means (called on every transition)."""
    if mock.world.stage is None:
        return
    order = db.execute("SELECT status, delivered_at FROM orders WHERE orderid=?", (orderid,)).fetchone()
    state = held_state(mock, order["status"], bool(order["delivered_at"]))
    free = mock.spec.seat_code("free")
    if state == free and mock.fault("seat-not-released"):
        return
    if state == free:
        db.execute("UPDATE seats SET state=?, orderid='' WHERE orderid=?", (free, orderid))
    else:
        db.execute("UPDATE seats SET state=? WHERE orderid=?", (state, orderid))


def claim(mock: Mock, db: sqlite3.Connection, show: Show, orderid: str, chosen: list[tuple[int, Seat]],
          wording: str = "{seats}") -> None:
    """Take the chosen seats (item seq, seat) for a new order, or raise `SeatTaken` worded by `wording`
    ({seats}: the seats held by others; the caller's transaction then rolls the whole booking back).
    The oversell fault drops the guard."""
    scene, day = show.key
    free = mock.spec.seat_code("free")
    guard = (free,) if not mock.fault("oversell") else ()
    db.executemany("INSERT OR IGNORE INTO seats(scene, day, seat, state) VALUES(?,?,?,?)",
                   [(scene, day, s.id, s.fixed or free) for _, s in chosen])
    ids = [s.id for _, s in chosen]
    marks = ",".join("?" * len(ids))
    held = mock.spec.seat_code("sold" if mock.fault("seat-sold-at-booking") else "booking")
    taken = db.execute(f"UPDATE seats SET state=?, orderid=? WHERE scene=? AND day=? AND seat IN ({marks})"
                       + (" AND state=?" if guard else ""), (held, orderid, scene, day, *ids, *guard)).rowcount
    if taken != len(ids):
        busy = [r["seat"] for r in db.execute(
            f"SELECT seat FROM seats WHERE scene=? AND day=? AND seat IN ({marks}) AND orderid!=?",
            (scene, day, *ids, orderid)).fetchall()]
        raise SeatTaken("seat_taken", f"seats {', '.join(busy)} are taken", fill="、".join(busy),
                        reason=wording.format(seats="、".join(busy)))
    db.executemany("INSERT INTO order_seats(orderid, item_seq, seat) VALUES(?,?,?)",
                   [(orderid, seq, s.id) for seq, s in chosen])


def record(db: sqlite3.Connection, orderid: str, show: Show, starts: datetime, seated: bool) -> None:
    """Remember the performance of a theater order; its start is the fee reference (2.6)."""
    db.execute("INSERT INTO stage_orders(orderid, scene, day, starts, seated) VALUES(?,?,?,?,?)",
               (orderid, *show.key, starts.strftime(STAMP), int(seated)))


def scene_start(mock: Mock, orderid: str) -> datetime | None:
    """When the show of a theater order starts (None for an order of no show)."""
    if mock.world.stage is None:
        return None
    with mock.store.reading() as db:  # re-entrant: callers may be inside a transaction of this store
        row = db.execute("SELECT starts FROM stage_orders WHERE orderid=?", (orderid,)).fetchone()
    return datetime.strptime(row["starts"], STAMP).replace(tzinfo=mock.tz) if row else None


def states(mock: Mock, db: sqlite3.Connection, show: Show, seats: tuple[Seat, ...]) -> dict[str, str]:
    """Seat id -> state for one performance: the supplier's fixed state (or free) unless a booking moved it."""
    moved = {r["seat"]: r["state"] for r in db.execute("SELECT seat, state FROM seats WHERE scene=? AND day=?",
                                                         show.key).fetchall()}
    free = mock.spec.seat_code("free")
    return {s.id: moved.get(s.id, s.fixed or free) for s in seats}


def unseated(mock: Mock, db: sqlite3.Connection, show: Show, product: str) -> int:
    """Tickets of `product` booked for the show without seats by orders still holding their place."""
    total, free = 0, mock.spec.seat_code("free")
    for row in db.execute("SELECT o.status, o.delivered_at, i.num FROM stage_orders s JOIN orders o ON o.orderid=s.orderid "
                          "JOIN order_items i ON i.orderid=s.orderid WHERE s.scene=? AND s.day=? AND s.seated=0 "
                          "AND i.productid=?", (*show.key, product)).fetchall():
        if held_state(mock, row["status"], bool(row["delivered_at"])) != free:
            total += row["num"]
    return total


def available(mock: Mock, db: sqlite3.Connection, stage: Stage, show: Show, product: str) -> int:
    """Tickets of `product` still on sale for the show (GetProducts2 enablecount)."""
    theater = stage.theater(show.scene.theater)
    seats = tuple(s for a in theater.areas if a.product == product for s in a.seats)
    free = mock.spec.seat_code("free")
    count = sum(1 for state in states(mock, db, show, seats).values() if state == free)
    return max(count - unseated(mock, db, show, product), 0)


def describe(mock: Mock, db: sqlite3.Connection, orderid: str, item_seq: int, start: int = 0,
             count: int | None = None) -> str:
    """seatlistdesc (4.2.8 line 2788): the seats of one order line in words, e.g. 池座5排6，7，8座;
    `start`/`count` pick some of them in booking order (one ticket's, gap getticketcontext-seatdesc-words)."""
    stage = mock.world.stage
    if stage is None:
        return ""
    rows = db.execute("SELECT seat FROM order_seats WHERE orderid=? AND item_seq=? ORDER BY rowid",
                      (orderid, item_seq)).fetchall()
    rows = rows[start:] if count is None else rows[start:start + count]
    seats = [s for s in (stage.seat(r["seat"]) for r in rows) if s is not None]
    parts = []
    for (area, row), group in groupby(seats, key=lambda s: (s.area, s.row)):
        parts.append(f"{stage.area(area).name}{row}排{'，'.join(s.num for s in group)}座")
    return "；".join(parts)
