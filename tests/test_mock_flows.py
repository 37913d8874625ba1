"""End-to-end flows per payment type (2.16), each through the pages an OTA calls and the
supplier events, with the callbacks received in order by a test receiver."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from mockkit import DEMO, make_ota
from mockserver import events, outbox
from receiver import Receiver

DAY = "20261123"
ACTIVATE = {"activateall": "1", "activatedate": DAY, "tickettype": "2", "timespanindex": "-1"}


def flush(ota):
    async def run():
        async with httpx.AsyncClient(timeout=5) as client:
            return await outbox.drain(ota.mock, client)
    for _ in range(5):
        if not asyncio.run(run()):
            break


@pytest.fixture
def world(spec, profile):
    with Receiver(profile, DEMO.key) as receiver:
        ota = make_ota(spec)
        assert ota.call("SetAgentParameters.aspx", {"responseaddr": receiver.url,
                                                    "sendofficiallysnotify": "1"}).retcode == "0"
        yield ota, receiver


def calls(receiver):
    return [(page, params.get("status", "")) for page, params in receiver.received]


def first_ticket(ota, orderid):
    return ota.call("GetTicketList.aspx", {"orderid": orderid}).text("Item/tickets/ticket/ticketcode")


def test_desk_flow(world):
    ota, receiver = world
    orderid = ota.book("P1001|2", day=DAY, senderid="D-1")
    events.run(ota.mock, "desk-pay", {"orderid": orderid})
    events.run(ota.mock, "gate-check", {"ticketid": first_ticket(ota, orderid)})
    flush(ota)
    assert ota.status(orderid) == "X"
    assert calls(receiver) == [("Notify_OrderChanged.aspx", "0"), ("Notify_OrderChanged.aspx", "X"),
                               ("Notify_Checked.aspx", "")]


def test_deposit_flow(world):
    ota, receiver = world
    orderid = ota.book("P1001|2", day=DAY, senderid="Y-1")
    assert ota.call("UseAccountToPayByPwd.aspx", {"Order_id": orderid, "money": "200.00", "Smscode": "123456",
                                                  "smsModel": "0"}).retcode == "0"
    assert ota.call("ActivateTicket.aspx", {"orderid": orderid, "activatemode": "1", **ACTIVATE}).retcode == "0"
    assert ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": first_ticket(ota, orderid)}).retcode == "0"
    flush(ota)
    assert calls(receiver) == [("Notify_OrderChanged.aspx", "0"), ("Notify_OrderChanged.aspx", "2"),
                               ("Notify_OrderChanged.aspx", "3"), ("Notify_Refund.aspx", "")]
    balance = ota.call("QueryYFKRec.aspx", {})
    assert balance.retcode == "0"


def test_instant_flow(world):
    ota, receiver = world
    orderid = ota.book("P1001|2", day=DAY, senderid="I-1")
    channel = ota.call("GetPayChannel.aspx").text("Item/paychannelid")
    assert ota.call("BeginToPay.aspx", {"Order_id": orderid, "Paychannelid": channel}).retcode == "0"
    events.run(ota.mock, "payment-success", {"orderid": orderid})
    assert ota.status(orderid) == "6"
    assert ota.call("ApplyRefund.aspx", {"Order_id": orderid, "PaybackReason": "行程取消"}).retcode == "0"
    events.run(ota.mock, "approve-refund", {"orderid": orderid})
    events.run(ota.mock, "refund-paid", {"orderid": orderid})
    assert ota.status(orderid) == "B"
    flush(ota)
    # approval and refund states are not called back (gap callback-states)
    assert calls(receiver) == [("Notify_OrderChanged.aspx", "0"), ("Notify_OrderChanged.aspx", "6")]


def test_rebate_flow(world):
    ota, receiver = world
    orderid = ota.book("P1001|2", day=DAY, senderid="F-1")
    assert ota.call("UseAccountToPayByFKWithPwd.aspx", {"Order_id": orderid, "money": "200.00",
                                                        "Smscode": "123456", "smsModel": "0"}).retcode == "0"
    assert ota.status(orderid) == "C"
    assert ota.call("ActivateTicket.aspx", {"orderid": orderid, "activatemode": "2", **ACTIVATE}).retcode == "0"
    assert ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": first_ticket(ota, orderid)}).retcode == "0"
    flush(ota)
    assert calls(receiver) == [("Notify_OrderChanged.aspx", "0"), ("Notify_OrderChanged.aspx", "C"),
                               ("Notify_OrderChanged.aspx", "D"), ("Notify_Refund_FK.aspx", "")]


def test_begin_to_pay_hands_out_the_payment_page(world):
    ota, _ = world
    orderid = ota.book("P1001|1", day=DAY)
    env = ota.call("BeginToPay.aspx", {"Order_id": orderid, "Paychannelid": "1"})
    assert env.retcode == "0" and env.retmsg.endswith(f"/_pay/{orderid}")
    page = ota.client.get(f"/_pay/{orderid}")
    assert page.status_code == 200 and orderid in page.text
