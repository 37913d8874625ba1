"""The schema checks hold a successful answer to the spec's rule on empty values (gap
response-empty-values): a leaf the page does not mark allow_empty is never empty. Directly, on an
answer of the mock with one value emptied, and end to end: the mock's empty-descriptions fault
makes QueryOrdersList's schema check fail naming the element, where the healthy mock passes it."""

from __future__ import annotations

import re

from livemock import live_mock
from mockkit import DEMO, OTHER, make_ota

from conformance.checks.schema import answer_problems
from conformance.drivers import AdminDriver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run_one

FAULT = "empty-descriptions"
BOOKS = "schema.valid.OrderProducts"  # run first: the list below has an order to list
LISTED = "schema.valid.QueryOrdersList"  # its answer lists orders, each with tickettypedesc (never empty)
UNTOUCHED = (BOOKS, "schema.valid.GetProducts", "schema.valid.QueryOrderPageListCount")


def _emptied(body: bytes, name: str) -> bytes:
    return re.sub(rf"<{name}>[^<]*</{name}>".encode(), f"<{name}></{name}>".encode(), body, count=1)


def test_an_empty_value_is_a_finding_only_where_the_spec_does_not_allow_it(spec):
    ota = make_ota(spec)
    ota.book("P1001|2|P1002|1")
    body = ota.raw("QueryOrdersList.aspx", {"Page_index": "0"}).content
    page, profile = spec.page("QueryOrdersList.aspx"), spec.profile()
    assert b"<tickettypedesc>\xe6\x88\x90\xe4\xba\xba\xe7\xa5\xa82\xe5\xbc\xa0," in body  # 成人票2张,…
    assert answer_problems(spec, profile, page, body) == []
    assert answer_problems(spec, profile, page, _emptied(body, "tickettypedesc")) == [
        "<Items/Item/tickettypedesc> '' is empty, expected a value (the spec does not mark it allow_empty)"]
    assert answer_problems(spec, profile, page, _emptied(body, "customername")) == [
        "<Items/Item/customername> '' is empty, expected a value (the spec does not mark it allow_empty)"]
    assert b"<dealdesc></dealdesc>" in body and b"<fptt></fptt>" in body  # allow_empty: not delivered, no title


def _run(spec, ids, faults=()):
    by_id = {c.id: c for c in all_checks(spec)}
    with live_mock(spec, faults) as live:
        config = RunConfig(live.base_url, DEMO, spec, spec.profile(), AdminDriver(live.admin_url, live.token), OTHER)
        return {i: run_one(config, by_id[i]) for i in ids}


def test_healthy_mock_passes_and_empty_descriptions_fail_naming_the_element(spec):
    ids = (*UNTOUCHED, LISTED)
    healthy = _run(spec, ids)
    assert {i: r["verdict"] for i, r in healthy.items()} == {i: "passed" for i in ids}, \
        {i: r["message"][:200] for i, r in healthy.items() if r["verdict"] != "passed"}
    broken = _run(spec, ids, (FAULT,))
    r = broken[LISTED]
    assert r["verdict"] == "failed", (r["verdict"], r["message"][:300])
    assert "<Items/Item/tickettypedesc> '' is empty, expected a value (the spec does not mark it allow_empty)" \
        in r["message"], r["message"]
    assert any("<tickettypedesc></tickettypedesc>" in ex["body"] for ex in r["exchanges"])  # the evidence shows it
    assert {i: broken[i]["verdict"] for i in UNTOUCHED} == {i: "passed" for i in UNTOUCHED}
