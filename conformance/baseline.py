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
    if "证件号码" in label:
        return "110101199003071234"
    raise NotRun(f"no way to derive a valid {page.page} {param.name} ({label})")


def baseline(ctx: CheckContext, page: Page) -> dict[str, str]:
    """Plain values of a request the target should accept (required parameters only)."""
    cache: dict[str, str] = {}
    return {p.name: _value(ctx, page, p, cache) for p in page.params
            if p.required and p.name.lower() not in COMMON and p.location == "query"}


def accepted(ctx: CheckContext, page: Page, values: dict[str, str]) -> None:
    """Prove the unmutated request is accepted, so that a refusal was the mutation's doing."""
    ex = ctx.call(page, values, note="baseline: the same request, correct")
    if ex.retcode != "0":
        raise NotRun(f"the correct request itself is refused (retcode {ex.retcode} {ex.retmsg}); "
                     "the check needs a target state where it is accepted")
