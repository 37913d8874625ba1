"""Instant payment and its refunds: BeginToPay, the platform's notices, the simulated payment page,
ApplyRefund, RevokeOrder, OrderRefundDeal, QueryOrderRefund and the finance events."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from mockkit import DEMO, OTHER, Ota, make_mock
from mockserver import events
from mockserver.app import create_app
from mockserver.instant_pay import pay_url
from mockserver.world import DEFAULT_WORLD
from spec import crypto
from spec.signing import request_sign

DAY = "20261125"  # START is 2026-11-21 10:00, so the effect date is 3 days 14 hours ahead
HOUR = 3600


def make(spec, world: Path | None = None) -> Ota:
    mock = make_mock(spec, world=world)
    return Ota(mock, TestClient(create_app(mock)))


@pytest.fixture
def ota(spec) -> Ota:
    return make(spec)


def world_with(tmp_path: Path, supplier: dict | None = None, products: list | None = None) -> Path:
    data = yaml.safe_load(DEFAULT_WORLD.read_text(encoding="utf-8"))
    data["supplier"].update(supplier or {})
    data["products"] += products or []
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def refused(ota: Ota, env, page: str, key: str) -> bool:
    retcode = ota.mock.spec.page(page).retcode(key)
    return env.retcode == retcode.code and env.retmsg == retcode.message_zh


def begin(ota: Ota, orderid: str, channel: str = "支付宝"):
    return ota.call("BeginToPay.aspx", {"Order_id": orderid, "Paychannelid": channel})


def event(ota: Ota, name: str, orderid: str) -> dict:
    return dict(events.run(ota.mock, name, {"orderid": orderid}))


def paid(ota: Ota, order_list: str = "P1001|2", **extra: str) -> str:
    orderid = ota.book(order_list, DAY, **extra)
    assert begin(ota, orderid).retcode == "0"
    event(ota, "payment-success", orderid)
    return orderid


def row(ota: Ota, sql: str, *args) -> dict:
    with ota.mock.store.reading() as db:
        found = db.execute(sql, args).fetchone()
    return dict(found) if found else {}


def balances(ota: Ota, user: str = DEMO.user) -> tuple[Decimal, Decimal]:
    with ota.mock.store.reading() as db:
        agent = ota.mock.store.agent(db, user)
    return agent.deposit, agent.rebate


def callbacks(ota: Ota, orderid: str) -> list[str]:
    with ota.mock.store.reading() as db:
        rows = db.execute("SELECT params FROM outbox WHERE orderid=? ORDER BY id", (orderid,)).fetchall()
    return [p["status"] for p in (json.loads(r["params"]) for r in rows) if "status" in p]


def listen(ota: Ota, user: str = DEMO.user) -> None:
    with ota.mock.store.transaction() as db:
        db.execute("UPDATE agents SET responseaddr='http://ota.invalid/notify' WHERE user=?", (user,))


def refund_data(ota: Ota, orderid: str):
    return ota.call("QueryOrderRefund.aspx", {"orderid": orderid})


# ------------------------------------------------------------------ BeginToPay and the payment result

def test_instant_flow_book_pay_succeed(ota):
    listen(ota)
    before = balances(ota)
    orderid = ota.book("P1001|2|P1002|1", DAY, senderid="OTA-7")
    assert begin(ota, orderid).retcode == "0"
    attempt = row(ota, "SELECT * FROM payments WHERE orderid=?", orderid)
    assert attempt["state"] == "pending" and attempt["amount"] == "250.00" and attempt["channel"] == "1"
    assert ota.status(orderid) == "0"
    assert event(ota, "payment-success", orderid)["status"] == "6"
    assert ota.status(orderid) == "6"
    order = row(ota, "SELECT * FROM orders WHERE orderid=?", orderid)
    assert (order["pay_type"], order["paid"], order["pay_channel"]) == ("instant", "250.00", "1")
    assert row(ota, "SELECT state FROM payments WHERE orderid=?", orderid)["state"] == "success"
    assert callbacks(ota, orderid) == ["0", "6"]
    assert balances(ota) == before  # the platform pays the supplier, not from agent accounts


def test_channel_by_id_or_name_and_new_attempt_supersedes(ota):
    orderid = ota.book(day=DAY)
    assert begin(ota, orderid, "微信").retcode == "0"
    assert begin(ota, orderid, "3").retcode == "0"
    with ota.mock.store.reading() as db:
        states = [r["state"] for r in db.execute("SELECT state FROM payments WHERE orderid=? ORDER BY token", (orderid,))]
    assert states == ["superseded", "pending"]
    event(ota, "payment-success", orderid)
    assert row(ota, "SELECT pay_channel FROM orders WHERE orderid=?", orderid)["pay_channel"] == "3"


def test_begin_to_pay_refusals(ota):
    orderid = ota.book(day=DAY)
    page = "BeginToPay.aspx"
    assert refused(ota, begin(ota, orderid, "PayPal"), page, "unsupported_pay_method")
    assert refused(ota, begin(ota, "20991231999"), page, "lookup_failed")
    assert refused(ota, begin(ota, " "), page, "internal_order_no_missing")
    assert refused(ota, begin(ota.as_(OTHER), orderid), page, "lookup_failed")  # another agent's order
    assert row(ota, "SELECT COUNT(*) AS n FROM payments")["n"] == 0
    paid_id = paid(ota)
    assert refused(ota, begin(ota, paid_id), page, "order_not_booking")
    assert ota.call("CancelOrder.aspx", {"Order_id": orderid}).retcode == "0"
    assert refused(ota, begin(ota, orderid), page, "order_not_booking")


def test_begin_to_pay_nothing_to_pay(spec, tmp_path):
    ota = make(spec, world_with(tmp_path, products=[{"id": "P9001", "name": "免费票", "price": "0.00", "service": "01"}]))
    orderid = ota.book("P9001|1", DAY)
    assert refused(ota, begin(ota, orderid), "BeginToPay.aspx", "wrong_pay_amount")
    assert ota.status(orderid) == "0"


def test_begin_to_pay_after_the_pay_deadline(ota):
    other = ota.as_(OTHER)  # no desk payment: its orders must be paid within paytimeout minutes
    early, late = other.book(day=DAY), other.book(day=DAY)
    other.advance(29 * 60)
    assert begin(other, early).retcode == "0"
    other.advance(2 * 60)
    assert refused(other, begin(other, late), "BeginToPay.aspx", "pay_time_limit_exceeded")
    assert other.status(late) == "4"  # closed by pay_timeout, and the closing stands
    assert refused(other, begin(other, late), "BeginToPay.aspx", "pay_time_limit_exceeded")
    with pytest.raises(events.EventError):  # a payment that completes after the deadline cannot succeed
        event(other, "payment-success", early)
    assert other.status(early) == "4"


def test_payment_needs_a_started_payment_and_failure_keeps_the_order(ota):
    orderid = ota.book(day=DAY)
    with pytest.raises(events.EventError):
        event(ota, "payment-success", orderid)
    begin(ota, orderid)
    assert event(ota, "payment-failure", orderid)["status"] == "0"
    assert row(ota, "SELECT state FROM payments WHERE orderid=?", orderid)["state"] == "failed"
    assert row(ota, "SELECT pay_type FROM orders WHERE orderid=?", orderid)["pay_type"] == ""
    with pytest.raises(events.EventError):
        event(ota, "payment-failure", orderid)
    assert begin(ota, orderid).retcode == "0"
    assert event(ota, "payment-success", orderid)["status"] == "6"
    with pytest.raises(events.EventError):
        event(ota, "unknown-event-name", orderid)


def test_payment_approval_world(spec, tmp_path):
    ota = make(spec, world_with(tmp_path, {"payment_approval": True}))
    listen(ota)
    first, second = paid(ota, senderid="A-1"), paid(ota, senderid="A-2")
    assert ota.status(first) == "5" and ota.status(second) == "5"
    assert event(ota, "approve-payment", first)["status"] == "6"
    assert event(ota, "reject-payment", second)["status"] == "9"
    with pytest.raises(events.EventError):
        event(ota, "approve-payment", second)
    assert callbacks(ota, first) == ["0", "5"]  # approval is not a called-back state (gap callback-states)


def test_pay_and_activate_world(spec, tmp_path):
    ota = make(spec, world_with(tmp_path, {"payandactive": True}))
    orderid = ota.book("P1001|2", DAY)
    begin(ota, orderid)
    assert event(ota, "payment-success", orderid) == {"orderid": orderid, "status": "3", "activated": True}
    assert ota.status(orderid) == "3"
    assert row(ota, "SELECT COUNT(*) AS n FROM tickets WHERE orderid=?", orderid)["n"] == 1
    assert row(ota, "SELECT refund FROM orders WHERE orderid=?", orderid)["refund"] == "0.00"


# ------------------------------------------------------------------ refunds

@pytest.mark.parametrize("hours, fee_per_ticket", [(0, "0.00"), (50, "10.00"), (74, "20.00"), (96, "50.00")])
def test_apply_refund_fee_by_lead_time(ota, hours, fee_per_ticket):
    before = balances(ota)
    orderid = paid(ota)
    ota.advance(hours * HOUR)  # effect date 25th 00:00 is 86 hours after START
    env = ota.call("ApplyRefund.aspx", {"Order_id": orderid, "PaybackReason": "行程取消"})
    assert env.retcode == "0", env.retmsg
    assert ota.status(orderid) == "7"
    fee = Decimal(fee_per_ticket) * 2
    data = refund_data(ota, orderid)
    assert (data.text("total"), data.text("totalfee"), data.text("totalrefund")) == (
        "200.00", f"{fee:.2f}", f"{Decimal('200.00') - fee:.2f}")
    item = data.root.find("details/Item")
    assert item.findtext("debitprice") == fee_per_ticket and item.findtext("status") == "7"
    assert item.findtext("refundreason") == "行程取消" and item.findtext("paychannelname") == "支付宝"
    assert item.findtext("debitcount") == ("2" if fee else "0")
    assert balances(ota) == before


def test_revoke_returns_to_paid_and_calls_back(ota):
    listen(ota)
    orderid = paid(ota, senderid="OTA-9")
    ota.advance(74 * HOUR)
    ota.call("ApplyRefund.aspx", {"Order_id": orderid, "PaybackReason": "x"})
    wrong = ota.call("RevokeOrder.aspx", {"Order_id": orderid, "total_fee": "160.00", "PaybackReason": "留下"})
    assert refused(ota, wrong, "RevokeOrder.aspx", "bad_params") and ota.status(orderid) == "7"
    env = ota.call("RevokeOrder.aspx", {"Order_id": orderid, "total_fee": "200", "PaybackReason": "留下"})
    assert env.retcode == "0"
    assert (env.text("Item/Order_id"), env.text("Item/OrderInnerID")) == (orderid, "OTA-9")
    assert ota.status(orderid) == "6"
    assert callbacks(ota, orderid) == ["0", "6", "6"]
    data = refund_data(ota, orderid)
    assert (data.text("totalfee"), data.text("totalrefund")) == ("0.00", "0.00")
    assert data.root.find("details/Item") is None
    assert refused(ota, ota.call("RevokeOrder.aspx", {"Order_id": orderid, "total_fee": "200", "PaybackReason": "x"}),
                   "RevokeOrder.aspx", "order_not_found_or_not_refund_applied")


def test_revoke_returns_to_unapproved_payment_without_callback(spec, tmp_path):
    ota = make(spec, world_with(tmp_path, {"payment_approval": True}))
    listen(ota)
    orderid = paid(ota, senderid="OTA-5")
    ota.call("ApplyRefund.aspx", {"Order_id": orderid, "PaybackReason": "x"})
    assert ota.call("RevokeOrder.aspx", {"Order_id": orderid, "total_fee": "200.00", "PaybackReason": "y"}).retcode == "0"
    assert ota.status(orderid) == "5"
    assert callbacks(ota, orderid) == ["0", "5"]


def test_refund_approved_then_paid(ota):
    before = balances(ota)
    orderid = paid(ota)
    ota.advance(50 * HOUR)
    ota.call("ApplyRefund.aspx", {"Order_id": orderid, "PaybackReason": "x"})
    assert event(ota, "approve-refund", orderid)["status"] == "8"
    locked = ota.call("RevokeOrder.aspx", {"Order_id": orderid, "total_fee": "200.00", "PaybackReason": "y"})
    assert refused(ota, locked, "RevokeOrder.aspx", "refund_accepted") and ota.status(orderid) == "8"
    ota.advance(HOUR)
    assert event(ota, "refund-paid", orderid)["status"] == "B"
    data = refund_data(ota, orderid)
    assert data.text("totalrefund") == "180.00"
    item = data.root.find("details/Item")
    assert item.findtext("status") == "B" and item.findtext("completedate") == "20261123"
    assert item.findtext("completetime") == "130000" and item.findtext("createtime") == "120000"
    assert balances(ota) == before
    with pytest.raises(events.EventError):
        event(ota, "refund-paid", orderid)


def test_rejected_refund_may_be_applied_for_again(ota):
    orderid = paid(ota)
    ota.call("ApplyRefund.aspx", {"Order_id": orderid, "PaybackReason": "x"})
    assert event(ota, "reject-refund", orderid)["status"] == "A"
    assert refund_data(ota, orderid).text("totalrefund") == "0.00"
    assert ota.call("ApplyRefund.aspx", {"Order_id": orderid, "PaybackReason": "again"}).retcode == "0"
    assert ota.status(orderid) == "7"
    assert [i.findtext("status") for i in refund_data(ota, orderid).root.findall("details/Item")] == ["A", "7"]
    assert ota.call("RevokeOrder.aspx", {"Order_id": orderid, "total_fee": "200.00", "PaybackReason": "y"}).retcode == "0"
    assert ota.status(orderid) == "6"


def test_forbidden_refund_transitions(ota):
    booked, done = ota.book(day=DAY), paid(ota)
    assert refused(ota, ota.call("ApplyRefund.aspx", {"Order_id": booked, "PaybackReason": "x"}),
                   "ApplyRefund.aspx", "order_not_found_or_not_booking")
    assert refused(ota, ota.call("RevokeOrder.aspx", {"Order_id": done, "total_fee": "200", "PaybackReason": "x"}),
                   "RevokeOrder.aspx", "order_not_found_or_not_refund_applied")
    other = ota.as_(OTHER)
    assert refused(other, other.call("ApplyRefund.aspx", {"Order_id": done, "PaybackReason": "x"}),
                   "ApplyRefund.aspx", "order_not_found_or_not_booking")
    assert ota.status(booked) == "0" and ota.status(done) == "6"
    with pytest.raises(events.EventError):
        event(ota, "approve-refund", done)


def test_order_refund_deal_locks_revocation(ota):
    orderid = paid(ota)
    page = "OrderRefundDeal.aspx"
    assert refused(ota, ota.call(page, {"orderid": orderid}), page, "order_not_found")  # 6: nothing applied for
    assert refused(ota, ota.call(page, {"orderid": " "}), page, "orderid_empty")
    ota.call("ApplyRefund.aspx", {"Order_id": orderid, "PaybackReason": "x"})
    assert refused(ota, ota.as_(OTHER).call(page, {"orderid": orderid}), page, "order_not_found")
    for _ in range(2):  # a repeated call finds the lock in place
        env = ota.call(page, {"orderid": orderid})
        assert env.retcode == "0" and (env.text("Item/orderid"), env.text("Item/status")) == (orderid, "8")
    assert refused(ota, ota.call("RevokeOrder.aspx", {"Order_id": orderid, "total_fee": "200", "PaybackReason": "x"}),
                   "RevokeOrder.aspx", "refund_accepted")
    assert refund_data(ota, orderid).root.find("details/Item").findtext("status") == "8"


def test_query_order_refund_ownership_and_other_payments(ota):
    orderid = ota.book(day=DAY)
    page = "QueryOrderRefund.aspx"
    assert refused(ota, refund_data(ota.as_(OTHER), orderid), page, "order_not_owned")
    assert refused(ota, refund_data(ota, "20991231000"), page, "order_not_found")
    assert refused(ota, refund_data(ota, " "), page, "orderid_empty")
    env = refund_data(ota, orderid)  # not paid instantly: no refund data
    assert env.retcode == "0" and env.text("total") == "0.00" and env.root.find("details/Item") is None


def test_paychannel_is_the_channel_paid_through(ota):
    orderid = ota.book(day=DAY)
    assert begin(ota, orderid, "微信").retcode == "0"
    assert ota.call("QueryOrder.aspx", {"order_id": orderid}).text("Item/paychannel") == ""  # under way: not paid
    event(ota, "payment-success", orderid)
    listed = ota.call("QueryOrdersList.aspx", {"Page_index": "0", "YDDH": orderid})
    assert ota.call("QueryOrder.aspx", {"order_id": orderid}).text("Item/paychannel") == "微信"
    assert listed.text("Items/Item/paychannel") == "微信"  # GetPayChannel's paychannelname (gap queryorder-paychannel-words)


def _records(ota: Ota, orderid: str) -> list[dict[str, str]]:
    words = ("description", "calculationbasis", "calculationbasisname", "refundreason", "totalfees")
    return [{w: i.findtext(w) for w in words} for i in refund_data(ota, orderid).root.findall("details/Item")]


def test_refund_records_word_their_deduction_and_reason(ota):
    free = paid(ota)  # 86 hours ahead of the effect date: no fee
    assert ota.call("ApplyRefund.aspx", {"Order_id": free, "PaybackReason": "行程取消"}).retcode == "0"
    assert _records(ota, free) == [{"description": "", "calculationbasis": "", "calculationbasisname": "",
                                    "refundreason": "行程取消", "totalfees": "0.00"}]
    ota.advance(50 * HOUR)  # inside two days: 10.00 a ticket, a B (yuan) band of the world
    charged = paid(ota)
    assert ota.call("ApplyRefund.aspx", {"Order_id": charged, "PaybackReason": "行程取消"}).retcode == "0"
    assert _records(ota, charged) == [{"description": "扣除手续费20.00元", "calculationbasis": "B",
                                       "calculationbasisname": "按绝对值计算", "refundreason": "行程取消",
                                       "totalfees": "20.00"}]


def test_the_suppliers_own_refund_records_say_why(ota):
    ota.advance(50 * HOUR)
    orderid = paid(ota, "P1001|3")
    activate = {"orderid": orderid, "activateall": "0", "activatelist": "P1001|2", "activatedate": DAY,
                "tickettype": "2", "activatemode": "1", "timespanindex": "-1"}
    assert ota.call("ActivateTicket.aspx", activate).retcode == "0"
    ticket = ota.call("GetTicketList.aspx", {"orderid": orderid}).text("Item/tickets/ticket/ticketcode")
    assert ota.call("RefundTicket.aspx", {"orderid": orderid, "ticketcode": ticket}).retcode == "0"
    untaken, returned = _records(ota, orderid)
    page = ota.mock.spec.page("QueryOrderRefund.aspx")
    assert (untaken["refundreason"], returned["refundreason"]) == tuple(
        page.gap("queryorderrefund-refundreason-words").value.split("/"))  # 少取票, 退票
    assert untaken == {"description": "扣除手续费10.00元", "calculationbasis": "B", "calculationbasisname": "按绝对值计算",
                       "refundreason": "少取票", "totalfees": "10.00"}
    assert returned["description"] == f"扣除手续费{returned['totalfees']}元" and returned["calculationbasis"] == "B"


# ------------------------------------------------------------------ the platform's notices and the payment page

def alipay(ota: Ota, orderid: str, status: str, op_type: str = "0", *, key: str = DEMO.key, path: str = "/notify_url.aspx",
           tamper: bool = False) -> str:
    cipher = ota.mock.profile.cipher
    pairs = [("NETDH", crypto.encrypt(orderid, key, cipher)), ("STATUS", crypto.encrypt(status, key, cipher)),
             ("OpType", crypto.encrypt(op_type, key, cipher)), ("sign_type", "MD5")]
    sign = request_sign(pairs, key, ota.mock.profile.sign)
    pairs.append(("Sign", "0" * 32 if tamper else sign))
    return ota.client.post(path, data=dict(pairs)).text


def test_alipay_notice_pays_and_refunds(ota):
    orderid = ota.book(day=DAY)
    begin(ota, orderid)
    assert alipay(ota, orderid, "TRADE_SUCCESS", tamper=True) == "fail"
    assert alipay(ota, orderid, "TRADE_SUCCESS", key=OTHER.key) == "fail"  # not an order of that KEY's agent
    assert ota.status(orderid) == "0"
    assert alipay(ota, orderid, "TRADE_SUCCESS", path="/notify_Payback_url.aspx") == "success"
    assert alipay(ota, orderid, "TRADE_SUCCESS") == "success"  # a resent notice is acknowledged again
    assert ota.status(orderid) == "6"
    ota.call("ApplyRefund.aspx", {"Order_id": orderid, "PaybackReason": "x"})
    event(ota, "approve-refund", orderid)
    assert alipay(ota, orderid, "TRADE_FAIL", "1") == "success" and ota.status(orderid) == "8"
    assert alipay(ota, orderid, "TRADE_SUCCESS", "1") == "success" and ota.status(orderid) == "B"


def test_alipay_trade_fail(ota):
    orderid = ota.book(day=DAY)
    begin(ota, orderid)
    assert alipay(ota, orderid, "TRADE_FAIL") == "success"
    assert ota.status(orderid) == "0"
    assert row(ota, "SELECT state FROM payments WHERE orderid=?", orderid)["state"] == "failed"


def wechat(ota: Ota, orderid: str, *, result: str = "SUCCESS", fee: str = "20000") -> str:
    body = (f"<xml><out_trade_no>{orderid}-01</out_trade_no><transaction_id>4200001</transaction_id>"
            f"<attach>{orderid}</attach><bank_type>CMB</bank_type><mch_id>1900000109</mch_id>"
            f"<total_fee>{fee}</total_fee><result_code>{result}</result_code><return_code>SUCCESS</return_code></xml>")
    response = ota.client.post("/WeChatNotify.aspx", content=body.encode(), headers={"content-type": "text/xml"})
    assert response.status_code == 200
    return "SUCCESS" if "<return_code><![CDATA[SUCCESS]]>" in response.text else "FAIL"


def test_wechat_notice(ota):
    orderid = ota.book(day=DAY)
    begin(ota, orderid, "微信")
    assert wechat(ota, orderid, fee="19999") == "FAIL" and ota.status(orderid) == "0"
    assert wechat(ota, orderid, result="FAIL") == "SUCCESS" and ota.status(orderid) == "0"
    assert wechat(ota, orderid) == "FAIL"  # the failed attempt is over: nothing pending
    begin(ota, orderid, "微信")
    assert wechat(ota, orderid) == "SUCCESS" and ota.status(orderid) == "6"
    ota.call("ApplyRefund.aspx", {"Order_id": orderid, "PaybackReason": "x"})
    event(ota, "approve-refund", orderid)
    assert wechat(ota, orderid) == "SUCCESS" and ota.status(orderid) == "B"
    assert ota.client.post("/WeChatNotify.aspx", content=b"not xml").text.count("FAIL") == 1


def test_simulated_payment_page(ota):
    orderid, other = ota.book(day=DAY), ota.book(day=DAY)
    assert ota.client.get(pay_url(orderid)).status_code == 404  # nothing started yet
    begin(ota, orderid)
    begin(ota, other)
    page = ota.client.get(pay_url(orderid))
    assert page.status_code == 200 and orderid in page.text and "200.00" in page.text
    assert ota.client.post(pay_url(orderid), json={"result": "maybe"}).status_code == 400
    answer = ota.client.post(pay_url(orderid), json={"result": "success"})
    assert answer.status_code == 200 and answer.json()["status"] == "6"
    assert ota.client.post(pay_url(orderid), json={"result": "success"}).status_code == 409
    assert ota.client.post(pay_url(other), data={"result": "failure"}).json()["status"] == "0"
    assert ota.status(orderid) == "6" and ota.status(other) == "0"
