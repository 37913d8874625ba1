"""The product the suite books when a check needs an order and not a particular product: the cheapest
order a check can make. A run books hundreds of orders and, without a driver that tops the agent's
accounts up (--driver none), pays them from the agent's own balance: the cheaper each order, the
more checks run before the balance is spent."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from spec.model import Page

from .context import NotRun

if TYPE_CHECKING:
    from .context import CheckContext

INVENTORY_PAGE = "GetProductsInventory.aspx"
INVENTORY_DAYS = 7  # at most 7 days per query (4.2.2, line 1367)


def meaning(page: Page, element: str, phrase: str) -> str | None:
    """The value an element's description gives a meaning, e.g. '-1表示已售完' -> '-1'."""
    for top in page.response:
        for el in top.walk():
            if el.name == element:
                m = re.search(r"(-?\d+)\s*表示" + phrase, el.label_zh)
                if m:
                    return m.group(1)
    return None


def _number(text: str | None, default: Decimal) -> Decimal:
    # lenient: a malformed value is the schema checks' finding, not a reason to book nothing
    try:
        return Decimal(text or "")
    except InvalidOperation:
        return default


def order_cost(product: dict[str, str], qty: int) -> Decimal | None:
    """What an order of `qty` tickets costs; None when the product does not sell `qty` in one order
    (below its minimum or above its maximum, 0 meaning none)."""
    low = int(_number(product.get("minimum"), Decimal(1)))
    high = int(_number(product.get("maximum"), Decimal(0)))
    if qty < low or (high and qty > high):
        return None
    return _number(product.get("price"), Decimal("Infinity")) * qty


def _endless(ctx: CheckContext, product: dict[str, str]) -> bool:
    """Whether the product's stock does not run out in the days the checks book (GetProductsInventory
    answers it unlimited); True where the target does not tell. Hundreds of orders of a product with a
    finite daily stock sell its days out, and the stock check (state.no-oversell) counts on being the
    only one booking a finite product."""
    page = ctx.spec.page(INVENTORY_PAGE)
    unlimited = meaning(page, "quantity", "无限制")
    if page.mode not in ("both", ctx.mode()) or unlimited is None:
        return True
    start = ctx.today()
    ex = ctx.call(page, {"ProductID": product.get("productid", ""), "StartDate": start.strftime("%Y%m%d"),
                         "EndDate": (start + timedelta(days=INVENTORY_DAYS - 1)).strftime("%Y%m%d")},
                  note="fixture: is the cheapest product's stock unlimited")
    if ex.envelope is None or ex.retcode != "0":
        return True
    rows = [{c.tag: (c.text or "") for c in item} for item in ex.envelope.items()]
    return all(r.get("quantity") == unlimited for r in rows if r.get("productid") == product.get("productid"))


def cheapest_plain(ctx: CheckContext, qty: int = 1) -> dict[str, str]:
    """The product without real-name constraint whose order of `qty` costs least, of those whose stock
    does not run out (the cheapest of all when every one's does)."""
    costs = [(cost, i, p) for i, p in enumerate(ctx.products())
             if p.get("needname", "0") != "1" and (cost := order_cost(p, qty)) is not None]
    if not costs:
        raise NotRun(f"the target sells no product without real-name constraint in orders of {qty}")
    ranked = [p for *_, p in sorted(costs, key=lambda c: c[:2])]
    return next((p for p in ranked if _endless(ctx, p)), ranked[0])
