"""Account balances and transaction records, deal records, agent settings, the paused page,
and the supplier's account events (2.15)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mockkit import DISABLED, OTHER
from mockserver import delivery, events, ledger, machine
from mockserver.context import Call
from mockserver.handlers import accounts
from spec.errors import ParamError, message_for, resolve

DAY1 = {"Start_datetime": "20261121000000", "End_datetime": "20261121235959"}


def expect(ota, env, page: str, key: str) -> None:
    """The envelope carries the retcode (and, without placeholder, the message) the page lists for `key`."""
    retcode = ota.mock.spec.page(page).retcode(key)
    assert retcode is not None, (page, key)
    assert env.retcode == retcode.code, (env.retcode, env.retmsg)
    if key != "ok" and "ex" not in retcode.message_zh:
        assert env.retmsg == retcode.message_zh


def event(ota, name: str, **body):
    return events.run(ota.mock, name, body)


def balances(ota, user: str = "demo-ota") -> tuple[Decimal, Decimal, Decimal, Decimal]:
    with ota.mock.store.reading() as db:
        a = ota.mock.store.agent(db, user)
    return a.deposit, a.rebate, a.deposit_held, a.rebate_held


def records(env, path: str = "Items/Item") -> list[dict[str, str]]:
    return [{c.tag: c.text or "" for c in el} for el in env.root.findall(path)]


# ---------------------------------------------------------------- balances

def test_deposit_balance_before_and_after_top_up(ota):
    before = ota.call("QueryYFKRec.aspx")
    assert before.retcode == "0"
    assert before.text("Item/BQJY") == "10000.00" and before.text("Item/DWMC") == "示范旅行社"
    assert before.text("Item/DWID") == ota.mock.world.agent("demo-ota").customerid
    result = event(ota, "top-up", user="demo-ota", account="deposit", amount="500")
    assert result["balance"] == "10500.00"
    after = ota.call("QueryYFKRec.aspx")
    assert [after.text(f"Item/{n}") for n in ("SQJY", "BQSQ", "BQDF", "BQJY")] == ["10000.00", "500.00", "0.00", "10500.00"]
    assert balances(ota)[:2] == (Decimal("10500.00"), Decimal("2000.00"))
    with ota.mock.store.reading() as db:
        row = db.execute("SELECT * FROM transactions WHERE agent='demo-ota'").fetchone()
    assert (row["account"], row["kind"], row["amount"], row["balance"]) == ("deposit", "topup", "500.00", "10500.00")


def test_rebate_balance_after_top_up_and_deduct(ota):
    assert ota.call("QueryFKRec.aspx").text("Item/JEBQJY") == "2000.00"
    event(ota, "top-up", user="demo-ota", account="rebate", amount="100.50")
    event(ota, "deduct", user="demo-ota", account="rebate", amount="20")
    env = ota.call("QueryFKRec.aspx")
    assert env.retcode == "0"
    assert [env.text(f"Item/{n}") for n in ("ND", "JESQJY", "JEBQSQ", "JEBQDF", "JEBQJY")] == \
        ["2026", "2000.00", "100.50", "20.00", "2080.50"]
    assert ota.call("QueryYFKRec.aspx").text("Item/BQJY") == "10000.00"


def test_deduct_never_drives_the_account_below_its_holds(ota):
    event(ota, "deduct", user="demo-ota", account="deposit", amount="300")
    assert ota.call("QueryYFKRec.aspx").text("Item/BQDF") == "300.00"
    with ota.mock.store.transaction() as db:
        ledger.hold(db, "demo-ota", "deposit", Decimal("9000.00"))
    with pytest.raises(events.EventError):
        event(ota, "deduct", user="demo-ota", account="deposit", amount="700.01")
    assert balances(ota)[0] == Decimal("9700.00")
    event(ota, "deduct", user="demo-ota", account="deposit", amount="700")
    assert balances(ota)[0] == Decimal("9000.00") and balances(ota)[2] == Decimal("9000.00")


@pytest.mark.parametrize("body, status", [
    ({"user": "nobody", "account": "deposit", "amount": "1"}, 404),
    ({"user": "demo-ota", "account": "cash", "amount": "1"}, 400),
    ({"user": "demo-ota", "account": "deposit", "amount": "-5"}, 400),
    ({"user": "demo-ota", "account": "deposit", "amount": "1.001"}, 400),
    ({"user": "demo-ota", "account": "deposit"}, 400),
    ({"user": "disabled-ota", "account": "deposit", "amount": "1"}, 409),
])
def test_top_up_refuses_impossible_requests(ota, body, status):
    with pytest.raises(events.EventError) as caught:
        events.run(ota.mock, "top-up", body)
    assert caught.value.status == status
    with ota.mock.store.reading() as db:
        assert db.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 0


def test_agent_without_the_payment_type_has_no_account(ota):
    event(ota, "agent-enable", user="disabled-ota")  # pay_types [desk]: neither deposit nor rebate
    disabled = ota.as_(DISABLED)
    expect(ota, disabled.call("QueryYFKRec.aspx"), "QueryYFKRec.aspx", "no_deposit_account")
    expect(ota, disabled.call("QueryFKRec.aspx"), "QueryFKRec.aspx", "no_rebate_account")
    expect(ota, disabled.call("QueryYFKJYRecCount.aspx", DAY1), "QueryYFKJYRecCount.aspx", "no_page_info")
    expect(ota, disabled.call("QueryYFKJYRec.aspx", {**DAY1, "Page_index": "1"}), "QueryYFKJYRec.aspx", "no_records")
    expect(ota, disabled.call("QueryFKJYRecCount.aspx", DAY1), "QueryFKJYRecCount.aspx", "no_page_info")
    expect(ota, disabled.call("QueryFKJYRec.aspx", {**DAY1, "Page_index": "1"}), "QueryFKJYRec.aspx", "no_records")


# ---------------------------------------------------------------- transaction records

def test_deposit_records_page_from_one(ota):
    size = ota.mock.world.supplier.page_size
    for i in range(size + 5):
        event(ota, "top-up", user="demo-ota", account="deposit", amount=str(i + 1), memo=f"t{i}")
    count = ota.call("QueryYFKJYRecCount.aspx", DAY1)
    assert [count.text(f"item/{n}") for n in ("pagesize", "pagecount", "recordcount")] == [str(size), "2", str(size + 5)]
    first = records(ota.call("QueryYFKJYRec.aspx", {**DAY1, "Page_index": "1"}))
    second = records(ota.call("QueryYFKJYRec.aspx", {**DAY1, "Page_index": "2"}))
    assert len(first) == size and len(second) == 5
    assert first[0]["BZ"] == "t0" and second[-1]["BZ"] == f"t{size + 4}"
    r = first[1]
    assert (r["JYLX"], r["QCYE"], r["BQFS"], r["QMYE"], r["YHDLM"]) == ("1", "10001.00", "2.00", "10003.00", "demo-ota")
    assert r["RQSJ"] == "20261121100000" and r["DJDH"].startswith("JY")
    for page_index in ("3", "0"):
        expect(ota, ota.call("QueryYFKJYRec.aspx", {**DAY1, "Page_index": page_index}), "QueryYFKJYRec.aspx", "no_records")
    expect(ota, ota.call("QueryYFKJYRec.aspx", {**DAY1, "Page_index": "x"}), "QueryYFKJYRec.aspx", "call_failed")


def test_deposit_records_filter_by_period_and_type(ota):
    event(ota, "top-up", user="demo-ota", account="deposit", amount="100")
    event(ota, "deduct", user="demo-ota", account="deposit", amount="40")
    ota.advance(86400)
    event(ota, "top-up", user="demo-ota", account="deposit", amount="7")
    two_days = {"Start_datetime": "20261121000000", "End_datetime": "20261122235959"}
    assert ota.call("QueryYFKJYRecCount.aspx", DAY1).text("item/recordcount") == "2"
    assert ota.call("QueryYFKJYRecCount.aspx", two_days).text("item/recordcount") == "3"
    assert ota.call("QueryYFKJYRecCount.aspx", {**two_days, "JYLX": "1"}).text("item/recordcount") == "2"
    debits = records(ota.call("QueryYFKJYRec.aspx", {**two_days, "JYLX": "2", "Page_index": "1"}))
    assert [(r["JYLX"], r["BQFS"], r["QMYE"]) for r in debits] == [("2", "-40.00", "10060.00")]
    empty = ota.call("QueryYFKJYRecCount.aspx", {"Start_datetime": "20261001000000", "End_datetime": "20261002000000"})
    assert empty.retcode == "0" and empty.text("item/recordcount") == "0" and empty.text("item/pagecount") == "0"
    backwards = {"Start_datetime": "20261122000000", "End_datetime": "20261121000000"}
    expect(ota, ota.call("QueryYFKJYRecCount.aspx", backwards), "QueryYFKJYRecCount.aspx", "no_page_info")
    expect(ota, ota.call("QueryYFKJYRec.aspx", {**backwards, "Page_index": "1"}), "QueryYFKJYRec.aspx", "no_records")


def test_rebate_records_and_type_codes(ota):
    event(ota, "top-up", user="demo-ota", account="rebate", amount="300")
    event(ota, "deduct", user="demo-ota", account="rebate", amount="50")
    count = ota.call("QueryFKJYRecCount.aspx", DAY1)
    assert count.retcode == "0" and count.text("item/recordcount") == "2"
    rows = records(ota.call("QueryFKJYRec.aspx", {**DAY1, "Page_index": "1"}))
    assert [(r["JYLX"], r["JEQCYE"], r["JEBQFS"], r["JEQMYE"], r["ND"]) for r in rows] == \
        [("0", "2000.00", "300.00", "2300.00", "2026"), ("7", "2300.00", "-50.00", "2250.00", "2026")]
    assert ota.call("QueryFKJYRecCount.aspx", {**DAY1, "JYLX": "7"}).text("item/recordcount") == "1"
    assert ota.call("QueryFKJYRecCount.aspx", {**DAY1, "JYLX": "9"}).text("item/recordcount") == "0"
    expect(ota, ota.call("QueryFKJYRec.aspx", {**DAY1, "Page_index": "2"}), "QueryFKJYRec.aspx", "no_records")


@pytest.mark.parametrize("start, end, key", [
    ("20261122000000", "20261121000000", "start_after_end"),
    ("20260521000000", "20261122000000", "date_range_too_long"),
    ("20260831000000", "20270301000000", "date_range_too_long"),
    ("20260231000000", "20260301000000", "bad_date_format"),
    ("20260521000000", "20261121235959", "ok"),
    ("20260831000000", "20270228235959", "ok"),
])
def test_rebate_count_date_rules(ota, start, end, key):
    env = ota.call("QueryFKJYRecCount.aspx", {"Start_datetime": start, "End_datetime": end})
    expect(ota, env, "QueryFKJYRecCount.aspx", key)


def test_ledger_kinds_map_to_the_manual_codes():
    assert accounts.jylx("deposit", "order", Decimal("-1")) == "2"
    assert accounts.jylx("deposit", "refund", Decimal("1")) == "1"
    assert accounts.jylx("rebate", "order", Decimal("-1")) == "9"
    assert accounts.jylx("rebate", "refund", Decimal("1")) == "A"
    assert accounts.jylx("rebate", "unknown", Decimal("1")) == "0"
    assert accounts.jylx("deposit", "unknown", Decimal("-1")) == "2"


# ---------------------------------------------------------------- deal records

def deliver(ota, orderid: str, taken: dict[int, int] | None = None) -> None:
    mock = ota.mock
    with mock.store.transaction() as db:
        order = machine.load(db, orderid, ota.creds.user)
        ledger.hold(db, order["agent"], "deposit", Decimal(order["total"]))
        db.execute("UPDATE orders SET held=total WHERE orderid=?", (orderid,))
        machine.fire(mock, db, order, "pay_deposit", pay_type="deposit")
        delivery.deliver(mock, db, machine.load(db, orderid, ota.creds.user), "desk_pickup", taken=taken)


def test_deal_records_after_a_partial_delivery(ota):
    assert accounts.deal_states(ota.mock) == {"3", "X", "D"}
    orderid = ota.book("P1001|2|P1002|1")
    ota.book()  # booked, not delivered: no deal
    deliver(ota, orderid, {1: 2, 2: 0})
    days = {"Start_datetime": "20261121", "End_datetime": "20261121"}
    count = ota.call("GetSPYDRecCount.aspx", days)
    assert count.retcode == "0" and count.text("item/recordcount") == "2" and count.text("item/pagecount") == "1"
    env = ota.call("GetSPYDRec.aspx", {**days, "Page_index": "1"})
    items = records(env, "Item")
    assert [(i["orderid"], i["orderstatus"], i["ydnum"], i["summary"]) for i in items] == [(orderid, "3", "3", "250.00")] * 2
    assert [(i["productName"], i["num"], i["price"], i["Total"], i["unit"]) for i in items] == \
        [("成人票", "2", "100.00", "200.00", "张"), ("儿童票", "0", "50.00", "0.00", "张")]
    assert items[0]["jgrqsj"] == "20261121100000" and items[0]["customername"] == "示范旅行社"
    assert ota.call("GetSPYDRecCount.aspx", {**days, "TicketTypeID": "P1002"}).text("item/recordcount") == "1"
    assert ota.call("GetSPYDRecCount.aspx", {**days, "Order_id": "20261121999"}).text("item/recordcount") == "0"
    later = {"Start_datetime": "20261122", "End_datetime": "20261130"}
    assert ota.call("GetSPYDRecCount.aspx", later).text("item/recordcount") == "0"
    expect(ota, ota.call("GetSPYDRec.aspx", {**later, "Page_index": "1"}), "GetSPYDRec.aspx", "no_page_info")
    expect(ota, ota.call("GetSPYDRec.aspx", {**days, "Page_index": "2"}), "GetSPYDRec.aspx", "no_page_info")
    expect(ota, ota.call("GetSPYDRecCount.aspx", {"Start_datetime": "20261122", "End_datetime": "20261121"}),
           "GetSPYDRecCount.aspx", "no_page_info")
    # the deposit paid only for what was taken (fee 0: four days ahead is free)
    assert ota.call("QueryYFKRec.aspx").text("Item/BQJY") == "9800.00"
    assert balances(ota)[2] == Decimal("0.00")
    row = records(ota.call("QueryYFKJYRec.aspx", {**DAY1, "Page_index": "1"}))
    assert [(r["JYLX"], r["BQFS"], r["DJDH"]) for r in row] == [("2", "-200.00", orderid)]


def test_record_remarks_are_the_staffs_or_the_causes_words(ota):
    event(ota, "top-up", user="demo-ota", account="deposit", amount="100")  # no remark written
    event(ota, "deduct", user="demo-ota", account="deposit", amount="40", memo="年度对账")
    deliver(ota, ota.book("P1001|2", day="20261122"), {1: 1})  # one adult not taken, inside a fee band
    remarks = [r["BZ"] for r in records(ota.call("QueryYFKJYRec.aspx", {**DAY1, "Page_index": "1"}))]
    order, fee, _, topup, _ = ota.mock.spec.page("QueryYFKJYRec.aspx").gap("queryyfkjyrec-bz-words").value.split("/")
    assert remarks == [topup, "年度对账", order, fee] == ["充值", "年度对账", "交割扣款", "违约手续费"]
    event(ota, "top-up", user="demo-ota", account="rebate", amount="10")
    said = records(ota.call("QueryFKJYRec.aspx", {**DAY1, "Page_index": "1"}))
    assert [r["JY"] for r in said] == ["充值"]  # the same words on the rebate page (gap queryfkjyrec-jy-words)


def test_agents_see_only_their_own_records(ota):
    orderid = ota.book()
    deliver(ota, orderid)
    event(ota, "top-up", user="demo-ota", account="rebate", amount="10")
    other = ota.as_(OTHER)
    days = {"Start_datetime": "20261121", "End_datetime": "20261121"}
    assert ota.call("GetSPYDRecCount.aspx", days).text("item/recordcount") == "1"
    assert other.call("GetSPYDRecCount.aspx", days).text("item/recordcount") == "0"
    assert other.call("GetSPYDRecCount.aspx", {**days, "Order_id": orderid}).text("item/recordcount") == "0"
    assert other.call("QueryYFKJYRecCount.aspx", DAY1).text("item/recordcount") == "0"
    assert other.call("QueryFKJYRecCount.aspx", DAY1).text("item/recordcount") == "0"
    assert other.call("QueryYFKRec.aspx").text("Item/BQJY") == "5000.00"
    assert other.call("QueryFKRec.aspx").text("Item/DWMC") == "另一家旅行社"
    event(ota, "top-up", user="other-ota", account="deposit", amount="1")
    mine = records(other.call("QueryYFKJYRec.aspx", {**DAY1, "Page_index": "1"}))
    assert [(r["YHDLM"], r["QMYE"]) for r in mine] == [("other-ota", "5001.00")]


# ---------------------------------------------------------------- agent settings and enable/disable

def agent_row(ota, user: str = "demo-ota"):
    with ota.mock.store.reading() as db:
        return db.execute("SELECT * FROM agents WHERE user=?", (user,)).fetchone()


def test_set_agent_parameters_stores_the_settings(ota):
    env = ota.call("SetAgentParameters.aspx", {"responseaddr": "http://127.0.0.1:9/cb", "sendofficiallysnotify": "0"})
    assert env.retcode == "0"
    row = agent_row(ota)
    assert (row["responseaddr"], row["sendofficiallysnotify"]) == ("http://127.0.0.1:9/cb", "0")
    assert agent_row(ota, "other-ota")["responseaddr"] == ""
    orderid = ota.book(senderid="S-1")
    with ota.mock.store.reading() as db:
        assert db.execute("SELECT COUNT(*) FROM sms WHERE orderid=?", (orderid,)).fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM outbox WHERE orderid=?", (orderid,)).fetchone()[0] == 1
    bad = ota.call("SetAgentParameters.aspx", {"responseaddr": "http://x/cb", "sendofficiallysnotify": "2"})
    expect(ota, bad, "SetAgentParameters.aspx", "bad_params")
    assert agent_row(ota)["responseaddr"] == "http://127.0.0.1:9/cb"


def direct_call(ota, values: dict[str, str]) -> Call:
    """The handler on its own: the pipeline refuses an empty required value before it (see the report)."""
    page = ota.mock.spec.page("SetAgentParameters.aspx")
    return Call(page, "GET", ota.mock.world.agent("demo-ota"), values, ())


def test_empty_responseaddr_switches_callbacks_off(ota):
    ota.call("SetAgentParameters.aspx", {"responseaddr": "http://127.0.0.1:9/cb", "sendofficiallysnotify": "1"})
    assert accounts.set_agent_parameters(ota.mock, direct_call(ota, {"responseaddr": "", "sendofficiallysnotify": "1"})) == {}
    assert agent_row(ota)["responseaddr"] == ""
    orderid = ota.book(senderid="S-2")
    with ota.mock.store.reading() as db:
        assert db.execute("SELECT COUNT(*) FROM outbox WHERE orderid=?", (orderid,)).fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM sms WHERE orderid=?", (orderid,)).fetchone()[0] == 1


def test_missing_notify_flag_answers_the_listed_message(ota):
    page = ota.mock.spec.page("SetAgentParameters.aspx")
    with pytest.raises(ParamError) as caught:
        accounts.set_agent_parameters(ota.mock, direct_call(ota, {"responseaddr": "http://x/cb", "sendofficiallysnotify": ""}))
    retcode = resolve(page, caught.value, ota.mock.profile)
    assert (retcode.key, retcode.code) == ("sendofficiallysnotify_missing", "-1")
    assert message_for(ota.mock.spec, retcode, caught.value) == page.retcode("sendofficiallysnotify_missing").message_zh
    assert agent_row(ota)["responseaddr"] == ""


def test_disabled_agent_is_refused_until_enabled(ota):
    values = {"responseaddr": "http://127.0.0.1:9/cb", "sendofficiallysnotify": "1"}
    assert event(ota, "agent-disable", user="demo-ota") == {"user": "demo-ota", "enabled": False}
    expect(ota, ota.call("SetAgentParameters.aspx", values), "SetAgentParameters.aspx", "account_disabled")
    expect(ota, ota.call("QueryOrdersList.aspx", {"Page_index": "0"}), "QueryOrdersList.aspx", "account_disabled")
    assert ota.as_(OTHER).call("QueryYFKRec.aspx").retcode == "0"
    assert agent_row(ota)["enabled"] == 0 and agent_row(ota)["responseaddr"] == ""
    event(ota, "agent-enable", user="demo-ota")
    assert ota.call("SetAgentParameters.aspx", values).retcode == "0"
    with pytest.raises(events.EventError) as caught:
        event(ota, "agent-disable", user="ghost")
    assert caught.value.status == 404


# ---------------------------------------------------------------- the paused page and inventory

def test_paused_product_status_answers_the_suspension_message(ota):
    env = ota.call("QueryPruductStatus.aspx", {"Productid": "P1001"})
    assert env.retcode == "-1"
    assert env.retmsg == ota.mock.spec.page("QueryOrdersList.aspx").retcode("version_paused").message_zh
    assert env.root.find("item") is None


def inventory(ota, product: str = "P1004") -> str:
    env = ota.call("GetProductsInventory.aspx", {"StartDate": "20261125", "EndDate": "20261125", "ProductID": product})
    return env.text("Item/quantity")


def test_set_inventory_changes_what_is_left(ota):
    assert inventory(ota) == "20"
    assert event(ota, "set-inventory", productid="P1004", date="20261125", sold=18)["sold"] == 18
    assert inventory(ota) == "2"
    refused = ota.call("OrderProducts.aspx", {"Order_list": "P1004|3", "Mobile": "13800138000",
                                              "ID": "110101199003071234", "SXRQ": "20261125", "timespanindex": "-1"})
    expect(ota, refused, "OrderProducts.aspx", "daily_limit_failed")
    event(ota, "set-inventory", productid="P1004", date="20261125", sold="20")
    assert inventory(ota) == "-1"
    event(ota, "set-inventory", productid="P1004", date="20261125", sold=0)
    assert inventory(ota) == "20"


@pytest.mark.parametrize("body, status", [
    ({"productid": "P9999", "date": "20261125", "sold": 1}, 404),
    ({"productid": "P1004", "date": "2026-11-25", "sold": 1}, 400),
    ({"productid": "P1004", "date": "20261125", "sold": -1}, 400),
    ({"productid": "P1004", "date": "20261125", "sold": 21}, 409),
])
def test_set_inventory_refuses_impossible_requests(ota, body, status):
    with pytest.raises(events.EventError) as caught:
        events.run(ota.mock, "set-inventory", body)
    assert caught.value.status == status
    assert inventory(ota) == "20"
