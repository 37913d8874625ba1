"""State checks, derived from the spec's state machine (`tables/transitions.yaml`, 2.1, 2.2, 2.16):

- `state.transition.<id>`: every allowed transition whose event a page, a supplier event or the
  clock can drive. The order is brought to the transition's source status along a path planned
  over the spec's own transitions, the event is driven, and QueryOrder must show the target status.
- `state.forbidden.<rule>.<status>`: every forbidden transition, per listed source status. The
  order is brought to the status, the rule's page is called, and the answer must carry the rule's
  retcode (`page.retcode(rule.retcode_key)`) while QueryOrder shows the order unchanged.
- `state.no-oversell` (4.2.2): booking the whole remaining stock of a day sells it out; one more
  ticket is refused and GetProductsInventory reads sold out.

Statuses that no drivable path reaches (or that the target's settings route around, such as
payment approval) make a check not run, never pass."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial

from spec.model import ForbiddenTransition, Page, Param, Spec, Transition
from spec.protocol import Credentials

from ..baseline import COMMON, ORDER_LABELS
from ..catalog import meaning
from ..context import CheckContext, Failed, NotRun
from ..drivers import DriverError
from ..registry import Check, check, derive
from ..target import Exchange
from ..values import parse_value

CATEGORY = "state"
# Events the clock drives (actor: clock in transitions.yaml); their checks need a driver that moves it.
CLOCK_ACTOR = "clock"
# The spec's supplier-side events by the name the driver knows them (`ybx-mock events`, the
# admin API's vocabulary; a manual driver shows the name to a person).
SUPPLIER_EVENTS = {
    "desk_pickup": "desk-pickup", "desk_pay": "desk-pay", "gate_check": "gate-check",
    "ticket_refund": "desk-refund", "pay_instant_success": "payment-success",
    "pay_instant_fail": "payment-failure", "approve_payment": "approve-payment",
    "reject_payment": "reject-payment", "approve_refund": "approve-refund",
    "reject_refund": "reject-refund", "refund_done": "refund-paid",
}
# Events whose page needs a payment attempt started first (the notify pages of 4.2.22 belong to the
# payment platform; the supplier event stands in for them).
AFTER_PAYMENT_START = ("pay_instant_success", "pay_instant_fail")
ORDER_STATUS = "Item/orderstatus"
DAYS_AHEAD = 1  # ActivateTicket's activatedate must be today or one of the next two days (4.2.41, line 8115)
LATEST = 2  # so a theater show may be a day later, when the next day's seats are taken
REASON = "ybx-conform state check"
DUMMY_CODE = "000000"  # an SMS verification code the checks cannot know


def _transition_clause(t: Transition) -> str:
    return f"{t.clause} (line {t.line}); transitions.yaml {t.id}" if t.line else f"{t.clause}; transitions.yaml {t.id}"


# ====================================================================== orders under test

@dataclass
class Order:
    orderid: str
    creds: Credentials | None
    sxrq: str
    total: str
    status: str = "0"
    pay_type: str | None = None


def _cached(ctx: CheckContext, key: str, make):
    """Per-check memo of read-only fixtures (products, supplier settings, pay channels)."""
    memo = ctx.__dict__.setdefault("_state_memo", {})
    if key not in memo:
        memo[key] = make()
    return memo[key]


def _status(ctx: CheckContext, order: Order, strict: bool = True) -> str:
    ex = ctx.call("QueryOrder.aspx", {"order_id": order.orderid}, creds=order.creds, note="observe the order status")
    if ex.retcode != "0" or ex.envelope is None:
        if strict:
            ctx.envelope(ex)
            raise Failed(f"QueryOrder.aspx refused order {order.orderid}: {ex.retcode} {ex.retmsg}")
        raise NotRun(f"QueryOrder.aspx did not answer for order {order.orderid} ({ex.retcode} {ex.retmsg or ex.error})")
    return ex.envelope.text(ORDER_STATUS)


def _book(ctx: CheckContext, creds: Credentials | None = None, strict: bool = False) -> tuple[Order, Exchange]:
    try:
        product = _cached(ctx, "product", ctx.plain_product)
        orderid, ex = ctx.book(days_ahead=DAYS_AHEAD, creds=creds, product=product, latest=LATEST)
    except NotRun as exc:
        if strict:
            raise Failed(f"booking refused: {exc}") from None
        raise
    q = ctx.ok(ctx.call("QueryOrder.aspx", {"order_id": orderid}, creds=creds, note="fixture: the new order"),
               "QueryOrder.aspx")
    sxrq = q.envelope.text("Item/sxrq") or (ctx.today() + timedelta(days=DAYS_AHEAD)).strftime("%Y%m%d")
    order = Order(orderid, creds, sxrq, q.envelope.text("Item/summary"), q.envelope.text(ORDER_STATUS))
    return order, ex


# ====================================================================== request values from the page tables

def _is_order_param(p: Param) -> bool:
    return any(mark in p.label_zh for mark in ORDER_LABELS)


def _pay_channel(ctx: CheckContext, order: Order) -> str:
    ex = ctx.ok(ctx.call("GetPayChannel.aspx", {}, creds=order.creds, note="fixture: a pay channel"),
                "GetPayChannel.aspx")
    for item in ex.envelope.items():
        value = item.findtext("paychannelid")
        if value:
            return value
    raise NotRun("GetPayChannel.aspx lists no channel")


def _values(ctx: CheckContext, page: Page, order: Order, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Plain values for `page` about `order`, from the page's parameter table (required ones only)."""
    values: dict[str, str] = {}
    for p in page.params:
        if not p.required or p.location != "query" or p.name.lower() in COMMON or (extra and p.name in extra):
            continue
        label = p.label_zh
        if _is_order_param(p):
            values[p.name] = order.orderid
        elif p.encryption == "md5-upper-3des":
            if not ctx.target.creds.pay_password:
                raise NotRun("no pay password given (--pay-password)")
            values[p.name] = (order.creds or ctx.target.creds).pay_password or ctx.target.creds.pay_password
        elif "金额" in label or "费用" in label or p.name.lower() in ("money", "total_fee"):
            values[p.name] = order.total
        elif "验证码" in label:
            values[p.name] = DUMMY_CODE
        elif "渠道" in label:
            values[p.name] = _cached(ctx, "channel", lambda: _pay_channel(ctx, order))
        elif "理由" in label or "原因" in label:
            values[p.name] = REASON
        elif p.format == "yyyyMMdd":
            values[p.name] = order.sxrq
        elif p.values:
            values[p.name] = p.default if p.default in p.values else p.values[0]
        elif p.default is not None:
            values[p.name] = p.default
        else:
            raise NotRun(f"no way to derive {page.page} {p.name} ({label}) for order {order.orderid}")
    values.update(extra or {})
    return values


def _provider(ctx: CheckContext, order: Order) -> dict[str, str]:
    ex = ctx.call("GetProviderConfig.aspx", {}, creds=order.creds, note="fixture: supplier settings")
    if ex.retcode != "0" or ex.envelope is None:
        return {}
    item = ex.envelope.root.find("Item")
    return {c.tag: (c.text or "") for c in item if len(c) == 0} if item is not None else {}


def _activation_choices(ctx: CheckContext, page: Page, order: Order) -> list[dict[str, str]]:
    """ActivateTicket values for a whole-order activation (4.2.41): activateall '1'; activatedate the
    effect date; activatemode '2' for rebate-authorised orders, '1' for deposit and instant (line 8153);
    the ticket medium the supplier allows (GetProviderConfig tickettype: 1 ID card, 2 mobile barcode,
    3 either), the mobile barcode first since ID-card tickets need real-name records per ticket."""
    config = _cached(ctx, "provider", lambda: _provider(ctx, order))
    medium = page.param("tickettype")
    media = list(reversed(medium.values)) if medium is not None and medium.values else ["2", "1"]
    allowed = config.get("tickettype", "")
    if allowed in media:
        media = [allowed]
    extra = {"activateall": "1", "activatemode": "2" if order.pay_type == "rebate" else "1"}
    if config.get("sublevelmode") == "1":
        extra["timespanindex"] = "-1"  # keep the segment chosen at booking (line 8141)
    return [_values(ctx, page, order, {**extra, "tickettype": m}) for m in media]


# ====================================================================== driving events

class Refused(Exception):
    """The target refused a step (a page answered non-zero, or a supplier event was refused)."""

    def __init__(self, message: str, ex: Exchange | None = None):
        super().__init__(message)
        self.ex = ex


def _page_for(spec: Spec, event: str) -> Page | None:
    """The request page that drives `event` on an existing order without an SMS code."""
    for name in spec.event(event).pages:
        if not spec.has_page(name):
            continue
        page = spec.page(name)
        if page.direction != "request" or "book" in page.behaviour.events:
            continue
        if any("验证码" in p.label_zh for p in page.params if p.required):
            continue
        return page
    return None


def _call(ctx: CheckContext, page: Page, values: Mapping[str, str], order: Order, note: str) -> Exchange:
    ex = ctx.call(page, values, creds=order.creds, note=note)
    if ex.retcode != "0":
        if ex.envelope is None:
            raise NotRun(f"{page.page}: no answer ({ex.error})")
        raise Refused(f"{page.page} answered {ex.retcode} {ex.retmsg}", ex)
    return ex


def _pay(ctx: CheckContext, page: Page, order: Order, event: str) -> None:
    """A payment page. A refusal for the account's balance (tables/accounts.yaml `insufficient`) is
    the target right about an agent that cannot pay: where the driver can, the supplier tops the
    account up (2.15, lines 415-417) and the payment is tried again - checks book many orders and the
    agent's balance is not theirs to plan -; else the check did not run (ShortBalance)."""
    creds = order.creds or ctx.target.creds
    note = f"drive {event}"
    for attempt in range(4):  # three top-ups of ten times the order total: other checks spend it meanwhile
        try:
            _call(ctx, page, _values(ctx, page, order), order, note)
            return
        except Refused as exc:
            refused = exc.ex
            view = ctx.short_of(refused) if refused is not None else None
            if refused is None or view is None:
                raise
            if "events" not in ctx.driver.capabilities:
                ctx.balance_refusal(refused, order.total, creds=order.creds)
        if attempt == 3:
            break
        total = parse_value(ctx.spec, "QueryOrder.aspx", "Item/summary", order.total)
        try:
            ctx.event("top-up", user=creds.user, account=view.id, amount=str(total * 10), memo="ybx-conform state checks")
        except DriverError as err:
            raise NotRun(f"the {view.id} balance is short and the top-up failed: {err}") from None
        note = f"drive {event} after a top-up"
    ctx.balance_refusal(refused, order.total, creds=order.creds)


def _supplier(ctx: CheckContext, event: str, body: Mapping[str, str]) -> None:
    name = SUPPLIER_EVENTS.get(event)
    if name is None:
        raise NotRun(f"no supplier event drives {event}")
    ctx.needs("events")
    try:
        ctx.event(name, **body)
    except DriverError as exc:
        if "HTTP 4" in str(exc):
            raise Refused(f"supplier event {name} refused: {exc}") from None
        raise


def _tickets(ctx: CheckContext, order: Order) -> list[dict[str, str]]:
    ex = ctx.ok(ctx.call("GetTicketList.aspx", {"orderid": order.orderid}, creds=order.creds,
                         note="fixture: the order's tickets"), "GetTicketList.aspx")
    return [{c.tag: (c.text or "") for c in t} for t in ex.envelope.root.iter("ticket")]


def _drive(ctx: CheckContext, order: Order, event: str) -> None:
    """Make `event` happen to `order` through the target's pages or the driver; `Refused` if refused."""
    spec = ctx.spec
    if event in AFTER_PAYMENT_START:
        start = _page_for(spec, "pay_instant_start")
        if start is None:
            raise NotRun("the spec names no page that starts an instant payment")
        try:
            _call(ctx, start, _values(ctx, start, order), order, "start the instant payment")
        except Refused as exc:
            raise NotRun(f"the payment could not be started: {exc}") from None
        for t in spec.transitions_from(order.status, "pay_instant_start"):
            ctx.notes.append(f"step {t.id}: order {order.orderid} {t.source} -> {t.target} (payment started)")
        _supplier(ctx, event, {"orderid": order.orderid})
        return
    if event in ("gate_check", "ticket_refund"):
        tickets = _tickets(ctx, order)
        if not tickets:
            raise NotRun(f"order {order.orderid} shows no tickets (GetTicketList.aspx)")
        ticket = tickets[0]
        code = ticket.get("ticketcode", "")
        if event == "gate_check":
            _supplier(ctx, event, {"ticketid": code})
            return
        page = _page_for(spec, event)
        # printed paper tickets (已取纸质票) are refunded only at the desk (4.2.54, line 11070)
        printed = {s.code for s in spec.ticket_statuses if "纸质" in s.name_zh}
        if page is not None and ticket.get("status") not in printed:
            _call(ctx, page, _values(ctx, page, order, {"ticketcode": code}), order, "refund a ticket")
        else:  # desk payments are refunded in cash, others to the source of payment (2.7.3)
            mark = "退现" if order.pay_type in (None, "desk") else "原路"
            mode = next((m.code for m in spec.refund_modes if mark in m.name_zh), spec.refund_modes[0].code)
            _supplier(ctx, event, {"ticketid": code, "mode": mode})
        return
    page = _page_for(spec, event)
    if page is not None:
        if event == "activate":
            refusal = None
            for values in _activation_choices(ctx, page, order):
                try:
                    _call(ctx, page, values, order, "activate the order")
                    return
                except Refused as exc:
                    refusal = exc
            raise refusal or NotRun("no activation values")
        _pay(ctx, page, order, event)
        return
    _supplier(ctx, event, {"orderid": order.orderid})


# ====================================================================== planning paths over the spec

def _undoes(spec: Spec, t: Transition) -> Transition | None:
    """For a history-guarded transition - one of several for the same status and event that returns
    to the status before an earlier step (revoke_refund goes back to 5 or 6, whichever apply_refund
    left) - the step it reverses; a path must reach its source through that step. None otherwise."""
    if t.source == t.target:
        return None
    siblings = [s for s in spec.transitions_from(t.source, t.event) if s.id != t.id and s.target != t.target]
    if not siblings:
        return None
    back = [u for u in spec.transitions if u.source == t.target and u.target == t.source]
    return next((u for u in back if spec.event(u.event).actor != CLOCK_ACTOR), back[0] if back else None)


def _by_page(spec: Spec, event: str) -> bool:
    """Whether an integrator's page alone drives `event` on an existing order."""
    return _page_for(spec, event) is not None and event not in AFTER_PAYMENT_START


def _needs_events(spec: Spec, event: str) -> bool:
    return not _by_page(spec, event) and spec.event(event).actor != CLOCK_ACTOR


def _edges(spec: Spec, events: bool) -> list[Transition]:
    """Transitions a path may take: status-changing, not clock-driven, not history-guarded."""
    return [t for t in spec.transitions
            if t.source != t.target and spec.event(t.event).actor != CLOCK_ACTOR and _undoes(spec, t) is None
            and t.source != spec.initial_status and (events or not _needs_events(spec, t.event))]


def _narrow(pay: str | None, t: Transition) -> str | None:
    return pay or (t.payment_types[0] if len(t.payment_types) == 1 else None)


def _plan(spec: Spec, events: bool, start: str, pay: str | None, goal: str,
          want: tuple[str, ...]) -> list[Transition] | None:
    """Cheapest path of drivable transitions from `start` to `goal` keeping the payment type within
    `want` (pages cost 1, supplier events 2)."""
    edges = _edges(spec, events)
    queue: list[tuple[int, int, str, str, list[Transition]]] = [(0, 0, start, pay or "", [])]
    seen: set[tuple[str, str]] = set()
    tie = 0
    while queue:
        cost, _, status, p, path = heapq.heappop(queue)
        if status == goal:
            return path
        if (status, p) in seen:
            continue
        seen.add((status, p))
        for t in edges:
            if t.source != status or (p and p not in t.payment_types):
                continue
            new = _narrow(p or None, t)
            if new and want and new not in want:
                continue
            tie += 1
            heapq.heappush(queue, (cost + (2 if _needs_events(spec, t.event) else 1), tie, t.target, new or "",
                                   path + [t]))
    return None


def _reachable(spec: Spec, status: str, events: bool, want: tuple[str, ...] = ()) -> bool:
    book = [t for t in spec.transitions if t.source == spec.initial_status]
    return any(_plan(spec, events, t.target, None, status, want) is not None for t in book)


def _step(ctx: CheckContext, order: Order, t: Transition, goal: str) -> str:
    try:
        _drive(ctx, order, t.event)
    except Refused as exc:
        raise NotRun(f"could not bring order {order.orderid} to {goal}: step {t.id} was refused ({exc})") from None
    seen = _status(ctx, order, strict=False)
    taken = next((s for s in ctx.spec.transitions_from(t.source, t.event) if s.target == seen), t)
    order.pay_type = _narrow(order.pay_type, taken)
    order.status = seen
    ctx.notes.append(f"step {taken.id}: order {order.orderid} {t.source} -> {seen}")
    return seen


def _follow(ctx: CheckContext, order: Order, goal: str, want: tuple[str, ...], via: Transition | None = None) -> None:
    """Bring `order` to `goal` along a planned path (through `via` last, if given); NotRun when it cannot.
    When the target takes a sibling transition (same source and event, another target: a settings
    guard such as payment approval), the rest of the way is planned again from where the order is."""
    spec = ctx.spec
    events = "events" in ctx.driver.capabilities
    stop = via.source if via else goal
    detour = ""
    for _ in range(4):
        path = _plan(spec, events, order.status, order.pay_type, stop, want)
        if path is None:
            if detour:
                raise NotRun(f"status {stop} is out of reach on this target: {detour}")
            raise NotRun(f"no drivable path of the spec's transitions leads from {order.status} to status {stop}"
                         + ("" if events else " without supplier events"))
        for t in path:
            seen = _step(ctx, order, t, goal)
            if seen == t.target:
                continue
            siblings = [s.id for s in spec.transitions_from(t.source, t.event) if s.id != t.id and s.target == seen]
            if not siblings:
                raise NotRun(f"could not bring order {order.orderid} to {goal}: step {t.id} left it in {seen}, "
                             f"not {t.target}")
            detour = f"it took {siblings[0]} ({t.source}->{seen}) instead of {t.id}, {_guard(ctx, t)}"
            break
        else:
            break
    else:
        raise NotRun(f"could not bring order {order.orderid} to {goal}: {detour}")
    if via is not None:
        seen = _step(ctx, order, via, goal)
        if seen != via.target:
            raise NotRun(f"step {via.id} left order {order.orderid} in {seen}, not {via.target}")


def _reach(ctx: CheckContext, goal: str, want: tuple[str, ...] = (), via: Transition | None = None,
           creds: Credentials | None = None) -> Order:
    order, _ = _book(ctx, creds)
    if order.status != goal or via is not None:
        _follow(ctx, order, goal, want, via)
    if order.status != goal:
        raise NotRun(f"order {order.orderid} is in {order.status}, not {goal}")
    return order


def reach(ctx: CheckContext, goals: Iterable[str]) -> str:
    """A new order brought to one of `goals`, the cheapest the driver can reach first (a fixture for
    pages that work on orders in a given status); its id. A goal the target routes around (a
    settings guard) is left for the next."""
    spec, events, wanted = ctx.spec, "events" in ctx.driver.capabilities, set(goals)
    order, _ = _book(ctx)
    left = set(wanted)
    first: NotRun | None = None  # why the cheapest way failed says more than "no other way is left"
    while order.status not in wanted:
        costs = sorted((sum(2 if _needs_events(spec, t.event) else 1 for t in path), goal) for goal in left
                       if (path := _plan(spec, events, order.status, order.pay_type, goal, ())) is not None)
        if not costs:
            raise first or NotRun(f"no drivable path of the spec's transitions leads order {order.orderid} from "
                                  f"{order.status} to status {' or '.join(sorted(wanted))}")
        goal = costs[0][1]
        left.discard(goal)
        try:
            _follow(ctx, order, goal, ())
        except NotRun as exc:
            first = first or exc
            if order.status not in wanted and not left:
                raise first from None
    return order.orderid


def _guard(ctx: CheckContext, t: Transition) -> str:
    """Why the target did not take `t`: its guard, a supplier setting, and how to set it where known."""
    hint = ctx.driver.setting_for(t.id)
    return (f"whose guard is a supplier setting this run cannot choose ({t.guard_en.rstrip('.')})"
            + (f"; to reach it: {hint}" if hint else ""))


# ====================================================================== allowed transitions

def _verdict(ctx: CheckContext, t: Transition, order: Order, before: str) -> None:
    seen = _status(ctx, order)
    if seen == t.target:
        return
    siblings = [s for s in ctx.spec.transitions_from(t.source, t.event) if s.id != t.id and s.target == seen]
    if siblings and _undoes(ctx.spec, t) is None:
        raise NotRun(f"the target took {siblings[0].id} ({t.source}->{seen}) instead of {t.id}, {_guard(ctx, t)}")
    ctx.expect(False, f"{t.event} on order {order.orderid} in status {before}: QueryOrder shows {seen}, "
               f"the spec's transition {t.id} leads to {t.target}")


def _final(ctx: CheckContext, t: Transition, order: Order) -> None:
    before = order.status
    try:
        _drive(ctx, order, t.event)
    except Refused as exc:
        if exc.ex is not None:  # a step that debits (an activation at delivery, 2.7) may find the balance short
            ctx.balance_refusal(exc.ex, order.total, creds=order.creds)
        ctx.expect(False, f"{t.event} on order {order.orderid} in status {before} was refused ({exc}); "
                   f"the spec allows {t.id} ({t.source}->{t.target})")
    _verdict(ctx, t, order, before)


def _transition(t: Transition, ctx: CheckContext) -> None:
    if t.source == ctx.spec.initial_status:
        order, ex = _book(ctx, strict=True)
        shown = ex.envelope.text(ORDER_STATUS) if ex.envelope is not None else ""
        ctx.expect(not shown or shown == t.target, f"OrderProducts answered orderstatus {shown}, expected {t.target}")
        seen = _status(ctx, order)
        ctx.expect(seen == t.target, f"a new order {order.orderid} is in status {seen}, expected {t.target} ({t.id})")
        return
    via = _undoes(ctx.spec, t)
    order = _reach(ctx, t.source, t.payment_types, via=via)
    _final(ctx, t, order)


def _pay_timeout(t: Transition, ctx: CheckContext) -> None:
    """Book as an agent with a pay deadline (paytimeout > 0: no desk payment, 3.2) and let it pass."""
    for creds in [None] + ([ctx.other] if ctx.other else []):
        order, booked = _book(ctx, creds)
        minutes = parse_value(ctx.spec, booked.page, "Item/paytimeout", booked.envelope.text("Item/paytimeout"))
        if minutes > 0:
            break
    else:
        raise NotRun("no agent of this run has a pay deadline (paytimeout 0: desk payment allowed); "
                     "give a second agent without desk payment")
    if order.status != t.source:
        raise NotRun(f"the new order is in {order.status}, not {t.source}")
    ctx.driver.advance(minutes * 60 + 60)
    _verdict(ctx, t, order, t.source)


def _expire(t: Transition, ctx: CheckContext) -> None:
    """Let the order's validity (effect date + Preorder days, 2.10) run out."""
    products = "GetProducts2.aspx" if ctx.mode() == "theater" else "GetProducts.aspx"
    days = [parse_value(ctx.spec, products, "Item/Preorder", p.get("Preorder")) for p in ctx.products()]
    if not days:
        raise NotRun("GetProducts.aspx shows no Preorder (order validity days)")
    order = _reach(ctx, t.source, t.payment_types)
    effect = parse_value(ctx.spec, "QueryOrder.aspx", "Item/sxrq", order.sxrq)
    now = ctx.now()
    end = datetime.combine(effect + timedelta(days=max(days) + 1), time(1, 0), tzinfo=now.tzinfo)
    ctx.driver.advance(max((end - now).total_seconds(), 60))
    _verdict(ctx, t, order, t.source)


def _needs(spec: Spec, t: Transition) -> tuple[str, ...]:
    """Driver capabilities the check needs: the clock for clock events; supplier events when the
    event itself or every way to its source needs one (reported not run at once without them)."""
    needs = []
    if spec.event(t.event).actor == CLOCK_ACTOR:
        needs.append("clock")
    elif _needs_events(spec, t.event):
        needs.append("events")
    if t.source != spec.initial_status and "events" not in needs and not _reachable(spec, t.source, False):
        needs.append("events")
    return tuple(needs)


@derive
def transition_checks(spec: Spec) -> Iterable[Check]:
    for t in spec.transitions:
        event = spec.event(t.event)
        fn = partial(_transition, t)
        if event.actor == CLOCK_ACTOR:
            fn = partial(_pay_timeout if t.event == "pay_timeout" else _expire, t)
        page = _page_for(spec, t.event) if t.source != spec.initial_status else None
        stays = t.source == t.target  # ticket-level events keep the order status
        yield Check(f"state.transition.{t.id}", CATEGORY, _transition_clause(t),
                    f"{t.event} {'keeps' if stays else 'moves'} an order in status {t.source} "
                    f"{'in' if stays else 'to'} {t.target} (seen through QueryOrder)",
                    "major" if stays else "critical", fn, needs=_needs(spec, t),
                    page=page.page if page else (event.pages[0] if event.pages else ""))


# ====================================================================== forbidden transitions

_PLACEHOLDER = re.compile(r"xxxx|ex|X|\[[A-Z]+\]")
_PUNCT = re.compile(r"[\s\"'“”‘’。，；,.;:：…（）()、!！]")


def _carries(message_zh: str, retmsg: str) -> bool:
    """Whether `retmsg` is the manual's message (placeholders free, punctuation and spaces ignored)."""
    got = _PUNCT.sub("", retmsg)
    at = 0
    for part in _PLACEHOLDER.split(message_zh):
        part = _PUNCT.sub("", part)
        if not part:
            continue
        found = got.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


def _forbidden(rule: ForbiddenTransition, source: str, ctx: CheckContext) -> None:
    spec = ctx.spec
    page = spec.page(rule.page)
    expected = page.retcode(rule.retcode_key)
    if expected is None:
        raise NotRun(f"{page.page} lists no retcode {rule.retcode_key!r}")
    if not any(t.target == source for t in spec.transitions if t.source != t.target):
        raise NotRun(f"no transition of the spec leads to status {source}")
    order = _reach(ctx, source)
    if page.param("activatemode") is not None:
        values = _activation_choices(ctx, page, order)[0]
    else:
        values = _values(ctx, page, order)
    ex = ctx.call(page, values, creds=order.creds, note=f"{rule.event} on an order in status {source} (forbidden)")
    ctx.envelope(ex)
    after = _status(ctx, order)
    problems = []
    if ex.retcode != expected.code and after == source:
        # the manual does not order a page's refusals: one for the balance, checked first, hides the state rule
        ctx.balance_refusal(ex, order.total, creds=order.creds)
    if ex.retcode != expected.code:
        keys = {r.key for r in page.retcodes if r.code == ex.retcode}
        if ex.retcode != "0" and after == source and any("sms_code" in k for k in keys):
            raise NotRun(f"{page.page} checked the verification code first ({ex.retcode} {ex.retmsg}); "
                         "the state rule cannot be observed without a real code")
        problems.append(f"answered {ex.retcode} {ex.retmsg}; the spec's answer is {expected.code} ({expected.key})")
    elif sum(1 for r in page.retcodes if r.code == expected.code) > 1 and not _carries(expected.message_zh, ex.retmsg):
        # the code alone does not say which of the page's refusals this is: the message does
        problems.append(f"answered {ex.retcode} with {ex.retmsg!r}, not the {expected.key} message "
                        f"{expected.message_zh!r} (line {expected.line})")
    if after != source:
        problems.append(f"the order moved {source} -> {after}")
    ctx.expect(not problems, f"{page.page} on order {order.orderid} in status {source}: " + "; ".join(problems))


@derive
def forbidden_checks(spec: Spec) -> Iterable[Check]:
    for rule in spec.forbidden:
        page = spec.page(rule.page)
        for source in rule.sources:
            yield Check(f"state.forbidden.{rule.id}.{source}", CATEGORY,
                        f"{rule.clause}; {page.section} {page.page}; transitions.yaml forbidden {rule.id}",
                        f"{rule.page} refuses {rule.event} on an order in status {source} with "
                        f"{rule.retcode_key} and leaves it unchanged", "critical", partial(_forbidden, rule, source),
                        needs=() if _reachable(spec, source, False) else ("events",), page=rule.page)


# ====================================================================== no oversell


def _inventory(ctx: CheckContext, start: datetime, days: int, productid: str = "") -> list[dict[str, str]]:
    values = {"StartDate": start.strftime("%Y%m%d"), "EndDate": (start + timedelta(days=days - 1)).strftime("%Y%m%d")}
    if productid:
        values["ProductID"] = productid
    ex = ctx.ok(ctx.call("GetProductsInventory.aspx", values, note="inventory"), "GetProductsInventory.aspx")
    return [{c.tag: (c.text or "") for c in item} for item in ex.envelope.items()]


@check("state.no-oversell", CATEGORY, "4.2.2 GetProductsInventory quantity (line 1329); 4.2.4 OrderProducts stock",
       "booking the remaining stock of a day sells it out: one more ticket is refused and the inventory "
       "reads sold out", "critical")
def no_oversell(ctx: CheckContext) -> None:
    page = ctx.serves("GetProductsInventory.aspx")
    sold_out = meaning(page, "quantity", "已售完")
    unlimited = meaning(page, "quantity", "无限制")
    if sold_out is None:
        raise NotRun("the spec gives no sold-out value of GetProductsInventory quantity")
    products = {p.get("productid"): p for p in ctx.products()}
    span = 7  # at most 7 days per query (4.2.2, line 1367)
    start = ctx.today() + timedelta(days=10)
    candidates = []
    for row in _inventory(ctx, start, span):
        q = parse_value(ctx.spec, page, "Item/quantity", row.get("quantity"))
        product = products.get(row.get("productid"), {})
        if str(q) in (sold_out, unlimited) or q <= 0 or product.get("needname") == "1":
            continue
        if q < parse_value(ctx.spec, "GetProducts.aspx", "Item/minimum", product.get("minimum")):
            continue
        candidates.append((q, row))
    if not candidates:
        raise NotRun("GetProductsInventory.aspx shows no product with finite stock left in the next weeks")
    left, row = min(candidates, key=lambda c: c[0])
    product = products[row["productid"]]
    day = parse_value(ctx.spec, page, "Item/date", row["date"])
    days_ahead = (day - ctx.today().date()).days
    minimum = parse_value(ctx.spec, "GetProducts.aspx", "Item/minimum", product.get("minimum"))
    maximum = parse_value(ctx.spec, "GetProducts.aspx", "Item/maximum", product.get("maximum")) or left
    if -(-left // maximum) > 50:
        raise NotRun(f"{row['productid']} has {left} left on {row['date']}: too many orders to sell it out")
    booked: list[str] = []
    try:
        rest = left
        while rest > 0:
            qty = min(rest, maximum)
            if rest - qty and rest - qty < minimum:
                qty = rest - minimum
            orderid, _ = ctx.book(days_ahead=days_ahead, qty=qty, product=product)
            booked.append(orderid)
            rest -= qty
        values = {"Order_list": f"{product['productid']}|{minimum}", "Mobile": "13800138000",
                  "ID": "110101199003071234", "SXRQ": day.strftime("%Y%m%d"), "timespanindex": "-1"}
        ex = ctx.call("OrderProducts.aspx", values, note="one more ticket than the stock")
        ctx.envelope(ex)
        if ex.retcode == "0":
            booked.append(ex.envelope.text("Item/orderid"))
        ctx.expect(ex.retcode != "0", f"{row['productid']} had {left} left on {row['date']}; after booking them, "
                   f"one more was accepted (order {ex.envelope.text('Item/orderid')})")
        now = _inventory(ctx, day, 1, row["productid"])
        shown = next((r.get("quantity") for r in now if r.get("productid") == row["productid"]), None)
        ctx.expect(shown == sold_out, f"after selling all {left} tickets of {row['productid']} on {row['date']}, "
                   f"GetProductsInventory shows quantity {shown}, not {sold_out} (sold out)")
    finally:
        for orderid in booked:  # give the stock back
            ctx.call("CancelOrder.aspx", {"Order_id": orderid}, note="clean-up: release the stock")
