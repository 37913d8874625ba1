"""A valid request for a page, derived from the page's parameter table and the target's own
data: dates, enumerations and integers from the spec's formats and value sets; product and
order ids from fixtures (a fresh order per request, booked through the target and brought to a
status the page works on); values the target hands out (ticket codes, pay channels, the agent's
unit, SMS codes) read from the page the spec says returns them; and what a list page lists (a
transaction, a delivery, a gate check) made first."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from spec.model import Element, Page, Param, Spec

from .context import CheckContext, NotRun
from .shows import SEAT_TAKEN, SEAT_TRIES, Show, claimed_show, free_state, seat_states
from .target import Exchange

COMMON = {"sign_type", "service_version", "input_charset", "sign", "sign_key_index", "user", "password"}
ORDER_LABELS = ("订单号", "订单编号", "定单号", "预定单号", "预订单号", "单号")
# What the theater pages' labels ask about the show (4.2.3, 4.2.5, 4.2.17-4.2.21, 4.2.48, 4.2.49).
SHOW_LABELS = {"剧场ID": "theater", "场次ID": "scene", "座位区域ID": "area", "产品ID": "productid",
               "门票日期": "day", "座位信息": "seat", "金额": "price"}
# An order's amount: 4.2.14 money 金额, 4.2.28 total_fee 总费用 (不能超过预订时的总金额, full refunds only).
AMOUNT_LABELS = ("金额", "总费用")
# Free text the page only stores: 4.2.16 / 4.2.28 PaybackReason 退款理由 (String(200), no format).
REASON_LABELS = ("理由", "原因")
REASON = "ybx-conform"
CODE_LABEL = "验证码"  # a code the target sends by SMS (4.2.26 YZM 手机接收到的验证码)
# 4.2.41 tickettype: the mobile barcode, as an ID-card medium needs a real-name record per ticket (2.18).
MEDIUM_LABEL, MOBILE_MEDIUM = "门票介质类型", "2"
# A time slot: -1 the earliest with room (4.2.4, 4.2.41 timespanindex 时段号), required in timed-entry mode.
SLOT_LABEL, ANY_SLOT = "时段号", "-1"
# The bounds of a query window (起始日期时间 / 截止日期时间, 4.2.30-4.2.35; 起始日期 / 截止日期, 4.2.2):
# from today, as records lie in the past, to the days ahead that bookings use.
START_LABELS, END_LABELS = ("起始", "开始"), ("截止", "结束")
DAYS_AHEAD = 4
# A date or product list on a page about an order is the order's (4.2.8 QueryOrder sxrq, productid).
ORDER_PAGE, ORDER_FIELDS = "QueryOrder.aspx", {"yyyyMMdd": "sxrq", "pid_qty_list": "productid"}
DELIVERY_LABEL = "交割"  # a window of deliveries (4.2.35 GetSPYDRec 交割起始日期): an order is delivered first
# The transaction records of each account (4.2.30 deposit, 4.2.33 rebate).
RECORD_PAGES = {"deposit": "QueryYFKJYRec.aspx", "rebate": "QueryFKJYRec.aspx"}
RECORD_AMOUNT = "0.01"  # the supplier's top-up (2.15) that gives a record page a record to list
# An agent-wide code page (no order) refuses a resend within an interval the manual does not give
# (gap getverificationcode-validity-unstated; the mock: more than 60 s): its calls are one at a time
# (runner: `paced`) and the target's clock moves on this far before each.
PACE_SECONDS = 90
RESEND_KEY = "resend_too_frequent"
PAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\.aspx")
ID_NUMBER = re.compile(r"\d{17}[\dXx]")  # a resident ID card number (formats.yaml id_card)


def _rule(spec: Spec, page: Page, param: Param) -> str:
    """Which derivation gives `param` a valid value (the first that applies, in this order)."""
    label = param.label_zh
    if page.mode == "theater" and ("接口方" in label or _show_key(param)):
        return "show"
    if param.obtained_from or CODE_LABEL in label:
        return "code"
    if param.encryption == "md5-upper-3des":
        return "pay_password"
    if _noted(spec, page, param):  # the note names the page that returns it (4.2.26 ZFDH, 4.2.7 Paychannelid)
        return "target"
    if any(mark in label for mark in ORDER_LABELS):
        return "order"
    if _is_amount(param):
        return "amount"
    if "产品id" in label.lower() or "门票类型ID" in label:
        return "product"
    if "证件号码" in label:
        return "id_number"
    if "手机" in label:
        return "mobile"
    if param.first_page is not None:
        return "page_index"
    if any(mark in label for mark in REASON_LABELS) and not param.format and not param.values:
        return "reason"
    if MEDIUM_LABEL in label and param.values and MOBILE_MEDIUM in param.values:
        return "medium"
    if SLOT_LABEL in label:
        return "slot"
    if param.default is not None:
        return "default"
    if param.format in (None, "pipe_list") and param.name.lower() not in COMMON:
        return "target"  # from the target's own answer, where the spec names a source
    return "values" if param.values else "format"


def _value(ctx: CheckContext, page: Page, param: Param, cache: dict[str, str]) -> str:
    rule = _rule(ctx.spec, page, param)
    if rule == "show":
        return show_value(ctx, param, cache) or ""
    if rule == "code":
        return _sent_code(ctx, page, param, cache)
    if rule == "pay_password":
        if not ctx.target.creds.pay_password:
            raise NotRun("no pay password given (--pay-password)")
        return ctx.target.creds.pay_password
    if rule in ("order", "amount"):
        if "orderid" not in cache:
            cache["orderid"], _ = ctx.book()
        return cache["orderid"] if rule == "order" else ctx.order_total(cache["orderid"])
    if rule == "product":
        return ctx.plain_product()["productid"]
    constant = {"id_number": "110101199003071234", "mobile": "13800138000", "page_index": str(param.first_page),
                "medium": MOBILE_MEDIUM, "slot": ANY_SLOT, "reason": REASON[: param.max_length or len(REASON)],
                "default": param.default or ""}
    if rule in constant:
        return constant[rule]
    if rule == "target":
        found = _from_target(ctx, page, param, cache)
        if found is not None:
            return found
    if param.values:
        return param.values[0]
    return _formatted(ctx, param, cache) or _no_way(page, param)


def _formatted(ctx: CheckContext, param: Param, cache: dict[str, str]) -> str:
    """A value of the param's format; "" for a format without a generator."""
    fmt, label = param.format, param.label_zh
    today = ctx.today()
    if "orderid" in cache and fmt in ORDER_FIELDS and not _bound(label):
        # about the order: its effect date (4.2.41 activatedate), its product (activatelist), as QueryOrder shows
        order = ctx.spec.page(ORDER_PAGE)
        _answer(ctx, order, cache)
        return cache.get(f"{order.page}/{ORDER_FIELDS[fmt]}", "") + ("|1" if fmt == "pid_qty_list" else "")
    if fmt in ("yyyyMMdd", "yyyyMMddHHmmss"):
        if _bound(label) == "start":
            day = today.replace(hour=0, minute=0, second=0)
        elif _bound(label) == "end":
            day = (today + timedelta(days=DAYS_AHEAD)).replace(hour=23, minute=59, second=59)
        else:
            day = today + timedelta(days=DAYS_AHEAD) if fmt == "yyyyMMdd" else today
        return day.strftime("%Y%m%d" if fmt == "yyyyMMdd" else "%Y%m%d%H%M%S")
    if fmt == "mobile":
        return "13800138000"
    if fmt == "pid_qty_list":
        return f"{ctx.plain_product()['productid']}|1"
    if fmt == "url":
        return "http://127.0.0.1:9/ybx-conform"
    if fmt == "int" or param.base_type == "int":
        return "0"
    return ""


def _bound(label: str) -> str:
    if any(mark in label for mark in START_LABELS):
        return "start"
    return "end" if any(mark in label for mark in END_LABELS) else ""


def fresh_ids(text: str) -> str:
    """`text` with each resident ID number replaced by a new valid one (GB 11643 check digit): an ID
    of a real-name record books once while its order is valid (4.2.4)."""
    def fresh(_: re.Match[str]) -> str:
        body = "110101" + f"{1960 + secrets.randbelow(40)}0101" + f"{secrets.randbelow(1000):03d}"
        total = sum(int(d) * w for d, w in zip(body, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)))
        return body + "10X98765432"[total % 11]
    return ID_NUMBER.sub(fresh, text)


def _no_way(page: Page, param: Param) -> str:
    raise NotRun(f"no way to derive a valid {page.page} {param.name} ({param.label_zh})")


def show_value(ctx: CheckContext, param: Param, cache: dict[str, str]) -> str | None:
    """What a theater page takes about a show: theater, scene, date, product, seat area and seat of a
    show with free seats, found through the target's own pages (conformance.shows); a booking's
    amount (one seat) and its own order number. None: not a show parameter."""
    if "接口方" in param.label_zh:  # the integrator's order number of a book-and-pay call: new for each request
        return "conf-" + secrets.token_hex(8)
    key = _show_key(param)
    if key is None:
        return None
    if "area" not in cache:
        show, seats = claimed_show(ctx)
        cache.update(area=show.area, theater=show.theater, scene=show.scene, day=show.day, productid=show.productid,
                     order_list=f"{show.productid}|1", price=show.product.get("price", ""), seat=seats[0])
    return cache[key]


def same_show(ctx: CheckContext, page: Page, param: Param, values: dict[str, str]) -> dict[str, str]:
    """`param`, a show parameter a theater page takes though not required, with the page's other
    theater, scene and date parameters of the same show not in `values` yet: a scene alone is asked
    about today, when it may not play (the weekend matinee on a weekday). Empty for another parameter."""
    if _show_key(param) is None:
        return {}
    cache: dict[str, str] = {}
    return {p.name: show_value(ctx, p, cache) or "" for p in page.params if p is param or (
        p.location == "query" and p.name not in values and _show_key(p) in ("theater", "scene", "day"))}


def _show_key(param: Param) -> str | None:
    if param.format == "pid_qty_list":
        return "order_list"
    return next((k for mark, k in SHOW_LABELS.items() if mark in param.label_zh), None)


# ------------------------------------------------------------------ values the target hands out


@dataclass(frozen=True)
class Source:
    """Where the target hands out a value: the page's answer element, or (element None) the SMS the
    page's call sends."""

    page: Page
    element: str | None


def _leaves(elements: tuple[Element, ...]) -> list[str]:
    return [el.name for top in elements for el in top.walk() if not el.children]


def _named_pages(spec: Spec, *texts: str) -> list[Page]:
    """Request pages the texts name (a note's GetPayChannel.aspx中返回的…), in order."""
    found: list[Page] = []
    for text in texts:
        for name in PAGE_NAME.findall(text or ""):
            if spec.has_page(name) and spec.page(name).direction == "request" and spec.page(name) not in found:
                found.append(spec.page(name))
    return found


def sources(spec: Spec, page: Page, param: Param) -> list[Source]:
    """Where the spec says the target hands out a valid `param`, best first: `obtained_from`; for a
    verification code, the page named in the page's own texts that sends SMS; the page the param's
    note names, with the element the note names; else request pages answering an element of the
    param's name - read-only pages first, then those asking least."""
    if param.obtained_from:
        origin = spec.page(param.obtained_from)
        same = next((n for n in _leaves(origin.response) if n.lower() == param.name.lower()), None)
        return [Source(origin, same)]
    if CODE_LABEL in param.label_zh:
        notes = [p.note_zh for p in page.params] + [page.behaviour.notes_en]
        return [Source(p, None) for p in _named_pages(spec, *notes) if p is not page and "sms" in p.behaviour.writes]
    found = _noted(spec, page, param)
    named = []
    for origin in spec.request_pages:
        if origin is page or origin.param(param.name) is not None and origin.param(param.name).required:
            continue
        element = next((n for n in _leaves(origin.response) if n.lower() == param.name.lower()), None)
        if element:
            asks = sum(1 for p in origin.params if p.required and p.name.lower() not in COMMON)
            named.append((bool(origin.behaviour.writes or origin.behaviour.events), asks, Source(origin, element)))
    found += [s for *_, s in sorted(named, key=lambda n: n[:2]) if s not in found]
    return found


def _noted(spec: Spec, page: Page, param: Param) -> list[Source]:
    """The pages the param's note names, with the element of the param's name or one the note names."""
    found = []
    for origin in _named_pages(spec, param.note_zh):
        leaves = _leaves(origin.response)
        element = next((n for n in leaves if n.lower() == param.name.lower()), None) or next(
            (n for n in leaves if re.search(rf"(?<![A-Za-z_]){re.escape(n)}(?![A-Za-z_])", param.note_zh)), None)
        if origin is not page and element:
            found.append(Source(origin, element))
    return found


def _from_target(ctx: CheckContext, page: Page, param: Param, cache: dict[str, str]) -> str | None:
    """The value from the first source the target's mode serves; None when the spec names none."""
    usable = [s for s in sources(ctx.spec, page, param) if s.page.mode in ("both", ctx.mode())]
    if not usable:
        return None
    source = usable[0]
    _answer(ctx, source.page, cache)
    value = cache.get(f"{source.page.page}/{source.element}", "")
    if not value:
        raise NotRun(f"{source.page.page} answered no {source.element} for {page.page} {param.name}")
    if param.values and value not in param.values:
        return None
    if "tickets" in source.page.behaviour.reads:
        cache["ticket"] = value
    return value


def _answer(ctx: CheckContext, source: Page, cache: dict[str, str]) -> None:
    """Call `source` once per request being derived (its values derived like any other) and keep the
    first text of each element of its answer in `cache` as 'Page.aspx/element'."""
    mark = source.page + "/"
    if mark in cache:
        return
    values = {p.name: _value(ctx, source, p, cache) for p in source.params if _asked(p)}
    if sends_agent_code(source):
        _pace(ctx, source)
    ex = ctx.ok(ctx.call(source, values, note=f"fixture: {source.page} hands out a value"), source.page)
    cache[mark] = "called"
    for el in ex.envelope.root.iter():
        if isinstance(el.tag, str) and len(el) == 0 and (el.text or "").strip():
            cache.setdefault(mark + el.tag, el.text.strip())


def _sent_code(ctx: CheckContext, page: Page, param: Param, cache: dict[str, str]) -> str:
    """Call the page that sends the code (an SMS) and read it where the driver can see it: the code
    sent for this request's order, or for the document the sending page answered."""
    origin = next((s.page for s in sources(ctx.spec, page, param) if s.element is None), None)
    if origin is None:
        raise NotRun(f"the spec names no page that sends {page.page} {param.name} ({param.label_zh})")
    ctx.needs("sms")
    _answer(ctx, origin, cache)
    refs = {v for k, v in cache.items() if k.startswith(origin.page + "/") and k != origin.page + "/"}
    refs |= {cache["orderid"]} if "orderid" in cache else set()
    codes = [m for m in ctx.driver.sms() if m.get("code") and (not refs or m.get("orderid") in refs)]
    if not codes:
        raise NotRun(f"{origin.page} answered 0 but no code reached the driver")
    return str(codes[-1]["code"])


def sends_agent_code(page: Page) -> bool:
    """A page sending a code for the agent rather than for an order (4.2.25): it refuses a resend
    within an interval, so its calls go one at a time."""
    return page.retcode(RESEND_KEY) is not None and not any(
        mark in p.label_zh for p in page.params for mark in ORDER_LABELS)


def paced(spec: Spec, page: Page) -> bool:
    """Whether a correct request for `page` calls an agent-wide code page (itself or a source): its
    checks must run one at a time, with the target's clock moved on between them."""
    return sends_agent_code(page) or any(sends_agent_code(s.page) for s in _called_sources(spec, page))


def _called_sources(spec: Spec, page: Page) -> list[Source]:
    """The sources a correct request for `page` calls (the first of each parameter's)."""
    found = []
    for p in page.params:
        if _asked(p) and _rule(spec, page, p) in ("code", "target"):
            usable = [s for s in sources(spec, page, p) if s.element is None] if _rule(spec, page, p) == "code" else \
                sources(spec, page, p)
            found += usable[:1]
    return found


def _pace(ctx: CheckContext, page: Page) -> None:
    ctx.needs("clock")
    ctx.driver.advance(PACE_SECONDS)
    ctx.notes.append(f"the target's clock moved {PACE_SECONDS} s on: {page.page} refuses a resend within an interval")


# ------------------------------------------------------------------ the target state a page needs


def _asked(p: Param) -> bool:
    """The parameters a baseline request carries: the required ones; a theater booking's seats
    (4.1.3 line 2267, 用户选择座位), a product list the page takes (4.2.41 activatelist) and those
    required only in a supplier setting (the time slot in timed-entry mode), though optional."""
    return (p.required or p.required_when or p.format in ("seat_list", "pid_qty_list") or SLOT_LABEL in p.label_zh) \
        and p.name.lower() not in COMMON and p.location == "query"


def _delivered(spec: Spec) -> set[str]:
    """Statuses in which an order holds tickets: those a gate check can happen in (2.1 检票进入园区)."""
    return {t.source for t in spec.transitions if t.event == "gate_check"}


def _needs_tickets(spec: Spec, page: Page) -> bool:
    """A ticket code read from a page that lists an order's tickets, or a window of deliveries, or a
    read-only page about tickets whose answer holds nothing until the order has tickets (GetTicketList:
    every element optional), so that its answer carries data to check."""
    return any("tickets" in s.page.behaviour.reads for s in _called_sources(spec, page) if s.element) or any(
        DELIVERY_LABEL in p.label_zh for p in page.params if _asked(p)) or (
        "tickets" in page.behaviour.reads and not page.behaviour.writes and bool(page.response)
        and all(e.optional for e in page.response))


def _prepare(ctx: CheckContext, page: Page, cache: dict[str, str]) -> None:
    """Bring a fresh order to a status the page's event may start from (the spec's transition table),
    or to delivery where the page reads tickets."""
    spec = ctx.spec
    events = {e.id for e in spec.events if page.page in e.pages} | set(page.behaviour.events)
    goals = {t.source for t in spec.transitions if t.event in events}
    booked = {t.target for t in spec.transitions if t.source == spec.initial_status}
    if goals & (booked | {spec.initial_status}):  # a booking page, or one a fresh order may take
        return
    if _needs_tickets(spec, page):
        goals = (goals & _delivered(spec)) or _delivered(spec)
    if goals:
        from .checks.state import reach  # the state checks plan paths over the spec's transitions

        cache["orderid"] = reach(ctx, goals)


def baseline(ctx: CheckContext, page: Page) -> dict[str, str]:
    """Plain values of a request the target should accept (required parameters only), with what the
    page lists made first."""
    ctx.serves(page)
    cache: dict[str, str] = {}
    _prepare(ctx, page, cache)
    values = {p.name: _value(ctx, page, p, cache) for p in page.params if _asked(p)}
    _make_listed(ctx, page, cache)
    amount = next((values[p.name] for p in page.params if p.name in values and _is_amount(p)), "")
    for account in page.behaviour.accounts if amount else ():  # the page pays `amount` from its accounts
        ctx.fund(account, amount)
    if sends_agent_code(page):
        _pace(ctx, page)
    return values


def _is_amount(p: Param) -> bool:
    return any(mark in p.label_zh for mark in AMOUNT_LABELS) or p.name.lower() == "money"


def _make_listed(ctx: CheckContext, page: Page, cache: dict[str, str]) -> None:
    """What a list page lists, made first: a transaction record (a supplier top-up, 2.15) on a record
    page; a gate check (2.1 检票进入园区) of the ticket a check-record page is asked about."""
    account = next((a for a, name in RECORD_PAGES.items() if name == page.page), None)
    if account is not None:
        ctx.needs("events")
        ctx.fund(account, RECORD_AMOUNT)
    if "checks" in page.behaviour.reads and not page.behaviour.writes and cache.get("ticket"):
        from .checks.state import SUPPLIER_EVENTS

        ctx.event(SUPPLIER_EVENTS["gate_check"], ticketid=cache["ticket"], stationname="ybx-conform",
                  gatenumber="01")


def accepted(ctx: CheckContext, page: Page, values: dict[str, str]) -> None:
    """Prove the unmutated request is accepted, so that a refusal was the mutation's doing."""
    for attempt in range(SEAT_TRIES):
        ex = ctx.call(page, values, note="baseline: the same request, correct")
        if ex.retcode == "0" or attempt == SEAT_TRIES - 1 or not _retake(ctx, page, ex, values):
            break
    if ex.retcode != "0":
        ctx.balance_refusal(ex)
        raise NotRun(f"the correct request itself is refused (retcode {ex.retcode} {ex.retmsg}); "
                     "the check needs a target state where it is accepted")


def _retake(ctx: CheckContext, page: Page, ex: Exchange, values: dict[str, str]) -> bool:
    """After a booking refused for a seat taken outside the run (the run's checks never share one):
    as many other free seats of the same show and area, handed to this check and put in `values`.
    False for another refusal, or when no seat is left."""
    param = next((p for p in page.params if p.format == "seat_list" and values.get(p.name)), None)
    if param is None or not ctx.refused_for(ex, SEAT_TAKEN):
        return False
    show = {key: next((values[p.name] for p in page.params if mark in p.label_zh and p.name in values), "")
            for mark, key in SHOW_LABELS.items() if key in ("scene", "day")}
    seats = values[param.name].split("|")
    area = ctx.shared.seats.area_of(show["scene"], show["day"], seats[0])
    if not area:
        return False
    here = Show("", show["scene"], show["day"], {}, area, ())
    free = [s for s, state in seat_states(ctx, here, note="seat states, a seat being taken").items()
            if state == free_state(ctx.spec)]
    got = ctx.shared.seats.claim(show["scene"], show["day"], area, free, len(seats))
    if got is None:
        return False
    ctx.notes.append(f"seats {values[param.name]} were taken outside this run ({ex.retmsg}); booking {'|'.join(got)}")
    values[param.name] = "|".join(got)
    return True
