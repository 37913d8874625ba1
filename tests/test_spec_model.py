"""The loaded spec: counts the manual fixes, lookups, derived tables, and the dump shape."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from spec.dump import dump
from spec.signing import request_sign

MANUAL_PAGES = 58  # section 4.2 of the V4.0 edition


def test_page_counts(spec):
    manual = [p for p in spec.pages if p.direction != "rest"]
    assert len(manual) == MANUAL_PAGES
    assert len(spec.pages_by("callback")) == 4
    assert {p.page for p in spec.pages_by("payment_notify")} == {"notify_Payback_url.aspx", "WeChatNotify.aspx"}
    assert len(spec.pages_by("rest")) == 1
    assert sum(p.kept_in_v4 for p in spec.pages) == 22  # table 4.1.1


def test_every_section_of_4_2_is_present(spec):
    sections = {p.section for p in spec.pages}
    for n in range(1, 55):
        if n == 45:
            assert {f"4.2.45.{i}" for i in range(1, 5)} <= sections
        else:
            assert f"4.2.{n}" in sections, n


@pytest.mark.parametrize("name", ["QueryOrder.aspx", "queryorder.aspx", "QueryOrder", "QUERYORDER.ASPX"])
def test_page_lookup_is_case_insensitive(spec, name):
    assert spec.page(name).page == "QueryOrder.aspx"


def test_aliases_and_old_names(spec):
    assert spec.page("notify_url.aspx").page == "notify_Payback_url.aspx"
    assert spec.page("UseFKAccountToPayByPwd.aspx").page == "UseAccountToPayByFKWithPwd.aspx"
    # the old edition reused QueryYFKJYRecCount for 4.2.33; the V4.0 page keeps the name
    assert spec.page("QueryYFKJYRecCount.aspx").section == "4.2.30"
    with pytest.raises(KeyError):
        spec.page("GetAgentParameters.aspx")


def test_param_lookup_is_case_insensitive(spec):
    page = spec.page("GetProducts.aspx")
    assert page.param("user").name == "User"
    assert page.param("PASSWORD").encryption == "md5-upper-3des"
    assert page.param("nonexistent") is None


def test_order_status_table(spec):
    codes = [s.code for s in spec.order_statuses]
    assert codes == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "X", "C", "D"]
    terminal = {s.code for s in spec.order_statuses if s.terminal}
    assert {"3", "4", "B", "X", "D", "9"} <= terminal
    assert not {"0", "2", "C", "6", "7", "8"} & terminal
    assert {s.code for s in spec.order_statuses if s.active} == {"0", "2", "5", "6", "C"}


def test_state_machine_refs(spec):
    statuses = {s.code for s in spec.order_statuses} | {"new"}
    events = {e.id for e in spec.events}
    for t in spec.transitions:
        assert t.source in statuses and t.target in statuses and t.event in events
    assert spec.transitions_from("0", "cancel")[0].target == "4"
    assert {t.target for t in spec.transitions_from("0", "pay_instant_success", "instant")} == {"5", "6"}
    assert spec.transitions_from("3", "cancel") == ()
    cancel = next(f for f in spec.forbidden if f.event == "cancel")
    assert "3" in cancel.sources and spec.page(cancel.page).retcode(cancel.retcode_key).code == "-2381"


def test_every_page_event_is_a_table_event(spec):
    events = {e.id for e in spec.events}
    for page in spec.pages:
        assert set(page.behaviour.events) <= events, page.page


def test_error_catalogue_lists_each_code_once(spec):
    codes = [e.code for e in spec.errors]
    assert len(codes) == len(set(codes))
    by_code = {e.code: e for e in spec.errors}
    assert "QueryOrder.aspx" in by_code["-2202"].pages
    keys = {k for k, _, _ in by_code["-1"].messages}
    assert {"bad_sign", "call_failed", "theater_mode"} <= keys
    total = sum(len(p.retcodes) for p in spec.pages)
    assert sum(len(e.messages) for e in spec.errors) <= total


def test_profiles_are_data(spec):
    default, alt = spec.profile("default"), spec.profile("key-param")
    assert alt.cipher == default.cipher and alt.response == default.response
    assert alt.sign.key_position == "param" and alt.sign.name_case == "as-sent"
    params = {"User": "demo-ota", "Order_id": "1"}
    key = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert request_sign(params, key, alt.sign) != request_sign(params, key, default.sign)
    with pytest.raises(KeyError):
        spec.profile("nope")


def test_dump_shape(spec):
    data = json.loads(json.dumps(dump(spec), ensure_ascii=False))
    for key in ("interfaces", "order_status", "ticket_status", "transitions", "errors", "profiles", "gaps"):
        assert data[key], key
    page = next(i for i in data["interfaces"] if i["page"] == "OrderProducts.aspx")
    assert page["section"] == "4.2.4" and page["direction"] == "request"
    mobile = next(p for p in page["params"] if p["name"] == "Mobile")
    assert {"name", "required", "type", "encryption", "format"} <= set(mobile)
    assert mobile["encryption"] == "3des" and mobile["required"] is True
    assert all({"code", "message_zh", "message_en"} <= set(r) for r in page["retcodes"])
    assert "book" in page["behaviour"]["events"] and "book" in page["behaviour"]["transitions"]


def test_cli_dump_and_check_run():
    out = subprocess.run([sys.executable, "-m", "spec", "dump"], capture_output=True, check=True, text=True)
    assert len(json.loads(out.stdout)["interfaces"]) == MANUAL_PAGES + 1
    ok = subprocess.run([sys.executable, "-m", "spec", "check"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("ok:")


def test_every_page_number_parameter_says_its_first_page(spec):
    """Page numbering is spec data (first_page, from each page's gap): the mock pages and the suite
    asks for the first page by it. 页序号 (page number) is how the manual labels these parameters."""
    numbered = {(p.page, q.name): q.first_page for p in spec.pages for q in p.params if q.label_zh == "页序号"}
    assert len(numbered) == 4 and None not in numbered.values(), numbered
    assert numbered[("QueryOrdersList.aspx", "Page_index")] == 0  # gap queryorderslist-page-base: from page zero
    assert {numbered[(p, "Page_index")] for p in ("GetSPYDRec.aspx", "QueryFKJYRec.aspx", "QueryYFKJYRec.aspx")} == {1}
    assert all(q.first_page is None for p in spec.pages for q in p.params if q.label_zh != "页序号")
