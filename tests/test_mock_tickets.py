"""Delivery and tickets: remote activation, ticket list and details, voucher re-send, ticket refunds,
gate checks, real-name records and the desk / gate supplier events."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from decimal import Decimal

import pytest

from mockkit import OTHER, Ota, make_ota
from mockserver import events, ledger, machine
from mockserver.handlers import tickets
from spec.errors import render_message

DAY = "20261123"  # 38 h after the kit's start: inside two days, so the default fee is 10.00 per ticket
ACTIVATE = {"activateall": "1", "activatedate": DAY, "tickettype": "2", "activatemode": "1", "timespanindex": "-1"}
ZHANG, LI = "110101199001011234", "110101199202022345"
MEMO = f"{ZHANG}^张三^13800000001^1^1|{LI}^李四^13800000002^1^1"


# ---------------------------------------------------------------- helpers

def pay(ota: Ota, orderid: str, account: str = "deposit") -> None:
    """Authorise the order as the payment pages do (written elsewhere): hold the total, fire the event."""
    mock = ota.mock
    with mock.store.transaction() as db:
        order = db.execute("SELECT * FROM orders WHERE orderid=?", (orderid,)).fetchone()
        if account == "instant":  # through the world's first channel, as the payment page would record it
            db.execute("UPDATE orders SET pay_channel=? WHERE orderid=?", (mock.world.pay_channels[0].id, orderid))
            machine.fire(mock, db, order, "pay_instant_success", target="6", pay_type="instant")
            return
        ledger.hold(db, order["agent"], account, Decimal(order["total"]))
        db.execute("UPDATE orders SET held=total WHERE orderid=?", (orderid,))
        machine.fire(mock, db, order, f"pay_{account}", pay_type=account)


def activate(ota: Ota, orderid: str, **values: str):
    return ota.call("ActivateTicket.aspx", {"orderid": orderid, **ACTIVATE, **values})


def paid_and_activated(ota: Ota, order_list: str = "P1001|2", account: str = "deposit", **book: str) -> str:
    orderid = ota.book(order_list, day=DAY, **book)
    pay(ota, orderid, account)
    env = activate(ota, orderid, activatemode="2" if account == "rebate" else "1")
    assert env.retcode == "0", env.retmsg
    return orderid


def account(ota: Ota, name: str = "deposit", user: str = "demo-ota") -> tuple[Decimal, Decimal]:
    with ota.mock.store.reading() as db:
        state = ota.mock.store.agent(db, user)
    return state.balance(name), state.deposit_held if name == "deposit" else state.rebate_held


def row(ota: Ota, sql: str, *args):
    with ota.mock.store.reading() as db:
        return db.execute(sql, args).fetchone()


def rows(ota: Ota, sql: str, *args) -> list:
    with ota.mock.store.reading() as db:
        return db.execute(sql, args).fetchall()


def callbacks(ota: Ota, page: str) -> list[dict]:
    return [json.loads(r["params"]) for r in rows(ota, "SELECT params FROM outbox WHERE page=? ORDER BY id", page)]


def message(ota: Ota, page: str, key: str, product: str | None = None) -> str:
    """The manual's message for `key`; its [MPLXMC] (a ticket type's name) is `product`'s name."""
    retcode = ota.mock.spec.page(page).retcode(key)
    return render_message(retcode, fill=ota.mock.world.product(product).name) if product else retcode.message_zh


def first_ticket(ota: Ota, orderid: str) -> str:
    return ota.call("GetTicketList.aspx", {"orderid": orderid}).text("Item/tickets/ticket/ticketcode")


def event(ota: Ota, name: str, **body):
    return events.run(ota.mock, name, body)


@pytest.fixture
def ota(spec):
    ota = make_ota(spec)
    with ota.mock.store.transaction() as db:  # callbacks need an address (SetAgentParameters)
        db.execute("UPDATE agents SET responseaddr='http://ota.example/notify' WHERE user='demo-ota'")
    return ota


# ---------------------------------------------------------------- spec facts the module relies on

def test_ticket_status_codes_are_the_specs(spec):
    names = {s.code: s.name_zh for s in spec.ticket_statuses}
    assert "退票" in names[tickets.REFUNDED]
    assert "纸质票" in names[tickets.PRINTED]
    assert names[tickets.CONSUMED] == "已消费"
    assert names[tickets.VALID].startswith("正常")


# ---------------------------------------------------------------- ActivateTicket.aspx

def test_whole_activation_debits_the_deposit_and_calls_back(ota):
    orderid = ota.book("P1001|2", day=DAY, senderid="OTA-7")
    pay(ota, orderid)
    assert account(ota) == (Decimal("10000.00"), Decimal("200.00"))
    env = activate(ota, orderid)
    assert env.retcode == "0", env.retmsg
    assert env.text("Item/businesstype") == "2" and env.text("Item/dealamount") == "200.00"
    assert env.text("Item/totalfees") == "0.00" and env.text("Item/dealtotal") == "200.00"
    assert env.text("Item/ticketcount") == "1" and env.text("Item/personcount") == "2"
    assert env.text("Item/tickets/ticket/ticketdate") == DAY and env.text("Item/tickets/ticket/status") == "1"
    assert ota.status(orderid) == "3"
    assert account(ota) == (Decimal("9800.00"), Decimal("0.00"))
    assert callbacks(ota, "Notify_OrderChanged.aspx")[-1] == {"orderid": orderid, "senderid": "OTA-7", "status": "3"}
    assert row(ota, "SELECT COUNT(*) AS n FROM sms WHERE orderid=? AND purpose='activated'", orderid)["n"] == 1


def test_partial_activation_charges_the_fee_for_tickets_not_taken(ota):
    orderid = ota.book("P1001|3|P1002|2", day=DAY)
    pay(ota, orderid)
    env = activate(ota, orderid, activateall="0", activatelist="P1001|1", sendnotification="0")
    assert env.retcode == "0", env.retmsg
    # one adult taken (100); two adults and two children given up at 10.00 each
    assert (env.text("Item/dealamount"), env.text("Item/totalfees"), env.text("Item/dealtotal")) == \
        ("100.00", "40.00", "140.00")
    assert account(ota) == (Decimal("9860.00"), Decimal("0.00"))
    moves = rows(ota, "SELECT * FROM transactions WHERE orderid=? ORDER BY id", orderid)
    kinds = [(r["kind"], r["amount"]) for r in moves]
    assert kinds == [("order", "-100.00"), ("fee", "-40.00")]
    assert row(ota, "SELECT COUNT(*) AS n FROM sms WHERE orderid=? AND purpose='activated'", orderid)["n"] == 0


def test_rebate_order_activates_in_mode_2_to_d(ota):
    orderid = paid_and_activated(ota, account="rebate")
    assert ota.status(orderid) == "D"
    assert account(ota, "rebate") == (Decimal("1800.00"), Decimal("0.00"))


def test_activation_refusals_leave_the_order_alone(ota):
    orderid = ota.book("P1001|2", day=DAY)
    unpaid = ota.book("P1001|1", day=DAY)
    pay(ota, orderid)
    cases = [
        ({"orderid": unpaid}, "bad_order_state"),
        ({"orderid": unpaid, "activatemode": "2"}, "bad_order_state"),  # the state is judged before the mode
        ({"orderid": "2026112199999999"}, "order_not_found"),
        ({"activatemode": "2"}, "bad_activatemode"),
        ({"activatedate": "20261126"}, "other_error"),  # after today + 2
        ({"activatedate": "20261122"}, "other_error"),  # before the effect date
        ({"activateall": "0"}, "activatelist_missing"),
        ({"activateall": "0", "activatelist": "P1002|1"}, "ticket_type_not_in_order"),
        ({"activateall": "0", "activatelist": "P1001|3"}, "quantity_exceeds_booking"),
        ({"activateall": "0", "activatelist": "P1001|0"}, "nothing_to_activate"),
        ({"timespanindex": "2"}, "other_error"),
        ({"timespanindex": ""}, "params_empty"),
        ({"tickettype": "1"}, "order_idcard_count_mismatch"),
    ]
    for values, key in cases:
        env = ota.call("ActivateTicket.aspx", {"orderid": orderid, **ACTIVATE, **values})
        assert (env.retcode, env.retmsg) == ("-1", message(ota, "ActivateTicket.aspx", key, "P1001")), (values, key)
    assert ota.status(orderid) == "2" and ota.status(unpaid) == "0"
    assert account(ota) == (Decimal("10000.00"), Decimal("200.00"))
    assert not rows(ota, "SELECT * FROM tickets")


def test_supplier_settings_gate_activation(ota):
    orderid = ota.book("P1001|1", day=DAY)
    pay(ota, orderid)
    world = ota.mock.world
    ota.mock.world = replace(world, supplier=replace(world.supplier, activateable="0"))
    assert activate(ota, orderid).retmsg == message(ota, "ActivateTicket.aspx", "remote_activation_disabled")
    ota.mock.world = replace(world, supplier=replace(world.supplier, tickettype="1"))
    assert activate(ota, orderid).retmsg == message(ota, "ActivateTicket.aspx", "activation_mode_not_allowed")
    ota.mock.world = world
    assert activate(ota, orderid).retcode == "0"


def test_id_card_activation_picks_people_from_the_memo(ota):
    orderid = ota.book("P1003|2", day=DAY, Memo=MEMO, IDCount="2")
    pay(ota, orderid)
    card = {"activateall": "0", "activatelist": "P1003|1", "tickettype": "1"}
    bad = [
        ({}, "order_idcard_count_mismatch"),
        ({"memo": f"{ZHANG}^张三^1^1^1|{ZHANG}^张三^1^1^1"}, "duplicate_idcard_in_request"),
        ({"memo": "110101198001011111^王五^1^1^1"}, "idcard_not_in_order"),
        ({"memo": f"{LI}^李四^1^2^1"}, "idcard_ticket_type_mismatch"),
        ({"memo": f"{ZHANG}^张三^1^1^1|{LI}^李四^1^1^1"}, "request_idcard_count_mismatch"),
    ]
    for values, key in bad:
        env = activate(ota, orderid, **card, **values)
        assert env.retmsg == message(ota, "ActivateTicket.aspx", key, "P1003"), key
    env = activate(ota, orderid, **card, memo=f"{LI}^李四^13800000002^1^1")
    assert env.retcode == "0", env.retmsg
    assert env.text("Item/tickets/ticket/identitycode") == LI and env.text("Item/tickets/ticket/name") == "李四"
    assert env.text("Item/dealtotal") == "130.00"  # 120 taken + 10 fee for Zhang's ticket
    code = env.text("Item/tickets/ticket/ticketcode")
    ctx = ota.call("GetTicketContext.aspx", {"orderid": orderid, "ticketcode": code})
    assert ctx.text("Item/identitycode") == LI and ctx.text("Item/eticketimage") == ""  # ID-card ticket: no image
    identity = ota.call("GetProductsIdentity.aspx", {"orderid": orderid})
    found = {i.findtext("identitycode"): (i.findtext("name"), i.findtext("status"), i.findtext("productid"))
             for i in identity.items()}
    assert found == {ZHANG: ("张三", "", "P1003"), LI: ("李四", "1", "P1003")}


# ---------------------------------------------------------------- GetTicketList / GetTicketContext

def test_ticket_list_and_context_after_activation(ota):
    orderid = paid_and_activated(ota, "P1005|10")  # 10-free-1: one group ticket with one free person
    env = ota.call("GetTicketList.aspx", {"orderid": orderid})
    assert env.retcode == "0"
    ticket = env.root.find("Item/tickets/ticket")
    assert (ticket.findtext("personcount"), ticket.findtext("freecount"), ticket.findtext("summary")) == \
        ("10", "1", "810.00")
    assert env.text("Item/sellbillid") and env.text("Item/businesstype") == "2"
    assert (ticket.findtext("starttime"), ticket.findtext("endtime"), ticket.findtext("timespanindex")) == \
        ("08:00", "10:00", "1")
    code = ticket.findtext("ticketcode")
    ctx = ota.call("GetTicketContext.aspx", {"orderid": orderid, "ticketcode": code})
    assert ctx.retcode == "0" and ctx.text("Item/dealtype") == "2" and ctx.text("Item/ticketdate") == DAY
    image = base64.b64decode(ctx.text("Item/eticketimage"), validate=True)
    assert image.startswith(b"\xff\xd8") and image.endswith(b"\xff\xd9") and code.encode() in image
    missing = ota.call("GetTicketContext.aspx", {"orderid": orderid, "ticketcode": "T0"})
    assert missing.retmsg == message(ota, "GetTicketContext.aspx", "other_error")


def test_ticket_list_of_undelivered_and_unknown_orders(ota):
    orderid = ota.book()
    env = ota.call("GetTicketList.aspx", {"orderid": orderid})
    assert env.retcode == "0" and env.root.find("Item") is None
    unknown = ota.call("GetTicketList.aspx", {"orderid": "2026112199999999"})
    assert unknown.retmsg == message(ota, "GetTicketList.aspx", "other_error")


# ---------------------------------------------------------------- ReMakeTicket.aspx

def test_voucher_resend_respects_the_resend_window(ota):
    orderid = ota.book("P1001|1", day=DAY)
    refused = ota.call("ReMakeTicket.aspx", {"Order_id": orderid, "smsModel": "0"})
    assert refused.retcode == "-1" and refused.retmsg.startswith("调用失败")  # unpaid: no remake_ticket transition
    pay(ota, orderid)
    vouchers = "SELECT purpose, sends FROM sms WHERE orderid=? AND purpose LIKE 'voucher%' ORDER BY id"
    assert ota.call("ReMakeTicket.aspx", {"Order_id": orderid, "smsModel": "2"}).retcode == "0"
    assert [tuple(r) for r in rows(ota, vouchers, orderid)] == [("voucher_sms", 1), ("voucher_mms", 1)]
    assert ota.call("ReMakeTicket.aspx", {"Order_id": orderid, "smsModel": "0"}).retcode == "0"
    assert [tuple(r) for r in rows(ota, vouchers, orderid)] == [("voucher_sms", 2), ("voucher_mms", 1)]
    ota.advance(ota.mock.world.supplier.voucher_resend_seconds + 1)
    assert ota.call("ReMakeTicket.aspx", {"Order_id": orderid, "smsModel": "0"}).retcode == "0"
    assert len(rows(ota, vouchers, orderid)) == 3
    assert ota.status(orderid) == "2"
    assert ota.as_(OTHER).call("ReMakeTicket.aspx", {"Order_id": orderid, "smsModel": "0"}).retcode == "-1"
    assert len(rows(ota, vouchers, orderid)) == 3


# ---------------------------------------------------------------- RefundTicket.aspx

def test_refund_credits_the_deposit_less_the_fee(ota):
    orderid = paid_and_activated(ota, senderid="OTA-9")
    code = first_ticket(ota, orderid)
    env = ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": code})
    assert env.retcode == "0" and env.text("Item/orderid") == orderid
    # two persons at 100.00, fee 10.00 each: 180.00 back
    assert account(ota) == (Decimal("9980.00"), Decimal("0.00"))
    assert row(ota, "SELECT amount, kind FROM transactions WHERE orderid=? ORDER BY id DESC", orderid)[:] == \
        ("180.00", "refund")
    sent = callbacks(ota, "Notify_Refund.aspx")
    assert len(sent) == 1
    assert {k: sent[0][k] for k in ("ticketcode", "refundmode", "amount", "fees", "returnamount", "totalcount",
                                    "productsid", "senderid")} == \
        {"ticketcode": code, "refundmode": "2", "amount": "200.00", "fees": "20.00", "returnamount": "180.00",
         "totalcount": "2", "productsid": "P1001", "senderid": "OTA-9"}
    assert ota.call("GetTicketList.aspx", {"orderid": orderid}).text("Item/tickets/ticket/status") == "2"
    assert ota.status(orderid) == "3"
    again = ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": code})
    assert again.retcode == "-1" and "已退票" in again.retmsg
    assert account(ota) == (Decimal("9980.00"), Decimal("0.00"))


def test_rebate_refund_goes_back_to_the_rebate_account(ota):
    orderid = paid_and_activated(ota, account="rebate", senderid="OTA-10")
    code = first_ticket(ota, orderid)
    assert ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": code}).retcode == "0"
    assert account(ota, "rebate") == (Decimal("1980.00"), Decimal("0.00"))
    sent = callbacks(ota, "Notify_Refund_FK.aspx")
    assert len(sent) == 1 and sent[0]["amount"] == "200.00" and "refundmode" not in sent[0]
    assert not callbacks(ota, "Notify_Refund.aspx")


def test_instant_refund_becomes_a_refund_on_the_order(ota):
    orderid = paid_and_activated(ota, account="instant")
    assert ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": first_ticket(ota, orderid)}).retcode == "0"
    assert row(ota, "SELECT refund FROM orders WHERE orderid=?", orderid)["refund"] == "180.00"
    assert account(ota) == (Decimal("10000.00"), Decimal("0.00"))


def test_refund_refusals(ota):
    orderid = paid_and_activated(ota)
    other = paid_and_activated(ota, "P1002|1")
    code = first_ticket(ota, orderid)
    for values, text in [({"ticketcode": f"{code}|{first_ticket(ota, other)}"}, "同一个订单"),
                         ({"ticketcode": "T0"}, "同一个订单")]:
        env = ota.call("RefundTicket.aspx", {"orderid": orderid, **values})
        assert env.retcode == "-1" and text in env.retmsg
    missing = ota.call("RefundTicket.aspx", {"orderid": "2026112199999999", "ticketcode": code})
    assert missing.retmsg == message(ota, "RefundTicket.aspx", "order_not_found")
    assert account(ota) == (Decimal("9750.00"), Decimal("0.00"))
    assert {r["status"] for r in rows(ota, "SELECT status FROM tickets")} == {"1"}


def test_no_refund_within_30_minutes_of_the_segment_end(ota):
    orderid = paid_and_activated(ota, "P1003|2", Memo=MEMO, IDCount="2")
    first, second = [t["ticketid"] for t in rows(ota, "SELECT ticketid FROM tickets ORDER BY ticketid")]
    ota.advance((47 * 60 + 29) * 60)  # 2026-11-23 09:29, segment 1 ends at 10:00
    assert ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": first}).retcode == "0"
    ota.advance(2 * 60)
    late = ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": second})
    assert late.retcode == "-1" and "时段" in late.retmsg
    # on the effect date the fee is 50.00: 120.00 - 50.00 back for the first ticket only
    assert account(ota) == (Decimal("10000.00") - Decimal("240.00") + Decimal("70.00"), Decimal("0.00"))


# ---------------------------------------------------------------- return fields of the order pages

RETURN_FIELDS = ("returncount", "returntotal", "returnticketdesc", "returnpaychanneldesc", "backtotal", "backstatus")
LINE_FIELDS = ("returncount", "returnfees", "returntotal", "returnpaychanneldesc")


def returned(ota: Ota, orderid: str) -> tuple[dict, dict, dict]:
    """The return fields of QueryOrder's Item, of its first subitem, and of the order's QueryOrdersList Item."""
    q = ota.call("QueryOrder.aspx", {"order_id": orderid})
    listed = ota.call("QueryOrdersList.aspx", {"Page_index": "0", "YDDH": orderid})
    assert q.retcode == "0" and listed.retcode == "0", (q.retmsg, listed.retmsg)
    return ({f: q.text(f"Item/{f}") for f in RETURN_FIELDS}, {f: q.text(f"Item/subitem/{f}") for f in LINE_FIELDS},
            {f: listed.text(f"Items/Item/{f}") for f in (*RETURN_FIELDS, "returnfees")})


def test_nothing_returned_reads_zero_and_empty(ota):
    order, line, listed = returned(ota, paid_and_activated(ota))
    assert order == {"returncount": "0", "returntotal": "0.00", "returnticketdesc": "", "returnpaychanneldesc": "",
                     "backtotal": "0.00", "backstatus": ""}
    assert line == {"returncount": "0", "returnfees": "0.00", "returntotal": "0.00", "returnpaychanneldesc": ""}
    assert listed == {**order, "returnfees": "0.00"}


def test_a_returned_ticket_shows_at_order_and_line_level_on_both_pages(ota):
    orderid = paid_and_activated(ota, senderid="OTA-R1")  # one ticket for two adults at 100.00, fee 10.00 each
    assert ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": first_ticket(ota, orderid)}).retcode == "0"
    order, line, listed = returned(ota, orderid)
    assert order == {"returncount": "2", "returntotal": "180.00", "returnticketdesc": "退成人票2张，合计180.00元，原路退回",
                     "returnpaychanneldesc": "预订金，退款180.00，已受理", "backtotal": "180.00", "backstatus": "已受理"}
    assert line == {"returncount": "2", "returnfees": "20.00", "returntotal": "180.00",
                    "returnpaychanneldesc": "预订金，退款180.00，已受理"}
    assert listed == {**order, "returnfees": "20.00"}
    # the same as Notify_Refund reported, for an OTA that missed it (2.13 line 403)
    sent = callbacks(ota, "Notify_Refund.aspx")[-1]
    assert (sent["totalcount"], sent["fees"], sent["returnamount"]) == ("2", line["returnfees"], order["returntotal"])


def test_returns_in_two_modes_are_described_part_by_part(ota):
    orderid = paid_and_activated(ota, "P1003|2|P1001|1", Memo=MEMO, IDCount="2")  # one ticket per named person
    first, second = [t["ticketid"] for t in rows(ota, "SELECT ticketid FROM tickets WHERE orderid=? AND item_seq=1 "
                                                          "ORDER BY ticketid", orderid)]
    assert ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": first}).retcode == "0"
    event(ota, "desk-refund", ticketid=second, mode="1")
    order, line, listed = returned(ota, orderid)
    assert order["returncount"] == "2" and order["returntotal"] == "220.00" and order["backtotal"] == "220.00"
    assert order["returnticketdesc"] == "退实名制成人票1张，合计110.00元，前台退现；退实名制成人票1张，合计110.00元，原路退回"
    assert order["returnpaychanneldesc"] == "前台退现，退款110.00，已受理；预订金，退款110.00，已受理"
    assert line == {"returncount": "2", "returnfees": "20.00", "returntotal": "220.00",
                    "returnpaychanneldesc": order["returnpaychanneldesc"]}
    second_line = ota.call("QueryOrder.aspx", {"order_id": orderid}).root.findall("Item/subitem")[1]
    assert (second_line.findtext("productid"), second_line.findtext("returncount"),
            second_line.findtext("returntotal")) == ("P1001", "0", "0.00")
    assert listed["returnfees"] == "20.00"


def test_an_instant_return_is_in_progress_until_finance_pays_it_back(ota):
    orderid = paid_and_activated(ota, account="instant")
    assert ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": first_ticket(ota, orderid)}).retcode == "0"
    order, _, _ = returned(ota, orderid)
    assert (order["returntotal"], order["backtotal"], order["backstatus"]) == ("180.00", "180.00", "受理中")
    assert order["returnpaychanneldesc"] == "支付宝，退款180.00，受理中"  # back through the channel it came from
    # the refund application the return made is a record of QueryOrderRefund too (2.7.3 line 295)
    refund = ota.call("QueryOrderRefund.aspx", {"orderid": orderid})
    assert (refund.text("totalfee"), refund.text("totalrefund")) == ("20.00", "180.00")
    [record] = refund.root.findall("details/Item")
    assert {k: record.findtext(k) for k in ("productid", "personcount", "summary", "totalfees", "debitsummary",
                                             "debitcount", "debitprice", "status", "createdate")} == \
        {"productid": "P1001", "personcount": "2", "summary": "200.00", "totalfees": "20.00", "debitsummary": "180.00",
         "debitcount": "2", "debitprice": "10.00", "status": "7", "createdate": "20261121"}


def test_backtotal_adds_the_refund_of_tickets_not_taken_at_delivery(ota):
    orderid = ota.book("P1001|2", day=DAY)
    pay(ota, orderid, "instant")
    assert activate(ota, orderid, activateall="0", activatelist="P1001|1").retcode == "0"
    order, _, _ = returned(ota, orderid)  # one adult not taken: 100.00 less the 10.00 fee goes back
    assert (order["returncount"], order["returntotal"], order["backtotal"], order["backstatus"]) == \
        ("0", "0.00", "90.00", "受理中")


def test_the_words_are_the_pages_gaps(spec):
    page = spec.page("QueryOrder.aspx")
    words = {g.id: g.value for g in page.gaps if g.value}
    assert words["queryorder-returnticketdesc-format"].format(productname="成人票", count=2, amount="180.00",
                                                             mode="原路退回") == "退成人票2张，合计180.00元，原路退回"
    assert words["queryorder-backstatus-words"].split("/") == ["受理中", "已受理"]
    listing = {g.id.removeprefix("queryorderslist"): g.value for g in spec.page("QueryOrdersList.aspx").gaps if g.value}
    mine = {k.removeprefix("queryorder"): v for k, v in words.items() if k.endswith(("-format", "-words"))}
    assert mine == {k: listing.get(k) for k in mine}  # the list words what both pages show alike


def test_the_frozen_fault_answers_the_old_constants(spec):
    ota = make_ota(spec, faults=("return-fields-frozen",))
    orderid = paid_and_activated(ota)
    assert ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": first_ticket(ota, orderid)}).retcode == "0"
    order, line, _ = returned(ota, orderid)
    assert (order["returncount"], order["returntotal"], order["returnticketdesc"], order["backtotal"]) == \
        ("0", "0.00", "", "0.00")
    assert line["returncount"] == "0" and line["returnfees"] == "0.00"


# ---------------------------------------------------------------- descriptions of the order pages

DESCRIBED = ("tickettypedesc", "dealdesc", "paychannel")


def described(ota: Ota, orderid: str) -> tuple[dict, str]:
    """The descriptions of the order's QueryOrdersList Item, and QueryOrder's paychannel."""
    listed = ota.call("QueryOrdersList.aspx", {"Page_index": "0", "YDDH": orderid})
    q = ota.call("QueryOrder.aspx", {"order_id": orderid})
    assert listed.retcode == "0" and q.retcode == "0", (listed.retmsg, q.retmsg)
    return {f: listed.text(f"Items/Item/{f}") for f in DESCRIBED}, q.text("Item/paychannel")


def test_descriptions_follow_the_order_from_booking_to_delivery(ota):
    orderid = ota.book("P1001|3|P1002|2", day=DAY)
    booked = {"tickettypedesc": "成人票3张,儿童票2张", "dealdesc": "", "paychannel": ""}
    assert described(ota, orderid) == (booked, "")  # nothing paid or delivered yet (gap response-empty-values)
    pay(ota, orderid)
    assert described(ota, orderid) == ({**booked, "paychannel": "预订金"}, "预订金")
    assert activate(ota, orderid, activateall="0", activatelist="P1001|1").retcode == "0"
    # what was booked stays; what was delivered leaves out the line with nothing taken
    assert described(ota, orderid) == ({**booked, "dealdesc": "共成交成人票1张", "paychannel": "预订金"}, "预订金")


def test_paychannel_names_each_payment_type(ota):
    rebate = paid_and_activated(ota, account="rebate")
    assert described(ota, rebate)[1] == "返款余额"
    desk = ota.book("P1001|2", day=DAY)
    event(ota, "desk-pay", orderid=desk)
    listed, paychannel = described(ota, desk)
    assert paychannel == listed["paychannel"] == "前台现付" and listed["dealdesc"] == "共成交成人票2张"
    cancelled = ota.book("P1001|1", day=DAY)
    pay(ota, cancelled)
    assert ota.call("CancelOrder.aspx", {"Order_id": cancelled}).retcode == "0"
    assert described(ota, cancelled)[1] == "预订金"  # it was paid, and the fee was taken from there
    unpaid = ota.book("P1001|1", day=DAY)
    assert ota.call("CancelOrder.aspx", {"Order_id": unpaid}).retcode == "0"
    assert described(ota, unpaid)[1] == ""


def test_description_words_are_the_pages_gaps(spec):
    page = spec.page("QueryOrdersList.aspx")
    part = page.gap("queryorderslist-tickettypedesc-format").value
    assert part.format(productname="散客票", count=5) == "散客票5张"  # the manual's example (line 3071)
    assert page.gap("queryorderslist-dealdesc-format").value.format(parts="散客票4张,优惠票1张") == \
        "共成交散客票4张,优惠票1张"  # line 3083
    for element in ("dealdesc", "paychannel"):  # empty before delivery, before payment
        assert page.element("Items", "Item", element).allow_empty
    assert not page.element("Items", "Item", "tickettypedesc").allow_empty  # an order has lines
    assert spec.page("QueryOrder.aspx").gap("queryorder-paychannel-words") is not None


def test_the_empty_descriptions_fault_answers_them_empty(spec):
    ota = make_ota(spec, faults=("empty-descriptions",))
    orderid = paid_and_activated(ota)
    assert described(ota, orderid) == ({f: "" for f in DESCRIBED}, "")
    listed = ota.call("QueryOrdersList.aspx", {"Page_index": "0", "YDDH": orderid})
    assert listed.text("Items/Item/returncount") == "0"  # the rest of the answer is untouched


# ---------------------------------------------------------------- gate checks

def test_gate_check_consumes_the_ticket_and_calls_back_once(ota):
    orderid = paid_and_activated(ota, senderid="OTA-11")
    code = first_ticket(ota, orderid)
    none = ota.call("QueryTicketCheckList.aspx", {"orderid": orderid, "ticketcode": code})
    assert none.retmsg == message(ota, "QueryTicketCheckList.aspx", "no_check_records")
    delivered = row(ota, "SELECT delivered_at FROM orders WHERE orderid=?", orderid)["delivered_at"]
    ota.advance(3600)
    assert event(ota, "gate-check", ticketid=code, stationname="东门", gatenumber="03")["notified"] is True
    ota.advance(60)
    assert event(ota, "gate-check", ticketid=code)["checks"] == 2
    env = ota.call("QueryTicketCheckList.aspx", {"orderid": orderid, "ticketcode": code})
    assert [(i.findtext("stationname"), i.findtext("gatenumber")) for i in env.items()] == [("东门", "03"), ("主入口", "01")]
    assert env.items()[0].findtext("datetime") == "20261121110000"
    sent = callbacks(ota, "Notify_Checked.aspx")
    assert sent == [{"orderid": orderid, "senderid": "OTA-11", "ticketcode": code, "refunddatetime": "20261121110000",
                     "stationname": "东门", "gatenumber": "03"}]
    assert ota.call("GetTicketList.aspx", {"orderid": orderid}).text("Item/tickets/ticket/status") == "4"
    assert ota.call("GetTicketContext.aspx", {"orderid": orderid, "ticketcode": code}).text("Item/status") == "1"
    assert row(ota, "SELECT delivered_at FROM orders WHERE orderid=?", orderid)["delivered_at"] == delivered
    refused = ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": code})
    assert refused.retcode == "-1" and "已消费" in refused.retmsg
    with pytest.raises(events.EventError):
        event(ota, "desk-refund", ticketid=code, mode="2")
    assert account(ota) == (Decimal("9800.00"), Decimal("0.00"))


def test_gate_check_refuses_refunded_and_unknown_tickets(ota):
    orderid = paid_and_activated(ota)
    code = first_ticket(ota, orderid)
    event(ota, "desk-refund", ticketid=code, mode="2")
    with pytest.raises(events.EventError):
        event(ota, "gate-check", ticketid=code)
    with pytest.raises(events.EventError):
        event(ota, "gate-check", ticketid="T0")
    assert not rows(ota, "SELECT * FROM ticket_checks")


# ---------------------------------------------------------------- desk events

def test_desk_pickup_prints_tickets_and_charges_what_is_left(ota):
    orderid = ota.book("P1001|2", day=DAY)
    pay(ota, orderid)
    result = event(ota, "desk-pickup", orderid=orderid, taken={"1": 1})
    assert result["status"] == "3" and result["fees"] == "10.00"
    assert account(ota) == (Decimal("9890.00"), Decimal("0.00"))
    env = ota.call("GetTicketList.aspx", {"orderid": orderid})
    assert env.text("Item/businesstype") == "1" and env.text("Item/tickets/ticket/status") == "3"
    code = env.text("Item/tickets/ticket/ticketcode")
    assert ota.call("GetTicketContext.aspx", {"orderid": orderid, "ticketcode": code}).text("Item/status") == "1"
    online = ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": code})
    assert online.retcode == "-1" and "纸质票" in online.retmsg
    assert event(ota, "desk-refund", ticketid=code, mode="2")["returnamount"] == "90.00"
    assert account(ota) == (Decimal("9980.00"), Decimal("0.00"))
    with pytest.raises(events.EventError):
        event(ota, "desk-pickup", orderid=orderid)
    assert ota.status(orderid) == "3"


def test_desk_refund_in_cash_moves_no_agent_money(ota):
    orderid = paid_and_activated(ota)
    result = event(ota, "desk-refund", ticketid=first_ticket(ota, orderid), mode="1")
    assert (result["refundmode"], result["returnamount"]) == ("1", "180.00")
    assert account(ota) == (Decimal("9800.00"), Decimal("0.00"))
    rebate = paid_and_activated(ota, "P1002|1", account="rebate")
    with pytest.raises(events.EventError):
        event(ota, "desk-refund", ticketid=first_ticket(ota, rebate), mode="1")
    with pytest.raises(events.EventError):
        event(ota, "desk-refund", ticketid=first_ticket(ota, rebate), mode="3")
    assert account(ota, "rebate") == (Decimal("1950.00"), Decimal("0.00"))


def test_desk_pay_for_agents_with_desk_payment(ota):
    orderid = ota.book("P1001|2", day=DAY, senderid="OTA-12")
    result = event(ota, "desk-pay", orderid=orderid)
    assert result["status"] == "X" and result["paid"] == "200.00"
    assert account(ota) == (Decimal("10000.00"), Decimal("0.00"))
    assert callbacks(ota, "Notify_OrderChanged.aspx")[-1]["status"] == "X"
    code = result["tickets"][0]
    refund = event(ota, "desk-refund", ticketid=code, mode="2")
    assert refund["refundmode"] == "1"  # desk-paid tickets are cash either way (gap notify-refund-mode-for-desk-pay)
    assert callbacks(ota, "Notify_Refund.aspx")[-1]["refundmode"] == "1"
    assert account(ota) == (Decimal("10000.00"), Decimal("0.00"))
    with pytest.raises(events.EventError):
        event(ota, "desk-pay", orderid=orderid)
    foreign = ota.as_(OTHER).book("P1001|1", day=DAY)
    with pytest.raises(events.EventError):
        event(ota, "desk-pay", orderid=foreign)
    assert ota.as_(OTHER).status(foreign) == "0"


# ---------------------------------------------------------------- isolation

def test_other_agents_see_and_change_nothing(ota):
    orderid = paid_and_activated(ota, "P1003|2", Memo=MEMO, IDCount="2")
    code = first_ticket(ota, orderid)
    event(ota, "gate-check", ticketid=code)
    other = ota.as_(OTHER)
    calls = [("GetTicketList.aspx", {"orderid": orderid}),
             ("GetTicketContext.aspx", {"orderid": orderid, "ticketcode": code}),
             ("RefundTicket.aspx", {"orderid": orderid, "ticketcode": code}),
             ("QueryTicketCheckList.aspx", {"orderid": orderid, "ticketcode": code}),
             ("GetProductsIdentity.aspx", {"orderid": orderid}),
             ("ActivateTicket.aspx", {"orderid": orderid, **ACTIVATE})]
    for page, values in calls:
        env = other.call(page, values)
        assert env.retcode == "-1" and env.root.find("Item") is None, page
    assert other.call("GetProductsIdentity.aspx", {"orderid": orderid}).retmsg == \
        message(ota, "GetProductsIdentity.aspx", "order_not_found")
    assert ota.call("GetProductsIdentity.aspx", {"orderid": orderid}).retcode == "0"
    assert [r["status"] for r in rows(ota, "SELECT status FROM tickets ORDER BY ticketid")] == ["4", "1"]
    assert account(ota, user="other-ota") == (Decimal("5000.00"), Decimal("0.00"))
