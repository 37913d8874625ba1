"""Theater (演艺剧场, seat-mode) pages, flow 4.1.3: theaters (4.2.17), scenes (4.2.18), products per
show (4.2.3), seat areas (4.2.19), rows and seats (4.2.20), seat states (4.2.21), and booking with
seats (4.2.5), alone or paid in the same call from the deposit (4.2.49) or the rebate (4.2.48)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any

from spec.errors import BusinessError, ParamError, message_for

from .. import booking, machine, seats
from ..context import Call, Mock
from ..seats import Show
from ..stage import Scene, Seat, SeatArea, Stage, Theater, hhmm
from . import handles, payments
from .orders import agent_item

DAY = "%Y%m%d"
# Choices the manual leaves open, read from the spec's gaps (page, gap id): the words of a taken
# seat, and the retcode key of a seat-less booking the show has no room for.
SEAT_TAKEN = ("OrderProducts2.aspx", "orderproducts2-seat-taken")
SEATLESS_ROOM = ("OrderProducts2.aspx", "orderproducts2-seatless-room")
# The gap (id suffix) of a one-step page naming the page whose retcodes word the scene and seat
# refusals it does not list (gaps orderandpaywithydj2/fk2-scene-seat-refusals).
WORDED_AS = "-scene-seat-refusals"
DEFAULT_DAYS = 3  # GetProducts2 without dates: today and the next two days (gap getproducts2-three-days)


def _stage(mock: Mock) -> Stage:
    if mock.world.stage is None:  # a theater-mode world always has one (stage.load_stage)
        raise BusinessError("call_failed", "this supplier has no theaters")
    return mock.world.stage


def _day(call: Call, name: str) -> date:
    try:
        return datetime.strptime(call.get(name), DAY).date()
    except ValueError:
        raise ParamError("bad_format", f"{name} is not a yyyyMMdd date", param=name) from None


def _window(mock: Mock) -> tuple[date, date]:
    today = mock.now().date()
    return today, today + timedelta(days=mock.world.supplier.presale_days)


def on_sale(mock: Mock, scene: Scene, day: date) -> bool:
    """The show can be booked on the internet now: performed that day, enabled, within the sale
    window, before its sales cut-off (gap querytheatersencelist-time-format)."""
    first, last = _window(mock)
    return (scene.enabled and scene.runs_on(day) and first <= day <= last
            and mock.now() < scene.sales_close(day, mock.tz))


def choice(mock: Mock, where: tuple[str, str]) -> str:
    """The value a gap of the spec fixes where the manual is silent."""
    gap = mock.spec.page(where[0]).gap(where[1])
    if gap is None or gap.value is None:
        raise BusinessError("call_failed", f"the spec records no value for gap {where[1]}")
    return gap.value


def refuse(mock: Mock, call: Call, *keys: str, detail: str = "", fill: str | None = None) -> BusinessError:
    """A refusal under the first of `keys` the page lists; the one-step pages answer call_failed
    worded as the page their gap names words the refusal."""
    for key in keys:
        if call.page.retcode(key):
            return BusinessError(key, detail, fill=fill)
    worded = next((g.value for g in call.page.gaps if g.id.endswith(WORDED_AS) and g.value), None)
    for key in keys:
        sibling = mock.spec.page(worded).retcode(key) if worded else None
        if sibling is not None:
            reason = message_for(mock.spec, sibling, BusinessError(key, detail, fill=fill)).rstrip("。.；;")
            return BusinessError("call_failed", detail, fill=fill, reason=reason)
    return BusinessError(keys[0], detail, fill=fill)  # the page's fallback, worded by the spec's reasons table


# ------------------------------------------------------------------ catalogue


@handles("QueryTheaterList.aspx")
def query_theater_list(mock: Mock, call: Call) -> dict:
    theaters = _stage(mock).theaters
    if not theaters:
        raise BusinessError("no_theaters")
    return {"item": [{"TheaterID": t.id, "TheaterName": t.name} for t in theaters]}


@handles("QueryTheaterSenceList.aspx")
def query_theater_sence_list(mock: Mock, call: Call) -> dict:
    theater = _stage(mock).theater(call.get("TheaterID"))
    day = _day(call, "TicketDate")
    if theater is None:
        raise BusinessError("no_sessions", f"no theater {call.get('TheaterID')}")
    scenes = [s for s in theater.scenes if on_sale(mock, s, day)]
    if not scenes:
        raise BusinessError("no_sessions", f"no scene of {theater.id} on sale for {day:%Y%m%d}")
    return {"item": [{"TheaterID": theater.id, "SenceID": s.id, "SenceName": s.name, "StartTime": hhmm(s.start),
                      "EndTime": hhmm(s.end), "SellEndingTime": hhmm(s.sell_end),
                      "StartCheckTime": hhmm(s.check_start), "EndCheckTime": hhmm(s.check_end)} for s in scenes]}


def _dates(mock: Mock, call: Call) -> list[date]:
    """TicketDate alone, TicketDate..TicketDate2, or three days from today (4.2.3 line 1466),
    kept to the dates on sale (gap getproducts2-ticketdate2-undefined)."""
    first, last = _window(mock)
    if call.get("TicketDate"):
        start = _day(call, "TicketDate")
        end = _day(call, "TicketDate2") if call.get("TicketDate2") else start
    else:
        start, end = first, first + timedelta(days=DEFAULT_DAYS - 1)
    start, end = max(start, first), min(end, last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _product_item(mock: Mock, db: sqlite3.Connection, stage: Stage, theater: Theater, show: Show,
                  product_id: str) -> dict[str, Any]:
    p = mock.world.product(product_id)
    return {
        "productid": p.id, "productname": p.name, "Classid": p.classid,
        "classname": "虚拟产品" if p.classid == "1" else "有形产品", "theaterid": theater.id,
        "theatername": theater.name, "sceneid": show.scene.id, "scenename": show.scene.name,
        "scenenstarttime": hhmm(show.scene.start), "scenenendtime": hhmm(show.scene.end),
        "ticketdate": show.day.strftime(DAY), "enablecount": seats.available(mock, db, stage, show, p.id),
        "unit": p.unit, "price": f"{p.price:.2f}", "conditionsofsale": "", "minimum": p.minimum,
        "maximum": p.maximum, "SimpleIDmaximum": p.simple_id_max, "shippingmethod": "A", "Preorder": p.preorder_days,
        "PreorderDays": 1, "EffectBegPeriod": "", "EffectEndPeriod": "", "EffectPeriodNegated": "0",
        "webpredays": p.webpredays, "weblong": p.preorder_days, "needname": "1" if p.needname else "0",
    }


@handles("GetProducts2.aspx")
def get_products2(mock: Mock, call: Call) -> dict:
    stage = _stage(mock)
    theaters = [t for t in stage.theaters if call.get("TheaterID") in ("", t.id)]
    wanted_scene = call.get("SceneID")
    items = []
    with mock.store.reading() as db:
        for day in _dates(mock, call):
            for theater in theaters:
                for scene in theater.scenes:
                    if wanted_scene in ("", scene.id) and on_sale(mock, scene, day):
                        items += [_product_item(mock, db, stage, theater, Show(scene, day), pid)
                                  for pid in theater.products]
    if not items:
        raise BusinessError("no_products", "no show on sale matches")
    return {"Item": items}


# ------------------------------------------------------------------ seats


@handles("QuerySeatAreaList.aspx")
def query_seat_area_list(mock: Mock, call: Call) -> dict:
    stage = _stage(mock)
    scene, day = stage.scene(call.get("SenceID")), _day(call, "TicketDate")
    if scene is None or not scene.runs_on(day):
        raise BusinessError("no_seat_areas", f"no show {call.get('SenceID')} on {day:%Y%m%d}")
    areas = [a for a in stage.theater(scene.theater).areas if a.product == call.get("ProductID")]
    if not areas:
        raise BusinessError("no_seat_areas", f"product {call.get('ProductID')} has no seats in {scene.theater}")
    free = mock.spec.seat_code("free")
    with mock.store.reading() as db:
        items = []
        for a in areas:
            held = seats.states(mock, db, Show(scene, day), a.seats)
            items.append({"SeatAreaID": a.id, "SeatAreaName": a.name, "COLOR": a.color, "SeatsCount": len(a.seats),
                          "FreeSeatsCount": sum(1 for s in held.values() if s == free)})
    return {"item": items}


def _area(stage: Stage, call: Call) -> SeatArea:
    area = stage.area(call.get("SeatAreaID"))
    if area is None:
        raise BusinessError("no_seat_view", f"no seat area {call.get('SeatAreaID')}")
    return area


@handles("QueryRowsAndSeatsList.aspx")
def query_rows_and_seats_list(mock: Mock, call: Call) -> dict:
    area = _area(_stage(mock), call)
    return {"item": [
        {"SeatRowID": r.id, "SeatRowNum": r.num, "X": r.x, "Y": r.y, "W": r.width, "H": r.height,
         "SeatWidth": r.seat_width, "SeatHeight": r.seat_height, "SeatAlig": r.align, "FirstSeat": r.first_seat,
         "Seats": {"Item": [{"SeatID": s.id, "SeatNum": s.num, "NextSeatID": s.next_id} for s in r.seats]}}
        for r in area.rows
    ]}


@handles("QuerySeatsState.aspx")
def query_seats_state(mock: Mock, call: Call) -> dict:
    stage = _stage(mock)
    area = _area(stage, call)
    scene, day = stage.scene(call.get("SenceID")), _day(call, "TicketDate")
    if scene is None or scene.theater != area.theater or not scene.runs_on(day):
        raise BusinessError("no_seat_view", f"no show {call.get('SenceID')} of area {area.id} on {day:%Y%m%d}")
    with mock.store.reading() as db:
        held = seats.states(mock, db, Show(scene, day), area.seats)
    return {"Item": [{"SeatID": seat, "SeatState": state} for seat, state in held.items()]}


# ------------------------------------------------------------------ booking


def _show(mock: Mock, call: Call, stage: Stage, scene_id: str, ticket_date: str) -> Show:
    """The show a booking is for, refused as 4.2.5 words it (lines 2050, 2221-2225)."""
    scene = stage.scene(scene_id)
    if scene is None:
        raise refuse(mock, call, "scene_not_found", detail=scene_id)
    try:
        day = datetime.strptime(ticket_date, DAY).date()
    except ValueError:
        raise ParamError("bad_format", "TicketDate is not yyyyMMdd", param="TicketDate") from None
    first, last = _window(mock)
    if day < first:
        raise refuse(mock, call, "presale_after_effect_date", detail=f"{ticket_date} has passed")
    if day > last:
        raise refuse(mock, call, "presale_date_out_of_range", detail=f"{ticket_date} is beyond the sale window")
    if not scene.runs_on(day):
        raise refuse(mock, call, "scene_error", detail=f"scene {scene.id} does not play on {ticket_date}", fill=scene.id)
    if not scene.enabled:
        raise refuse(mock, call, "scene_disabled", detail=scene.id)
    if mock.now() >= scene.sales_close(day, mock.tz):
        raise refuse(mock, call, "scene_booking_closed", detail=f"{scene.id} closed at {hhmm(scene.sell_end)}")
    return Show(scene, day)


def _lines(mock: Mock, call: Call, stage: Stage, show: Show, order_list: str) -> list[booking.Line]:
    """Order_list, every product sold in the show's theater."""
    try:
        lines = booking.parse_lines(mock, order_list)
    except BusinessError as exc:
        raise refuse(mock, call, "product_not_bookable", "price_not_found", detail=exc.detail) from None
    theater = stage.theater(show.scene.theater)
    for line in lines:
        if line.product.id not in theater.products:
            raise refuse(mock, call, "product_not_bookable", "price_not_found",
                         detail=f"{line.product.id} is not sold in {theater.id}")
    return lines


def _chosen(mock: Mock, call: Call, stage: Stage, show: Show, lines: list[booking.Line],
            seat_info: str) -> list[tuple[int, Seat]]:
    """SeatInfo as (order line, seat): seats taken in Order_list order (gap orderproducts2-seatinfo-optional),
    checked in the order 4.2.5 lists its seat refusals (lines 2226-2232)."""
    ids = [i.strip() for i in seat_info.split("|")]
    if "" in ids or len(set(ids)) != len(ids):
        raise refuse(mock, call, "seat_list_parse_failed", detail="empty or repeated seat ID")
    tickets = sum(line.num for line in lines)
    if len(ids) != tickets and not mock.fault("seat-count-unchecked"):
        raise refuse(mock, call, "seat_count_mismatch", detail=f"{len(ids)} seats for {tickets} tickets")
    found = [stage.seat(i) for i in ids]
    for seat_id, seat in zip(ids, found):
        if seat is None or stage.area(seat.area).theater != show.scene.theater:
            raise refuse(mock, call, "seat_area_unknown", detail=seat_id)
    if len({s.area for s in found}) > 1 and not mock.fault("mixed-seat-areas"):
        raise refuse(mock, call, "multiple_seat_areas", detail=", ".join(sorted({s.area for s in found})))
    chosen, queue = [], iter(found)
    for line in lines:
        for seat in islice(queue, line.num):
            if stage.area(seat.area).product != line.product.id:
                raise refuse(mock, call, "product_seat_mismatch", detail=f"{seat.id} is not a {line.product.id} seat")
            chosen.append((line.seq, seat))
    return chosen


def _check_room(mock: Mock, db: sqlite3.Connection, call: Call, stage: Stage, show: Show,
                lines: list[booking.Line]) -> None:
    """Tickets booked without seats still need free seats of their product for the show."""
    wanted = Counter()
    for line in lines:
        wanted[line.product.id] += line.num
    for product, num in wanted.items():
        left = seats.available(mock, db, stage, show, product)
        if num > left:
            raise refuse(mock, call, choice(mock, SEATLESS_ROOM), detail=f"{product}: {left} left for {show.scene.id}")


def book_show(mock: Mock, db: sqlite3.Connection, call: Call, request: booking.Booking, *, scene_id: str,
              seat_info: str) -> tuple[sqlite3.Row, bool]:
    """Book a show (booking.book plus the scene, seat and room checks) and take its seats;
    (order, created). A repeated senderid returns the first order unchanged."""
    if not mock.fault("duplicate-order-on-repeat"):
        found = booking.existing(db, call.agent.user, request.senderid)
        if found is not None:
            return found, False
    stage = _stage(mock)
    show = _show(mock, call, stage, scene_id, request.effect_date)
    lines = _lines(mock, call, stage, show, request.order_list)
    chosen = _chosen(mock, call, stage, show, lines, seat_info) if seat_info else []
    if not chosen:
        _check_room(mock, db, call, stage, show, lines)
    order, created = booking.book(mock, db, call, request)
    if not created:
        return order, created
    seats.record(db, order["orderid"], show, show.scene.starts_at(show.day, mock.tz), bool(chosen))
    if chosen:
        # a named seat may be the room a seat-less booking counts on (gap orderproducts2-seatinfo-optional)
        products = Counter(stage.area(seat.area).product for _, seat in chosen)
        room = {p: seats.available(mock, db, stage, show, p) for p in products}
        seats.claim(mock, db, show, order["orderid"], chosen, choice(mock, SEAT_TAKEN))
        short = [p for p, n in products.items() if n > room[p]]
        if short and not mock.fault("oversell"):
            raise refuse(mock, call, choice(mock, SEATLESS_ROOM),
                         detail=f"{short[0]}: the free seats are held for tickets booked without seats")
        # seats must be paid within the seat limit, desk-pay agents too (gap orderproducts2-seat-pay-limit)
        limit = machine.stamp(mock.now() + timedelta(minutes=stage.seat_pay_minutes))
        deadline = min(filter(None, (order["pay_deadline"], limit)))
        db.execute("UPDATE orders SET pay_deadline=? WHERE orderid=?", (deadline, order["orderid"]))
        order = db.execute("SELECT * FROM orders WHERE orderid=?", (order["orderid"],)).fetchone()
    return order, created


def _request(call: Call, invoice: bool = True) -> booking.Booking:
    return booking.Booking(
        order_list=call.get("Order_list"), mobile=call.get("mobile"), idcard=call.get("ID"),
        effect_date=call.get("TicketDate"), senderid=call.get("senderid"), memo=call.get("Memo"),
        idcount=call.get("IDCount"), need_invoice=(call.get("NeedInvoice") or "0") if invoice else "0",
        invoice_title=call.get("InvoiceTitle") if invoice else "",
    )


def _booker(call: Call) -> Callable[..., tuple[sqlite3.Row, bool]]:
    """booking.book for this call's show and seats (payments.book_and_pay takes it for the one-step pages)."""
    return partial(book_show, scene_id=call.get("SenceID"), seat_info=call.get("SeatInfo"))


@handles("OrderProducts2.aspx")
def order_products2(mock: Mock, call: Call) -> dict:
    with mock.store.transaction() as db:
        order, _ = _booker(call)(mock, db, call, _request(call))
        return {"Item": agent_item(mock, db, call, order)}


@handles("OrderAndPayWithYDJ2.aspx")
def order_and_pay_with_ydj2(mock: Mock, call: Call) -> dict:
    order = payments.book_and_pay(mock, call, payments.DEPOSIT, _request(call), payments.wants_activation(mock, call),
                                  book=_booker(call))
    return _one_step_item(order)


@handles("OrderAndPayWithFK2.aspx")
def order_and_pay_with_fk2(mock: Mock, call: Call) -> dict:
    # no invoice for rebate purchases (gap orderandpaywithfk2-invoice-vs-rebate); the order stays
    # authorised until pickup or activation (gap orderandpaywithfk2-auto-activation)
    order = payments.book_and_pay(mock, call, payments.REBATE, _request(call, invoice=False), False, book=_booker(call))
    return _one_step_item(order)


def _one_step_item(order: sqlite3.Row) -> dict:
    # the manual shows no answer for the one-step theater pages; the spec's optional Item (gaps
    # orderandpaywith{ydj2,fk2}-no-response-xml) tells the OTA which order its call created
    return {"Item": {"order_id": order["orderid"], "senderid": order["senderid"], "status": order["status"]}}
