"""Instant payment on the theater supplier: the payment page handed out is the theater's own, and
paying through it pays the theater order, never the scenic order with the same number."""

from __future__ import annotations

from urllib.parse import urlsplit

from mockkit import DEMO
from test_mock_theater import SAT, stage  # noqa: F401 - the fixture


def test_the_payment_page_of_a_theater_order_is_the_theaters(stage):  # noqa: F811
    # both suppliers number their orders alike: book one of each so the numbers collide
    scenic_order = stage.call("OrderProducts.aspx", {"Order_list": "P1001|1", "Mobile": "13800138000",
                                                     "ID": "110101199003071234", "SXRQ": "20261125",
                                                     "timespanindex": "-1"}, DEMO, prefix="")
    theater_order = stage.book(seats="A2-4-1", order_list="TP02|1", day=SAT)
    orderid = theater_order.text("Item/orderid")
    assert scenic_order.text("Item/orderid") == orderid
    begun = stage.call("BeginToPay.aspx", {"Order_id": orderid, "Paychannelid": "支付宝"}, DEMO)
    assert begun.retcode == "0", begun.retmsg
    url = urlsplit(begun.retmsg)
    assert url.path.startswith("/theater/"), begun.retmsg
    paid = stage.client.post(url.path, data={"result": "success"})
    assert paid.status_code == 200, paid.text
    assert stage.order(orderid).text("Item/orderstatus") != "0"
    assert stage.states("A2")["A2-4-1"] == "B"
    scenic = stage.call("QueryOrder.aspx", {"order_id": orderid}, DEMO, prefix="")
    assert scenic.text("Item/orderstatus") == "0"  # the scenic order with the same number is untouched
