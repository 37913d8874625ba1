"""What a ticket return leaves on the order pages (4.2.8 lines 2710-2735 and 2816-2837, 4.2.9;
2.7.3; 2.13 line 403: an OTA that missed Notify_Refund reconciles through them).

`state.ticket-return.<page>`, derived for every page whose answer has a count of returned tickets
(an int element labelled 退票): an order is brought to a status tickets are returned from (the spec's
transitions), one ticket is returned through the spec's ticket-return page, and the page must show
it at the order's level and at its line's: each 退票 count equal to the persons of the ticket, its
退票 amounts not all zero, its 退票 descriptions not empty, and the refund after delivery (交割后…退款)
at least what the return gave back, with its state."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Iterable

from lxml import etree

from spec.model import Element, Page, Param, Spec

from ..baseline import COMMON, ORDER_LABELS
from ..context import CheckContext, Failed, NotRun
from ..registry import Check, derive
from ..values import parse_value
from .state import reach

RETURN_EVENT = "ticket_refund"  # tables/transitions.yaml: a delivered ticket is returned (2.1 退票)
TICKETS_PAGE = "GetTicketList.aspx"  # an order's tickets (4.2.42)
# Labels that say what an element means (4.2.8 lines 2710-2735, 2816-2837; 4.2.42 personcount):
RETURN_MARK = "退票"  # returncount 退票总数量, returntotal 退票产生的总退款金额, returnticketdesc 退票描述, ...
FEE_MARK = "手续费"  # returnfees 退票手续费
BACK_MARKS = ("交割后", "退款")  # backtotal 在交割后产生的退款总金额, backstatus 在交割后产生的退退款受理状态
PERSONS_MARK = "人数"  # a ticket's personcount 人数 (its freecount is 赠送人数)
PRODUCT_MARK = "产品ID"
CHANNEL_MARK = "渠道"  # returnpaychanneldesc: no channel where nothing was given back


def _about_order(p: Param) -> bool:
    return any(mark in p.label_zh for mark in ORDER_LABELS)


def _leaves(el: Element) -> list[Element]:
    return [c for c in el.children if not c.children]


def _return_counts(el: Element) -> list[Element]:
    return [c for c in _leaves(el) if RETURN_MARK in c.label_zh and c.type == "int"]


def _records(elements: Iterable[Element], path: str = "") -> list[tuple[str, Element]]:
    """(path, element) of every element whose own leaves include a count of returned tickets."""
    out = []
    for el in elements:
        here = f"{path}/{el.name}" if path else el.name
        if _return_counts(el):
            out.append((here, el))
        out += _records(el.children, here)
    return out


def _ticket(ctx: CheckContext, orderid: str) -> dict[str, str]:
    ex = ctx.ok(ctx.call(TICKETS_PAGE, {"orderid": orderid}, note="fixture: the order's tickets"), TICKETS_PAGE)
    tickets = [{c.tag: (c.text or "") for c in t} for t in ex.envelope.root.iter("ticket")]
    if not tickets:
        raise NotRun(f"order {orderid} shows no tickets ({TICKETS_PAGE})")
    return tickets[0]


def _persons(ctx: CheckContext, ticket: dict[str, str]) -> int:
    """The ticket's persons, by the ticket element labelled 人数 (not 赠送人数)."""
    found = [e for e in ctx.spec.page(TICKETS_PAGE).response[0].walk()
             if not e.children and e.type == "int" and e.label_zh.startswith(PERSONS_MARK)]
    if not found or found[0].name not in ticket:
        raise NotRun(f"{TICKETS_PAGE} gives no persons for ticket {ticket}")
    return int(parse_value(ctx.spec, TICKETS_PAGE, found[0].name, ticket[found[0].name]) or 0)


def _return(ctx: CheckContext, orderid: str, ticket: dict[str, str]) -> dict[str, str]:
    pages = [p for p in ctx.spec.event(RETURN_EVENT).pages
             if ctx.spec.has_page(p) and ctx.spec.page(p).direction == "request"]
    if not pages:
        raise NotRun(f"no request page of the spec drives {RETURN_EVENT}")
    page = ctx.spec.page(pages[0])
    values = {}
    for p in page.params:
        if not p.required or p.location != "query" or p.name.lower() in COMMON:
            continue
        if _about_order(p):
            values[p.name] = orderid
        elif p.name in ticket:
            values[p.name] = ticket[p.name]
        elif p.default is not None or p.values:
            values[p.name] = p.default if p.default is not None else p.values[0]
        else:
            raise NotRun(f"no way to derive {page.page} {p.name} ({p.label_zh})")
    ctx.ok(ctx.call(page, values, note="return one ticket"), page.page)
    return values


def order_requests(ctx: CheckContext, page: Page, orderid: str) -> list[dict[str, str]]:
    """The page's requests about the order: its order parameter, and each first page of a list."""
    base: dict[str, str] = {}
    index, first = None, ""
    for p in page.params:
        if p.location != "query" or p.name.lower() in COMMON:
            continue
        if _about_order(p):
            base[p.name] = orderid
        elif p.first_page is not None:
            index, first = p.name, str(p.first_page)
        elif p.required:
            if p.default is None and not p.values:
                raise NotRun(f"no way to derive {page.page} {p.name} ({p.label_zh})")
            base[p.name] = p.default if p.default is not None else p.values[0]
    if not base:
        raise NotRun(f"{page.page} takes no order number")
    return [{**base, index: first}] if index else [base]


def _shown(ctx: CheckContext, page: Page, orderid: str) -> etree._Element:
    """The order's record in the page's answer (the first page that lists it)."""
    path, el = _records(page.response)[0]
    order_leaf = next((c for c in _leaves(el) if c.label_zh in ORDER_LABELS), None)
    if order_leaf is None:
        raise NotRun(f"{page.page} {path} has no order number")
    for values in order_requests(ctx, page, orderid):
        ex = ctx.call(page, values, note="the order after the return")
        ctx.envelope(ex)
        for record in ex.envelope.root.findall(path) if ex.retcode == "0" else ():
            if record.findtext(order_leaf.name) == orderid:
                return record
    raise Failed(f"{page.page} did not list order {orderid} after a ticket of it was returned")


@dataclass(frozen=True)
class _Level:
    """One level's return elements as the target showed them: the order's, or the returned ticket's line's."""

    where: str
    el: Element
    shown: dict[str, str]
    numbers: dict[str, Decimal]  # the numeric return elements, read by their spec format
    given: Decimal  # the 退票 amounts other than fees: what the return gave back
    fees: Decimal | None  # the 退票 fee, where the level has one


def _read(spec: Spec, page: Page, path: str, where: str, el: Element, record: etree._Element) -> _Level:
    shown = {c.name: (record.findtext(c.name) or "") for c in _leaves(el)}
    numbers = {c.name: Decimal(parse_value(spec, page, f"{path}/{c.name}", shown[c.name]) or 0) for c in _leaves(el)
               if c.type in ("int", "decimal") and (RETURN_MARK in c.label_zh or _is_back(c.label_zh))}
    amounts = [c for c in _leaves(el) if RETURN_MARK in c.label_zh and c.type == "decimal"]
    given = sum((numbers[c.name] for c in amounts if FEE_MARK not in c.label_zh), Decimal(0))
    fee_leaves = [c for c in amounts if FEE_MARK in c.label_zh]
    fees = sum((numbers[c.name] for c in fee_leaves), Decimal(0)) if fee_leaves else None
    return _Level(where, el, shown, numbers, given, fees)


def _problems(level: _Level, persons: int, fee_took_all: bool) -> list[str]:
    """What is wrong with one level after the return of a ticket admitting `persons`."""
    where, shown, out = level.where, level.shown, []
    for c in _return_counts(level.el):
        if level.numbers[c.name] != persons:
            out.append(f"{where} {c.name}={shown[c.name]!r}, the returned ticket admits {persons}")
    amounts = [f"{c.name}={shown[c.name]!r}" for c in _leaves(level.el)
               if RETURN_MARK in c.label_zh and c.type == "decimal"]
    if amounts and level.given + (level.fees or 0) <= 0 and not (level.fees is None and fee_took_all):
        out.append(f"{where} {', '.join(amounts)}: the ticket's value was neither given back nor kept as a fee")
    for c in _leaves(level.el):
        if c.type == "string" and RETURN_MARK in c.label_zh and not shown[c.name] \
                and (level.given > 0 or CHANNEL_MARK not in c.label_zh):
            out.append(f"{where} {c.name} is empty ({c.label_zh})")
    back = [c for c in _leaves(level.el) if _is_back(c.label_zh)]
    total = sum((level.numbers[c.name] for c in back if c.type == "decimal"), Decimal(0))
    for c in back:
        if c.type == "decimal" and level.numbers[c.name] < level.given:
            out.append(f"{where} {c.name}={shown[c.name]!r} is less than the {level.given} the return gave back")
        if c.type == "string" and total > 0 and not shown[c.name]:
            out.append(f"{where} {c.name} is empty while {total} was refunded ({c.label_zh})")
    return out


def _is_back(label: str) -> bool:
    return all(mark in label for mark in BACK_MARKS)


def _ticket_return(page: Page, ctx: CheckContext) -> None:
    ctx.serves(page)
    orderid = reach(ctx, {t.source for t in ctx.spec.transitions if t.event == RETURN_EVENT})
    ticket = _ticket(ctx, orderid)
    persons = _persons(ctx, ticket)
    sent = _return(ctx, orderid, ticket)
    record = _shown(ctx, page, orderid)
    (path, el), *deeper = _records(page.response)
    levels = [_read(ctx.spec, page, path, f"{page.page} {path} of order {orderid}", el, record)]
    missing = []
    for sub_path, sub in deeper:
        rel = sub_path.removeprefix(path + "/")
        product = next((c.name for c in _leaves(sub) if PRODUCT_MARK in c.label_zh and c.name in ticket), None)
        lines = [r for r in record.findall(rel) if product is None or r.findtext(product) == ticket[product]]
        which = f"{product}={ticket[product]}" if product else "any product"
        if not lines:
            missing.append(f"{page.page} shows no {rel} of the returned ticket's product ({which})")
        levels += [_read(ctx.spec, page, sub_path, f"{page.page} {sub_path} {which}", sub, line) for line in lines[:1]]
    for level in levels:
        ctx.notes.append(f"{level.where}: " + ", ".join(f"{c.name}={level.shown[c.name]!r}" for c in _leaves(level.el)
                                                        if RETURN_MARK in c.label_zh or _is_back(c.label_zh)))
    fee_took_all = any(level.fees is not None and level.fees > 0 and level.given == 0 for level in levels)
    problems = missing + [p for level in levels for p in _problems(level, persons, fee_took_all)]
    ctx.expect(not problems, f"after the return {sent}: " + "; ".join(problems[:8]))


@derive
def return_checks(spec: Spec) -> Iterable[Check]:
    for page in spec.request_pages:
        records = _records(page.response)
        if not records:
            continue
        names = sorted({c.name for _, el in records for c in _leaves(el)
                        if RETURN_MARK in c.label_zh or _is_back(c.label_zh)})
        yield Check(f"state.ticket-return.{page.stem}", "state",
                    f"{page.section} {page.page} (lines {page.source_lines[0]}-{page.source_lines[1]}); 2.7.3; "
                    "2.13 line 403",
                    f"after a ticket is returned, {page.page} reports it in {', '.join(names)}: the persons returned, "
                    "the amounts given back or kept as fees, the descriptions, at order and line level",
                    "major", partial(_ticket_return, page), page=page.page)
