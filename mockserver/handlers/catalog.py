"""What the supplier sells: products, inventory, provider settings, routes, time slots, pay channels."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from spec.errors import BusinessError, ParamError

from ..context import Call, Mock
from ..world import Product
from . import handles

DAY = "%Y%m%d"
INVENTORY_MAX_DAYS = 7  # 4.2.2: at most 7 calendar days per query (gap getproductsinventory-7-days)


def parse_day(value: str, param: str) -> date:
    try:
        return datetime.strptime(value, DAY).date()
    except ValueError:
        raise ParamError("bad_date_format", f"{param} is not yyyyMMdd", param=param) from None


def sellable(mock: Mock, call: Call, service: str = "") -> list[Product]:
    products = [p for p in mock.world.products if not service or p.service == service]
    if not products:
        raise BusinessError("no_products", "no product matches")
    return products


def remaining(mock: Mock, db: Any, product: Product, day: date) -> int:
    """GetProductsInventory quantity: 0 unlimited, -1 sold out, else what is left (4.2.2, V4.0 reading)."""
    if day in product.sold_out:
        return -1
    if not product.daily_stock:
        return 0
    row = db.execute("SELECT used FROM stock WHERE productid=? AND day=?", (product.id, day.strftime(DAY))).fetchone()
    left = product.daily_stock - (row["used"] if row else 0)
    return left if left > 0 else -1


@handles("GetProducts.aspx")
def get_products(mock: Mock, call: Call) -> dict:
    today = mock.now().date()
    end = today + timedelta(days=mock.world.supplier.presale_days)
    items = [
        {
            "productid": p.id, "productname": p.name, "Classid": p.classid,
            "classname": "虚拟产品" if p.classid == "1" else "有形产品", "unit": p.unit, "price": f"{p.price:.2f}",
            "initdate": today.strftime(DAY), "enddate": end.strftime(DAY), "conditionsofsale": "",
            "minimum": p.minimum, "maximum": p.maximum, "SimpleIDmaximum": p.simple_id_max, "shippingmethod": "A",
            "Preorder": p.preorder_days, "PreorderDays": 1, "EffectBegPeriod": "", "EffectEndPeriod": "",
            "EffectPeriodNegated": "0", "webpredays": p.webpredays, "weblong": p.preorder_days,
            "needname": "1" if p.needname else "0",
        }
        for p in sellable(mock, call, call.get("ServiceCode"))
    ]
    return {"Item": items}


@handles("GetProductsInventory.aspx")
def get_inventory(mock: Mock, call: Call) -> dict:
    start, end = parse_day(call.get("StartDate"), "StartDate"), parse_day(call.get("EndDate"), "EndDate")
    if start > end:
        raise BusinessError("start_after_end")
    if (end - start).days > INVENTORY_MAX_DAYS:
        raise BusinessError("date_range_too_long")
    products = sellable(mock, call, call.get("ServiceCode"))
    wanted = call.get("ProductID")
    if wanted:
        products = [p for p in products if p.id == wanted]
        if not products:
            raise BusinessError("no_products", f"no product {wanted}")
    items = []
    with mock.store.reading() as db:
        for p in products:
            day = start
            while day <= end:
                items.append({"productid": p.id, "productname": p.name, "date": day.strftime(DAY),
                              "quantity": remaining(mock, db, p, day)})
                day += timedelta(days=1)
    return {"Item": items}


@handles("GetProviderConfig.aspx")
def get_provider_config(mock: Mock, call: Call) -> dict:
    s = mock.world.supplier
    pay = set(call.agent.pay_types)
    feeitems = [
        {"productid": p.id, "productname": p.name, "unitcount": i.unitcount, "unit": i.unit, "referencetime": "A",
         "feecalmode": i.feecalmode, "feevalue": f"{i.feevalue:.2f}"}
        for p in mock.world.products for i in p.feeitems
    ]
    flag = lambda b: "1" if b else "0"  # noqa: E731
    return {"Item": {
        "providerid": s.providerid, "providername": s.providername, "type": "1" if s.mode == "scenic" else "2",
        "sublevelmode": flag(s.timed_entry), "feemode": flag(s.feemode),
        "feeitems": {"feeitem": feeitems if s.feemode else []},
        "activateable": s.activateable, "tickettype": s.tickettype,
        "canpaywithcash": flag("desk" in pay), "canpaywithyfk": flag("deposit" in pay),
        "canpaywithfk": flag("rebate" in pay), "canpaywithepay": flag("instant" in pay),
        "maxlimit": call.agent.daily_limit, "payandactive": flag(s.payandactive), "activerefund": flag(s.activerefund),
    }}


@handles("GetServiceItem.aspx")
def get_service_items(mock: Mock, call: Call) -> dict:
    items = mock.world.service_items
    product_id = call.get("productid")
    if product_id:
        product = mock.world.product(product_id)
        if product is None:
            raise BusinessError("no_products", f"no product {product_id}")
        items = tuple(i for i in items if i.code == product.service)
    if not items:
        raise BusinessError("no_products")
    return {"Item": [{"ServiceCode": i.code, "ServiceName": i.name} for i in items]}


@handles("GetTimeSegment.aspx")
def get_time_segments(mock: Mock, call: Call) -> dict:
    today = mock.now().date()
    start = parse_day(call.get("startdate"), "startdate") if call.get("startdate") else today
    end = parse_day(call.get("enddate"), "enddate") if call.get("enddate") else start
    if start > end:
        raise ParamError("bad_params", "startdate after enddate", param="startdate")
    if (end - start).days >= INVENTORY_MAX_DAYS:
        raise BusinessError("date_range_too_long")
    service = call.get("servicecode")
    names = {i.code: i.name for i in mock.world.service_items}
    items = []
    with mock.store.reading() as db:
        day = start
        while day <= end:
            for seg in mock.world.time_segments:
                if service and seg.service != service:
                    continue
                row = db.execute("SELECT used FROM segment_use WHERE service=? AND day=? AND idx=?",
                                 (seg.service, day.strftime(DAY), seg.index)).fetchone()
                items.append({"ServiceCode": seg.service, "ServiceName": names.get(seg.service, ""),
                              "Date": day.strftime(DAY), "TimeSpanIndex": seg.index, "StartTime": seg.start,
                              "EndTime": seg.end, "TotalCapacity": seg.total, "Capacity": seg.capacity,
                              "UsedCount": row["used"] if row else 0})
            day += timedelta(days=1)
    if not items or not mock.world.supplier.timed_entry:
        raise BusinessError("no_segments")
    return {"Item": items}


@handles("GetPayChannel.aspx")
def get_pay_channels(mock: Mock, call: Call) -> dict:
    if "instant" not in call.agent.pay_types or not mock.world.pay_channels:
        raise BusinessError("no_pay_channels")
    return {"Item": [{"paychannelid": c.id, "paychannelname": c.name} for c in mock.world.pay_channels]}
