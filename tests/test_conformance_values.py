"""Reading a value the target returned (conformance/values.py): by its element's spec format, listed
values and length, or a failure naming page, element, value and format. Directly, and end to end:
the mock's timestamp-with-separators fault makes the schema checks of the pages with timestamps
and a check computing with a timestamp fail, where the healthy mock passes them."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from livemock import live_mock
from mockkit import DEMO, OTHER

from conformance.context import Failed, verdict_of
from conformance.drivers import AdminDriver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run_one
from conformance.values import Malformed, element, parse_value, value_problem

FAULT = "timestamp-with-separators"
# pages whose answer to the check's correct request carries a yyyyMMddHHmmss element (GetTicketList's
# once the order is delivered: its baseline delivers one)
STAMPED = ("schema.valid.OrderProducts", "schema.valid.QueryOrder", "schema.valid.GetTicketList")
# computes with QueryOrder's ordertime (the period of the account records it reads)
PARSES_ORDERTIME = "idempotency.single-debit.OrderAndPayWithYDJ"
UNSTAMPED = ("schema.valid.GetProducts", "schema.valid.QueryOrderPageListCount")


@pytest.mark.parametrize(("page", "path", "text", "value"), [
    ("QueryOrder.aspx", "Item/ordertime", "20280229235959", datetime(2028, 2, 29, 23, 59, 59)),
    ("QueryOrder.aspx", "sxrq", "20261231", date(2026, 12, 31)),
    ("QueryOrder.aspx", "Item/summary", "-0.50", Decimal("-0.50")),
    ("QueryOrder.aspx", "Item/subitem/num", "3", 3),
    ("QueryOrder.aspx", "Item/jgrqsj", "", None),
    ("QueryOrdersList.aspx", "Items/Item/dealdesc", "", None),  # allow_empty: nothing delivered yet
    ("QueryOrder.aspx", "Item/orderstatus", "X", "X"),
    ("QueryTheaterSenceList.aspx", "item/StartTime", "0930", time(9, 30)),
    ("GetTimeSegment.aspx", "Item/StartTime", "23:59", time(23, 59)),
    ("GetProviderConfig.aspx", "Item/feeitems/feeitem/feevalue", "10", Decimal(10)),
    ("GetTicketList.aspx", "Item/orderid", "x" * 20, "x" * 20),
])
def test_a_value_in_its_format_is_read_as_its_format_says(spec, page, path, text, value):
    got = parse_value(spec, page, path, text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("page", "path", "text", "said"), [
    ("QueryOrder.aspx", "Item/ordertime", "2026-12-07 21:30:00", "is not in format yyyyMMddHHmmss"),
    ("QueryOrder.aspx", "Item/ordertime", "", "is empty, expected format yyyyMMddHHmmss"),
    ("QueryOrder.aspx", "Item/ordertime", None, "is empty"),
    ("QueryOrdersList.aspx", "Items/Item/tickettypedesc", "", "is empty, expected a value (the spec does not mark it "
                                                              "allow_empty)"),
    ("QueryOrder.aspx", "Item/sxrq", "20270229", "is not a real yyyyMMdd value"),
    ("QueryOrder.aspx", "Item/summary", "100", "is not in format money"),
    ("QueryOrder.aspx", "Item/summary", "1e2", "is not in format money"),
    ("QueryOrder.aspx", "Item/paytimeout", "30.0", "is not in format int"),
    ("QueryOrder.aspx", "Item/orderstatus", "Z", "is not one of ['0', '1'"),
    ("GetTicketList.aspx", "Item/orderid", "x" * 21, "is 21 characters long, at most 20 expected"),
    ("QueryTheaterSenceList.aspx", "item/StartTime", "2400", "is not in format HHmm"),
])
def test_a_malformed_value_is_a_failure_naming_page_element_value_and_format(spec, page, path, text, said):
    with pytest.raises(Malformed) as caught:
        parse_value(spec, page, path, text)
    message = str(caught.value)
    assert message.startswith(f"{page}: <{path}> {text!r} {said}"), message
    assert isinstance(caught.value, Failed)
    assert verdict_of(caught.value) == ("failed", message)


def test_elements_are_found_by_path_or_by_a_name_of_one_kind(spec):
    page = spec.page("QueryOrder.aspx")
    assert element(page, "Item/subitem/fees").type == "decimal"
    assert element(page, "returntotal") is not None  # order and line level: the same kind
    with pytest.raises(KeyError):
        element(page, "Item/nosuch")
    with pytest.raises(KeyError, match="several elements amount of different kinds"):
        element(spec.page("api/WebInterface/Order/YearCard/Query/Main"), "amount")  # int, and decimal in feeitem
    theater = spec.page("QueryTheaterSenceList.aspx")
    assert element(theater, "item/starttime").name == "StartTime"  # names case-insensitively


def test_parameters_a_target_sends_are_judged_alike(spec):
    refund = spec.page("Notify_Refund.aspx")
    assert value_problem(spec, refund.param("amount"), "100.00") is None
    assert "format money" in value_problem(spec, refund.param("amount"), "100")
    assert "format yyyyMMddHHmmss" in value_problem(spec, refund.param("refunddatetime"), "2026-12-07 21:30:00")
    assert "one of ['1', '2']" in value_problem(spec, refund.param("refundmode"), "3")
    assert value_problem(spec, refund.param("orderid"), "") is None  # emptiness of a parameter: its required flag


def _run(spec, ids, faults=()):
    by_id = {c.id: c for c in all_checks(spec)}
    with live_mock(spec, faults) as live:
        config = RunConfig(live.base_url, DEMO, spec, spec.profile(), AdminDriver(live.admin_url, live.token), OTHER)
        return {i: run_one(config, by_id[i]) for i in ids}


def test_healthy_mock_passes_and_the_broken_timestamp_fails_naming_element_value_and_format(spec):
    ids = (*STAMPED, PARSES_ORDERTIME, *UNSTAMPED)
    healthy = _run(spec, ids)
    assert {i: r["verdict"] for i, r in healthy.items()} == {i: "passed" for i in ids}, \
        {i: r["message"][:200] for i, r in healthy.items() if r["verdict"] != "passed"}
    broken = _run(spec, ids, (FAULT,))
    for i in (*STAMPED, PARSES_ORDERTIME):
        r = broken[i]
        assert r["verdict"] == "failed", (i, r["verdict"], r["message"][:300])
        assert "check error" not in r["message"], r["message"][:300]
        assert re.search(r"<Item/(ordertime|datetime)> '2026-11-21 10:\d\d:\d\d' is not in format", r["message"]), \
            r["message"]
        assert "is not in format yyyyMMddHHmmss (Date and time, e.g. 20261121143000)" in r["message"]
        assert any("2026-11-21 10:" in ex["body"] for ex in r["exchanges"])  # the evidence shows it
    assert {i: broken[i]["verdict"] for i in UNSTAMPED} == {i: "passed" for i in UNSTAMPED}


def test_rest_members_with_a_format_or_listed_values_are_judged_alike(spec):
    from types import SimpleNamespace

    from conformance.checks.rest import _check_json_value

    def expect(condition, message):
        if not condition:
            raise Failed(message)

    ctx = SimpleNamespace(spec=spec, expect=expect)
    page = spec.page("api/WebInterface/Order/YearCard/Query/Main")
    ordertime, status, price = (element(page, n) for n in ("ordertime", "statuscode", "price"))
    _check_json_value(ctx, ordertime, "20261207213000", "application/json")
    _check_json_value(ctx, price, 6.0, "application/json")  # a JSON number keeps its scale: no money format
    with pytest.raises(Failed, match=r"ordertime '2026-12-07 21:30:00' is not in format yyyyMMddHHmmss"):
        _check_json_value(ctx, ordertime, "2026-12-07 21:30:00", "application/json")
    with pytest.raises(Failed, match=r"statuscode 'Q' is not one of"):
        _check_json_value(ctx, status, "Q", "application/json")
