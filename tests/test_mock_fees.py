"""Default fees through the mock: cancelling a deposit-paid order at every band edge of the
world's feeitems (the manual's example, 2.6) charges what rule (h) computes, and the fee
faults move exactly the edge or the rounding."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from mockkit import make_ota
from mockserver.world import DEFAULT_WORLD
from spec.fees import quote, scenic_reference

SH = ZoneInfo("Asia/Shanghai")
EFFECT = "20261201"
REFERENCE = datetime(2026, 12, 1, tzinfo=SH)


def paid_order(ota, order_list="P1001|1", amount="100.00"):
    orderid = ota.book(order_list, day=EFFECT)
    env = ota.call("UseAccountToPayByPwd.aspx", {"Order_id": orderid, "money": amount, "Smscode": "123456",
                                                 "smsModel": "0"})
    assert env.retcode == "0", env.retmsg
    return orderid


def fee_charged(ota, orderid) -> Decimal:
    with ota.mock.store.reading() as db:
        rows = db.execute("SELECT amount FROM transactions WHERE orderid=? AND kind='fee'", (orderid,)).fetchall()
    return -sum((Decimal(r["amount"]) for r in rows), Decimal("0.00"))


def at(hours_before: float) -> datetime:
    return REFERENCE - timedelta(hours=hours_before)


@pytest.mark.parametrize("hours, expected", [
    (72, "0.00"), (48, "0.00"), (48 - 1 / 3600, "10.00"), (24, "10.00"), (24 - 1 / 3600, "20.00"),
    (1 / 3600, "20.00"), (0, "50.00"), (-30, "50.00"),
])
def test_cancel_fee_at_each_band_edge(spec, hours, expected):
    ota = make_ota(spec, now=at(max(hours, 1) + 1))  # book and pay before the moment under test
    orderid = paid_order(ota)
    ota.mock.clock.set(at(hours))
    env = ota.call("CancelOrder.aspx", {"Order_id": orderid})
    assert env.retcode == "0", env.retmsg
    assert fee_charged(ota, orderid) == Decimal(expected)
    product = ota.mock.world.product("P1001")
    oracle = quote(product.feeitems, product.price, scenic_reference(REFERENCE.date(), spec.profile().fee_bands),
                   at(hours), spec.profile().fee_bands).per_ticket
    assert oracle == Decimal(expected)
    with ota.mock.store.reading() as db:
        agent = db.execute("SELECT deposit, deposit_held FROM agents WHERE user='demo-ota'").fetchone()
    assert Decimal(agent["deposit"]) == Decimal("10000.00") - Decimal(expected)
    assert Decimal(agent["deposit_held"]) == 0


def test_wrong_fee_edge_fault_moves_the_edge(spec):
    for faults, expected in (((), "0.00"), (("wrong-fee-edge",), "10.00")):
        ota = make_ota(spec, faults=faults, now=at(72))
        orderid = paid_order(ota)
        ota.mock.clock.set(at(48))
        ota.call("CancelOrder.aspx", {"Order_id": orderid})
        assert fee_charged(ota, orderid) == Decimal(expected), faults


def test_percent_rounding_fault(spec, tmp_path: Path):
    world = yaml.safe_load(DEFAULT_WORLD.read_text(encoding="utf-8"))
    world["feeitems"] = [{"unit": "D", "unitcount": 2, "feecalmode": "A", "feevalue": "12.5"}]
    world["products"][0]["price"] = "33.33"
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(world, allow_unicode=True), encoding="utf-8")
    for faults, expected in (((), "4.17"), (("percent-rounding",), "4.16")):
        ota = make_ota(spec, faults=faults, world=path, now=at(72))
        orderid = paid_order(ota, amount="33.33")
        ota.mock.clock.set(at(30))
        ota.call("CancelOrder.aspx", {"Order_id": orderid})
        assert fee_charged(ota, orderid) == Decimal(expected), faults


def test_desk_orders_never_pay_fees(spec):
    ota = make_ota(spec, now=at(72))
    orderid = ota.book("P1001|1", day=EFFECT)
    ota.mock.clock.set(at(1))
    assert ota.call("CancelOrder.aspx", {"Order_id": orderid}).retcode == "0"
    assert fee_charged(ota, orderid) == Decimal("0.00")
