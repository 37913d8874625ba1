"""Callback checks (2.13 lines 391-403, 4.2.45 lines 9139-9682, tables/callbacks.yaml, profile
rule f). The suite's own receiver (`conformance.receiver`) is made the agent's callback address
through SetAgentParameters.aspx; orders are booked with a senderid (4.2.45.1 line 9214) and moved
through the target's own pages; which callbacks each event fires, and with which status, is read
from the spec's transition table, and the retry backoff from its callback policy.

- content: every Notify_* request carries its page's required parameters, values from the
  page's value sets and formats (status from the order-status table), the agent's user, a
  password that decrypts to UPPER(MD5(password)) and a sign that verifies with the KEY (rule f).
- order: one order's callbacks are acknowledged in event order, even across a failed delivery.
- blocking: a failing delivery holds back its own order's later callbacks, not other orders'.
- retry: a failed delivery (HTTP 500 or a non-zero retcode) is sent again after the backoff,
  and the order's later callbacks follow only after it succeeded.
- no-duplicate: an acknowledged callback is not delivered again."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Callable, Iterable
from urllib.parse import urlsplit

from spec import crypto
from spec.errors import EncryptionError
from spec.model import Page, Spec
from spec.signing import verify_request_sign

from ..context import CheckContext, NotRun
from ..receiver import Delivery, Receiver, shared
from ..registry import Check, derive
from ..values import value_problem

CLAUSE_213 = "2.13 (lines 391-403; order and blocking line 397, retries line 400)"
WAIT = 5.0  # seconds to wait for callbacks that are due
GRACE = 1.0  # seconds to keep watching for callbacks that must not come
HOLD = 0.6  # seconds the later events stay queued behind a failed delivery before the clock moves
SENDER_PARAM = "senderid"  # the booking pages' business ID (4.2.45.1 line 9214)


# ------------------------------------------------------------------ scenarios (event sequences)

@dataclass(frozen=True)
class Scenario:
    """A sequence of order events (ids of the spec's event table), driven through the target."""

    name: str
    events: tuple[str, ...]
    pay_type: str

    def expected(self, spec: Spec) -> list[tuple[str, str]] | None:
        """The callbacks the spec's transitions fire, in order: (page, status after the event).
        None when the table has no unique transition for a step."""
        status, out = spec.initial_status, []
        for event in self.events:
            found = spec.transitions_from(status, event, self.pay_type)
            if len(found) != 1:
                return None
            t = found[0]
            out += [(page, _status_of(spec, page, t.target)) for page in t.callbacks]
            status = t.target
        return out

    def needs(self) -> tuple[str, ...]:
        return tuple(sorted({n for e in self.events for n in ACTIONS[e][1]}))


SCENARIOS = (
    Scenario("book-cancel", ("book", "cancel"), "deposit"),
    Scenario("book-pay-cancel", ("book", "pay_deposit", "cancel"), "deposit"),
    Scenario("book-pay-activate", ("book", "pay_deposit", "activate"), "deposit"),
    Scenario("deposit-ticket-refund", ("book", "pay_deposit", "activate", "ticket_refund"), "deposit"),
    Scenario("rebate-ticket-refund", ("book", "pay_rebate", "activate", "ticket_refund"), "rebate"),
    Scenario("gate-check", ("book", "pay_deposit", "activate", "gate_check"), "deposit"),
)


def _status_of(spec: Spec, page: str, target: str) -> str:
    """The status a callback reports, if its page has a status parameter."""
    return target if spec.page(page).param("status") is not None else ""


def _key(d: Delivery) -> tuple[str, str]:
    return d.page, d.get("status")


@dataclass
class Order:
    senderid: str
    pay_type: str
    orderid: str = ""
    day: str = ""
    notes: list[str] = field(default_factory=list)


def _values_by_meaning(page: Page, name: str, word: str) -> str:
    """The value of an enumerated parameter whose description mentions `word` (e.g. ActivateTicket
    activatemode: "1 normal (...), 2 rebate-ticket mode (...)")."""
    param = page.param(name)
    if param is None or not param.values:
        raise NotRun(f"{page.page} has no enumerated {name}")
    for value in param.values:
        m = re.search(rf"(?:^|[\s:,;]){re.escape(value)} ([^,;]*)", param.en)
        if m and word in m.group(1).lower():
            return value
    return param.values[0]


def _book(ctx: CheckContext, o: Order) -> None:
    days = 1  # activation is only possible today and the next two days (ActivateTicket activatedate)
    o.orderid, _ = ctx.book(days_ahead=days, senderid=o.senderid, latest=days)
    o.day = (ctx.today() + timedelta(days=days)).strftime("%Y%m%d")


def _cancel(ctx: CheckContext, o: Order) -> None:
    ctx.ok(ctx.call("CancelOrder.aspx", {"Order_id": o.orderid}, note="event: cancel"), "CancelOrder.aspx")


def _pay(ctx: CheckContext, o: Order, page: str, code_param: str, account: str) -> None:
    """Pay by pay password (smsModel 0). When the balance does not cover the order (other checks of
    the run hold money on their orders) and the driver can, top the account up and try once more."""
    if not ctx.target.creds.pay_password:
        raise NotRun("no pay password given (--pay-password)")
    total = ctx.order_total(o.orderid)
    values = {"Order_id": o.orderid, "money": total, code_param: ctx.target.creds.pay_password, "smsModel": "0"}
    ex = ctx.call(page, values, note=f"event: pay ({account})")
    if ex.retcode != "0" and ex.envelope is not None and "events" in ctx.driver.capabilities:
        ctx.event("top-up", user=ctx.target.creds.user, account=account, amount=total,
                  memo="ybx-conform callbacks: cover the order")
        ex = ctx.call(page, values, note=f"event: pay ({account}), after a top-up")
    ctx.ok(ex, page)


def _pay_deposit(ctx: CheckContext, o: Order) -> None:
    _pay(ctx, o, "UseAccountToPayByPwd.aspx", "Smscode", "deposit")


def _pay_rebate(ctx: CheckContext, o: Order) -> None:
    _pay(ctx, o, "UseAccountToPayByFKWithPwd.aspx", "SmsCode", "rebate")


def _activate(ctx: CheckContext, o: Order) -> None:
    page = ctx.spec.page("ActivateTicket.aspx")
    mode = _values_by_meaning(page, "activatemode", "rebate" if o.pay_type == "rebate" else "normal")
    values = {"orderid": o.orderid, "activateall": "1", "activatedate": o.day, "tickettype": "2",
              "activatemode": mode, "timespanindex": "-1"}
    ctx.ok(ctx.call(page, values, note="event: activate"), "ActivateTicket.aspx")


def _first_ticket(ctx: CheckContext, o: Order) -> str:
    ex = ctx.ok(ctx.call("GetTicketList.aspx", {"orderid": o.orderid}, note="fixture: tickets"), "GetTicketList.aspx")
    code = ex.envelope.text("Item/tickets/ticket/ticketcode")
    if not code:
        raise NotRun(f"GetTicketList.aspx lists no ticket for order {o.orderid}")
    return code


def _ticket_refund(ctx: CheckContext, o: Order) -> None:
    code = _first_ticket(ctx, o)
    ctx.ok(ctx.call("RefundTicket.aspx", {"orderid": o.orderid, "ticketcode": code}, note="event: ticket_refund"),
           "RefundTicket.aspx")


def _gate_check(ctx: CheckContext, o: Order) -> None:
    ctx.event("gate-check", ticketid=_first_ticket(ctx, o), stationname="ybx-conform", gatenumber="01")


# event id -> (how to make it happen, driver capabilities it needs)
ACTIONS: dict[str, tuple[Callable[[CheckContext, Order], None], tuple[str, ...]]] = {
    "book": (_book, ()),
    "cancel": (_cancel, ()),
    "pay_deposit": (_pay_deposit, ()),
    "pay_rebate": (_pay_rebate, ()),
    "activate": (_activate, ()),
    "ticket_refund": (_ticket_refund, ()),
    "gate_check": (_gate_check, ("events",)),
}


def _do(ctx: CheckContext, o: Order, events: Iterable[str]) -> None:
    for event in events:
        ACTIONS[event][0](ctx, o)


# ------------------------------------------------------------------ receiver plumbing

def _senderid(tag: str) -> str:
    return f"cb{tag}{uuid.uuid4().hex[:14]}"


def _listen(ctx: CheckContext) -> Receiver:
    """Point the agent's callbacks at the suite's receiver (SetAgentParameters.aspx, 4.2.44)."""
    receiver = shared(ctx.profile, ctx.target.creds.key)
    page = ctx.spec.page("SetAgentParameters.aspx")
    addr, flag = page.param("responseaddr"), page.param("sendofficiallysnotify")
    values = {addr.name if addr else "responseaddr": receiver.url}
    if flag is not None:
        values[flag.name] = "1" if flag.values and "1" in flag.values else (flag.default or (flag.values or ("",))[0])
    ctx.ok(ctx.call(page, values, note="callbacks go to the suite's receiver"), "SetAgentParameters.aspx (responseaddr)")
    ctx.notes.append(f"callback receiver: {receiver.url}")
    return receiver


def _scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


def _expected(ctx: CheckContext, scenario: Scenario) -> list[tuple[str, str]]:
    found = scenario.expected(ctx.spec)
    if not found:
        raise NotRun(f"the spec's transition table fires no callbacks for {' -> '.join(scenario.events)}")
    return found


def _acked(receiver: Receiver, o: Order) -> list[Delivery]:
    return receiver.received(lambda d: d.ok, **{SENDER_PARAM: o.senderid})


def _all(receiver: Receiver, o: Order) -> list[Delivery]:
    return receiver.received(**{SENDER_PARAM: o.senderid})


def _covers(got: list[tuple[str, str]], want: list[tuple[str, str]]) -> bool:
    left = list(got)
    for item in want:
        if item not in left:
            return False
        left.remove(item)
    return True


def _wait_acked(ctx: CheckContext, receiver: Receiver, o: Order, want: list[tuple[str, str]],
                timeout: float | None = None) -> bool:
    return receiver.wait(lambda: _covers([_key(d) for d in _acked(receiver, o)], want), timeout or WAIT,
                         ctx.driver.flush_callbacks)


def _wait_first(ctx: CheckContext, receiver: Receiver, o: Order) -> Delivery:
    """The first request for the order (it must come: the order carries a senderid)."""
    if not receiver.wait(lambda: bool(_all(receiver, o)), WAIT, ctx.driver.flush_callbacks):
        ctx.expect(False, f"no callback arrived within {WAIT:.0f} s for order {o.orderid} (senderid {o.senderid}) "
                   f"after SetAgentParameters.aspx set responseaddr to {receiver.url}")
    return _all(receiver, o)[0]


def _evidence(ctx: CheckContext, receiver: Receiver, *orders: Order) -> None:
    for o in orders:
        for d in _all(receiver, o):
            ctx.notes.append(f"{d.brief()} at {d.at}: {d.method} {d.path}?"
                             + "&".join(f"{k}={v}" for k, v in d.pairs))


def _show(items: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{p}{'(status ' + s + ')' if s else ''}" for p, s in items) or "nothing"


def _queue_behind(ctx: CheckContext, receiver: Receiver, o: Order, first: Delivery) -> None:
    """Give the target a moment (and a flush) in which the later callbacks must stay queued."""
    receiver.wait(lambda: any(_key(d) != _key(first) for d in _all(receiver, o)), HOLD, ctx.driver.flush_callbacks)


def _backoff(ctx: CheckContext) -> float:
    steps = ctx.spec.callback_policy.backoff_seconds
    return float(steps[0] if steps else 0) + 1.0


# ------------------------------------------------------------------ (1) content

def _content(page: Page, scenario: Scenario, ctx: CheckContext) -> None:
    receiver = _listen(ctx)
    want = _expected(ctx, scenario)
    o = Order(_senderid("c"), scenario.pay_type)
    _do(ctx, o, scenario.events)
    arrived = _wait_acked(ctx, receiver, o, want)
    _evidence(ctx, receiver, o)
    mine = [d for d in _all(receiver, o) if d.page.lower() == page.page.lower()]
    ctx.expect(bool(mine), f"no {page.page} request arrived within {WAIT:.0f} s for order {o.orderid} after "
               f"{' -> '.join(scenario.events)} (the transition table fires {_show(want)})")
    problems: list[str] = []
    for d in mine:
        problems += [f"#{d.seq}: {p}" for p in _content_problems(ctx, page, o, d)]
    ctx.expect(not problems, f"{page.page}: " + "; ".join(problems[:8]))
    if page.param("status") is not None:
        got = sorted({d.get("status") for d in mine})
        expected = sorted({s for p, s in want if p == page.page})
        ctx.expect(got == expected, f"{page.page}: statuses {got} reported for {' -> '.join(scenario.events)}; "
                   f"the transition table gives {expected}")
    ctx.expect(arrived, f"not every callback of {' -> '.join(scenario.events)} was acknowledged within {WAIT:.0f} s: "
               f"expected {_show(want)}, got {_show(_key(d) for d in _acked(receiver, o))}")


def _content_problems(ctx: CheckContext, page: Page, o: Order, d: Delivery) -> list[str]:
    rule, creds = ctx.profile.callbacks, ctx.target.creds
    out: list[str] = []
    if d.method != rule.method:
        out.append(f"sent by {d.method}, rule f says {rule.method}")
    expected_path = urlsplit(rule.path.replace("{responseaddr}", shared(ctx.profile, creds.key).url)
                             .replace("{page}", page.page)).path
    if d.path != expected_path:
        out.append(f"path {d.path!r}, expected {expected_path!r} (page name in the manual's case, line 9145)")
    for p in page.params:
        if not d.has(p.name):
            if p.required:
                out.append(f"required {p.name} missing (line {p.line})")
            continue
        value = d.get(p.name)
        if value == "":
            if p.required and not p.allow_empty:
                out.append(f"required {p.name} is empty (line {p.line})")
            continue
        wrong = value_problem(ctx.spec, p, value)
        if wrong:
            out.append(f"{p.name}={value!r} {wrong} (line {p.line})")
    status = page.param("status")
    if status is not None and d.get(status.name):
        codes = {s.code for s in ctx.spec.order_statuses}
        if d.get(status.name) not in codes:
            out.append(f"status {d.get(status.name)!r} is not in the order-status table (2.2)")
    if d.get("orderid") != o.orderid:
        out.append(f"orderid {d.get('orderid')!r}, the order is {o.orderid}")
    if d.get("user") != creds.user:
        out.append(f"user {d.get('user')!r}, the agent is {creds.user}")
    if not verify_request_sign(d.pairs, creds.key, ctx.profile.sign):
        out.append("sign does not verify with the agent's KEY (rule f: signed as rule d)")
    pwd = page.param("password")
    if pwd is not None and d.get(pwd.name):
        try:
            plain = crypto.decrypt(d.get(pwd.name), creds.key, ctx.profile.cipher)
        except EncryptionError:
            plain = None
        if plain != crypto.md5_upper(creds.password):
            out.append("password does not decrypt with the KEY to UPPER(MD5(password)) (rule c)")
    return out


# ------------------------------------------------------------------ (2) order

def _order(scenario: Scenario, ctx: CheckContext) -> None:
    """Hold the first callback back (one failed delivery), let the later events queue behind it,
    then let the retry through: the acknowledgements must follow the events' order."""
    receiver = _listen(ctx)
    want = _expected(ctx, scenario)
    o = Order(_senderid("o"), scenario.pay_type)
    first, arrived = _fail_first_then_retry(ctx, receiver, o, scenario, want, "500")
    _evidence(ctx, receiver, o)
    got: list[tuple[str, str]] = []
    for d in _acked(receiver, o):  # repeats of an acknowledged event are no-duplicate's concern
        if got.count(_key(d)) < want.count(_key(d)):
            got.append(_key(d))
    ctx.expect(arrived, f"after a failed first delivery and {_backoff(ctx):.0f} s, not every callback arrived: "
               f"expected {_show(want)}, acknowledged {_show(got)}")
    ctx.expect(got == want, f"order {o.orderid}: callbacks acknowledged in the order {_show(got)}; "
               f"the events {' -> '.join(scenario.events)} fire {_show(want)} in this order (2.13 line 397)")


def _fail_first_then_retry(ctx: CheckContext, receiver: Receiver, o: Order, scenario: Scenario,
                           want: list[tuple[str, str]], how: str) -> tuple[Delivery, bool]:
    """The order's first delivery fails once (`how`), its later events queue behind it, the clock
    passes the first backoff step; returns (the failed delivery, whether all `want` arrived)."""
    receiver.fail_next(1, how, **{SENDER_PARAM: o.senderid})
    _do(ctx, o, scenario.events[:1])
    first = _wait_first(ctx, receiver, o)
    _do(ctx, o, scenario.events[1:])
    _queue_behind(ctx, receiver, o, first)
    ctx.driver.advance(_backoff(ctx))
    return first, _wait_acked(ctx, receiver, o, want)


# ------------------------------------------------------------------ (3) blocking

def _blocking(ctx: CheckContext) -> None:
    """Order A's deliveries fail; A's later callback must wait, order B's must not."""
    receiver = _listen(ctx)
    scenario = _scenario("book-cancel")
    want = _expected(ctx, scenario)
    a, b = Order(_senderid("a"), scenario.pay_type), Order(_senderid("b"), scenario.pay_type)
    receiver.fail_next(10_000, "500", **{SENDER_PARAM: a.senderid})
    try:
        _do(ctx, a, scenario.events[:1])
        first = _wait_first(ctx, receiver, a)
        _do(ctx, a, scenario.events[1:])
        _do(ctx, b, scenario.events)
        b_done = _wait_acked(ctx, receiver, b, want)
        held = lambda: [d for d in _all(receiver, a) if _key(d) != _key(first)]  # noqa: E731
        receiver.wait(lambda: bool(held()), GRACE, ctx.driver.flush_callbacks)
        _evidence(ctx, receiver, a, b)
        ctx.expect(not held(), f"order {a.orderid}: {_show(_key(d) for d in held())} was sent while its earlier "
                   f"callback {_show([_key(first)])} was still undelivered (2.13 line 397)")
        ctx.expect(b_done, f"order {b.orderid}'s callbacks ({_show(want)}) did not arrive within {WAIT:.0f} s while "
                   f"order {a.orderid}'s delivery failed; got {_show(_key(d) for d in _acked(receiver, b))} "
                   "(a failure must not hold up other orders, 2.13 line 397)")
    finally:
        receiver.stop_failing(**{SENDER_PARAM: a.senderid})


# ------------------------------------------------------------------ (4) retry

def _retry(how: str, ctx: CheckContext) -> None:
    """The first delivery fails once; after the backoff it must come again, and the order's later
    callback only after it succeeded."""
    receiver = _listen(ctx)
    scenario = _scenario("book-cancel")
    want = _expected(ctx, scenario)
    o = Order(_senderid("r"), scenario.pay_type)
    first, arrived = _fail_first_then_retry(ctx, receiver, o, scenario, want, how)
    _evidence(ctx, receiver, o)
    again = [d for d in _all(receiver, o) if _key(d) == _key(first)][1:]
    ctx.expect(bool(again), f"order {o.orderid}: {_show([_key(first)])} failed ({first.answer}) and was not sent "
               f"again within {WAIT:.0f} s after the clock moved {_backoff(ctx):.0f} s (backoff "
               f"{ctx.spec.callback_policy.backoff_seconds[0]} s; 2.13 line 400)")
    strip = lambda d: sorted((k.lower(), v) for k, v in d.pairs if k.lower() != "sign")  # noqa: E731
    ctx.expect(strip(again[0]) == strip(first), f"the retry of {_show([_key(first)])} carries other values than "
               f"the first attempt: {strip(again[0])} vs {strip(first)}")
    ok_at = next((d.seq for d in again if d.ok), None)
    later = [d for d in _all(receiver, o) if _key(d) != _key(first)]
    early = [d for d in later if ok_at is None or d.seq < ok_at]
    ctx.expect(not early, f"order {o.orderid}: {_show(_key(d) for d in early)} was sent before "
               f"{_show([_key(first)])} was delivered (2.13 line 397)")
    ctx.expect(arrived, f"after the retry not every callback arrived: expected {_show(want)}, acknowledged "
               f"{_show(_key(d) for d in _acked(receiver, o))}")


# ------------------------------------------------------------------ (5) no duplicates

def _no_duplicate(ctx: CheckContext) -> None:
    receiver = _listen(ctx)
    scenario = _scenario("book-cancel")
    want = _expected(ctx, scenario)
    o = Order(_senderid("d"), scenario.pay_type)
    _do(ctx, o, scenario.events)
    arrived = _wait_acked(ctx, receiver, o, want)
    ctx.expect(arrived, f"the callbacks of {' -> '.join(scenario.events)} ({_show(want)}) did not all arrive within "
               f"{WAIT:.0f} s; got {_show(_key(d) for d in _acked(receiver, o))}")

    def repeated() -> list[Delivery]:
        seen: dict[tuple[str, str], int] = {}
        out = []
        for d in _all(receiver, o):
            if seen.get(_key(d), 0) >= want.count(_key(d)):
                out.append(d)  # the event was acknowledged as often as it happened, yet it came again
            if d.ok:
                seen[_key(d)] = seen.get(_key(d), 0) + 1
        return out

    receiver.wait(lambda: bool(repeated()), GRACE, ctx.driver.flush_callbacks)
    _evidence(ctx, receiver, o)
    dupes = repeated()
    ctx.expect(not dupes, f"order {o.orderid}: {_show(_key(d) for d in dupes)} delivered again after it was "
               "acknowledged with retcode 0 (2.13: each event until it is delivered, then the next)")


# ------------------------------------------------------------------ derivation

def _page_clause(page: Page, extra: str = "") -> str:
    return f"{page.section} {page.page} (lines {page.source_lines[0]}-{page.source_lines[1]}){extra}"


@derive
def callback_checks(spec: Spec) -> Iterable[Check]:
    for page in spec.pages_by("callback"):
        scenario = next((s for s in SCENARIOS if any(p == page.page for p, _ in (s.expected(spec) or ()))), None)
        if scenario is None:
            def fn(ctx: CheckContext, _page: Page = page) -> None:
                raise NotRun(f"no scenario of the suite fires {_page.page} per the transition table")
            needs: tuple[str, ...] = ()
        else:
            fn, needs = partial(_content, page, scenario), scenario.needs()
        yield Check(f"callbacks.content.{page.stem}", "callbacks",
                    _page_clause(page, "; 2.13 line 394; profile rule f (4.2.45 line 9141)"),
                    f"each {page.page} request carries the page's required parameters with valid values, the agent's "
                    "user, a password under the KEY and a sign that verifies (rule f)", "major", fn, needs,
                    page=page.page)
    for scenario in SCENARIOS:
        want = scenario.expected(spec) or []
        if len(want) < 2 or "ticket_refund" in scenario.events or "gate_check" in scenario.events:
            continue
        yield Check(f"callbacks.order.{scenario.name}", "callbacks", f"{CLAUSE_213}; tables/callbacks.yaml ordering",
                    f"the callbacks of {' -> '.join(scenario.events)} arrive in event order ({_show(want)}), "
                    "also when the first delivery failed", "major", partial(_order, scenario),
                    tuple(sorted({"clock", *scenario.needs()})))
    yield Check("callbacks.blocking", "callbacks", f"{CLAUSE_213}; tables/callbacks.yaml blocking",
                "a failing delivery holds back that order's later callbacks but not other orders' callbacks",
                "major", _blocking)
    for how in ("500", "retcode"):
        name = "http-500" if how == "500" else "retcode"
        yield Check(f"callbacks.retry.{name}", "callbacks",
                    f"{CLAUSE_213}; 4.2.45.1 line 9243; tables/callbacks.yaml backoff_seconds, success",
                    f"a delivery answered with {'HTTP 500' if how == '500' else 'a non-zero retcode'} is sent again "
                    "after the backoff, and the order's later callbacks only after it succeeded", "major",
                    partial(_retry, how), ("clock",))
    yield Check("callbacks.no-duplicate", "callbacks", f"{CLAUSE_213}; tables/callbacks.yaml success",
                "a callback acknowledged with retcode 0 is not delivered again", "minor", _no_duplicate)
