"""Idempotency and isolation checks.

Idempotency (4.2.4 senderid, 4.2.37 XCDDH, 4.2.46 senderid): every booking page of the spec's `book`
event that takes the integrator's own order number is sent twice with the same number; the second
answer must name the first order, the order list must not grow, and (for the pay-at-once pages) the
account must be debited once. Each check books with a mobile number of its own, so that the list
count it reads is not disturbed by other checks running at the same time.

Isolation: every request page that takes an order id (a label of `baseline.ORDER_LABELS`, the
integrator's own number and verification-code documents excepted) is called by a second agent
with the first agent's order; the call must be refused (or answer nothing about the order) and the
order must be unchanged when its owner queries it."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from spec.model import Element, Page, Param, Spec

from ..baseline import COMMON, ORDER_LABELS, _value
from ..context import CheckContext, NotRun
from ..registry import Check, derive
from ..shows import find_show
from ..values import parse_value

# The integrator's own order number on the booking pages (4.2.4 业务单据ID, 4.2.37/4.2.46 接口方订单号).
KEY_LABELS = ("接口方订单号", "接口方定单号", "业务单据ID")
# The supplier's order number: ORDER_LABELS without the bare 单号, which also names documents that
# are not orders (ChangePayPwd ZFDH 订单单号 is a verification-code document, 4.2.26).
ORDER_ID_LABELS = tuple(label for label in ORDER_LABELS if label != "单号")
COUNT_PAGE = "QueryOrderPageListCount.aspx"  # 4.2.10: the calling agent's order count, filterable by mobile
# The transaction records of each account (4.2.30 deposit, 4.2.33 rebate): the page and the labels
# of the amount and document-number elements.
RECORD_PAGES = {"deposit": "QueryYFKJYRec.aspx", "rebate": "QueryFKJYRec.aspx"}
AMOUNT_LABEL, DOCUMENT_LABEL = "本期发生", "单据单号"
STAMP = "%Y%m%d%H%M%S"
STAMP_FORMAT = "yyyyMMddHHmmss"


def _clause(page: Page, extra: str = "") -> str:
    return f"{page.section} {page.page} (lines {page.source_lines[0]}-{page.source_lines[1]}){extra}"


def _find(elements: Iterable[Element], match, prefix: str = "") -> str | None:
    """The path (`Item/orderid`) of the first response element `match` accepts."""
    for el in elements:
        path = f"{prefix}{el.name}"
        if match(el):
            return path
        found = _find(el.children, match, path + "/")
        if found:
            return found
    return None


def _is_order_id(el: Element) -> bool:
    return not el.children and el.name.lower().replace("_", "") == "orderid"


def _unique_mobile() -> str:
    return "139" + "".join(str(secrets.randbelow(10)) for _ in range(8))


def _unique_key() -> str:
    return "conf-" + secrets.token_hex(8)


# ------------------------------------------------------------------ idempotency

def key_param(page: Page) -> Param | None:
    return next((p for p in page.params if p.location == "query" and p.label_zh in KEY_LABELS), None)


def duplicate_gap(page: Page):
    """The spec's choice of what a repeated integrator order number answers, where it makes one."""
    return next((g for g in page.gaps if "duplicate" in g.id), None)


def booking_pages(spec: Spec) -> list[Page]:
    """The request pages of the spec's `book` event that take the integrator's order number."""
    names = [t.event for t in spec.transitions if t.source == spec.initial_status]
    pages = []
    for event in dict.fromkeys(names):
        for name in spec.event(event).pages:
            page = spec.page(name)
            if page.direction == "request" and key_param(page) is not None and page not in pages:
                pages.append(page)
    return pages


def booking_values(ctx: CheckContext, page: Page, key: str, mobile: str, activate: bool = False) -> dict[str, str]:
    """Plain values of a one-ticket booking of a plain product on `page`, derived from its parameter table."""
    ctx.serves(page)
    show = find_show(ctx) if page.mode == "theater" else None  # a show on sale; no seats, so a repeat can double
    product = show.product if show else ctx.plain_product()
    day = show.day if show else (ctx.today() + timedelta(days=4)).strftime("%Y%m%d")
    kp = key_param(page)
    values: dict[str, str] = {}
    for p in page.params:
        if p.location != "query" or p.name.lower() in COMMON:
            continue
        label = p.label_zh
        if p is kp:
            values[p.name] = key
        elif p.format == "pid_qty_list":
            values[p.name] = f"{product['productid']}|1"
        elif "手机" in label:
            values[p.name] = mobile
        elif "证件号码" in label:
            values[p.name] = "110101199003071234"
        elif p.format == "yyyyMMdd" and p.required:
            values[p.name] = day
        elif p.encryption == "md5-upper-3des":
            if not ctx.target.creds.pay_password:
                raise NotRun("no pay password given (--pay-password)")
            values[p.name] = ctx.target.creds.pay_password
        elif "金额" in label:
            values[p.name] = product.get("price", "")
        elif show and "场次ID" in label:
            values[p.name] = show.scene
        elif "时段号" in label:
            values[p.name] = "-1"  # the earliest time slot with room (4.2.4 timespanindex)
        elif label == "激活定单" and activate:
            values[p.name] = "1"
        elif label == "门票介质类型" and activate:
            values[p.name] = "2"  # mobile barcode: an ID-card medium needs real-name records (2.18)
        elif p.required:
            if p.default is not None:
                values[p.name] = p.default
            elif p.values:
                values[p.name] = p.values[0]
            else:
                raise NotRun(f"no way to derive a valid {page.page} {p.name} ({label})")
    for account in page.behaviour.accounts:  # a run's other checks spend the same balance meanwhile
        ctx.fund(account, product.get("price", ""))
    return values


def _book(ctx: CheckContext, page: Page, values: dict[str, str], note: str) -> str:
    ex = ctx.ok(ctx.call(page, values, note=note), page.page)
    path = _find(page.response, _is_order_id)
    orderid = ex.envelope.text(path) if path else ""
    if not orderid:
        raise NotRun(f"{page.page} answered no order id ({path or 'the spec names no order id element'})")
    return orderid


def _count(ctx: CheckContext, mobile: str, note: str) -> int:
    page = ctx.spec.page(COUNT_PAGE)
    mobile_param = next((p for p in page.params if "手机" in p.label_zh), None)
    count_path = _find(page.response, lambda el: el.label_zh == "记录数目")
    if mobile_param is None or count_path is None:
        raise NotRun(f"{COUNT_PAGE} has no mobile filter or record count in the spec")
    ex = ctx.call(page, {mobile_param.name: mobile}, note=note)
    if ex.status == 200 and ex.envelope is not None and ex.retcode != "0":
        return 0  # "no orders" may be a refusal (gap queryorderpagelistcount-empty-result)
    ctx.ok(ex, COUNT_PAGE)
    return parse_value(ctx.spec, page, count_path, ex.envelope.text(count_path, "0"))


def _same_order(page: Page, ctx: CheckContext) -> None:
    key, mobile = _unique_key(), _unique_mobile()
    values = booking_values(ctx, page, key, mobile)
    first = _book(ctx, page, values, f"first {page.page} with {key_param(page).name}={key}")
    ex = ctx.call(page, values, note=f"the same {page.page} again, same {key_param(page).name}")
    ctx.envelope(ex)
    # a target may check the balance before the number: with too little for a second payment the repeat
    # cannot show whether it would answer the first order or pay again
    ctx.balance_refusal(ex)
    gap = duplicate_gap(page)
    if ex.retcode != "0" and gap is None:
        ctx.notes.append(f"the repeat was refused ({ex.retcode} {ex.retmsg}); the page leaves the answer open")
        return
    ctx.expect(ex.retcode == "0", f"{page.page}: the repeated request was refused ({ex.retcode} {ex.retmsg}); "
               f"a repeat answers the existing order (gap {gap.id if gap else ''})")
    path = _find(page.response, _is_order_id)
    second = ex.envelope.text(path) if path else ""
    ctx.expect(second == first, f"{page.page}: a repeated {key_param(page).name} answered order {second!r}, "
               f"the first request made {first!r}")


def _list_count(page: Page, ctx: CheckContext) -> None:
    key, mobile = _unique_key(), _unique_mobile()
    values = booking_values(ctx, page, key, mobile)
    _book(ctx, page, values, f"first {page.page} with {key_param(page).name}={key}")
    before = _count(ctx, mobile, "orders with this check's mobile, after the first request")
    if before != 1:
        raise NotRun(f"{COUNT_PAGE} filtered by the order's mobile counts {before} orders, not the one just made")
    ctx.call(page, values, note=f"the same {page.page} again, same {key_param(page).name}")
    after = _count(ctx, mobile, "orders with this check's mobile, after the repeat")
    ctx.expect(after == 1, f"{page.page}: after a repeated {key_param(page).name} the agent has {after} orders "
               f"with this booking's mobile ({COUNT_PAGE}); the repeat must make none")


def _records(ctx: CheckContext, account: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    page = ctx.spec.page(RECORD_PAGES[account])
    index = next((p for p in page.params if p.label_zh == "页序号"), None)
    bounds = [p for p in page.params if p.format == STAMP_FORMAT]
    amount = _find(page.response, lambda el: el.label_zh == AMOUNT_LABEL)
    doc = _find(page.response, lambda el: el.label_zh == DOCUMENT_LABEL)
    if index is None or len(bounds) != 2 or amount is None or doc is None:
        raise NotRun(f"{page.page}: the spec gives no paging, period, amount or document number")
    record = amount.rsplit("/", 1)[0]
    rows: list[dict[str, Any]] = []
    for n in range(1, 51):  # pages are numbered from 1 (gap queryyfkjyrec-page-index-base)
        ex = ctx.call(page, {index.name: str(n), bounds[0].name: start.strftime(STAMP),
                             bounds[1].name: end.strftime(STAMP)}, note=f"{account} records, page {n}")
        if ex.envelope is None or ex.retcode != "0":
            break
        found = ex.envelope.root.findall(record)
        if not found:
            break
        rows += [{"amount": parse_value(ctx.spec, page, amount, r.findtext(amount.rsplit("/", 1)[1], "")),
                  "doc": r.findtext(doc.rsplit("/", 1)[1], "")} for r in found]
    return rows


def _single_debit(page: Page, ctx: CheckContext) -> None:
    account = next((a for a in page.behaviour.accounts if a in RECORD_PAGES), None)
    if account is None:
        raise NotRun(f"{page.page} pays from no account with transaction records")
    key, mobile = _unique_key(), _unique_mobile()
    values = booking_values(ctx, page, key, mobile, activate=True)
    first = _book(ctx, page, values, f"first {page.page} (activated, so that the {account} account is debited)")
    ex = ctx.call(page, values, note=f"the same {page.page} again, same {key_param(page).name}")
    path = _find(page.response, _is_order_id)
    second = ex.envelope.text(path) if ex.envelope is not None and ex.retcode == "0" and path else ""
    query = ctx.ok(ctx.call("QueryOrder.aspx", {"order_id": first}, note="the order's total and time"), "QueryOrder.aspx")
    total = parse_value(ctx.spec, query.page, "Item/summary", query.envelope.text("Item/summary"))
    booked = parse_value(ctx.spec, query.page, "Item/ordertime", query.envelope.text("Item/ordertime"))
    orders = {first, second} - {""}
    rows = [r for r in _records(ctx, account, booked - timedelta(hours=1), booked + timedelta(days=1))
            if any(o and o in r["doc"] for o in orders)]
    if not rows:
        raise NotRun(f"no {account} record names the order {first} (was it activated and debited?)")
    moved = sum((abs(r["amount"]) for r in rows), Decimal(0))
    ctx.expect(moved == total, f"{page.page}: the {account} account moved {moved} for the orders {sorted(orders)} "
               f"of one booking repeated with the same {key_param(page).name}; one order costs {total}")


@derive
def idempotency_checks(spec: Spec) -> Iterable[Check]:
    for page in booking_pages(spec):
        kp = key_param(page)
        gap = duplicate_gap(page)
        clause = _clause(page, f"; {kp.name} line {kp.line}" + (f"; gap {gap.id} line {gap.line}" if gap else ""))
        yield Check(f"idempotency.same-order.{page.stem}", "idempotency", clause,
                    f"{page.page} repeated with the same {kp.name} answers the first order", "critical",
                    partial(_same_order, page), page=page.page)
        yield Check(f"idempotency.list-count.{page.stem}", "idempotency", clause + f"; {COUNT_PAGE}",
                    f"{page.page} repeated with the same {kp.name} adds no order to the agent's list", "critical",
                    partial(_list_count, page), page=page.page)
        if any(a in RECORD_PAGES for a in page.behaviour.accounts):
            yield Check(f"idempotency.single-debit.{page.stem}", "idempotency", clause + "; 2.5",
                        f"{page.page} repeated with the same {kp.name} debits the account once", "critical",
                        partial(_single_debit, page), page=page.page)


# ------------------------------------------------------------------ isolation

def order_param(page: Page) -> Param | None:
    return next((p for p in page.params if p.location == "query" and p.label_zh not in KEY_LABELS
                 and "接口方" not in p.label_zh and any(m in p.label_zh for m in ORDER_ID_LABELS)), None)


def _writes(page: Page) -> bool:
    return bool(page.behaviour.writes or page.behaviour.events)


def _leaves(env, skip: tuple[str, ...], orderid: str) -> list[tuple[str, str]]:
    """The data of an answer (envelope fields left out), with the order id masked."""
    out = []
    for el in env.root.iter():
        if not isinstance(el.tag, str) or el is env.root or el.tag in skip or len(el):
            continue
        path = env.root.getroottree().getpath(el)
        out.append((path, (el.text or "").strip().replace(orderid, "<order>")))
    return out


def _mentions(env, skip: tuple[str, ...], orderid: str) -> bool:
    return any(orderid in (el.text or "") for el in env.root.iter()
               if isinstance(el.tag, str) and el.tag not in skip and el is not env.root)


def _snapshot(ctx: CheckContext, orderid: str, note: str) -> list[tuple[str, str]]:
    ex = ctx.ok(ctx.call("QueryOrder.aspx", {"order_id": orderid}, note=note), "QueryOrder.aspx (owner)")
    return [(ex.envelope.root.getroottree().getpath(el), el.text or "") for el in ex.envelope.root.iter()
            if isinstance(el.tag, str) and not len(el) and el.tag not in ctx.profile.response.envelope]


def _prepare(ctx: CheckContext, page: Page) -> str:
    """An order of the first agent in a state where `page` would serve its owner, where fixtures reach one."""
    spec = ctx.spec
    booked = spec.transitions_from(spec.initial_status, "book")[0].target
    paid = next(iter(spec.transitions_from(booked, "pay_deposit", "deposit")), None)
    delivered = next(iter(spec.transitions_from(paid.target, "activate", "deposit")), None) if paid else None
    sources = {t.source for t in spec.transitions if t.event in page.behaviour.events}
    orderid, _ = ctx.book()
    if not sources or booked in sources:
        return orderid
    if paid and paid.target in sources:
        ctx.pay_deposit(orderid)
        return orderid
    if delivered and delivered.target in sources:
        ctx.pay_deposit(orderid, activate=True)
        return orderid
    ctx.notes.append(f"no fixture reaches a state {sorted(sources)} where {page.page} serves the owner; "
                     f"the order is {booked}")
    return orderid


def _isolation(page: Page, param: Param, ctx: CheckContext) -> None:
    other = ctx.other
    if other is None:
        raise NotRun("no second agent given (--other-user)")
    if other.user == ctx.target.creds.user:
        raise NotRun("the second agent is the first agent")
    orderid = _prepare(ctx, page)
    cache = {"orderid": orderid}
    values: dict[str, str] = {}
    for p in page.params:
        if p.required and p.name.lower() not in COMMON and p.location == "query" and p is not param:
            try:
                values[p.name] = _value(ctx, page, p, cache)
            except NotRun:
                # Whatever it is, the call must fail for the order alone; a placeholder will do.
                values[p.name] = ctx.spec.format(p.format).example if p.format else "1"
                ctx.notes.append(f"{p.name} ({p.label_zh}) is a placeholder: {values[p.name]!r}")
    values[param.name] = orderid
    for p in page.params:  # the second agent's own pay password, so only the order is foreign
        if p.encryption == "md5-upper-3des" and p.name in values and p.name.lower() != "password":
            values[p.name] = other.pay_password or values[p.name]
    before = _snapshot(ctx, orderid, "the order, as its owner sees it before")
    ex = ctx.call(page, values, creds=other, note=f"the second agent ({other.user}) with the first agent's order")
    if ex.status is None:
        raise NotRun(f"no answer from the target: {ex.error}")
    skip = tuple(ctx.profile.response.envelope)
    if ex.envelope is not None and ex.retcode == "0":
        ctx.expect(not _writes(page), f"{page.page}: {other.user} was served (retcode 0) on {ctx.target.creds.user}'s "
                   f"order {orderid}; another agent's order must be refused")
        ctx.expect(not _mentions(ex.envelope, skip, orderid),
                   f"{page.page}: {other.user}'s answer shows {ctx.target.creds.user}'s order {orderid}")
        control = ctx.call(page, {**values, param.name: "9" * len(orderid)}, creds=other,
                           note="the second agent with an order id that does not exist")
        ctx.expect(control.envelope is not None and control.retcode == "0"
                   and _leaves(control.envelope, skip, "9" * len(orderid)) == _leaves(ex.envelope, skip, orderid),
                   f"{page.page}: {other.user}'s answer for {ctx.target.creds.user}'s order differs from its answer "
                   "for an order that does not exist, so it reveals the order")
    after = _snapshot(ctx, orderid, "the order, as its owner sees it after")
    changed = [f"{path}: {a!r} -> {b!r}" for (path, a), (_, b) in zip(before, after) if a != b]
    ctx.expect(len(before) == len(after) and not changed,
               f"{page.page}: {other.user}'s call changed {ctx.target.creds.user}'s order {orderid}: "
               + ("; ".join(changed[:4]) or "its structure"))


@derive
def isolation_checks(spec: Spec) -> Iterable[Check]:
    for page in spec.request_pages:
        param = order_param(page)
        if param is None:
            continue
        yield Check(f"isolation.foreign-order.{page.stem}", "isolation",
                    _clause(page, f"; {param.name} line {param.line}; 4.2.8 line 2884"),
                    f"{page.page} refuses another agent's order ({param.name}) and leaves it unchanged", "critical",
                    partial(_isolation, page, param), page=page.page)

