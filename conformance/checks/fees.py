"""Default-fee (违约手续费) checks (2.6; profile rule h).

An oracle reads the target's own GetProviderConfig (feemode, the feeitems of the product booked,
the payment types the agent may use) and computes with the profile's band rule
(`spec.fees.quote`, `scenic_reference`) what closing an order costs at a given lead time before
the reference time R. For a grid of lead times - the second on each side of every band boundary
and the middle of every band - and for every payment type the fee model charges, a check books
its own order, pays it, sets the driver's clock to exactly that lead time before R, closes the
order (the fee situations `cancel` and `refund` of spec/data/tables/fees.yaml, through the pages
of their events) and compares with the oracle: the fee the order reports (QueryOrder totalfees,
dealtotal - dealamount), the refund (QueryOrderRefund for instant payment; for deposit and
rebate the account balance, whose hold comes back less the fee) and the account's transaction
records for the order. Desk orders (fees_apply false) are never charged.

Every check moves the clock (needs "clock") and puts it back where it found it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from lxml import etree

from spec.fees import item_fee, quote, scenic_reference
from spec.model import Element, FeeItem, FeeSituation, Page, Param, PaymentType, Spec

from ..baseline import COMMON, ORDER_LABELS
from ..context import CheckContext, NotRun
from ..registry import Check, derive
from ..values import parse_value

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MARGIN = 120  # seconds between booking (at the driver's now) and the earliest closing moment
SEED = "seed 000_99959f91876fab7c.txt"
REASON = "conformance: default-fee check"

# The fee situations (fees.yaml) an integrator causes through a page, and the event that causes each.
SITUATION_EVENTS = {"cancel": "cancel", "refund": "apply_refund"}

# Supplier-side events in the driver's vocabulary (`ybx-mock events`).
PAYMENT_SUCCESS = "payment-success"
DESK_PAY = "desk-pay"


# ------------------------------------------------------------------ flows, from the transition table

@dataclass(frozen=True)
class Flow:
    """How orders of one payment type are paid and then closed with a fee."""

    pay_type: PaymentType
    situation: FeeSituation
    pay_event: str
    close_event: str
    close_page: str
    closable: frozenset[str]  # statuses the charging transition leaves from
    clause: str


def _booked_status(spec: Spec) -> str:
    return next(t.target for t in spec.transitions if t.source == spec.initial_status and t.event == "book")


def flows(spec: Spec) -> list[Flow]:
    booked = _booked_status(spec)
    out = []
    for situation in spec.fee_model.situations:
        event_id = SITUATION_EVENTS.get(situation.id)
        if event_id is None or not spec.event(event_id).pages:
            continue
        for pt_id in situation.payment_types:
            pay_type = next(p for p in spec.payment_types if p.id == pt_id)
            charging = [t for t in spec.transitions
                        if t.event == event_id and pt_id in t.payment_types and t.fees != "none"]
            paying = [t for t in spec.transitions
                      if t.source == booked and pt_id in t.payment_types and t.event.startswith("pay_")
                      and spec.event(t.event).actor == "integrator"]
            if not pay_type.fees_apply or not charging or not paying:
                continue
            lines = ", ".join(sorted({f"line {t.line}" for t in charging if t.line}))
            out.append(Flow(pay_type, situation, paying[0].event, event_id, spec.event(event_id).pages[0],
                            frozenset(t.source for t in charging),
                            f"2.6 (lines 224, 230; {SEED}); {situation.clause}; transitions "
                            f"{', '.join(t.id for t in charging)} ({lines}); profile rule h"))
    return out


def _pay_page(spec: Spec, event_id: str) -> Page:
    """The page of a payment event that authorises with the pay password (no SMS round trip)."""
    booking = set(spec.event("book").pages)
    for name in spec.event(event_id).pages:
        if name in booking or not spec.has_page(name):
            continue
        page = spec.page(name)
        if any(p.encryption == "md5-upper-3des" and p.name.lower() != "password" for p in page.params):
            return page
    raise NotRun(f"no page of event {event_id} authorises with a pay password")


# ------------------------------------------------------------------ XML helpers (names from the spec)

def _child(el: etree._Element | None, name: str) -> etree._Element | None:
    if el is None:
        return None
    wanted = name.lower()
    return next((c for c in el if isinstance(c.tag, str) and c.tag.lower() == wanted), None)


def _text(el: etree._Element | None, name: str) -> str:
    found = _child(el, name)
    return (found.text or "").strip() if found is not None else ""


def _spec_element(page: Page, *path: str) -> Element:
    """The element of the page's response definition at `path`; a check relying on an element the
    spec does not define cannot run."""
    found = page.element(*path)
    if found is None:
        raise NotRun(f"{page.page}: the spec defines no response element {'/'.join(path)}")
    return found


# ------------------------------------------------------------------ the oracle's input: GetProviderConfig

@dataclass
class Provider:
    feemode: bool
    items: dict[str, list[FeeItem]]  # productid -> feeitems ("" for items naming no product)
    allowed: dict[str, bool]  # payment type id -> the agent may use it


def provider(ctx: CheckContext) -> Provider:
    page = ctx.spec.page("GetProviderConfig.aspx")
    ex = ctx.ok(ctx.call(page, {}, note="fee oracle: the target's own fee settings"), page.page)
    item = _spec_element(page, "Item")
    feemode = _spec_element(page, "Item", "feemode")
    feeitem = _spec_element(page, "Item", "feeitems", "feeitem")
    needed = ("productid", *FeeItem.__dataclass_fields__)  # unit, unitcount, feecalmode, feevalue
    for name in needed:
        _spec_element(page, "Item", "feeitems", "feeitem", name)
    root = _child(ex.envelope.root, item.name)
    if root is None:
        raise NotRun(f"{page.page} answered without <{item.name}>")
    supplier = _spec_element(page, "Item", "type")  # values: 1 scenic area, 2 theater
    if supplier.values and _text(root, supplier.name) not in ("", supplier.values[0]):
        raise NotRun("a theater supplier: R is the scene start, and these checks book scenic orders")
    items: dict[str, list[FeeItem]] = {}
    for el in _child(root, "feeitems") if _child(root, "feeitems") is not None else ():
        if not isinstance(el.tag, str) or el.tag.lower() != feeitem.name.lower():
            continue
        fee = FeeItem(*(parse_value(ctx.spec, page, f"Item/feeitems/feeitem/{name}", _text(el, name))
                        for name in ("unit", "unitcount", "feecalmode", "feevalue")))
        items.setdefault(_text(el, "productid"), []).append(fee)
    allowed = {}
    for pt in ctx.spec.payment_types:  # canpaywith*: the flag whose label names the payment type
        flag = next((c for c in item.children if c.values == ("0", "1") and pt.name_zh in c.label_zh), None)
        if flag is not None and _child(root, flag.name) is not None:
            allowed[pt.id] = _text(root, flag.name) == "1"
    return Provider(_text(root, feemode.name) == "1", items, allowed)


# ------------------------------------------------------------------ the grid of lead times

@dataclass(frozen=True)
class Point:
    advance: int  # seconds before the reference time R (negative: after R)
    label: str


def _span(seconds: int) -> str:
    sign, s = ("-" if seconds < 0 else ""), abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if s >= size:
            parts.append(f"{s // size} {unit}")
            s %= size
    return sign + (" ".join(parts) or "0 s")


def _unit(item: FeeItem, ctx: CheckContext) -> int:
    unit = ctx.profile.fee_bands.unit_seconds.get(item.unit)
    if unit is None:
        raise NotRun(f"feeitem unit {item.unit!r} is not one the profile knows")
    return unit


def _sides(item: FeeItem, ctx: CheckContext) -> tuple[int, int]:
    """(inside, outside): the last second the item matches and the first it does not (rule h)."""
    bands, unit = ctx.profile.fee_bands, _unit(item, ctx)
    if item.unitcount == 0:
        return (0, 1) if bands.zero_count_match == "advance-not-positive" else (unit - 1, unit)
    edge = item.unitcount * unit
    return (edge - 1, edge) if bands.match == "advance-below-count" else (edge, edge + 1)


def grid(kind: str, items: list[FeeItem], ctx: CheckContext) -> list[Point]:
    points: dict[int, str] = {}
    if kind in ("edge", "inside"):
        for item in items:
            inside, outside = _sides(item, ctx)
            at = outside if kind == "edge" else inside
            points.setdefault(at, f"{_span(at)} before R (the {'first second outside' if kind == 'edge' else 'last second inside'} "
                                  f"the band of feeitem {item.unit}{item.unitcount})")
    else:
        edges = sorted({0, *(item.unitcount * _unit(item, ctx) for item in items)})
        top = edges[-1] + max(edges[-1] // 2, 3600) if edges[-1] else 86400
        points[top] = f"{_span(top)} before R (beyond every band)"
        for low, high in itertools.pairwise(edges):
            mid = (low + high) // 2
            points[mid] = f"{_span(mid)} before R (middle of the band {_span(low)}-{_span(high)})"
        positive = [e for e in edges if e > 0]
        after = -min(43200, positive[0] // 2) if positive else -43200
        points[after] = f"{_span(-after)} after R"
    return [Point(a, label) for a, label in sorted(points.items(), reverse=True)]


# ------------------------------------------------------------------ one product, priced from the target

@dataclass
class Setup:
    prov: Provider
    product: dict[str, str]
    items: list[FeeItem]
    price: Decimal
    qty: int

    def per_ticket(self, ctx: CheckContext, advance: float) -> tuple[Decimal, FeeItem | None]:
        if not self.prov.feemode:
            return ZERO, None
        ref = datetime(2030, 1, 1, tzinfo=UTC)  # only the advance R - event time matters
        q = quote(self.items, self.price, ref, ref - timedelta(seconds=advance), ctx.profile.fee_bands)
        return q.per_ticket, q.item

    def describe(self, ctx: CheckContext, advance: float) -> str:
        per, item = self.per_ticket(ctx, advance)
        if item is None:
            return "no feeitem applies" if self.prov.feemode else "feemode 0"
        return f"{self.qty} x {per} by feeitem {item.unit}{item.unitcount} {item.feecalmode} {item.feevalue}"


def _items_of(prov: Provider, productid: str) -> list[FeeItem]:
    return prov.items.get(productid, []) + prov.items.get("", [])


def _qty(ctx: CheckContext, product: dict[str, str], wanted: int) -> int:
    low = parse_value(ctx.spec, "GetProducts.aspx", "Item/minimum", product.get("minimum"))
    high = parse_value(ctx.spec, "GetProducts.aspx", "Item/maximum", product.get("maximum"))
    qty = max(wanted, low)
    return min(qty, high) if high > 0 else qty


def _plain(ctx: CheckContext) -> list[dict[str, str]]:
    found = [p for p in ctx.products() if p.get("needname", "0") != "1" and p.get("price")]
    if not found:
        raise NotRun("the target sells no priced product without real-name constraint")
    return found


def setup(ctx: CheckContext, prov: Provider, qty: int = 2) -> Setup:
    """The plain product with the most fee boundaries (the first plain product when none has any)."""
    products = _plain(ctx)
    best = max(products, key=lambda p: len({(i.unit, i.unitcount) for i in _items_of(prov, p["productid"])}))
    return Setup(prov, best, _items_of(prov, best["productid"]), parse_value(ctx.spec, "GetProducts.aspx", "Item/price", best["price"]),
                 _qty(ctx, best, qty))


# ------------------------------------------------------------------ reading the target

ORDER_FIELDS = ("sxrq", "summary", "totalfees", "dealtotal", "dealamount")


def _order(ctx: CheckContext, orderid: str) -> etree._Element:
    page = ctx.spec.page("QueryOrder.aspx")
    item = _spec_element(page, "Item")
    for name in ORDER_FIELDS:
        _spec_element(page, "Item", name)
    ex = ctx.ok(ctx.call(page, _values(page, orderid, ""), note="the order as the target reports it"), page.page)
    found = _child(ex.envelope.root, item.name)
    if found is None:
        raise NotRun(f"{page.page} answered without <{item.name}>")
    return found


def balance(ctx: CheckContext, account: str) -> Decimal:
    view = ctx.spec.account(account)
    page = ctx.spec.page(view.balance_page)
    _spec_element(page, "Item", view.balance)
    ex = ctx.ok(ctx.call(page, {}, note=f"{account} balance"), page.page)
    return parse_value(ctx.spec, page, f"Item/{view.balance}", _text(_child(ex.envelope.root, "Item"), view.balance))


def record_net(ctx: CheckContext, account: str, orderid: str, start: datetime, end: datetime) -> Decimal:
    """The net movement of the order's transaction records: the sum of closing - opening."""
    view = ctx.spec.account(account)
    page = ctx.spec.page(view.records_page)
    for name in (view.opening, view.closing, view.document):
        _spec_element(page, "Items", "Item", name)
    fmt = next((p.format for p in page.params if p.name == "Start_datetime"), "yyyyMMddHHmmss")
    stamp = "%Y%m%d%H%M%S" if fmt == "yyyyMMddHHmmss" else "%Y%m%d"
    net = ZERO
    first = next((p.first_page for p in page.params if p.first_page is not None), 1)
    for index in range(first, first + 50):
        ex = ctx.call(page, {"Page_index": str(index), "Start_datetime": start.strftime(stamp),
                             "End_datetime": end.strftime(stamp)}, note=f"{account} records of {orderid}")
        ctx.envelope(ex)
        if ex.retcode != "0":
            if index == first and ex.retcode != ctx.retcode_of(page, "no_records"):
                raise NotRun(f"{page.page} refused ({ex.retcode} {ex.retmsg})")
            break
        records = [el for el in ex.envelope.root.iter() if isinstance(el.tag, str) and el.tag.lower() == "item"
                   and _child(el, view.document) is not None]
        if not records:
            break
        for rec in records:
            if _text(rec, view.document) == orderid:
                net += (parse_value(ctx.spec, page, f"Items/Item/{view.closing}", _text(rec, view.closing))
                        - parse_value(ctx.spec, page, f"Items/Item/{view.opening}", _text(rec, view.opening)))
    return net


# ------------------------------------------------------------------ one order closed at one lead time

@dataclass
class Observed:
    point: Point
    expected: set[Decimal]
    values: dict[str, Decimal] = field(default_factory=dict)  # evidence name -> the fee it shows
    problems: list[str] = field(default_factory=list)

    @property
    def pinned(self) -> bool:
        return len(self.expected) == 1


def _effect_day(ctx: CheckContext, advance: int) -> int:
    """Days ahead (for the booking fixture) of the first effect date whose R leaves room to book
    now and close `advance` seconds before R, moving the clock only forward."""
    now, bands = ctx.now(), ctx.profile.fee_bands
    for days in range(1, 400):
        day = (now + timedelta(days=days)).date()
        if scenic_reference(day, bands) - timedelta(seconds=max(advance, 0) + MARGIN) >= now:
            return days
    raise NotRun("no effect date leaves room for the lead time")


def _names_order(param: Param) -> bool:
    return any(mark in param.label_zh for mark in ORDER_LABELS)


def _values(page: Page, orderid: str, other: str) -> dict[str, str]:
    """The page's own required parameters: the order number, and `other` for the rest (a pay
    channel, a refund reason)."""
    return {p.name: orderid if _names_order(p) else other for p in page.params
            if p.required and p.location == "query" and p.name.lower() not in COMMON}


def _pay(ctx: CheckContext, flow: Flow, orderid: str, total: str) -> None:
    if ctx.spec.account(flow.pay_type.account or ""):
        if not ctx.target.creds.pay_password:
            raise NotRun("no pay password given (--pay-password)")
        page = _pay_page(ctx.spec, flow.pay_event)
        values: dict[str, str] = {}
        for p in page.params:
            if p.encryption == "md5-upper-3des" and p.name.lower() != "password":
                values[p.name] = ctx.target.creds.pay_password
            elif _names_order(p):
                values[p.name] = orderid
            elif p.name.lower() == "money":
                values[p.name] = total
            elif p.required and p.default is not None and p.name.lower() not in COMMON:
                values[p.name] = p.default
        ctx.ok(ctx.call(page, values, note=f"pay by {flow.pay_type.id}"), page.page)
        return
    # instant: start the payment, then the platform reports it paid (a supplier-side event)
    channels = ctx.spec.page("GetPayChannel.aspx")
    channel_el = _spec_element(channels, "Item").children[0].name
    ex = ctx.ok(ctx.call(channels, {}, note="pay channels"), channels.page)
    channel = next((_text(i, channel_el) for i in ex.envelope.items() if _text(i, channel_el)), "")
    if not channel:
        raise NotRun("the target offers no pay channel")
    start = ctx.spec.page(ctx.spec.event(flow.pay_event).pages[0])
    ctx.ok(ctx.call(start, _values(start, orderid, channel), note="start an instant payment"), start.page)
    ctx.event(PAYMENT_SUCCESS, orderid=orderid)


def close_at(ctx: CheckContext, s: Setup, flow: Flow, point: Point) -> Observed:
    account = flow.pay_type.account if ctx.spec.account(flow.pay_type.account or "") else None
    before = balance(ctx, account) if account else None
    started = ctx.now()
    orderid, _ = ctx.book(days_ahead=_effect_day(ctx, point.advance), qty=s.qty, product=s.product)
    order = _order(ctx, orderid)
    effect = parse_value(ctx.spec, "QueryOrder.aspx", "Item/sxrq", _text(order, "sxrq"))
    reference = scenic_reference(effect, ctx.profile.fee_bands)
    total = _text(order, "summary")
    _pay(ctx, flow, orderid, total)
    status = ctx.order_status(orderid)
    if status not in flow.closable:
        raise NotRun(f"a {flow.pay_type.id}-paid order is in status {status}, from which the spec's "
                     f"{flow.close_event} charges no fee ({', '.join(sorted(flow.closable))} expected)")
    moment = reference - timedelta(seconds=point.advance)
    if moment < ctx.now():
        raise NotRun(f"the clock is already past {moment.isoformat()}")
    ctx.set_clock(moment)
    page = ctx.spec.page(flow.close_page)
    ctx.ok(ctx.call(page, _values(page, orderid, REASON), note=f"close {point.label}"), page.page)
    drift = max((ctx.now() - moment).total_seconds(), 0.0)
    expected = {s.per_ticket(ctx, point.advance)[0] * s.qty}
    if drift:  # a running clock: the target may have acted up to `drift` seconds later
        expected.add(s.per_ticket(ctx, point.advance - drift)[0] * s.qty)
    seen = Observed(point, expected)

    after = _order(ctx, orderid)
    seen.values["QueryOrder totalfees"] = parse_value(ctx.spec, "QueryOrder.aspx", "Item/totalfees", _text(after, "totalfees"))
    seen.values["QueryOrder dealtotal - dealamount"] = (
        parse_value(ctx.spec, "QueryOrder.aspx", "Item/dealtotal", _text(after, "dealtotal"))
        - parse_value(ctx.spec, "QueryOrder.aspx", "Item/dealamount", _text(after, "dealamount")))
    paid = parse_value(ctx.spec, "QueryOrder.aspx", "Item/summary", total)
    if account:
        delta = balance(ctx, account) - before
        seen.values[f"{account} balance decrease ({ctx.spec.account(account).balance_page})"] = -delta
        net = record_net(ctx, account, orderid, started - timedelta(seconds=1), ctx.now() + timedelta(seconds=1))
        seen.values[f"{account} records of the order ({ctx.spec.account(account).records_page})"] = -net
    else:
        refund_page = ctx.spec.page("QueryOrderRefund.aspx")
        for name in ("total", "totalfee", "totalrefund"):
            _spec_element(refund_page, name)
        ex = ctx.ok(ctx.call(refund_page, _values(refund_page, orderid, ""), note="the refund and its fee"),
                    refund_page.page)
        root = ex.envelope.root
        seen.values["QueryOrderRefund totalfee"] = parse_value(ctx.spec, refund_page, "totalfee", _text(root, "totalfee"))
        # the refund is the paid amount less the fee: what it withholds is the fee
        refund_total = parse_value(ctx.spec, refund_page, "total", _text(root, "total"))
        seen.values["QueryOrderRefund total - totalrefund"] = (
            refund_total - parse_value(ctx.spec, refund_page, "totalrefund", _text(root, "totalrefund")))
        if refund_total != paid:
            seen.problems.append(f"QueryOrderRefund total {_text(root, 'total')} is not the paid {paid}")
    shown = next((v for v in seen.values.values() if v in expected), None)
    want = shown if shown is not None else min(expected)
    wrong = {what: value for what, value in seen.values.items() if value != want}
    if wrong:
        seen.problems.append(f"expected a fee of {want} ({s.describe(ctx, point.advance)}), but "
                             + ", ".join(f"{what} shows {value}" for what, value in wrong.items()))
    ctx.notes.append(f"{flow.pay_type.id} order {orderid}, closed {point.label} at {moment.isoformat()}: "
                     f"expected fee {want}{'' if seen.pinned else f' (clock ran {drift:.3f} s: {sorted(expected)} accepted)'}; "
                     + ", ".join(f"{k} {v}" for k, v in seen.values.items()))
    return seen


# ------------------------------------------------------------------ check bodies

def _keep_clock(body: Callable[[CheckContext], None], ctx: CheckContext) -> None:
    """Run `body`, then put the clock back where the check found it."""
    start = ctx.now()
    try:
        body(ctx)
    finally:
        try:
            ctx.driver.set_clock(start)
        except Exception as exc:  # noqa: BLE001 - the verdict stands; the note says what is left behind
            ctx.notes.append(f"the clock could not be put back to {start.isoformat()}: {exc}")


def _allowed(prov: Provider, pay_type: PaymentType) -> None:
    if not prov.allowed.get(pay_type.id, True):
        raise NotRun(f"the target does not let this agent pay by {pay_type.id} (GetProviderConfig)")


def _verdict(flow: Flow, seen: list[Observed], ctx: CheckContext) -> None:
    """Failed on any wrong fee; not run when a lead time could not be pinned (a running clock)."""
    problems = [f"{o.point.label}: {p}" for o in seen for p in o.problems]
    ctx.expect(not problems, f"{flow.pay_type.id} orders closed by {flow.close_page}: " + "; ".join(problems))
    loose = [o.point.label for o in seen if not o.pinned]
    if loose:
        raise NotRun(f"the target's clock runs on after the driver sets it, so {len(loose)} of {len(seen)} lead "
                     f"times could not be hit to the second and either side's fee was accepted ({'; '.join(loose)}); "
                     "the edge needs a driver whose clock holds still")


def _grid_check(flow: Flow, kind: str, ctx: CheckContext) -> None:
    def body(ctx: CheckContext) -> None:
        prov = provider(ctx)
        _allowed(prov, flow.pay_type)
        s = setup(ctx, prov)
        if kind != "band" and not (prov.feemode and s.items):
            raise NotRun("the target sets no default fee (feemode 0 or no feeitem), so there is no band edge")
        points = grid(kind, s.items if prov.feemode else [], ctx)
        _verdict(flow, [close_at(ctx, s, flow, p) for p in points], ctx)

    _keep_clock(body, ctx)


def _percent_check(flow: Flow, ctx: CheckContext) -> None:
    """A feecalmode A item: price x feevalue / 100 per ticket, rounded per the profile (half-up)."""

    def body(ctx: CheckContext) -> None:
        prov = provider(ctx)
        _allowed(prov, flow.pay_type)
        if not prov.feemode or not any(i.feecalmode == "A" for items in prov.items.values() for i in items):
            raise NotRun("the target's feeitems hold no percentage (feecalmode A) item")
        bands = ctx.profile.fee_bands
        candidates = []
        for product in _plain(ctx):
            s = Setup(prov, product, _items_of(prov, product["productid"]), parse_value(ctx.spec, "GetProducts.aspx", "Item/price", product["price"]),
                      _qty(ctx, product, 3))
            for point in grid("band", s.items, ctx) + grid("inside", s.items, ctx):
                per, item = s.per_ticket(ctx, point.advance)
                if item is None or item.feecalmode != "A":
                    continue
                exact = s.price * item.feevalue / Decimal(100)
                rounds = exact != exact.quantize(CENT) and any(
                    item_fee(item, s.price, replace(bands, rounding=r)) != per for r in ("down", "half-even"))
                candidates.append((not rounds, exact == exact.quantize(CENT), point.advance < 0, s, point))
        if not candidates:
            raise NotRun("no plain product has a percentage feeitem that applies at any lead time")
        *_, s, point = min(candidates, key=lambda c: c[:3])
        _verdict(flow, [close_at(ctx, s, flow, point)], ctx)

    _keep_clock(body, ctx)


def _never_charged(pay_type: PaymentType, ctx: CheckContext) -> None:
    """Desk orders never default (2.6 line 222): a partial desk pickup and a cancellation, both at
    the moment a paying order would be charged most, cost nothing."""

    def body(ctx: CheckContext) -> None:
        prov = provider(ctx)
        _allowed(prov, pay_type)
        s = setup(ctx, prov, qty=2)
        points = grid("band", s.items if prov.feemode else [], ctx)
        worst = max(points, key=lambda p: s.per_ticket(ctx, p.advance)[0])
        if s.per_ticket(ctx, worst.advance)[0] == 0:
            raise NotRun("the target would charge no fee at any lead time, so a free desk order shows nothing")
        accounts = [a.id for a in ctx.spec.accounts if prov.allowed.get(a.id, False)]
        before = {a: balance(ctx, a) for a in accounts}
        problems = []
        days = _effect_day(ctx, worst.advance)
        picked, _ = ctx.book(days_ahead=days, qty=s.qty, product=s.product)
        cancelled, _ = ctx.book(days_ahead=days, qty=s.qty, product=s.product)
        reference = scenic_reference(parse_value(ctx.spec, "QueryOrder.aspx", "Item/sxrq", _text(_order(ctx, picked), "sxrq")),
                                     ctx.profile.fee_bands)
        ctx.set_clock(reference - timedelta(seconds=worst.advance))
        ctx.event(DESK_PAY, orderid=picked, taken={"1": s.qty - 1})
        page = ctx.spec.page(ctx.spec.event("cancel").pages[0])
        ctx.ok(ctx.call(page, _values(page, cancelled, REASON), note=f"cancel a desk order {worst.label}"), page.page)
        for orderid, what in ((picked, f"desk pickup of {s.qty - 1} of {s.qty} tickets"),
                              (cancelled, "cancellation of a desk order")):
            order = _order(ctx, orderid)
            fees = {"totalfees": parse_value(ctx.spec, "QueryOrder.aspx", "Item/totalfees", _text(order, "totalfees"))}
            fees["dealtotal - dealamount"] = (parse_value(ctx.spec, "QueryOrder.aspx", "Item/dealtotal", _text(order, "dealtotal"))
                                              - parse_value(ctx.spec, "QueryOrder.aspx", "Item/dealamount", _text(order, "dealamount")))
            for i, sub in enumerate(el for el in order if isinstance(el.tag, str) and el.tag.lower() == "subitem"):
                if _text(sub, "fees"):
                    fees[f"subitem {i + 1} fees"] = parse_value(ctx.spec, "QueryOrder.aspx", "Item/subitem/fees", _text(sub, "fees"))
            problems += [f"{what} {worst.label}: QueryOrder {k} {v}, expected 0.00" for k, v in fees.items() if v != 0]
            ctx.notes.append(f"desk order {orderid} ({what}) {worst.label}: " + ", ".join(f"{k} {v}" for k, v in fees.items()))
        for account in accounts:
            after = balance(ctx, account)
            if after != before[account]:
                problems.append(f"the {account} balance moved from {before[account]} to {after} for desk orders")
        ctx.expect(not problems, "; ".join(problems) + f" (a paying order would be charged {s.describe(ctx, worst.advance)})")

    _keep_clock(body, ctx)


# ------------------------------------------------------------------ derivation

KINDS = {
    "edge": ("major", "at the first second outside each fee band (exactly N units before R) the next band's fee applies"),
    "inside": ("major", "at the last second inside each fee band (N units less one second before R) that band's fee applies"),
    "band": ("critical", "in the middle of every fee band, and before and after them all, the band's fee is charged"),
}


@derive
def fee_checks(spec: Spec) -> Iterable[Check]:
    for flow in flows(spec):
        needs: tuple[str, ...] = ("clock",) if spec.account(flow.pay_type.account or "") else ("clock", "events")
        verb = {"cancel": "cancelling", "refund": "refunding"}.get(flow.situation.id, flow.situation.id)
        evidence = ("QueryOrder, the account balance and its records" if "events" not in needs
                    else "QueryOrder and QueryOrderRefund")
        for kind, (severity, claim) in KINDS.items():
            yield Check(f"fees.{kind}.{flow.situation.id}.{flow.pay_type.id}", "fees", flow.clause,
                        f"{verb} a {flow.pay_type.id}-paid order: {claim} (rule h on the target's feeitems; "
                        f"{evidence} agree)", severity, partial(_grid_check, flow, kind), needs, flow.close_page)
        yield Check(f"fees.percent.{flow.situation.id}.{flow.pay_type.id}", "fees",
                    f"4.2.38 feecalmode/feevalue (lines 7675-7681, {SEED}); {flow.clause}",
                    f"{verb} a {flow.pay_type.id}-paid order under a percentage feeitem charges price x feevalue / 100 "
                    f"per ticket, rounded as profile rule h says", "major",
                    partial(_percent_check, flow), needs, flow.close_page)
    for pay_type in spec.payment_types:
        if pay_type.fees_apply or not spec.fee_model.desk_never_charged:
            continue
        yield Check(f"fees.never.{pay_type.id}", "fees", f"2.6 (line 222, {SEED}); payment type {pay_type.id} "
                    f"fees_apply false ({pay_type.clause})",
                    f"{pay_type.id} orders are never charged a default fee: not for tickets left at pickup, "
                    "not on cancellation", "critical", partial(_never_charged, pay_type), ("clock", "events"),
                    "CancelOrder.aspx")
