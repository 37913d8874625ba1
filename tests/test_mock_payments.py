"""Deposit and rebate payment authorisation: SMS codes, pay password, one-step book-and-pay,
changing the pay password; balances, holds, transactions, notices and callbacks."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from mockkit import DEMO, OTHER, make_ota
from mockserver.context import Call
from mockserver.handlers import payments
from mockserver.store import Store
from mockserver.world import WORLDS_DIR
from spec import crypto
from spec.errors import YbxError

PAY_AND_ACTIVE = WORLDS_DIR / "scenic-payandactive.yaml"
DAY = "20261125"


# ------------------------------------------------------------------ helpers


def expect(ota, env, page: str, key: str) -> None:
    """The envelope carries `page`'s retcode for `key` (its message, or its prefix before a placeholder)."""
    rc = ota.mock.spec.page(page).retcode(key)
    assert rc is not None, (page, key)
    assert env.retcode == rc.code, (key, env.retcode, env.retmsg)
    if "ex" in rc.message_zh:
        assert env.retmsg.startswith(rc.message_zh.split("ex")[0]), env.retmsg
    else:
        assert env.retmsg == rc.message_zh, env.retmsg


def agent(ota, user: str = "demo-ota"):
    with ota.mock.store.reading() as db:
        return Store.agent(db, user)


def order_row(ota, orderid: str):
    with ota.mock.store.reading() as db:
        return db.execute("SELECT * FROM orders WHERE orderid=?", (orderid,)).fetchone()


def rows(ota, sql: str, *args):
    with ota.mock.store.reading() as db:
        return [dict(r) for r in db.execute(sql, args).fetchall()]


def last_code(ota, purpose: str, orderid: str | None = None) -> dict:
    where, args = "purpose=?", [purpose]
    if orderid:
        where, args = where + " AND orderid=?", [*args, orderid]
    return rows(ota, f"SELECT * FROM sms WHERE {where} ORDER BY id DESC LIMIT 1", *args)[0]  # noqa: S608


def by_pwd(ota, orderid: str, amount: str, *, pay_password: str = "123456", **extra: str):
    return ota.call("UseAccountToPayByPwd.aspx", {"Order_id": orderid, "money": amount, "Smscode": pay_password,
                                                  "smsModel": "0", **extra})


def fk_by_pwd(ota, orderid: str, amount: str, *, pay_password: str = "123456"):
    return ota.call("UseAccountToPayByFKWithPwd.aspx", {"Order_id": orderid, "money": amount,
                                                        "SmsCode": pay_password, "smsModel": "0"})


def ydj(ota, xcddh: str, *, order_list: str = "P1001|2", amount: str = "200.00", pay_password: str = "123456",
        **extra: str):
    return ota.call("OrderAndPayWithYDJ.aspx", {
        "Order_list": order_list, "mobile": "13800138000", "ID": "110101199003071234", "SXRQ": DAY,
        "SmsCode": pay_password, "money": amount, "smsModel": "0", "XCDDH": xcddh, "timespanindex": "-1", **extra})


def fk_one_step(ota, senderid: str, *, order_list: str = "P1001|2", amount: str = "200.00"):
    return ota.call("OrderAndPayWithFK.aspx", {
        "order_list": order_list, "mobile": "13800138000", "id": "110101199003071234", "sxrq": DAY,
        "smscode": "123456", "money": amount, "smsmodel": "0", "senderid": senderid})


def with_supplier(ota, **changes) -> None:
    world = ota.mock.world
    ota.mock.world = replace(world, supplier=replace(world.supplier, **changes))


def with_pay_types(ota, user: str, pay_types: tuple[str, ...]) -> None:
    world = ota.mock.world
    agents = tuple(replace(a, pay_types=pay_types) if a.user == user else a for a in world.agents)
    ota.mock.world = replace(world, agents=agents)


# ------------------------------------------------------------------ SMS-code deposit flow


def test_deposit_sms_code_flow(ota):
    orderid = ota.book("P1001|2")
    assert ota.call("ReadyToPay.aspx", {"Order_id": orderid}).retcode == "0"
    sent = last_code(ota, "pay_deposit_code", orderid)
    assert sent["mobile"] == "13800000001" and len(sent["code"]) == 6 and sent["code"] in sent["text"]
    expect(ota, ota.call("ReadyToPay.aspx", {"Order_id": orderid}), "ReadyToPay.aspx", "resend_too_frequent")

    wrong = str((int(sent["code"]) + 1) % 10 ** 6).zfill(6)
    env = ota.call("UseAccountToPay.aspx", {"Order_id": orderid, "money": "200.00", "SmsCode": wrong})
    expect(ota, env, "UseAccountToPay.aspx", "sms_code_wrong")
    assert ota.status(orderid) == "0"

    env = ota.call("UseAccountToPay.aspx", {"Order_id": orderid, "money": "200.00", "SmsCode": sent["code"]})
    assert env.retcode == "0", env.retmsg
    assert ota.status(orderid) == "2"
    a = agent(ota)
    assert (a.deposit, a.deposit_held, a.available("deposit")) == (Decimal("10000.00"), Decimal("200.00"),
                                                                    Decimal("9800.00"))
    assert order_row(ota, orderid)["held"] == "200.00" and order_row(ota, orderid)["pay_type"] == "deposit"
    assert rows(ota, "SELECT * FROM transactions") == []  # a hold is no movement of money
    assert last_code(ota, "pay_deposit_code", orderid)["used"] == 1
    assert [r["mobile"] for r in rows(ota, "SELECT * FROM sms WHERE purpose='paid' AND orderid=?", orderid)] == [
        "13800138000"]


def test_code_goes_to_the_mobile_numindex_selects(ota):
    orderid = ota.book()
    assert ota.call("ReadyToPay.aspx", {"Order_id": orderid, "NumIndex": "1"}).retcode == "0"
    assert last_code(ota, "pay_deposit_code", orderid)["mobile"] == "13800000002"


def test_deposit_code_expires_after_the_world_ttl_and_can_be_resent(ota):
    orderid = ota.book()
    ota.call("ReadyToPay.aspx", {"Order_id": orderid})
    old = last_code(ota, "pay_deposit_code", orderid)
    ota.advance(ota.mock.world.supplier.sms_code_ttl_seconds + 1)
    env = ota.call("UseAccountToPay.aspx", {"Order_id": orderid, "money": "200", "SmsCode": old["code"]})
    expect(ota, env, "UseAccountToPay.aspx", "sms_code_expired")
    assert ota.call("ReadyToPay.aspx", {"Order_id": orderid}).retcode == "0"
    new = last_code(ota, "pay_deposit_code", orderid)
    assert new["id"] == old["id"] and new["sends"] == 2
    env = ota.call("UseAccountToPay.aspx", {"Order_id": orderid, "money": "200", "SmsCode": new["code"]})
    assert env.retcode == "0" and ota.status(orderid) == "2"


def test_rebate_code_lives_600_s_and_resends_only_after_more_than_60_s(ota):
    orderid = ota.book()
    assert ota.call("ReadyToPayByFK.aspx", {"Order_id": orderid}).retcode == "0"
    ota.advance(60)
    expect(ota, ota.call("ReadyToPayByFK.aspx", {"Order_id": orderid}), "ReadyToPayByFK.aspx", "resend_too_frequent")
    ota.advance(1)
    assert ota.call("ReadyToPayByFK.aspx", {"Order_id": orderid}).retcode == "0"
    ota.advance(601)
    code = last_code(ota, "pay_rebate_code", orderid)["code"]
    env = ota.call("UseAccountToPayByFK.aspx", {"Order_id": orderid, "money": "200.00", "SmsCode": code,
                                                "smsModel": "0"})
    expect(ota, env, "UseAccountToPayByFK.aspx", "sms_code_expired")
    ota.call("ReadyToPayByFK.aspx", {"Order_id": orderid})
    ota.advance(400)  # past the deposit code's 6 minutes, within the rebate code's 600 s
    code = last_code(ota, "pay_rebate_code", orderid)["code"]
    env = ota.call("UseAccountToPayByFK.aspx", {"Order_id": orderid, "money": "200.00", "SmsCode": code,
                                                "smsModel": "0"})
    assert env.retcode == "0", env.retmsg
    assert ota.status(orderid) == "C"
    assert (agent(ota).rebate, agent(ota).rebate_held) == (Decimal("2000.00"), Decimal("200.00"))


@pytest.mark.parametrize("page,key", [("ReadyToPay.aspx", "too_many_resends"),
                                      ("ReadyToPayByFK.aspx", "resend_too_many")])
def test_too_many_resends(ota, page, key):
    with_supplier(ota, sms_code_max_resends=2)
    orderid = ota.book()
    for _ in range(3):  # the first send and two resends
        assert ota.call(page, {"Order_id": orderid}).retcode == "0"
        ota.advance(61)
    expect(ota, ota.call(page, {"Order_id": orderid}), page, key)


def test_codes_only_for_booked_orders(ota):
    orderid = ota.book()
    assert by_pwd(ota, orderid, "200.00").retcode == "0"
    expect(ota, ota.call("ReadyToPay.aspx", {"Order_id": orderid}), "ReadyToPay.aspx", "order_not_booked")
    expect(ota, ota.call("ReadyToPayByFK.aspx", {"Order_id": orderid}), "ReadyToPayByFK.aspx", "order_not_booking")
    expect(ota, ota.call("ReadyToPay.aspx", {"Order_id": "20261121999"}), "ReadyToPay.aspx", "call_failed")


def test_a_code_of_a_cancelled_order_pays_nothing(ota):
    orderid = ota.book()
    ota.call("ReadyToPay.aspx", {"Order_id": orderid})
    ota.call("CancelOrder.aspx", {"Order_id": orderid})
    code = last_code(ota, "pay_deposit_code", orderid)["code"]
    env = ota.call("UseAccountToPay.aspx", {"Order_id": orderid, "money": "200.00", "SmsCode": code})
    expect(ota, env, "UseAccountToPay.aspx", "order_not_found_or_not_booking")
    assert ota.status(orderid) == "4" and agent(ota).deposit_held == 0


# ------------------------------------------------------------------ pay password


def test_pay_password_flow(ota):
    orderid = ota.book()
    expect(ota, by_pwd(ota, orderid, "200.00", pay_password="000000"), "UseAccountToPayByPwd.aspx", "bad_pay_password")
    assert ota.status(orderid) == "0" and agent(ota).deposit_held == 0
    assert by_pwd(ota, orderid, "200").retcode == "0"  # amounts compare as decimals
    assert ota.status(orderid) == "2" and agent(ota).deposit_held == Decimal("200.00")


def test_rebate_pay_password_flow(ota):
    orderid = ota.book()
    expect(ota, fk_by_pwd(ota, orderid, "200.00", pay_password="000000"), "UseAccountToPayByFKWithPwd.aspx",
           "bad_pay_password")
    assert fk_by_pwd(ota, orderid, "200.00").retcode == "0"
    assert ota.status(orderid) == "C"
    assert (agent(ota).rebate_held, agent(ota).deposit_held) == (Decimal("200.00"), 0)


def test_pay_password_not_set(ota):
    orderid = ota.book()
    with ota.mock.store.transaction() as db:
        db.execute("UPDATE agents SET pay_password_md5='' WHERE user='demo-ota'")
    expect(ota, by_pwd(ota, orderid, "200.00"), "UseAccountToPayByPwd.aspx", "pay_password_not_set")


@pytest.mark.parametrize("page,key", [("UseAccountToPayByPwd.aspx", "wrong_amount"),
                                      ("UseAccountToPayByFKWithPwd.aspx", "wrong_amount")])
def test_wrong_amount(ota, page, key):
    orderid = ota.book()
    for amount in ("199.99", "abc"):
        env = ota.call(page, {"Order_id": orderid, "money": amount, "SmsCode": "123456", "smsModel": "0"})
        expect(ota, env, page, key)
    assert ota.status(orderid) == "0"


def test_insufficient_balances(ota):
    other = ota.as_(OTHER)  # deposit 5000.00
    orderid = other.book("P1001|51")
    env = by_pwd(other, orderid, "5100.00", pay_password=OTHER.pay_password)
    expect(ota, env, "UseAccountToPayByPwd.aspx", "insufficient_deposit")
    big = ota.book("P1001|21")  # demo rebate 2000.00
    expect(ota, fk_by_pwd(ota, big, "2100.00"), "UseAccountToPayByFKWithPwd.aspx", "insufficient_rebate")
    assert other.status(orderid) == "0" and ota.status(big) == "0"
    assert agent(ota, "other-ota").deposit_held == 0 and agent(ota).rebate_held == 0


def test_holds_add_up_against_the_available_balance(ota):
    first = ota.book("P1001|100")  # 10000.00: the whole deposit
    assert by_pwd(ota, first, "10000.00").retcode == "0"
    second = ota.book("P1002|1")
    expect(ota, by_pwd(ota, second, "50.00"), "UseAccountToPayByPwd.aspx", "insufficient_deposit")


def test_wrong_state_and_other_agents_orders(ota):
    orderid = ota.book()
    assert by_pwd(ota, orderid, "200.00").retcode == "0"
    expect(ota, by_pwd(ota, orderid, "200.00"), "UseAccountToPayByPwd.aspx", "order_not_found_or_not_booking")
    expect(ota, fk_by_pwd(ota, orderid, "200.00"), "UseAccountToPayByFKWithPwd.aspx", "order_not_found_or_not_booking")
    expect(ota, by_pwd(ota, "20261121999", "200.00"), "UseAccountToPayByPwd.aspx", "order_not_found_or_not_booking")
    theirs = ota.as_(OTHER).book()
    expect(ota, by_pwd(ota, theirs, "200.00"), "UseAccountToPayByPwd.aspx", "order_not_found_or_not_booking")
    assert ota.as_(OTHER).status(theirs) == "0"
    assert agent(ota).deposit_held == Decimal("200.00")  # held once


def test_payment_permissions(ota):
    with_pay_types(ota, "demo-ota", ("desk",))
    orderid = ota.book()
    expect(ota, ota.call("ReadyToPay.aspx", {"Order_id": orderid}), "ReadyToPay.aspx", "deposit_not_enabled")
    expect(ota, ota.call("ReadyToPayByFK.aspx", {"Order_id": orderid}), "ReadyToPayByFK.aspx", "fk_pay_not_enabled")
    expect(ota, by_pwd(ota, orderid, "200.00"), "UseAccountToPayByPwd.aspx", "deposit_pay_not_allowed")
    expect(ota, fk_by_pwd(ota, orderid, "200.00"), "UseAccountToPayByFKWithPwd.aspx", "rebate_pay_not_allowed")
    env = ota.call("UseAccountToPay.aspx", {"Order_id": orderid, "money": "200.00", "SmsCode": "123456"})
    expect(ota, env, "UseAccountToPay.aspx", "deposit_pay_not_allowed")
    env = ota.call("GetVerificationCode.aspx", {"DWSX": "2", "DWID": ota.mock.world.agent("demo-ota").customerid})
    expect(ota, env, "GetVerificationCode.aspx", "prepay_not_enabled")
    assert ota.status(orderid) == "0"


# ------------------------------------------------------------------ money after payment


@pytest.mark.parametrize("pay,account,status", [(by_pwd, "deposit", "2"), (fk_by_pwd, "rebate", "C")])
def test_cancel_a_paid_order_36_hours_ahead_charges_the_fee(ota, pay, account, status):
    orderid = ota.book("P1001|2", day="20261123")  # effect date 00:00 is 38 h after the start
    assert pay(ota, orderid, "200.00").retcode == "0" and ota.status(orderid) == status
    ota.advance(2 * 3600)
    assert ota.call("CancelOrder.aspx", {"Order_id": orderid}).retcode == "0"
    assert ota.status(orderid) == "4"
    a = agent(ota)
    start = {"deposit": Decimal("10000.00"), "rebate": Decimal("2000.00")}[account]
    assert a.balance(account) == start - Decimal("20.00") and a.available(account) == a.balance(account)
    txs = rows(ota, "SELECT account, amount, balance, kind, orderid FROM transactions")
    assert txs == [{"account": account, "amount": "-20.00", "balance": str(start - 20), "kind": "fee",
                    "orderid": orderid}]
    assert order_row(ota, orderid)["fees"] == "20.00" and order_row(ota, orderid)["held"] == "0.00"


def test_activate_on_payment_debits_and_makes_tickets(ota):
    orderid = ota.book()
    expect(ota, by_pwd(ota, orderid, "200.00", activate="1"), "UseAccountToPayByPwd.aspx", "bad_params")
    assert by_pwd(ota, orderid, "200.00", activate="1", tickettype="2").retcode == "0"
    assert ota.status(orderid) == "3"
    a = agent(ota)
    assert (a.deposit, a.deposit_held) == (Decimal("9800.00"), 0)
    assert rows(ota, "SELECT amount, kind FROM transactions") == [{"amount": "-200.00", "kind": "order"}]
    assert [r["medium"] for r in rows(ota, "SELECT medium FROM tickets WHERE orderid=?", orderid)] == ["barcode"]


def test_failed_activation_fails_the_authorisation(ota):
    orderid = ota.book()  # no real-name records: no ID-card tickets (2.18)
    env = by_pwd(ota, orderid, "200.00", activate="1", tickettype="1")
    expect(ota, env, "UseAccountToPayByPwd.aspx", "call_failed")
    with_supplier(ota, activateable="0")
    expect(ota, by_pwd(ota, orderid, "200.00", activate="1", tickettype="2"), "UseAccountToPayByPwd.aspx",
           "call_failed")
    assert ota.status(orderid) == "0" and agent(ota).deposit_held == 0 and rows(ota, "SELECT * FROM tickets") == []


def test_forced_activation(ota):
    with_supplier(ota, activateable="2")
    orderid = ota.book()
    assert fk_by_pwd(ota, orderid, "200.00").retcode == "0"
    assert ota.status(orderid) == "D" and agent(ota).rebate == Decimal("1800.00")


def test_payandactive_world_pays_straight_to_delivered(spec):
    ota = make_ota(spec, world=PAY_AND_ACTIVE)
    assert ota.mock.world.supplier.payandactive
    orderid = ota.book()
    ota.call("ReadyToPay.aspx", {"Order_id": orderid})
    code = last_code(ota, "pay_deposit_code", orderid)["code"]
    assert ota.call("UseAccountToPay.aspx", {"Order_id": orderid, "money": "200.00", "SmsCode": code}).retcode == "0"
    assert ota.status(orderid) == "3"
    rebate_order = ota.book("P1002|2")
    assert fk_by_pwd(ota, rebate_order, "100.00").retcode == "0"
    assert ota.status(rebate_order) == "D"
    a = agent(ota)
    assert (a.deposit, a.rebate, a.deposit_held, a.rebate_held) == (Decimal("9800.00"), Decimal("1900.00"), 0, 0)


# ------------------------------------------------------------------ notices and callbacks


def test_official_notices_follow_smsmodel_and_sendnotification(ota):
    quiet = ota.book()
    assert by_pwd(ota, quiet, "200.00", sendnotification="0").retcode == "0"
    both = ota.book()
    assert ota.call("UseAccountToPayByPwd.aspx", {"Order_id": both, "money": "200.00", "Smscode": "123456",
                                                  "smsModel": "2"}).retcode == "0"
    with ota.mock.store.transaction() as db:
        db.execute("UPDATE agents SET sendofficiallysnotify='0' WHERE user='demo-ota'")
    declined = ota.book()
    assert by_pwd(ota, declined, "200.00").retcode == "0"
    sent = rows(ota, "SELECT orderid, purpose FROM sms WHERE purpose IN ('paid', 'voucher_mms') ORDER BY id")
    assert sent == [{"orderid": both, "purpose": "paid"}, {"orderid": both, "purpose": "voucher_mms"}]


def test_payment_callbacks_land_in_the_outbox(ota):
    with ota.mock.store.transaction() as db:
        db.execute("UPDATE agents SET responseaddr='http://127.0.0.1:9/notify' WHERE user='demo-ota'")
    assert ydj(ota, "CB-1", activate="1", tickettype="2").retcode == "0"
    statuses = [r["params"] for r in rows(ota, "SELECT params FROM outbox ORDER BY id")]
    assert ['"status": "0"' in statuses[0], '"status": "2"' in statuses[1], '"status": "3"' in statuses[2]] == [
        True] * 3
    assert all('"senderid": "CB-1"' in p for p in statuses) and len(statuses) == 3


# ------------------------------------------------------------------ one-step pages


def test_order_and_pay_with_ydj_is_idempotent_on_xcddh(ota):
    env = ydj(ota, "YDJ-1")
    assert env.retcode == "0", env.retmsg
    orderid = env.text("Item/Order_id")
    assert (env.text("Item/XCDDH"), env.text("Item/status")) == ("YDJ-1", "2")
    again = ydj(ota, "YDJ-1")
    assert (again.retcode, again.text("Item/Order_id"), again.text("Item/status")) == ("0", orderid, "2")
    assert agent(ota).deposit_held == Decimal("200.00")
    assert len(rows(ota, "SELECT * FROM orders")) == 1
    assert order_row(ota, orderid)["page"] == "OrderAndPayWithYDJ.aspx"


def test_order_and_pay_with_ydj_refusals_leave_no_order(ota):
    expect(ota, ydj(ota, "YDJ-2", pay_password="000000"), "OrderAndPayWithYDJ.aspx", "call_failed")
    env = ydj(ota, "YDJ-3", amount="100.00")
    expect(ota, env, "OrderAndPayWithYDJ.aspx", "call_failed")
    assert "金额" in env.retmsg
    expect(ota, ydj(ota, "YDJ-4", activate="1"), "OrderAndPayWithYDJ.aspx", "bad_params")
    expect(ota, ydj(ota, "YDJ-5", order_list="P1001|100|P1002|1", amount="10050.00"), "OrderAndPayWithYDJ.aspx",
           "call_failed")
    assert rows(ota, "SELECT * FROM orders") == [] and rows(ota, "SELECT * FROM stock") == []
    assert agent(ota).deposit_held == 0


def test_order_and_pay_with_ydj_can_activate(ota):
    env = ydj(ota, "YDJ-6", activate="1", tickettype="2")
    assert env.text("Item/status") == "3"
    assert agent(ota).deposit == Decimal("9800.00")


def test_a_repeated_xcddh_of_an_unpaid_order_pays_it(ota):
    orderid = ota.book(senderid="SAME-1")
    env = ydj(ota, "SAME-1")
    assert (env.retcode, env.text("Item/Order_id"), env.text("Item/status")) == ("0", orderid, "2")


def test_order_and_pay_with_fk_activates_and_is_idempotent(ota):
    env = fk_one_step(ota, "FK-1")
    assert env.retcode == "0", env.retmsg
    orderid = env.text("Item/order_id")
    assert (env.text("Item/senderid"), env.text("Item/status")) == ("FK-1", "D")
    again = fk_one_step(ota, "FK-1")
    assert (again.text("Item/order_id"), again.text("Item/status")) == (orderid, "D")
    assert agent(ota).rebate == Decimal("1800.00")
    assert rows(ota, "SELECT amount, kind, account FROM transactions") == [
        {"amount": "-200.00", "kind": "order", "account": "rebate"}]
    refused = fk_one_step(ota, "FK-2", order_list="P1001|19", amount="1900.00")  # 1800.00 left
    expect(ota, refused, "OrderAndPayWithFK.aspx", "call_failed")
    assert "返款余额不足" in refused.retmsg


# ------------------------------------------------------------------ pay password change


def direct_call(ota, page: str, values: dict[str, str]) -> Call:
    """A decoded call as the pipeline would hand it over (pay-password fields as UPPER(MD5))."""
    return Call(ota.mock.spec.page(page), "GET", ota.mock.world.agent(DEMO.user), values, ())


def change(ota, zfdh: str, code: str, new: str, again: str) -> None:
    payments.change_pay_pwd(ota.mock, direct_call(ota, "ChangePayPwd.aspx", {
        "ZFDH": zfdh, "YZM": code, "NewPwd": crypto.md5_upper(new), "NewPwd2": crypto.md5_upper(again)}))


def test_change_pay_password_then_pay_with_it(ota):
    customerid = ota.mock.world.agent("demo-ota").customerid
    expect(ota, ota.call("GetVerificationCode.aspx", {"DWSX": "3", "DWID": customerid}),
           "GetVerificationCode.aspx", "bad_unit")
    env = ota.call("GetVerificationCode.aspx", {"DWSX": "2", "DWID": customerid})
    assert env.retcode == "0" and env.text("item/status") == "0"
    zfdh = env.text("item/order_id")
    sms = last_code(ota, "pay_password_code", zfdh)
    assert sms["mobile"] == "13800000001" and len(zfdh) <= 20
    expect(ota, ota.call("GetVerificationCode.aspx", {"DWSX": "2", "DWID": customerid}),
           "GetVerificationCode.aspx", "resend_too_frequent")
    # YZM is declared String(1): over HTTP only a one-character (wrong) code gets past the length check.
    env = ota.call("ChangePayPwd.aspx", {"YZM": "1", "ZFDH": zfdh, "NewPwd": "654321", "NewPwd2": "654321"})
    expect(ota, env, "ChangePayPwd.aspx", "sms_code_wrong")
    with pytest.raises(YbxError) as refused:
        change(ota, zfdh, sms["code"], "654321", "654322")
    assert refused.value.key == "bad_new_password"
    change(ota, zfdh, sms["code"], "654321", "654321")
    assert agent(ota).pay_password_md5 == crypto.md5_upper("654321")
    with pytest.raises(YbxError) as reused:
        change(ota, zfdh, sms["code"], "111111", "111111")
    assert reused.value.key == "sms_code_wrong"

    orderid = ota.book()
    expect(ota, by_pwd(ota, orderid, "200.00"), "UseAccountToPayByPwd.aspx", "bad_pay_password")
    assert by_pwd(ota, orderid, "200.00", pay_password="654321").retcode == "0"


def test_password_change_code_expires(ota):
    env = ota.call("GetVerificationCode.aspx", {"DWSX": "2", "DWID": ota.mock.world.agent("demo-ota").customerid})
    zfdh = env.text("item/order_id")
    ota.advance(payments.REBATE_CODE_TTL_SECONDS + 1)
    with pytest.raises(YbxError) as refused:
        change(ota, zfdh, last_code(ota, "pay_password_code", zfdh)["code"], "654321", "654321")
    assert refused.value.key == "code_expired_or_invalid"
    assert agent(ota).pay_password_md5 == crypto.md5_upper("123456")
