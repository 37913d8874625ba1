"""Theater fixtures (flow 4.1.3, lines 2257-2271) through the target's own pages: a show with free
seats - QueryTheaterList → QueryTheaterSenceList → GetProducts2 → QuerySeatAreaList →
QuerySeatsState - and a booking that takes some of them (OrderProducts2). Which SeatState is free,
booked or sold comes from the spec's seat-state table (tables/seat_status.yaml). Seats are handed to
one check of a run only (CheckContext.shared.seats), so that parallel checks never pick the same."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from spec.model import Spec
from spec.protocol import Credentials

from .catalog import order_cost
from .context import NotRun
from .target import Exchange
from .values import parse_value

if TYPE_CHECKING:
    from .context import CheckContext

SEARCH_DAYS = 14  # how far past `days_ahead` a show with free seats is looked for
BOOK_PAGE = "OrderProducts2.aspx"
MOBILE, ID_NUMBER = "13800138000", "110101199003071234"
# A booking naming a seat taken since the seat states were read (by something outside the run: the
# run's own checks never share a seat) is refused with this error (tables/reasons.yaml; gap
# orderproducts2-seat-taken); the seats are read again and others booked, this many times in all.
SEAT_TAKEN = "seat_taken"
SEAT_TRIES = 3


@dataclass(frozen=True)
class Show:
    """A performance on sale and one seat area of it, as the target's pages show them."""

    theater: str
    scene: str
    day: str  # yyyyMMdd
    product: Mapping[str, str]  # the GetProducts2 record of the area's product for this show
    area: str
    free: tuple[str, ...]  # the area's free seats (QuerySeatsState) no check of the run held when found

    @property
    def productid(self) -> str:
        return self.product.get("productid", "")


def free_state(spec: Spec) -> str:
    """The SeatState a seat can be chosen from (空闲)."""
    found = [s.code for s in spec.seat_statuses if s.free]
    if len(found) != 1:
        raise NotRun("the spec's seat-state table names no single free state")
    return found[0]


def held_state(spec: Spec, order_status: str) -> str | None:
    """The SeatState the seats of an order in `order_status` show (None: the table says none)."""
    return next((s.code for s in spec.seat_statuses if order_status in s.held_by), None)


def rows(ex: Exchange, spec: Spec) -> list[dict[str, str]]:
    """The records of an answer as {element: text}, matched case-insensitively (gap queryseatsstate-item-case)."""
    page = spec.page(ex.page)
    name = page.response[0].name.lower() if page.response else "item"
    if ex.envelope is None:
        return []
    return [{c.tag: (c.text or "") for c in el if isinstance(c.tag, str)}
            for el in ex.envelope.root if isinstance(el.tag, str) and el.tag.lower() == name]


def _records(ctx: CheckContext, page: str, values: Mapping[str, str], creds: Credentials | None,
             note: str) -> list[dict[str, str]]:
    ex = ctx.call(page, values, creds=creds, note=note)
    return rows(ex, ctx.spec) if ex.retcode == "0" else []


def seat_states(ctx: CheckContext, show: Show, creds: Credentials | None = None, note: str = "") -> dict[str, str]:
    """SeatID -> SeatState of the show's area now."""
    ex = ctx.ok(ctx.call("QuerySeatsState.aspx", {"SeatAreaID": show.area, "SenceID": show.scene,
                                                  "TicketDate": show.day}, creds=creds,
                         note=note or "fixture: seat states"), "QuerySeatsState.aspx")
    return {r.get("SeatID", ""): r.get("SeatState", "") for r in rows(ex, ctx.spec)}


def shows(ctx: CheckContext, *, days_ahead: int = 4, qty: int = 1, productid: str = "", strict: bool = False,
          creds: Credentials | None = None, latest: int | None = None) -> Iterator[Show]:
    """Seat areas of shows on sale from `days_ahead` days on (to `latest`, where the check needs the
    date) with `qty` free seats that no check of the run holds, of a product without real-name
    constraint: `productid` (else the run's cheapest) over all the days searched first (only it with
    `strict`), then the others, the cheapest first - bookings are paid from the agent's balance."""
    free = free_state(ctx.spec)
    if not productid:  # the run's cheapest product, over all the days, before dearer seats sooner
        try:
            productid = ctx.plain_product(qty).get("productid", "")
        except NotRun:
            productid = ""
    theaters = [r.get("TheaterID", "") for r in _records(ctx, "QueryTheaterList.aspx", {}, creds, "fixture: theaters")]
    last = days_ahead + SEARCH_DAYS - 1 if latest is None else min(latest, days_ahead + SEARCH_DAYS - 1)
    days = [(ctx.today() + timedelta(days=offset)).strftime("%Y%m%d") for offset in range(days_ahead, last + 1)]
    scenes: dict[tuple[str, str], list[str]] = {}
    products: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for wanted in ([True] if strict else [True, False]) if productid else [False]:
        for day in days:
            for theater in theaters:
                if (theater, day) not in scenes:
                    scenes[theater, day] = [s.get("SenceID", "") for s in _records(
                        ctx, "QueryTheaterSenceList.aspx", {"TheaterID": theater, "TicketDate": day}, creds,
                        "fixture: scenes on sale")]
                for scene in scenes[theater, day]:
                    if (theater, scene, day) not in products:
                        found = _records(ctx, "GetProducts2.aspx", {"TheaterID": theater, "SceneID": scene,
                                                                   "TicketDate": day}, creds, "fixture: products of the show")
                        # the product asked for even with real names (the check wants it), others without
                        costs = [(cost, i, p) for i, p in enumerate(found)
                                 if (cost := order_cost(p, qty)) is not None or p.get("productid") == productid
                                 if p.get("needname", "0") != "1" or p.get("productid") == productid]
                        products[theater, scene, day] = [p for *_, p in sorted(
                            costs, key=lambda c: (c[0] if c[0] is not None else Decimal("Infinity"), c[1]))]
                    for product in products[theater, scene, day]:
                        if (product.get("productid") == productid) != wanted:
                            continue
                        if parse_value(ctx.spec, "GetProducts2.aspx", "Item/enablecount", product.get("enablecount")) < qty:
                            continue
                        yield from _areas(ctx, Show(theater, scene, day, product, "", ()), qty, free, creds)


def _areas(ctx: CheckContext, show: Show, qty: int, free: str, creds: Credentials | None) -> Iterator[Show]:
    """The show's seat areas of its product with `qty` free seats no check of the run holds."""
    claims = ctx.shared.seats
    areas = _records(ctx, "QuerySeatAreaList.aspx", {"ProductID": show.productid, "SenceID": show.scene,
                                                    "TicketDate": show.day}, creds, "fixture: seat areas")
    for area in (a.get("SeatAreaID", "") for a in areas if parse_value(
            ctx.spec, "QuerySeatAreaList.aspx", "item/FreeSeatsCount", a.get("FreeSeatsCount")) >= qty):
        if claims.spent(show.scene, show.day, area):
            continue
        here = Show(show.theater, show.scene, show.day, show.product, area, ())
        seats = [s for s, state in seat_states(ctx, here, creds).items() if state == free]
        left = claims.unclaimed(show.scene, show.day, area, seats)
        if len(left) >= qty:
            yield Show(show.theater, show.scene, show.day, show.product, area, left)


def find_show(ctx: CheckContext, *, days_ahead: int = 4, qty: int = 1, productid: str = "", strict: bool = False,
              creds: Credentials | None = None) -> Show:
    """The first of `shows`; NotRun when there is none."""
    for show in shows(ctx, days_ahead=days_ahead, qty=qty, productid=productid, strict=strict, creds=creds):
        return show
    raise _none_free(days_ahead, qty)


def _none_free(days_ahead: int, qty: int) -> NotRun:
    return NotRun(f"no show in the {SEARCH_DAYS} days from {days_ahead} days ahead has {qty} free seats of one area "
                  "that no other check of the run holds (QueryTheaterList → QueryTheaterSenceList → GetProducts2 → "
                  "QuerySeatAreaList → QuerySeatsState)")


def claim(ctx: CheckContext, show: Show, qty: int) -> list[str] | None:
    """`qty` of the show's free seats, handed to this check alone; None when other checks took them
    since the show was found."""
    return ctx.shared.seats.claim(show.scene, show.day, show.area, show.free, qty)


def claimed_show(ctx: CheckContext, *, days_ahead: int = 4, qty: int = 1, productid: str = "", strict: bool = False,
                 creds: Credentials | None = None, latest: int | None = None) -> tuple[Show, list[str]]:
    """The first show of `shows` whose free seats this check could claim, and `qty` of them."""
    for show in shows(ctx, days_ahead=days_ahead, qty=qty, productid=productid, strict=strict, creds=creds,
                      latest=latest):
        seats = claim(ctx, show, qty)
        if seats is not None:
            return show, seats
    raise _none_free(days_ahead, qty)


def booking_values(show: Show, seats: list[str], senderid: str = "") -> dict[str, str]:
    """OrderProducts2 values booking `seats` of the show (one product, as many tickets as seats)."""
    values = {"Order_list": f"{show.productid}|{len(seats)}", "mobile": MOBILE, "ID": ID_NUMBER,
              "TicketDate": show.day, "SenceID": show.scene, "SeatInfo": "|".join(seats)}
    if senderid:
        values["senderid"] = senderid
    return values


def take_seats(ctx: CheckContext, *, days_ahead: int = 4, qty: int = 1, senderid: str = "", productid: str = "",
               creds: Credentials | None = None, latest: int | None = None) -> tuple[Show, list[str], Exchange]:
    """Book `qty` free seats of a show, handed to this check alone: (show, seats, the accepted
    OrderProducts2 exchange). Where something outside the run took a seat meanwhile, the seat states
    are read again and other seats booked (SEAT_TRIES bookings in all)."""
    for attempt in range(SEAT_TRIES):
        show, seats = claimed_show(ctx, days_ahead=days_ahead, qty=qty, productid=productid, creds=creds, latest=latest)
        ex = ctx.call(BOOK_PAGE, booking_values(show, seats, senderid), creds=creds,
                      note=f"fixture: book seats {'|'.join(seats)}")
        if ex.retcode == "0" or attempt == SEAT_TRIES - 1 or not ctx.refused_for(ex, SEAT_TAKEN):
            return show, seats, ctx.ok(ex, BOOK_PAGE)
        ctx.notes.append(f"seats {'|'.join(seats)} were taken outside this run ({ex.retmsg}); other seats tried")
    raise NotRun("no attempt to book seats")  # not reached: the last attempt returns or raises


def book_seats(ctx: CheckContext, *, days_ahead: int = 4, qty: int = 1, senderid: str = "",
               product: Mapping[str, str] | None = None, creds: Credentials | None = None,
               latest: int | None = None) -> tuple[str, Exchange]:
    """ctx.book on a theater: `qty` seats of a show, `product` preferred; (orderid, exchange)."""
    _, _, ex = take_seats(ctx, days_ahead=days_ahead, qty=qty, senderid=senderid,
                          productid=(product or {}).get("productid", ""), creds=creds, latest=latest)
    return ex.envelope.text("Item/orderid"), ex
