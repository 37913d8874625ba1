"""Clock-driven transitions: the pay deadline and the order's validity (2.10)."""

from __future__ import annotations

from mockkit import OTHER, make_ota


def test_pay_timeout_closes_unpaid_orders_of_agents_without_desk_payment(spec):
    ota = make_ota(spec)
    other = ota.as_(OTHER)
    mine, theirs = ota.book(), other.book()
    minutes = ota.mock.world.supplier.paytimeout_minutes
    ota.advance(minutes * 60 - 1)
    assert other.status(theirs) == "0"
    ota.advance(2)
    assert other.status(theirs) == "4"
    assert ota.status(mine) == "0"  # demo-ota pays at the desk: never timed out (3.2)


def test_expiry_closes_booked_orders_after_validity(spec):
    ota = make_ota(spec)
    orderid = ota.book(day="20261122")
    ota.advance(24 * 3600)
    assert ota.status(orderid) == "0"
    ota.advance(5 * 24 * 3600)
    assert ota.status(orderid) == "4"


def test_stock_returns_when_an_order_closes(spec):
    ota = make_ota(spec)
    orderid = ota.book("P1004|20", day="20261125")
    assert ota.call("GetProductsInventory.aspx", {"ProductID": "P1004", "StartDate": "20261125",
                                                  "EndDate": "20261125"}).text("Item/quantity") == "-1"
    ota.call("CancelOrder.aspx", {"Order_id": orderid})
    assert ota.call("GetProductsInventory.aspx", {"ProductID": "P1004", "StartDate": "20261125",
                                                  "EndDate": "20261125"}).text("Item/quantity") == "20"
