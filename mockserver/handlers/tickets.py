"""Delivery and tickets (4.2.11, 4.2.41-4.2.43, 4.2.47, 4.2.51, 4.2.54): remote activation, the
sale bill and its tickets, voucher re-sends, ticket refunds, gate checks and real-name records,
plus the supplier-side events that deliver, check and refund tickets at the scenic spot."""

from __future__ import annotations

import base64
import json
import sqlite3
import struct
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Mapping

from spec.errors import BusinessError, ParamError, StateError, YbxError
from spec.model import Element, Page, Transition

from .. import delivery, ledger, machine, seats
from ..context import Call, Mock
from ..events import EventError, supplier_event
from ..store import Store, money, register_schema
from . import handles

register_schema(
    """
CREATE TABLE IF NOT EXISTS sale_bills(
  orderid TEXT PRIMARY KEY, businesstype TEXT NOT NULL, ticketdate TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ticket_checks(
  id INTEGER PRIMARY KEY AUTOINCREMENT, ticketid TEXT NOT NULL, orderid TEXT NOT NULL, at TEXT NOT NULL,
  stationname TEXT NOT NULL, gatenumber TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ticket_checks_ticket ON ticket_checks(ticketid, id);
""",
    ("sale_bills", "ticket_checks"),
)

DAY = "%Y%m%d"
# Ticket status codes of tables/ticket_status.yaml (2.3; 3 and 4 are GetTicketList's V4.0 refinements of 1).
VALID, REFUNDED, PRINTED, CONSUMED = "1", "2", "3", "4"
# businesstype / dealtype (lines 8194, 8984): 1 desk or kiosk, 2 internet remote activation.
DESK, REMOTE = "1", "2"
# The world file names no sales stations; these are the mock's own two.
STATIONS = {DESK: ("01", "售票窗口"), REMOTE: ("99", "互联网远程激活")}
# ActivateTicket tickettype (line 8147) -> the medium stored on the tickets; desk pickups print paper.
MEDIUM = {"1": "idcard", "2": "barcode"}
PAPER = "paper"
# GetProviderConfig tickettype (line 7698): which activation media the supplier lets agents ask for.
MEDIA_ALLOWED = {"1": {"1"}, "2": {"2"}, "3": {"1", "2"}}
ID_CARD = "1"
ACTIVATION_DAYS_AHEAD = 2  # "只能是当前自然日当天及其后的两天" (line 8115)
REFUND_CUTOFF = timedelta(minutes=30)  # timed entry: online refund only >30 min before the segment ends (line 11070)
EMPTY_KEYS = {"orderid": "orderid_empty", "activatedate": "activatedate_empty", "activatemode": "activatemode_empty",
              "activateall": "activateall_empty"}


# ---------------------------------------------------------------- shared helpers

def _only(element: Element, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {c.name for c in element.children}
    return {k: v for k, v in data.items() if k in names}


def _child(element: Element, *path: str) -> Element:
    for name in path:
        element = next(c for c in element.children if c.name == name)
    return element


def _shown_status(element: Element, status: str) -> str:
    """Pages listing only 1 and 2 see printed and consumed tickets as 1, as table 2.3 folds them."""
    allowed = _child(element, "status").values
    return status if not allowed or status in allowed else VALID


def _any_order(db: sqlite3.Connection, orderid: str) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM orders WHERE orderid=?", (orderid,)).fetchone()


def _reload(db: sqlite3.Connection, order: sqlite3.Row) -> sqlite3.Row:
    return _any_order(db, order["orderid"])


def _tickets(db: sqlite3.Connection, orderid: str) -> list[sqlite3.Row]:
    return db.execute("SELECT * FROM tickets WHERE orderid=? ORDER BY ticketid", (orderid,)).fetchall()


def _ticket(db: sqlite3.Connection, ticketid: str) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM tickets WHERE ticketid=?", (ticketid,)).fetchone()


def _free_counts(db: sqlite3.Connection, orderid: str) -> dict[str, int]:
    """Free persons per ticket: an item's N-free-X persons go to its first tickets (2.12)."""
    out: dict[str, int] = {}
    for item in machine.items(db, orderid):
        left = min(item["free_num"], item["dealnum"])
        for t in db.execute("SELECT ticketid, persons FROM tickets WHERE orderid=? AND item_seq=? ORDER BY ticketid",
                            (orderid, item["seq"])).fetchall():
            out[t["ticketid"]] = min(left, t["persons"])
            left -= out[t["ticketid"]]
    return out


def _segment(mock: Mock, order: sqlite3.Row):
    return next((s for s in mock.world.time_segments
                 if s.service == order["service_code"] and s.index == order["timespanindex"]), None)


def _sms(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, text: str, purpose: str, code: str = "") -> None:
    db.execute("INSERT INTO sms(agent, mobile, text, code, purpose, orderid, at) VALUES(?,?,?,?,?,?,?)",
               (order["agent"], order["mobile"], f"【{mock.world.supplier.providername}】{text}", code, purpose,
                order["orderid"], machine.stamp(mock.now())))


def _official_notices(db: sqlite3.Connection, order: sqlite3.Row) -> bool:
    agent = Store.agent(db, order["agent"])
    return agent is not None and agent.sendofficiallysnotify == "1"


def _callback_values(mock: Mock, page: str, values: Mapping[str, Any]) -> dict[str, str]:
    names = {p.name for p in mock.spec.page(page).params}
    return {k: str(v) for k, v in values.items() if k in names}


def _ticket_event(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, event: str, page: Page | None,
                  values: Mapping[str, Any]) -> Transition:
    """Fire a ticket-level self-transition; its callbacks carry `values` (the parameters the callback
    page defines). machine.fire only knows Notify_OrderChanged's parameters, so the rows it just
    queued are completed here, in the same transaction."""
    last = db.execute("SELECT COALESCE(MAX(id), 0) AS n FROM outbox").fetchone()["n"]
    transition = machine.fire(mock, db, order, event, page=page)
    # fire() stamps delivered_at for every target 3/D/X, self-transitions included; the delivery time stays.
    db.execute("UPDATE orders SET delivered_at=? WHERE orderid=?", (order["delivered_at"], order["orderid"]))
    for row in db.execute("SELECT id, page, params FROM outbox WHERE id>? AND orderid=?",
                          (last, order["orderid"])).fetchall():
        params = {**json.loads(row["params"]), **_callback_values(mock, row["page"], values)}
        db.execute("UPDATE outbox SET params=? WHERE id=?", (json.dumps(params, ensure_ascii=False), row["id"]))
    return transition


# ---------------------------------------------------------------- the e-ticket image

def _segment_bytes(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def ticket_image(ticketid: str) -> str:
    """Base64 of a tiny valid baseline JPEG (8x8 grey) whose comment segment names the ticket."""
    one_code = bytes([1] + [0] * 15) + b"\x00"  # a Huffman table with the single symbol 0 (DC 0 / EOB)
    jpeg = b"".join([
        b"\xff\xd8",
        _segment_bytes(0xFE, f"YBX e-ticket {ticketid}".encode()),
        _segment_bytes(0xDB, b"\x00" + b"\x01" * 64),
        _segment_bytes(0xC0, bytes([8, 0, 8, 0, 8, 1, 1, 0x11, 0])),
        _segment_bytes(0xC4, b"\x00" + one_code),
        _segment_bytes(0xC4, b"\x10" + one_code),
        _segment_bytes(0xDA, bytes([1, 1, 0, 0, 63, 0])),
        b"\x3f",  # DC category 0, then end of block, padded with ones
        b"\xff\xd9",
    ])
    return base64.b64encode(jpeg).decode("ascii")


# ---------------------------------------------------------------- sale bill and ticket records

def _ticketdate(db: sqlite3.Connection, order: sqlite3.Row) -> str:
    bill = db.execute("SELECT ticketdate FROM sale_bills WHERE orderid=?", (order["orderid"],)).fetchone()
    return bill["ticketdate"] if bill else order["effect_date"]


def _business_type(db: sqlite3.Connection, order: sqlite3.Row, tickets: list[sqlite3.Row]) -> str:
    """Recorded by this module; an order delivered elsewhere (auto-activation on payment) is remote."""
    bill = db.execute("SELECT businesstype FROM sale_bills WHERE orderid=?", (order["orderid"],)).fetchone()
    if bill:
        return bill["businesstype"]
    return DESK if tickets and all(t["medium"] == PAPER for t in tickets) else REMOTE


def _record_bill(db: sqlite3.Connection, orderid: str, businesstype: str, ticketdate: str) -> None:
    db.execute("INSERT OR REPLACE INTO sale_bills(orderid, businesstype, ticketdate) VALUES(?,?,?)",
               (orderid, businesstype, ticketdate))


def _ticket_data(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, ticket: sqlite3.Row, free: int,
                 businesstype: str) -> dict[str, Any]:
    seg = _segment(mock, order)
    price = money(ticket["price"])
    return {
        "productid": ticket["productid"], "productname": ticket["productname"], "ticketcode": ticket["ticketid"],
        "personcount": ticket["persons"], "ticketdate": _ticketdate(db, order), "freecount": free,
        "price": str(price), "summary": str(money(price * (ticket["persons"] - free))),
        "servicecode": order["service_code"],
        "servicename": next((s.name for s in mock.world.service_items if s.code == order["service_code"]), ""),
        "timespanindex": order["timespanindex"] if order["timespanindex"] is not None else "",
        "starttime": seg.start if seg else "", "endtime": seg.end if seg else "",
        "status": ticket["status"], "name": ticket["name"], "identitycode": ticket["idno"],
        "dealtype": businesstype, "seatdesc": _seat_desc(mock, db, ticket),
        # ID-card tickets have no image to show (gap getticketcontext-eticketimage-condition).
        "eticketimage": "" if ticket["medium"] == MEDIUM[ID_CARD] else ticket_image(ticket["ticketid"]),
    }


def _seat_desc(mock: Mock, db: sqlite3.Connection, ticket: sqlite3.Row) -> str:
    """The ticket's own seats: its line's tickets take the line's seats in turn, a person each."""
    before = db.execute("SELECT COALESCE(SUM(persons), 0) AS n FROM tickets WHERE orderid=? AND item_seq=? "
                        "AND ticketid<?", (ticket["orderid"], ticket["item_seq"], ticket["ticketid"])).fetchone()["n"]
    return seats.describe(mock, db, ticket["orderid"], ticket["item_seq"], before, ticket["persons"])


def _bill(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, element: Element) -> dict[str, Any]:
    """The sale bill of a delivered order as ActivateTicket / GetTicketList show it."""
    tickets = _tickets(db, order["orderid"])
    business = _business_type(db, order, tickets)
    free = _free_counts(db, order["orderid"])
    ticket_el = _child(element, "tickets", "ticket")
    rows = []
    for t in tickets:
        data = _only(ticket_el, _ticket_data(mock, db, order, t, free.get(t["ticketid"], 0), business))
        data["status"] = _shown_status(ticket_el, t["status"])
        rows.append(data)
    station_id, station_name = STATIONS[business]
    return _only(element, {
        "orderid": order["orderid"], "sellbillid": order["spdh"], "stationid": station_id,
        "stationname": station_name, "businesstype": business, "datetime": order["delivered_at"] or "",
        "total": order["total"], "dealtotal": str(money(Decimal(order["paid"]) + Decimal(order["fees"]))),
        "dealamount": order["paid"], "totalfees": order["fees"], "ticketcount": len(tickets),
        "personcount": sum(t["persons"] for t in tickets), "tickets": {"ticket": rows},
    })


# ---------------------------------------------------------------- ActivateTicket.aspx

def _require_values(call: Call) -> None:
    """The page's own 'must not be empty' messages (the pipeline answers first unless told to skip)."""
    for name, key in EMPTY_KEYS.items():
        if not call.get(name):
            raise ParamError(key, f"{name} is empty", param=name)
    if not call.get("tickettype"):
        raise ParamError("params_empty", "tickettype is empty", param="tickettype")


def _check_supplier(mock: Mock, tickettype: str) -> None:
    supplier = mock.world.supplier
    if supplier.activateable == "0":
        raise BusinessError("remote_activation_disabled")
    if tickettype not in MEDIA_ALLOWED.get(supplier.tickettype, set()):
        raise BusinessError("activation_mode_not_allowed", f"the supplier's tickettype is {supplier.tickettype}")


def _expected_mode(order: sqlite3.Row) -> str:
    """activatemode 2 is for rebate-authorised orders, 1 for deposit and instant payments (line 8153)."""
    return "2" if order["pay_type"] == "rebate" else "1"


def _activation_day(mock: Mock, order: sqlite3.Row, value: str) -> date:
    try:
        day = datetime.strptime(value, DAY).date()
    except ValueError:
        raise ParamError("bad_format", "activatedate is not yyyyMMdd", param="activatedate") from None
    today = mock.now().date()
    first, last = machine.effect_date(order), machine.expiry(mock, order).date() - timedelta(days=1)
    if not (today <= day <= today + timedelta(days=ACTIVATION_DAYS_AHEAD) and first <= day <= last):
        raise BusinessError("other_error", f"activatedate {value} is outside {max(today, first)}.."
                                           f"{min(today + timedelta(days=ACTIVATION_DAYS_AHEAD), last)}")
    return day


def _check_segment(mock: Mock, order: sqlite3.Row, value: str) -> None:
    """The segment was reserved at booking: -1 keeps it, an explicit index must be the same (line 8141).
    Its absence in timed mode is refused before (the parameter's required_when)."""
    if not mock.world.supplier.timed_entry or mock.world.supplier.mode != "scenic" or order["timespanindex"] is None:
        return
    if value not in ("", "-1") and value != str(order["timespanindex"]):
        raise BusinessError("other_error", f"timespanindex {value} differs from the booked {order['timespanindex']}")


def _activation_list(value: str, items: list[sqlite3.Row]) -> dict[int, int]:
    """activatelist pid|qty|... as item seq -> tickets to activate; a product booked on several lines
    fills them in order."""
    if not value:
        raise BusinessError("activatelist_missing")
    parts = value.split("|")
    if len(parts) % 2:
        raise ParamError("bad_format", "activatelist must be pid|qty pairs", param="activatelist")
    taken: dict[int, int] = {}
    for pid, qty in zip(parts[::2], parts[1::2]):
        lines = [i for i in items if i["productid"] == pid.strip()]
        if not lines:
            raise BusinessError("ticket_type_not_in_order", pid)
        if not qty.strip().isdigit():
            raise ParamError("bad_format", f"quantity of {pid} is not a number", param="activatelist")
        want = int(qty)
        for line in lines:
            room = line["num"] - taken.get(line["seq"], 0)
            step = min(room, want)
            taken[line["seq"]] = taken.get(line["seq"], 0) + step
            want -= step
        if want:
            raise BusinessError("quantity_exceeds_booking", pid)
    return taken


def _memo_people(db: sqlite3.Connection, order: sqlite3.Row, memo: str) -> dict[int, list[sqlite3.Row]]:
    """The order's real-name records the request picks, by item seq (index into the booking list)."""
    booked = {r["idno"]: r for r in db.execute("SELECT * FROM realnames WHERE orderid=? ORDER BY seq",
                                               (order["orderid"],)).fetchall()}
    if not booked:
        raise BusinessError("order_no_realname_info")
    chosen: dict[int, list[sqlite3.Row]] = {}
    seen: set[str] = set()
    for record in memo.split("|"):
        fields = [f.strip() for f in record.split("^")]
        if len(fields) != 5:
            raise BusinessError("validate_other", f"bad memo record {record!r}")
        if fields[0] in seen:
            raise BusinessError("duplicate_idcard_in_request", fields[0])
        seen.add(fields[0])
        person = booked.get(fields[0])
        if person is None:
            raise BusinessError("idcard_not_in_order", fields[0])
        if str(person["item_seq"]) != fields[3]:
            raise BusinessError("idcard_ticket_type_mismatch", fields[0])
        chosen.setdefault(person["item_seq"], []).append(person)
    return chosen


def _check_counts(mock: Mock, items: list[sqlite3.Row], counts: dict[int, int], named: dict[int, list],
                  tickettype: str, from_request: bool) -> None:
    """One real-name record per activated ticket where ID cards, real names or one-person tickets need it."""
    prefix = "request" if from_request else "order"
    for item in items:
        want, have = counts.get(item["seq"], 0), len(named.get(item["seq"], []))
        if not want or have == want:
            continue
        product = mock.world.product(item["productid"])
        if tickettype == ID_CARD:
            raise BusinessError(f"{prefix}_idcard_count_mismatch", item["productname"], fill=item["productname"])
        if product is not None and product.needname:
            raise BusinessError(f"{prefix}_realname_count_mismatch", item["productname"], fill=item["productname"])
        if have:
            raise BusinessError(f"{prefix}_one_per_person_count_mismatch", item["productname"], fill=item["productname"])


def _people(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, items: list[sqlite3.Row],
            counts: dict[int, int], memo: str, tickettype: str) -> dict[int, list[sqlite3.Row]] | None:
    if memo:
        chosen = _memo_people(db, order, memo)
        _check_counts(mock, items, counts, chosen, tickettype, True)
        return chosen
    booked: dict[int, list] = {}
    for r in db.execute("SELECT * FROM realnames WHERE orderid=?", (order["orderid"],)).fetchall():
        booked.setdefault(r["item_seq"], []).append(r)
    _check_counts(mock, items, counts, booked, tickettype, False)
    return None


def _assign_people(db: sqlite3.Connection, orderid: str, chosen: dict[int, list[sqlite3.Row]]) -> None:
    """delivery names tickets after the first booked persons; the request may have picked others."""
    for seq, people in chosen.items():
        tickets = db.execute("SELECT ticketid FROM tickets WHERE orderid=? AND item_seq=? ORDER BY ticketid",
                             (orderid, seq)).fetchall()
        for ticket, person in zip(tickets, people):
            db.execute("UPDATE tickets SET idno=?, name=? WHERE ticketid=?",
                       (person["idno"], person["name"], ticket["ticketid"]))


@handles("ActivateTicket.aspx")
def activate_ticket(mock: Mock, call: Call) -> dict:
    _require_values(call)
    tickettype = call.get("tickettype")
    _check_supplier(mock, tickettype)
    with mock.store.transaction() as db:
        order = machine.load_or_refuse(db, call.get("orderid"), call.agent.user, "order_not_found", call.get("orderid"))
        if not mock.spec.transitions_from(order["status"], "activate"):
            machine.fire(mock, db, order, "activate", page=call.page)  # raises the page's bad_order_state
        if call.get("activatemode") != _expected_mode(order):
            raise BusinessError("bad_activatemode", f"order paid by {order['pay_type']}")
        day = _activation_day(mock, order, call.get("activatedate"))
        _check_segment(mock, order, call.get("timespanindex"))
        items = machine.items(db, order["orderid"])
        if not items:
            raise BusinessError("no_order_items")
        counts = ({i["seq"]: i["num"] for i in items} if call.get("activateall") == "1"
                  else _activation_list(call.get("activatelist"), items))
        if sum(counts.values()) == 0:
            raise BusinessError("nothing_to_activate")
        chosen = _people(mock, db, order, items, counts, call.get("memo"), tickettype)
        delivery.deliver(mock, db, order, "activate", taken=counts, medium=MEDIUM[tickettype], page=call.page)
        if chosen:
            _assign_people(db, order["orderid"], chosen)
        _record_bill(db, order["orderid"], REMOTE, day.strftime(DAY))
        if call.get("sendnotification") != "0" and _official_notices(db, order):
            how = "凭身份证" if tickettype == ID_CARD else "凭手机条码"
            _sms(mock, db, order, f"订单{order['orderid']}已激活，游览日期{day.strftime(DAY)}，请{how}检票入园。",
                 "activated")
        return {"Item": _bill(mock, db, _reload(db, order), call.page.response[0])}


# ---------------------------------------------------------------- GetTicketList / GetTicketContext

@handles("GetTicketList.aspx")
def get_ticket_list(mock: Mock, call: Call) -> dict:
    with mock.store.reading() as db:
        order = machine.load_or_refuse(db, call.get("orderid"), call.agent.user,
                                       "other_error", f"no order {call.get('orderid')}")
        if not _tickets(db, order["orderid"]):
            return {}  # not delivered yet: no sale bill (gap getticketlist-undelivered-order)
        return {"Item": _bill(mock, db, order, call.page.response[0])}


@handles("GetTicketContext.aspx")
def get_ticket_context(mock: Mock, call: Call) -> dict:
    with mock.store.reading() as db:
        order = machine.load(db, call.get("orderid"), call.agent.user)
        ticket = _ticket(db, call.get("ticketcode"))
        if order is None or ticket is None or ticket["orderid"] != order["orderid"]:
            raise BusinessError("other_error", f"no ticket {call.get('ticketcode')} in order {call.get('orderid')}")
        element = call.page.response[0]
        free = _free_counts(db, order["orderid"]).get(ticket["ticketid"], 0)
        data = _only(element, _ticket_data(mock, db, order, ticket, free,
                                           _business_type(db, order, _tickets(db, order["orderid"]))))
        data["status"] = _shown_status(element, ticket["status"])
        return {"Item": data}


# ---------------------------------------------------------------- ReMakeTicket.aspx

def _send_voucher(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, purpose: str, text: str) -> None:
    """Within voucher_resend_seconds of the last voucher the same message is counted, not sent again."""
    last = db.execute("SELECT id, at FROM sms WHERE orderid=? AND purpose=? ORDER BY id DESC LIMIT 1",
                      (order["orderid"], purpose)).fetchone()
    window = timedelta(seconds=mock.world.supplier.voucher_resend_seconds)
    if last is not None and mock.now() - machine.parse_stamp(last["at"], mock) < window:
        db.execute("UPDATE sms SET sends=sends+1 WHERE id=?", (last["id"],))
        return
    _sms(mock, db, order, text, purpose, code=order["orderid"][-8:])


@handles("ReMakeTicket.aspx")
def remake_ticket(mock: Mock, call: Call) -> dict:
    with mock.store.transaction() as db:
        order = machine.load_or_refuse(db, call.get("Order_id"), call.agent.user,
                                       "order_not_found", f"no order {call.get('Order_id')}")
        if not order["mobile"]:
            raise BusinessError("no_booker_mobile")
        _ticket_event(mock, db, order, "remake_ticket", call.page, {})
        model = call.get("smsModel")
        code = order["orderid"][-8:]
        if model in ("0", "2"):
            _send_voucher(mock, db, order, "voucher_sms", f"订单{order['orderid']}取票凭证码{code}，请凭此码取票。")
        if model in ("1", "2"):
            _send_voucher(mock, db, order, "voucher_mms", f"订单{order['orderid']}二维码取票凭证：YBX:{code}")
    return {}


# ---------------------------------------------------------------- refunds

def _refusable(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, ticket: sqlite3.Row,
               allowed: tuple[str, ...]) -> str | None:
    """Why the ticket cannot be refunded now, or None."""
    names = {s.code: s.name_zh for s in mock.spec.ticket_statuses}
    if ticket["status"] not in allowed:
        return f"门票{ticket['ticketid']}{names.get(ticket['status'], ticket['status'])}，不能退票"
    now = mock.now()
    if now >= machine.expiry(mock, order):
        return f"门票{ticket['ticketid']}已过有效期"
    seg = _segment(mock, order)
    if seg is not None and mock.world.supplier.timed_entry:
        end = datetime.strptime(f"{_ticketdate(db, order)} {seg.end}", f"{DAY} %H:%M").replace(tzinfo=mock.tz)
        if now > end - REFUND_CUTOFF:
            return f"门票{ticket['ticketid']}的时段{seg.start}-{seg.end}已近截止，不能退票"
    item = db.execute("SELECT free_num FROM order_items WHERE orderid=? AND seq=?",
                      (order["orderid"], ticket["item_seq"])).fetchone()
    if item["free_num"] and ticket["persons"] == 1:
        return f"门票{ticket['ticketid']}享受现返，一人一票不能退票"  # 2.11 (lines 366-369)
    return None


def refund_ticket(mock: Mock, db: sqlite3.Connection, order: sqlite3.Row, ticket: sqlite3.Row, mode: str,
                  page: Page | None) -> dict[str, str]:
    """Refund one ticket whole (2.7.3): fee by rule (h) now, the rest back by refund mode; returns the
    refund's callback values."""
    now, at = mock.now(), machine.stamp(mock.now())
    pay_type = order["pay_type"]
    free = _free_counts(db, order["orderid"]).get(ticket["ticketid"], 0)
    price = money(ticket["price"])
    paying = ticket["persons"] - free
    amount = money(price * paying)
    fee = min(money(machine.fee_per_ticket(mock, ticket["productid"], price, order, now) * paying), amount)
    returned = money(amount - fee)
    if mode == "2" and pay_type in delivery.ACCOUNT:
        ledger.credit(db, order["agent"], delivery.ACCOUNT[pay_type], returned, "refund", order["orderid"], at,
                      f"ticket {ticket['ticketid']}")
    elif mode == "2" and pay_type == "instant":
        db.execute("UPDATE orders SET refund=? WHERE orderid=?",
                   (str(money(Decimal(order["refund"]) + returned)), order["orderid"]))
    db.execute("UPDATE tickets SET status=?, refunded_at=?, refund_fee=?, refund_amount=?, refund_mode=? "
               "WHERE ticketid=?", (REFUNDED, at, str(fee), str(returned), mode, ticket["ticketid"]))
    values = {"sellbillid": order["spdh"], "selldatetime": order["delivered_at"] or "",
              "ticketcode": ticket["ticketid"], "refunddatetime": at, "refundmode": mode,
              "productsid": ticket["productid"], "productname": ticket["productname"], "price": str(price),
              "totalcount": ticket["persons"], "freecount": free, "amount": str(amount), "fees": str(fee),
              "returnamount": str(returned)}
    _ticket_event(mock, db, _reload(db, order), "ticket_refund", page, values)
    if _official_notices(db, order):
        _sms(mock, db, order, f"订单{order['orderid']}门票{ticket['ticketid']}退票成功，退还{returned}元。", "refunded")
    return values


def _refund_mode(order: sqlite3.Row, asked: str) -> str:
    """Desk-paid tickets are cash either way and reported as 1; rebate tickets only go back to the
    rebate account (gaps notify-refund-mode-for-desk-pay, notify-refund-fk-desk-cash-conflict)."""
    if order["pay_type"] == "desk":
        return "1"
    if order["pay_type"] == "rebate" and asked != "2":
        raise StateError("rebate_refund_only", "rebate tickets are refunded to the rebate account only (4.2.45.3)")
    return asked


@handles("RefundTicket.aspx")
def refund_tickets(mock: Mock, call: Call) -> dict:
    codes = list(dict.fromkeys(c.strip() for c in call.get("ticketcode").split("|") if c.strip()))
    with mock.store.transaction() as db:
        order = machine.load_or_refuse(db, call.get("orderid"), call.agent.user, "order_not_found", call.get("orderid"))
        tickets = [_ticket(db, c) for c in codes]
        # The page lists no code for these refusals: -1 with a free message (gap refundticket-refusal-retcodes).
        if not tickets or any(t is None or t["orderid"] != order["orderid"] for t in tickets):
            raise StateError("tickets_not_in_one_order", "unknown tickets, or tickets of another order")
        for ticket in tickets:
            reason = _refusable(mock, db, order, ticket, (VALID,))
            if reason:
                raise StateError("ticket_not_refundable", f"ticket {ticket['ticketid']} cannot be refunded now",
                                 fill=ticket["ticketid"], reason=reason)
        mode = _refund_mode(order, "2")
        for ticket in tickets:
            refund_ticket(mock, db, _reload(db, order), ticket, mode, call.page)
        return {"Item": {"orderid": order["orderid"]}}


# ---------------------------------------------------------------- QueryTicketCheckList / GetProductsIdentity

@handles("QueryTicketCheckList.aspx")
def query_ticket_checks(mock: Mock, call: Call) -> dict:
    with mock.store.reading() as db:
        order = machine.load(db, call.get("orderid"), call.agent.user)
        rows = []
        if order is not None:
            rows = db.execute("SELECT * FROM ticket_checks WHERE ticketid=? AND orderid=? ORDER BY id",
                              (call.get("ticketcode"), order["orderid"])).fetchall()
    if not rows:
        raise BusinessError("no_check_records", call.get("ticketcode"))
    return {"Item": [{"ticketcode": r["ticketid"], "datetime": r["at"], "stationname": r["stationname"],
                      "gatenumber": r["gatenumber"]} for r in rows]}


@handles("GetProductsIdentity.aspx")
def get_products_identity(mock: Mock, call: Call) -> dict:
    with mock.store.reading() as db:
        order = machine.load_or_refuse(db, call.get("orderid"), call.agent.user, "order_not_found", call.get("orderid"))
        rows = db.execute(
            "SELECT r.*, i.productid, i.productname, "
            "(SELECT t.status FROM tickets t WHERE t.orderid=r.orderid AND t.idno=r.idno) AS ticket_status "
            "FROM realnames r JOIN order_items i ON i.orderid=r.orderid AND i.seq=r.item_seq "
            "WHERE r.orderid=? ORDER BY r.seq", (order["orderid"],)).fetchall()
    # status has no value set (gap getproductsidentity-type-status-values): the person's ticket status once delivered.
    return {"Item": [{"orderid": r["orderid"], "productid": r["productid"], "productname": r["productname"],
                      "type": r["idtype"], "status": r["ticket_status"] or "", "identitycode": r["idno"],
                      "name": r["name"], "mobile": r["mobile"]} for r in rows]}


# ---------------------------------------------------------------- supplier events

def _field(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value in (None, ""):
        raise EventError(f"{name} is required", status=400)
    return str(value)


def _taken(body: Mapping[str, Any]) -> dict[int, int] | None:
    raw = body.get("taken")
    if raw is None:
        return None
    try:
        return {int(k): int(v) for k, v in dict(raw).items()}
    except (TypeError, ValueError):
        raise EventError("taken must map item seq to a number of tickets", status=400) from None


def _event_order(db: sqlite3.Connection, body: Mapping[str, Any]) -> sqlite3.Row:
    orderid = _field(body, "orderid")
    order = _any_order(db, orderid)
    if order is None:
        raise EventError(f"no order {orderid}", status=404)
    return order


def _event_ticket(db: sqlite3.Connection, body: Mapping[str, Any]) -> tuple[sqlite3.Row, sqlite3.Row]:
    ticketid = _field(body, "ticketid")
    ticket = _ticket(db, ticketid)
    if ticket is None:
        raise EventError(f"no ticket {ticketid}", status=404)
    return ticket, _any_order(db, ticket["orderid"])


def _desk_delivery(mock: Mock, body: Mapping[str, Any], event: str, pay_type: str | None) -> dict:
    with mock.store.transaction() as db:
        order = _event_order(db, body)
        ticketdate = str(body.get("ticketdate") or order["effect_date"])
        try:
            delivery.deliver(mock, db, order, event, taken=_taken(body), medium=PAPER, pay_type=pay_type)
        except YbxError as exc:
            raise EventError(f"{event} refused: {exc.detail or exc.key}") from None
        db.execute("UPDATE tickets SET status=? WHERE orderid=?", (PRINTED, order["orderid"]))
        _record_bill(db, order["orderid"], DESK, ticketdate)
        order = _reload(db, order)
        return {"orderid": order["orderid"], "status": order["status"], "paid": order["paid"], "fees": order["fees"],
                "tickets": [t["ticketid"] for t in _tickets(db, order["orderid"])]}


@supplier_event("desk-pickup", '{"orderid": str, "taken"?: {item_seq: n}, "ticketdate"?: "yyyyMMdd"}',
                "Tickets of a paid order are picked up (printed) at the desk or kiosk: 2/6/C -> 3/3/D; "
                "tickets not taken are charged the default fee.")
def desk_pickup(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return _desk_delivery(mock, body, "desk_pickup", None)


@supplier_event("desk-pay", '{"orderid": str, "taken"?: {item_seq: n}, "ticketdate"?: "yyyyMMdd"}',
                "The visitor pays cash at the desk and takes printed tickets: 0 -> X, for agents with desk payment.")
def desk_pay(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    with mock.store.reading() as db:
        order = _event_order(db, body)
    agent = mock.world.agent(order["agent"])
    if agent is None or "desk" not in agent.pay_types:
        raise EventError(f"{order['agent']} may not pay at the desk (使用前台现付, 3.2)")
    return _desk_delivery(mock, body, "desk_pay", "desk")


@supplier_event("gate-check", '{"ticketid": str, "stationname"?: str, "gatenumber"?: str}',
                "The ticket passes a gate: a check record; the first passage consumes the ticket (status 4) "
                "and queues Notify_Checked.")
def gate_check(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    station, gate = str(body.get("stationname") or "主入口"), str(body.get("gatenumber") or "01")
    with mock.store.transaction() as db:
        ticket, order = _event_ticket(db, body)
        if ticket["status"] == REFUNDED:
            raise EventError(f"ticket {ticket['ticketid']} is refunded")
        if mock.now() >= machine.expiry(mock, order):
            raise EventError(f"ticket {ticket['ticketid']} has expired")
        at = machine.stamp(mock.now())
        first = ticket["status"] != CONSUMED
        if first:  # only the first passage is called back (line 9572)
            try:
                _ticket_event(mock, db, order, "gate_check", None,
                              {"ticketcode": ticket["ticketid"], "refunddatetime": at, "stationname": station,
                               "gatenumber": gate})
            except YbxError as exc:
                raise EventError(f"gate check refused: {exc.detail or exc.key}") from None
            db.execute("UPDATE tickets SET status=?, checked_at=? WHERE ticketid=?", (CONSUMED, at, ticket["ticketid"]))
        db.execute("INSERT INTO ticket_checks(ticketid, orderid, at, stationname, gatenumber) VALUES(?,?,?,?,?)",
                   (ticket["ticketid"], order["orderid"], at, station, gate))
        checks = db.execute("SELECT COUNT(*) AS n FROM ticket_checks WHERE ticketid=?",
                            (ticket["ticketid"],)).fetchone()["n"]
    return {"ticketid": ticket["ticketid"], "orderid": order["orderid"], "status": CONSUMED, "checks": checks,
            "notified": first}


@supplier_event("desk-refund", '{"ticketid": str, "mode": "1"|"2"}',
                "A ticket is refunded at the desk: 1 cash at the supplier's price, 2 back to the source of "
                "payment; the default fee is deducted.")
def desk_refund(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    mode = str(body.get("mode", "2"))
    if mode not in {m.code for m in mock.spec.refund_modes}:
        raise EventError(f"mode must be one of {[m.code for m in mock.spec.refund_modes]}", status=400)
    with mock.store.transaction() as db:
        ticket, order = _event_ticket(db, body)
        reason = _refusable(mock, db, order, ticket, (VALID, PRINTED))
        if reason:
            raise EventError(reason)
        try:
            values = refund_ticket(mock, db, order, ticket, _refund_mode(order, mode), None)
        except YbxError as exc:
            raise EventError(f"refund refused: {exc.detail or exc.key}") from None
    return {"ticketid": ticket["ticketid"], "orderid": order["orderid"], "refundmode": values["refundmode"],
            "amount": values["amount"], "fees": values["fees"], "returnamount": values["returnamount"]}
