"""The mock's request pipeline, catalog pages, booking, queries and cancellation."""

from __future__ import annotations

import pytest

from mockkit import DEMO, DISABLED, OTHER, make_ota


def test_catalog_pages_answer_signed(ota):
    for page, values in [("GetProducts.aspx", {}), ("GetProviderConfig.aspx", {}), ("GetServiceItem.aspx", {}),
                         ("GetTimeSegment.aspx", {}), ("GetPayChannel.aspx", {}),
                         ("GetProductsInventory.aspx", {"StartDate": "20261121", "EndDate": "20261125"})]:
        env = ota.call(page, values)
        assert env.retcode == "0", (page, env.retmsg)


def test_inventory_range_rules(ota):
    assert ota.call("GetProductsInventory.aspx", {"StartDate": "20261125", "EndDate": "20261121"}).retmsg.startswith("起始日期不能在截止日期之后")
    assert "7天" in ota.call("GetProductsInventory.aspx", {"StartDate": "20261101", "EndDate": "20261120"}).retmsg


def test_book_query_cancel(ota):
    orderid = ota.book("P1001|2|P1002|1")
    env = ota.call("QueryOrder.aspx", {"order_id": orderid})
    assert env.text("Item/orderstatus") == "0" and env.text("Item/summary") == "250.00"
    assert ota.call("CancelOrder.aspx", {"Order_id": orderid}).retcode == "0"
    assert ota.status(orderid) == "4"
    again = ota.call("CancelOrder.aspx", {"Order_id": orderid})
    assert again.retcode == "-2381" and "已关闭" in again.retmsg


def test_post_and_get_answer_alike(ota):
    get = ota.call("GetProducts.aspx")
    post = ota.call("GetProducts.aspx", post=True)
    assert get.body == post.body


@pytest.mark.parametrize("tamper", ["sign", "password", "Mobile"])
def test_bad_requests_are_refused_with_spec_codes(ota, tamper):
    page = ota.mock.spec.page("OrderProducts.aspx")
    from spec.protocol import encode_request
    values = {"Order_list": "P1001|1", "Mobile": "13800138000", "ID": "110101199003071234", "SXRQ": "20261125"}
    pairs = encode_request(page, values, DEMO, ota.mock.profile)
    if tamper == "sign":
        pairs = [(k, "0" * 32 if k == "sign" else v) for k, v in pairs]
    elif tamper == "password":
        from spec import crypto
        bad = crypto.password_field("wrong", DEMO.key, ota.mock.profile.cipher)
        pairs = [(k, bad if k == "password" else v) for k, v in pairs]
        from spec.signing import request_sign
        pairs = [(k, v) for k, v in pairs if k != "sign"] + [("sign", request_sign([(k, v) for k, v in pairs if k != "sign"], DEMO.key, ota.mock.profile.sign))]
    else:
        from spec.signing import request_sign
        pairs = [(k, "13800138000" if k == "Mobile" else v) for k, v in pairs if k != "sign"]
        pairs.append(("sign", request_sign(pairs, DEMO.key, ota.mock.profile.sign)))
    r = ota.client.get("/OrderProducts.aspx", params=pairs)
    assert r.status_code == 200
    from spec import wire
    env = wire.parse(r.content, ota.mock.profile.response)
    assert env.retcode != "0"
    assert env.retcode in {c.code for c in page.retcodes}


def test_names_are_case_insensitive(ota):
    page = ota.mock.spec.page("GetProducts.aspx")
    from spec.protocol import encode_request
    pairs = encode_request(page, {}, DEMO, ota.mock.profile)
    upper = [(k.upper() if k != "sign" else k, v) for k, v in pairs]
    from spec import wire
    assert wire.parse(ota.client.get("/getproducts.aspx", params=upper).content, ota.mock.profile.response).retcode == "0"


def test_disabled_agent_gets_2202(ota):
    env = ota.as_(DISABLED).call("QueryOrdersList.aspx", {"Page_index": "0"})
    assert env.retcode == "-2202"


def test_agents_are_isolated(ota):
    orderid = ota.book()
    other = ota.as_(OTHER)
    assert other.call("QueryOrder.aspx", {"order_id": orderid}).retcode != "0"
    assert other.call("CancelOrder.aspx", {"Order_id": orderid}).retcode != "0"
    assert ota.status(orderid) == "0"


def test_repeated_senderid_returns_the_same_order(ota):
    first = ota.book(senderid="OTA-1")
    second = ota.book(senderid="OTA-1")
    assert first == second
    assert ota.call("QueryOrderPageListCount.aspx").text("item/recordcount") == "1"


def test_duplicate_order_fault_breaks_idempotency(spec):
    faulty = make_ota(spec, faults=("duplicate-order-on-repeat",))
    assert faulty.book(senderid="OTA-1") != faulty.book(senderid="OTA-1")


def test_finite_inventory_and_oversell_fault(spec):
    ota = make_ota(spec)
    assert ota.call("OrderProducts.aspx", {"Order_list": "P1004|20", "Mobile": "13800138000", "ID": "110101199003071234",
                                           "SXRQ": "20261125", "timespanindex": "-1"}).retcode == "0"
    refused = ota.call("OrderProducts.aspx", {"Order_list": "P1004|1", "Mobile": "13800138000", "ID": "110101199003071234",
                                              "SXRQ": "20261125", "timespanindex": "-1"})
    assert refused.retcode == "-10362"
    faulty = make_ota(spec, faults=("oversell",))
    for _ in range(2):
        assert faulty.call("OrderProducts.aspx", {"Order_list": "P1004|20", "Mobile": "13800138000",
                                                  "ID": "110101199003071234", "SXRQ": "20261125",
                                                  "timespanindex": "-1"}).retcode == "0"


def test_unknown_page_is_404(ota):
    assert ota.client.get("/NoSuchPage.aspx").status_code == 404


def test_set_agent_parameters_empty_address_turns_callbacks_off(ota):
    assert ota.call("SetAgentParameters.aspx", {"responseaddr": "http://127.0.0.1:9/cb",
                                                "sendofficiallysnotify": "1"}).retcode == "0"
    assert ota.call("SetAgentParameters.aspx", {"responseaddr": "", "sendofficiallysnotify": "1"}).retcode == "0"
    with ota.mock.store.reading() as db:
        assert db.execute("SELECT responseaddr FROM agents WHERE user='demo-ota'").fetchone()[0] == ""
    missing = ota.call("SetAgentParameters.aspx", {"responseaddr": "", "sendofficiallysnotify": ""})
    assert missing.retcode == "-1" and missing.retmsg.startswith("sendofficiallysnotify参数不能为空")
