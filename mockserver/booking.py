"""Creating an order: the checks of 4.2.4 shared by OrderProducts and the one-step
OrderAndPayWith* pages, stock and time-slot use, N-free-X, idempotency on senderid/XCDDH."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from spec.errors import BusinessError, ParamError

from . import machine
from .context import Call, Mock
from .store import Store, money
from .world import Product

DAY = "%Y%m%d"


@dataclass(frozen=True)
class Booking:
    """What a booking page asked for, in plain values."""

    order_list: str
    mobile: str
    idcard: str
    effect_date: str
    senderid: str = ""
    memo: str = ""
    idcount: str = ""
    need_invoice: str = "0"
    invoice_title: str = ""
    service_code: str = ""
    timespanindex: str = ""


@dataclass(frozen=True)
class Line:
    seq: int
    product: Product
    num: int


@dataclass(frozen=True)
class Person:
    idno: str
    name: str
    mobile: str
    item_seq: int
    idtype: str


def parse_lines(mock: Mock, order_list: str) -> list[Line]:
    parts = order_list.split("|")
    if len(parts) % 2:
        raise ParamError("bad_params", "Order_list must be pid|qty pairs", param="Order_list")
    lines = []
    for i in range(0, len(parts), 2):
        pid, qty = parts[i].strip(), parts[i + 1].strip()
        product = mock.world.product(pid)
        if product is None:
            raise BusinessError("product_not_bookable", f"unknown product {pid}")
        if not qty.isdigit() or int(qty) <= 0:
            raise ParamError("bad_params", f"quantity of {pid} is not a positive integer", param="Order_list")
        num = int(qty)
        if num < product.minimum or num > product.maximum:
            raise ParamError("bad_params", f"{pid}: {num} is outside {product.minimum}..{product.maximum}",
                             param="Order_list")
        lines.append(Line(len(lines) + 1, product, num))
    return lines


def parse_memo(memo: str, lines: list[Line]) -> list[Person]:
    if not memo:
        return []
    people = []
    for record in memo.split("|"):
        fields = record.split("^")
        if len(fields) != 5 or not fields[3].isdigit() or not 1 <= int(fields[3]) <= len(lines):
            raise BusinessError("realname_count_mismatch", f"bad memo record {record!r}")
        people.append(Person(fields[0].strip(), fields[1].strip(), fields[2].strip(), int(fields[3]), fields[4].strip()))
    return people


_ID18 = re.compile(r"\d{17}[\dXx]|\d{15}")


def _check_people(mock: Mock, db: sqlite3.Connection, lines: list[Line], people: list[Person]) -> None:
    for line in lines:
        named = [p for p in people if p.item_seq == line.seq]
        if line.product.needname and not named:
            raise BusinessError("realname_info_missing", f"{line.product.id} needs real-name records")
        if len(named) > line.num:
            raise BusinessError("realname_count_exceeds_tickets", f"{line.product.id}: {len(named)} > {line.num}")
        if line.product.needname and len(named) != line.num:
            raise BusinessError("realname_count_mismatch", f"{line.product.id}: {len(named)} != {line.num}")
    seen: set[str] = set()
    active = [s.code for s in mock.spec.order_statuses if s.active]
    for person in people:
        if person.idtype == "1" and not _ID18.fullmatch(person.idno):
            raise BusinessError("bad_pickup_id", f"{person.idno} is not an ID card number", fill=person.idno)
        if person.idno in seen:
            raise BusinessError("duplicate_id_number", person.idno)
        seen.add(person.idno)
        marks = ",".join("?" * len(active))
        hit = db.execute(
            f"SELECT 1 FROM realnames r JOIN orders o ON o.orderid=r.orderid WHERE r.idno=? AND o.status IN ({marks})",  # noqa: S608
            (person.idno, *active),
        ).fetchone()
        if hit:
            raise BusinessError("id_already_booked", f"{person.idno} is in an active order", fill=person.idno)


def _use_stock(mock: Mock, db: sqlite3.Connection, lines: list[Line], day: date) -> None:
    key = day.strftime(DAY)
    for line in lines:
        p = line.product
        if day in p.sold_out:
            raise BusinessError("daily_limit_failed", f"{p.id} is sold out on {key}")
        if p.daily_stock:
            row = db.execute("SELECT used FROM stock WHERE productid=? AND day=?", (p.id, key)).fetchone()
            used = row["used"] if row else 0
            if used + line.num > p.daily_stock and not mock.fault("oversell"):
                raise BusinessError("daily_limit_failed", f"{p.id}: {p.daily_stock - used} left on {key}")
        db.execute("INSERT INTO stock(productid, day, used) VALUES(?,?,?) "
                   "ON CONFLICT(productid, day) DO UPDATE SET used=used+excluded.used", (p.id, key, line.num))


def _use_segment(mock: Mock, db: sqlite3.Connection, lines: list[Line], day: date, wanted: str, service: str) -> int | None:
    if not mock.world.supplier.timed_entry:
        return None
    service = service or lines[0].product.service
    people = sum(line.num for line in lines)
    segments = sorted((s for s in mock.world.time_segments if s.service == service), key=lambda s: s.start)
    if wanted not in ("", "-1"):
        segments = [s for s in segments if str(s.index) == wanted]
    key = day.strftime(DAY)
    for seg in segments:
        row = db.execute("SELECT used FROM segment_use WHERE service=? AND day=? AND idx=?",
                         (seg.service, key, seg.index)).fetchone()
        used = row["used"] if row else 0
        if used + people <= seg.capacity:
            db.execute("INSERT INTO segment_use(service, day, idx, used) VALUES(?,?,?,?) ON CONFLICT(service, day, idx) "
                       "DO UPDATE SET used=used+excluded.used", (seg.service, key, seg.index, people))
            return seg.index
    raise BusinessError("no_segments", f"no time slot with room for {people} on {key}")


def free_tickets(product: Product, num: int) -> int:
    """N-free-X (2.12): every `free_every` tickets of one product in one order, `free_count` are free."""
    if not product.free_every:
        return 0
    return (num // product.free_every) * product.free_count


def existing(db: sqlite3.Connection, agent: str, senderid: str) -> sqlite3.Row | None:
    if not senderid:
        return None
    return db.execute("SELECT * FROM orders WHERE agent=? AND senderid=? ORDER BY created_at LIMIT 1",
                      (agent, senderid)).fetchone()


def book(mock: Mock, db: sqlite3.Connection, call: Call, b: Booking) -> tuple[sqlite3.Row, bool]:
    """Create the order (status 0 through the `book` transition); (order, created). A repeated
    senderid returns the first order unchanged (created = False)."""
    if not mock.fault("duplicate-order-on-repeat"):
        found = existing(db, call.agent.user, b.senderid)
        if found is not None:
            return found, False
    now = mock.now()
    lines = parse_lines(mock, b.order_list)
    try:
        day = datetime.strptime(b.effect_date, DAY).date()
    except ValueError:
        raise ParamError("bad_format", "SXRQ is not yyyyMMdd", param="SXRQ") from None
    if day < now.date() or day > now.date() + timedelta(days=mock.world.supplier.presale_days):
        raise BusinessError("presale_date_out_of_range", f"{b.effect_date} is outside the sale window")
    people = parse_memo(b.memo, lines)
    if b.idcount and b.idcount.isdigit() and int(b.idcount) > 0 and int(b.idcount) != len(people):
        raise BusinessError("realname_count_mismatch", f"IDCount {b.idcount} != {len(people)} records")
    _check_people(mock, db, lines, people)
    if call.agent.daily_limit:
        row = db.execute("SELECT COALESCE(SUM(i.num),0) AS n FROM order_items i JOIN orders o ON o.orderid=i.orderid "
                         "WHERE o.agent=? AND o.effect_date=? AND o.status!='4'", (call.agent.user, b.effect_date)).fetchone()
        if row["n"] + sum(line.num for line in lines) > call.agent.daily_limit:
            raise BusinessError("agent_daily_limit_reached")
    _use_stock(mock, db, lines, day)
    segment = _use_segment(mock, db, lines, day, b.timespanindex, b.service_code)

    orderid = Store.next_order_id(db, now.strftime(DAY))
    total = Decimal("0.00")
    for line in lines:
        free = free_tickets(line.product, line.num)
        amount = money(line.product.price * (line.num - free))
        total += amount
        db.execute("INSERT INTO order_items(orderid, seq, productid, productname, num, free_num, price, amount) "
                   "VALUES(?,?,?,?,?,?,?,?)", (orderid, line.seq, line.product.id, line.product.name, line.num, free,
                                               str(money(line.product.price)), str(amount)))
    for i, person in enumerate(people, 1):
        db.execute("INSERT INTO realnames VALUES(?,?,?,?,?,?,?)",
                   (orderid, i, person.idno, person.name, person.mobile, person.item_seq, person.idtype))
    deadline = None
    if "desk" not in call.agent.pay_types:
        deadline = machine.stamp(now + timedelta(minutes=mock.world.supplier.paytimeout_minutes))
    db.execute(
        "INSERT INTO orders(orderid, agent, senderid, status, effect_date, mobile, idcard, need_invoice, invoice_title, "
        "service_code, timespanindex, total, created_at, pay_deadline, page) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (orderid, call.agent.user, b.senderid, mock.spec.initial_status, b.effect_date, b.mobile, b.idcard,
         b.need_invoice or "0", b.invoice_title, b.service_code or lines[0].product.service, segment, str(money(total)),
         machine.stamp(now), deadline, call.page.page),
    )
    order = db.execute("SELECT * FROM orders WHERE orderid=?", (orderid,)).fetchone()
    machine.fire(mock, db, order, "book", page=call.page)
    agent = Store.agent(db, call.agent.user)
    if agent.sendofficiallysnotify == "1":
        db.execute("INSERT INTO sms(agent, mobile, text, purpose, orderid, at) VALUES(?,?,?,?,?,?)",
                   (call.agent.user, b.mobile, f"【{mock.world.supplier.providername}】预订成功：订单{orderid}，"
                    f"生效日期{b.effect_date}。", "booked", orderid, machine.stamp(now)))
    return db.execute("SELECT * FROM orders WHERE orderid=?", (orderid,)).fetchone(), True


def release_usage(db: sqlite3.Connection, order: sqlite3.Row) -> None:
    """Give back the stock and time-slot room an order took (on closing)."""
    rows = machine.items(db, order["orderid"])
    for item in rows:
        db.execute("UPDATE stock SET used=MAX(used-?,0) WHERE productid=? AND day=?",
                   (item["num"], item["productid"], order["effect_date"]))
    if order["timespanindex"] is not None:
        db.execute("UPDATE segment_use SET used=MAX(used-?,0) WHERE service=? AND day=? AND idx=?",
                   (sum(i["num"] for i in rows), order["service_code"], order["effect_date"], order["timespanindex"]))
