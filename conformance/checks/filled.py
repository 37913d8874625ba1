"""Values an order's answer may leave empty only until something has happened to the order (gap
response-empty-values): the spec marks such an element allow_empty and names the events after
which it is known (`filled_after`: paychannel once paid, dealdesc and jgrqsj once delivered, ...).
The schema checks cannot tell those moments apart, so `state.filled.<page>` brings an order
through one of the events (the spec's transitions) and the page must show the element filled."""

from __future__ import annotations

from functools import partial
from typing import Iterable

from lxml import etree

from spec.model import Element, Page, Spec

from ..baseline import ORDER_LABELS
from ..context import CheckContext, Failed, NotRun
from ..registry import Check, derive
from .returns import order_requests
from .state import reach


def _filled(elements: Iterable[Element], path: str = "") -> list[tuple[str, Element]]:
    """(path of the record, leaf) of every leaf the spec fills after an event."""
    out = []
    for el in elements:
        here = f"{path}/{el.name}" if path else el.name
        out += [(here, c) for c in el.children if not c.children and c.filled_after]
        out += _filled(el.children, here)
    return out


def _groups(page: Page) -> dict[tuple[str, tuple[str, ...]], list[Element]]:
    """The filled leaves by record path and events: one order is brought through each group's events."""
    groups: dict[tuple[str, tuple[str, ...]], list[Element]] = {}
    for path, leaf in _filled(page.response):
        groups.setdefault((path, leaf.filled_after), []).append(leaf)
    return groups


def _record(ctx: CheckContext, page: Page, path: str, orderid: str) -> etree._Element:
    el = page.element(*path.split("/"))
    order_leaf = next((c for c in el.children if not c.children and c.label_zh in ORDER_LABELS), None) if el else None
    if order_leaf is None:
        raise NotRun(f"{page.page} {path} has no order number")
    for values in order_requests(ctx, page, orderid):
        ex = ctx.call(page, values, note="the order after the events")
        ctx.envelope(ex)
        for record in ex.envelope.root.findall(path) if ex.retcode == "0" else ():
            if record.findtext(order_leaf.name) == orderid:
                return record
    raise Failed(f"{page.page} did not show order {orderid}")


def _shown_filled(page: Page, ctx: CheckContext) -> None:
    ctx.serves(page)
    problems = []
    for (path, events), leaves in _groups(page).items():
        goals = {t.target for t in ctx.spec.transitions if t.event in events}
        orderid = reach(ctx, goals)
        record = _record(ctx, page, path, orderid)
        shown = {leaf.name: record.findtext(leaf.name) or "" for leaf in leaves}
        ctx.notes.append(f"{page.page} {path} of order {orderid} after {' or '.join(events)}: "
                         + ", ".join(f"{k}={v!r}" for k, v in shown.items()))
        problems += [f"{path}/{leaf.name} of order {orderid} is empty ({leaf.label_zh}), though the order went "
                     f"through {' or '.join(events)}" for leaf in leaves if not shown[leaf.name]]
    ctx.expect(not problems, f"{page.page}: " + "; ".join(problems))


@derive
def filled_checks(spec: Spec) -> Iterable[Check]:
    for page in spec.request_pages:
        groups = _groups(page)
        if not groups:
            continue
        names = sorted({leaf.name for leaves in groups.values() for leaf in leaves})
        yield Check(f"state.filled.{page.stem}", "state",
                    f"{page.section} {page.page} 返回值; gap response-empty-values",
                    f"{page.page} answers {', '.join(names)} once the order went through the events after which "
                    "the spec says each is known (empty allowed only before)", "major",
                    partial(_shown_filled, page), page=page.page)
