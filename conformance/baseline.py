"""A valid request for a page, derived from the page's parameter table and the target's own
data: dates, enumerations and integers from the spec's formats and value sets; product and
order ids from fixtures (a fresh order per request, booked through the target)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from spec.model import Page, Param

from .context import CheckContext, NotRun
from .shows import find_show

COMMON = {"sign_type", "service_version", "input_charset", "sign", "sign_key_index", "user", "password"}
ORDER_LABELS = ("订单号", "订单编号", "定单号", "预定单号", "预订单号", "单号")
# What the theater pages' labels ask about the show (4.2.3, 4.2.5, 4.2.17-4.2.21, 4.2.48, 4.2.49).
SHOW_LABELS = {"剧场ID": "theater", "场次ID": "scene", "座位区域ID": "area", "产品ID": "productid",
               "门票日期": "day", "座位信息": "seat", "金额": "price"}


def _value(ctx: CheckContext, page: Page, param: Param, cache: dict[str, str]) -> str:
    label = param.label_zh
    if page.mode == "theater":
        found = show_value(ctx, param, cache)
        if found is not None:
            return found
    if param.obtained_from:
        return _delivered_code(ctx, ctx.spec.page(param.obtained_from), cache)
    if param.encryption == "md5-upper-3des":
        if not ctx.target.creds.pay_password:
            raise NotRun("no pay password given (--pay-password)")
        return ctx.target.creds.pay_password
    if any(mark in label for mark in ORDER_LABELS):
        if "orderid" not in cache:
            cache["orderid"], _ = ctx.book()
        return cache["orderid"]
    if "金额" in label or param.name.lower() == "money":
        if "orderid" not in cache:
            cache["orderid"], _ = ctx.book()
        return ctx.order_total(cache["orderid"])
    if "产品ID" in label or "门票类型ID" in label:
        return ctx.plain_product()["productid"]
    if "证件号码" in label:
        return "110101199003071234"
    if "手机" in label:
        return "13800138000"
    if "页序号" in label or "页号" in label:
        return "1"
    if param.default is not None:
        return param.default
    if param.values:
        return param.values[0]
    fmt = param.format
    day = ctx.today() + timedelta(days=4)
    if fmt == "yyyyMMdd":
        return day.strftime("%Y%m%d")
    if fmt == "yyyyMMddHHmmss":
        return ctx.today().strftime("%Y%m%d%H%M%S")
    if fmt == "mobile":
        return "13800138000"
    if fmt == "pid_qty_list":
        return f"{ctx.plain_product()['productid']}|1"
    if fmt == "url":
        return "http://127.0.0.1:9/ybx-conform"
    if fmt == "int" or param.base_type == "int":
        return "0"
    raise NotRun(f"no way to derive a valid {page.page} {param.name} ({label})")


def show_value(ctx: CheckContext, param: Param, cache: dict[str, str]) -> str | None:
    """What a theater page takes about a show: theater, scene, date, product, seat area and seat of a
    show with free seats, found through the target's own pages (conformance.shows); a booking's
    amount (one seat) and its own order number. None: not a show parameter."""
    label = param.label_zh
    if "接口方" in label:  # the integrator's order number of a book-and-pay call: new for each request
        return "conf-" + secrets.token_hex(8)
    key = "order_list" if param.format == "pid_qty_list" else next(
        (k for mark, k in SHOW_LABELS.items() if mark in label), None)
    if key is None:
        return None
    if "area" not in cache:
        show = find_show(ctx)
        cache.update(area=show.area, theater=show.theater, scene=show.scene, day=show.day, productid=show.productid,
                     order_list=f"{show.productid}|1", price=show.product.get("price", ""), seat=show.seats(1)[0])
    return cache[key]


def _delivered_code(ctx: CheckContext, source: Page, cache: dict[str, str]) -> str:
    """Call the page that sends the code (an SMS) and read it where the driver can see it."""
    ctx.needs("sms")
    values = {p.name: _value(ctx, source, p, cache) for p in source.params
              if p.required and p.name.lower() not in COMMON and p.location == "query"}
    ctx.ok(ctx.call(source, values, note=f"fixture: {source.page} sends the code"), source.page)
    orderid = cache.get("orderid", "")
    codes = [m for m in ctx.driver.sms() if m.get("code") and (not orderid or m.get("orderid") == orderid)]
    if not codes:
        raise NotRun(f"{source.page} answered 0 but no code reached the driver")
    return str(codes[-1]["code"])


def _prepare(ctx: CheckContext, page: Page, cache: dict[str, str]) -> None:
    """Bring a fresh order to a state the page's event may start from (the spec's transition table)."""
    events = {e.id for e in ctx.spec.events if page.page in e.pages} | set(page.behaviour.events)
    sources = {t.source for t in ctx.spec.transitions if t.event in events}
    if not sources or "0" in sources or ctx.spec.initial_status in sources:
        return
    if "2" in sources:
        cache["orderid"], _ = ctx.book()
        ctx.pay_deposit(cache["orderid"])


def baseline(ctx: CheckContext, page: Page) -> dict[str, str]:
    """Plain values of a request the target should accept (required parameters only)."""
    ctx.serves(page)
    cache: dict[str, str] = {}
    _prepare(ctx, page, cache)
    # a theater booking names its seats (4.1.3 line 2267, 用户选择座位) though SeatInfo is optional
    values = {p.name: _value(ctx, page, p, cache) for p in page.params
              if (p.required or p.format == "seat_list") and p.name.lower() not in COMMON and p.location == "query"}
    if "book" in page.behaviour.events and page.mode == "theater":  # book and pay: the account pays
        for account in page.behaviour.accounts:
            ctx.fund(account, cache.get("price", ""))
    return values


def accepted(ctx: CheckContext, page: Page, values: dict[str, str]) -> None:
    """Prove the unmutated request is accepted, so that a refusal was the mutation's doing."""
    ex = ctx.call(page, values, note="baseline: the same request, correct")
    if ex.retcode != "0":
        raise NotRun(f"the correct request itself is refused (retcode {ex.retcode} {ex.retmsg}); "
                     "the check needs a target state where it is accepted")
