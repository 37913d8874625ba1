"""Theater (seat-mode) checks, flow 4.1.3, seat states 4.2.21, booking with seats 4.2.5:

- `seats.booked` / `seats.sold` / `seats.released`: a seat an order takes shows the state the
  spec's seat-state table gives the order's status (tables/seat_status.yaml, gap
  queryseatsstate-s-vs-order-states): S once booked, B once paid, free again once cancelled.
- `seats.no-double-booking`: a seat held by one agent's order cannot be booked by another.
- `seats.count-mismatch` / `seats.one-area`: a booking whose seats do not match its tickets in
  number, or lie in two seat areas, is refused with the page's own retcode and message.
- `schema.mode.<page>`: a page of the other supplier mode is refused as the manual words it
  (THEATER_MODE, 4.2.1/4.2.2), or with the retcode its gaps choose (Page.mode_refusal), else the
  profile's fallback.

Every seat check books through the target's own pages (conformance.shows) and cancels what it
booked, so that a run does not use up the seats of a show."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial

from spec.errors import YbxError, resolve
from spec.model import Page, Spec

from ..baseline import COMMON
from ..context import CheckContext, Failed, NotApplicable, NotRun
from ..registry import Check, check, derive
from ..shows import (
    BOOK_PAGE,
    Show,
    booking_values,
    claim,
    claimed_show,
    free_state,
    held_state,
    seat_states,
    shows,
    take_seats,
)
from ..target import Exchange

CATEGORY = "seats"
CANCEL_PAGE = "CancelOrder.aspx"
RELEASE_TRIES = 3
SEATS_CLAUSE = "4.1.3 (line 2269); 4.2.21 座位状态说明 (lines 4899-4923); tables/seat_status.yaml"
_PUNCT = re.compile(r"[\s\"'“”‘’。，；,.;:：…（）()、!！]|\.\.\.")


class _ModeRefusal(YbxError):
    fallback = "wrong_mode"  # the profile's chain for a page of the other supplier mode


# ------------------------------------------------------------------ helpers


def _theater(ctx: CheckContext) -> None:
    if ctx.mode() != "theater":
        raise NotApplicable(f"the target runs in {ctx.mode()} mode: it has no seats")


def _carries(message_zh: str, retmsg: str) -> bool:
    """Whether `retmsg` is the manual's message up to its placeholder (punctuation ignored)."""
    head = re.split(r"xxxx|ex|X", message_zh)[0]
    return _PUNCT.sub("", head) in _PUNCT.sub("", retmsg)


def _status(ctx: CheckContext, orderid: str) -> str:
    ex = ctx.ok(ctx.call("QueryOrder.aspx", {"order_id": orderid}, note="the order's status"), "QueryOrder.aspx")
    return ex.envelope.text("Item/orderstatus")


def _cancel(ctx: CheckContext, *orderids: str) -> None:
    for orderid in orderids:
        if orderid:
            ctx.call(CANCEL_PAGE, {"Order_id": orderid}, note="clean-up: give the seats back")


def _booked(ctx: CheckContext) -> tuple[Show, list[str], str]:
    """Book a free seat of a show; (show, seats, orderid)."""
    show, seats, ex = take_seats(ctx)
    return show, seats, ex.envelope.text("Item/orderid")


def _shows_state(ctx: CheckContext, show: Show, seats: list[str], orderid: str, what: str) -> None:
    """The seats of `orderid` show the state the seat-state table gives its status now."""
    status = _status(ctx, orderid)
    expected = held_state(ctx.spec, status) or free_state(ctx.spec)
    states = seat_states(ctx, show, note=f"the seats {what}")
    wrong = {s: states.get(s, "(not listed)") for s in seats if states.get(s) != expected}
    ctx.expect(not wrong, f"order {orderid} {what} is in status {status}; its seats should show {expected!r} "
               f"(tables/seat_status.yaml) but QuerySeatsState shows {wrong}")


def _made(ex: Exchange) -> str:
    """The order a booking made, if it was accepted."""
    return ex.envelope.text("Item/orderid") if ex.envelope is not None and ex.retcode == "0" else ""


def _refusal(ctx: CheckContext, ex: Exchange, key: str, what: str) -> None:
    page = ctx.spec.page(BOOK_PAGE)
    expected = page.retcode(key)
    if expected is None:
        raise NotRun(f"{BOOK_PAGE} lists no retcode {key!r}")
    ctx.envelope(ex)
    ctx.expect(ex.retcode != "0", f"{BOOK_PAGE}: {what} was accepted (order {ex.envelope.text('Item/orderid')})")
    ctx.expect(ex.retcode == expected.code and _carries(expected.message_zh, ex.retmsg),
               f"{BOOK_PAGE}: {what} answered {ex.retcode} {ex.retmsg!r}; the manual's answer is {expected.code} "
               f"{expected.message_zh!r} (line {expected.line})")


# ------------------------------------------------------------------ seat states


@check("seats.booked", CATEGORY, SEATS_CLAUSE + "; 4.2.5 OrderProducts2",
       "the seats a booking takes show S (预定中) while the order is booked", "critical")
def booked_shows_held(ctx: CheckContext) -> None:
    _theater(ctx)
    show, seats, orderid = _booked(ctx)
    try:
        _shows_state(ctx, show, seats, orderid, "just booked")
    finally:
        _cancel(ctx, orderid)


@check("seats.sold", CATEGORY, SEATS_CLAUSE + "; 4.2.36 UseAccountToPayByPwd",
       "the seats of a paid order show B (已售出)", "critical")
def paid_shows_sold(ctx: CheckContext) -> None:
    _theater(ctx)
    show, seats, orderid = _booked(ctx)
    try:
        ctx.pay_deposit(orderid)
        _shows_state(ctx, show, seats, orderid, "paid by deposit")
    finally:
        _cancel(ctx, orderid)


@check("seats.released", CATEGORY, SEATS_CLAUSE + "; 4.2.7 CancelOrder",
       "the seats of a cancelled order show 1 (空闲) again", "critical")
def cancelled_frees(ctx: CheckContext) -> None:
    _theater(ctx)
    # no other check of the run is handed these seats, but something outside it may take a freed seat
    # at once: only a seat that stays held on every one of three tries is a seat the target did not free
    for attempt in range(RELEASE_TRIES):
        show, seats, orderid = _booked(ctx)
        ctx.ok(ctx.call(CANCEL_PAGE, {"Order_id": orderid}, note="cancel the order"), CANCEL_PAGE)
        try:
            _shows_state(ctx, show, seats, orderid, "cancelled")
            return
        except Failed:
            if attempt == RELEASE_TRIES - 1:
                raise
            ctx.notes.append(f"try {attempt + 1}: seats {seats} still held after the cancel; trying other seats")


@check("seats.no-double-booking", CATEGORY, "4.1.3 (line 2269: 占用的座位是不能再选择用来预订或出售的); 4.2.5",
       "a seat held by one agent's order cannot be booked by another agent", "critical")
def no_double_booking(ctx: CheckContext) -> None:
    _theater(ctx)
    show, seats, first = _booked(ctx)
    second = ""
    try:
        creds = ctx.other
        if creds is None:
            ctx.notes.append("no second agent given (--other-user): the same agent books the seat again")
        ex = ctx.call(BOOK_PAGE, booking_values(show, seats), creds=creds, note=f"seat {seats[0]} again")
        ctx.envelope(ex)
        second = _made(ex)
        ctx.expect(ex.retcode != "0", f"seat {seats[0]} of {show.scene} on {show.day}, held by order {first}, was "
                   f"booked again (order {second})")
        shown = seat_states(ctx, show, note="the seat after the refusal").get(seats[0])
        ctx.expect(shown != free_state(ctx.spec), f"after the refused second booking seat {seats[0]} shows "
                   f"{shown!r} (free), though order {first} holds it")
    finally:
        _cancel(ctx, first)
        if second:
            ctx.call(CANCEL_PAGE, {"Order_id": second}, creds=ctx.other, note="clean-up: the second order")


@check("seats.count-mismatch", CATEGORY, "4.2.5 OrderProducts2 seat_count_mismatch (line 2229)",
       "a booking naming fewer seats than tickets is refused with the page's seat-count message", "major")
def count_mismatch(ctx: CheckContext) -> None:
    _theater(ctx)
    show, seats = claimed_show(ctx, qty=2)  # both claimed: a target that takes the booking may seat the second
    values = {**booking_values(show, seats[:1]), "Order_list": f"{show.productid}|2"}
    ex = ctx.call(BOOK_PAGE, values, note="2 tickets, 1 seat")
    try:
        _refusal(ctx, ex, "seat_count_mismatch", "2 tickets with 1 seat")
    finally:
        _cancel(ctx, _made(ex))


def _two_areas(ctx: CheckContext) -> tuple[tuple[Show, str], tuple[Show, str]]:
    """Two seat areas of one product in one show, and a free seat of each, handed to this check."""
    seen: dict[tuple[str, str, str], tuple[Show, str]] = {}
    for show in shows(ctx, strict=False):
        key = (show.scene, show.day, show.productid)
        if key in seen and seen[key][0].area == show.area:
            continue
        seats = claim(ctx, show, 1)
        if seats is None:
            continue
        if key in seen:
            return seen[key], (show, seats[0])
        seen[key] = (show, seats[0])
    raise NotRun("no show sells a product in two seat areas with free seats")


@check("seats.one-area", CATEGORY, "4.2.5 OrderProducts2 multiple_seat_areas (line 2231)",
       "a booking with seats of two seat areas is refused with the page's one-area message", "major")
def one_area(ctx: CheckContext) -> None:
    _theater(ctx)
    (first, one), (second, other) = _two_areas(ctx)
    seats = [one, other]
    ex = ctx.call(BOOK_PAGE, booking_values(first, seats), note=f"seats of areas {first.area} and {second.area}")
    try:
        _refusal(ctx, ex, "multiple_seat_areas", f"seats of areas {first.area} and {second.area}")
    finally:
        _cancel(ctx, _made(ex))


# ------------------------------------------------------------------ mode refusals


def _well_formed(ctx: CheckContext, page: Page) -> dict[str, str]:
    """Values of the right form for the page's required parameters (a supplier refuses the mode
    after reading the request)."""
    values = {}
    for p in page.params:
        if p.required and p.location == "query" and p.name.lower() not in COMMON:
            values[p.name] = p.default if p.default is not None else p.values[0] if p.values else \
                ctx.spec.format(p.format).example if p.format else "1"
    return values


def _mode_refusal(page: Page, ctx: CheckContext) -> None:
    mode = ctx.mode()
    if page.mode == mode:
        raise NotRun(f"the target runs in {mode} mode and serves {page.page}; the refusal applies to the other mode")
    # the page's own answer where its gaps choose one (Page.mode_refusal), else the profile's chain
    key = page.mode_refusal or f"{mode}_mode"
    expected = resolve(page, _ModeRefusal(key), ctx.profile)
    ex = ctx.call(page, _well_formed(ctx, page), note=f"a {page.mode} page on a {mode} supplier")
    ctx.envelope(ex)
    ctx.expect(ex.retcode != "0", f"{page.page} is a {page.mode} page but the {mode} supplier accepted it")
    own = expected.key == key
    ctx.expect(ex.retcode == expected.code and (not own or _carries(expected.message_zh, ex.retmsg)),
               f"{page.page} on a {mode} supplier answered {ex.retcode} {ex.retmsg!r}; the spec's answer is "
               f"{expected.code} {expected.message_zh!r}" + (f" (line {expected.line})" if expected.line else ""))


@derive
def mode_checks(spec: Spec) -> Iterable[Check]:
    for page in spec.request_pages:
        if page.mode == "both":
            continue
        other = "theater" if page.mode == "scenic" else "scenic"
        own = page.retcode(page.mode_refusal or f"{other}_mode")
        clause = f"{page.section} {page.page}" + (f" {own.key} (line {own.line})" if own else
                                                 "; profile error_fallbacks wrong_mode")
        yield Check(f"schema.mode.{page.stem}", "schema", clause,
                    f"{page.page} ({page.mode} only) is refused by a {other} supplier with the page's mode refusal",
                    "major", partial(_mode_refusal, page), page=page.page)
