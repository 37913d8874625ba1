"""Theater fixtures (flow 4.1.3, lines 2257-2271) through the target's own pages: a show with free
seats - QueryTheaterList → QueryTheaterSenceList → GetProducts2 → QuerySeatAreaList →
QuerySeatsState - and a booking that takes some of them (OrderProducts2). Which SeatState is free,
booked or sold comes from the spec's seat-state table (tables/seat_status.yaml)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from spec.model import Spec
from spec.protocol import Credentials

from .context import NotRun
from .target import Exchange
from .values import parse_value

if TYPE_CHECKING:
    from .context import CheckContext

SEARCH_DAYS = 14  # how far past `days_ahead` a show with free seats is looked for
SPARE = 4  # free seats an area keeps beyond those wanted, so that parallel checks rarely pick the same
BOOK_PAGE = "OrderProducts2.aspx"
MOBILE, ID_NUMBER = "13800138000", "110101199003071234"
_pick = random.Random()  # spreads parallel checks over the free seats, so that they rarely collide


@dataclass(frozen=True)
class Show:
    """A performance on sale and one seat area of it, as the target's pages show them."""

    theater: str
    scene: str
    day: str  # yyyyMMdd
    product: Mapping[str, str]  # the GetProducts2 record of the area's product for this show
    area: str
    free: tuple[str, ...]  # the area's free seats (QuerySeatsState) when the show was found

    @property
    def productid(self) -> str:
        return self.product.get("productid", "")

    def seats(self, qty: int) -> list[str]:
        return _pick.sample(list(self.free), qty)


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
          creds: Credentials | None = None) -> Iterator[Show]:
    """Seat areas of shows on sale from `days_ahead` days on with `qty` free seats (more to spare
    unless `strict`), of a product without real-name constraint: `productid` first, or only with
    `strict` (seats run out in a run that books hundreds of orders, and most checks need just some
    seats soon)."""
    free = free_state(ctx.spec)
    enough = qty if strict else qty + SPARE
    theaters = [r.get("TheaterID", "") for r in _records(ctx, "QueryTheaterList.aspx", {}, creds, "fixture: theaters")]
    for offset in range(days_ahead, days_ahead + SEARCH_DAYS):
        day = (ctx.today() + timedelta(days=offset)).strftime("%Y%m%d")
        for theater in theaters:
            scenes = _records(ctx, "QueryTheaterSenceList.aspx", {"TheaterID": theater, "TicketDate": day}, creds,
                              "fixture: scenes on sale")
            for scene in (s.get("SenceID", "") for s in scenes):
                products = _records(ctx, "GetProducts2.aspx", {"TheaterID": theater, "SceneID": scene,
                                                              "TicketDate": day}, creds, "fixture: products of the show")
                products.sort(key=lambda r: r.get("productid") != productid)
                for product in products:
                    if (strict and product.get("productid") != productid) or \
                            (product.get("productid") != productid and product.get("needname", "0") == "1"):
                        continue
                    if parse_value(ctx.spec, "GetProducts2.aspx", "Item/enablecount", product.get("enablecount")) < qty:
                        continue
                    areas = _records(ctx, "QuerySeatAreaList.aspx", {"ProductID": product["productid"],
                                                                    "SenceID": scene, "TicketDate": day}, creds,
                                     "fixture: seat areas")
                    for area in areas:
                        count = parse_value(ctx.spec, "QuerySeatAreaList.aspx", "item/FreeSeatsCount",
                                            area.get("FreeSeatsCount"))
                        if count < enough:
                            continue
                        show = Show(theater, scene, day, product, area.get("SeatAreaID", ""), ())
                        seats = tuple(s for s, state in seat_states(ctx, show, creds).items() if state == free)
                        if len(seats) >= qty:
                            yield Show(theater, scene, day, product, show.area, seats)


def find_show(ctx: CheckContext, *, days_ahead: int = 4, qty: int = 1, productid: str = "", strict: bool = False,
              creds: Credentials | None = None) -> Show:
    """The first of `shows`; NotRun when there is none."""
    for show in shows(ctx, days_ahead=days_ahead, qty=qty, productid=productid, strict=strict, creds=creds):
        return show
    raise NotRun(f"no show in the {SEARCH_DAYS} days from {days_ahead} days ahead has {qty} free seats of one "
                 "area (QueryTheaterList → QueryTheaterSenceList → GetProducts2 → QuerySeatAreaList → QuerySeatsState)")


def booking_values(show: Show, seats: list[str], senderid: str = "") -> dict[str, str]:
    """OrderProducts2 values booking `seats` of the show (one product, as many tickets as seats)."""
    values = {"Order_list": f"{show.productid}|{len(seats)}", "mobile": MOBILE, "ID": ID_NUMBER,
              "TicketDate": show.day, "SenceID": show.scene, "SeatInfo": "|".join(seats)}
    if senderid:
        values["senderid"] = senderid
    return values


def take_seats(ctx: CheckContext, *, days_ahead: int = 4, qty: int = 1, senderid: str = "", productid: str = "",
               creds: Credentials | None = None) -> tuple[Show, list[str], Exchange]:
    """Book `qty` free seats of a show: (show, seats, the accepted OrderProducts2 exchange). A check
    running beside this one may take a chosen seat first: then the seats are looked up again."""
    attempts = 3
    for attempt in range(attempts):
        show = find_show(ctx, days_ahead=days_ahead, qty=qty, productid=productid, creds=creds)
        seats = show.seats(qty)
        ex = ctx.call(BOOK_PAGE, booking_values(show, seats, senderid), creds=creds,
                      note=f"fixture: book seats {'|'.join(seats)}")
        if ex.retcode == "0" or attempt == attempts - 1:
            return show, seats, ctx.ok(ex, BOOK_PAGE)
    raise NotRun("no attempt to book seats")  # not reached: the last attempt returns or raises


def book_seats(ctx: CheckContext, *, days_ahead: int = 4, qty: int = 1, senderid: str = "",
               product: Mapping[str, str] | None = None, creds: Credentials | None = None) -> tuple[str, Exchange]:
    """ctx.book on a theater: `qty` seats of a show, `product` preferred; (orderid, exchange)."""
    _, _, ex = take_seats(ctx, days_ahead=days_ahead, qty=qty, senderid=senderid,
                          productid=(product or {}).get("productid", ""), creds=creds)
    return ex.envelope.text("Item/orderid"), ex
