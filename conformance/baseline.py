"""A valid request for a page, derived from the page's parameter table and the target's own
data: dates, enumerations and integers from the spec's formats and value sets; product and
order ids from fixtures (a fresh order per request, booked through the target)."""

from __future__ import annotations

from datetime import timedelta

from spec.model import Page, Param

from .context import CheckContext, NotRun

COMMON = {"sign_type", "service_version", "input_charset", "sign", "sign_key_index", "user", "password"}
ORDER_LABELS = ("订单号", "订单编号", "定单号", "预定单号", "预订单号", "单号")


def _value(ctx: CheckContext, page: Page, param: Param, cache: dict[str, str]) -> str:
    label = param.label_zh
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
    if page.mode not in ("both", ctx.mode()):
        raise NotRun(f"{page.page} is a {page.mode} page; the target runs in {ctx.mode()} mode")
    cache: dict[str, str] = {}
    _prepare(ctx, page, cache)
    return {p.name: _value(ctx, page, p, cache) for p in page.params
            if p.required and p.name.lower() not in COMMON and p.location == "query"}


def accepted(ctx: CheckContext, page: Page, values: dict[str, str]) -> None:
    """Prove the unmutated request is accepted, so that a refusal was the mutation's doing."""
    ex = ctx.call(page, values, note="baseline: the same request, correct")
    if ex.retcode != "0":
        raise NotRun(f"the correct request itself is refused (retcode {ex.retcode} {ex.retmsg}); "
                     "the check needs a target state where it is accepted")
