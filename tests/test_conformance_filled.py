"""`state.filled.<page>`: what an order's answer may leave empty only until it is paid or delivered
(filled_after in the spec: paychannel, dealdesc, jgrqsj, spdh). Passes against both mock suppliers
with the values as evidence, fails under `empty-descriptions` naming the elements and the events."""

from __future__ import annotations

import pytest
from livemock import live_mock
from mockkit import DEMO, OTHER

from conformance.drivers import AdminDriver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run_one

PREFIX = "state.filled."
PAID = "pay_deposit or pay_rebate or pay_instant_success or desk_pay"


def _run(spec, faults=(), theater=False) -> dict[str, dict]:
    checks = [c for c in all_checks(spec) if c.id.startswith(PREFIX)]
    with live_mock(spec, faults, theater=theater) as live:
        target = live.theater if theater else live
        config = RunConfig(target.base_url, DEMO, spec, spec.profile(), AdminDriver(target.admin_url, target.token),
                           OTHER)
        return {c.id: run_one(config, c) for c in checks}


def test_derived_for_the_pages_with_values_filled_after_events(spec):
    assert {c.id for c in all_checks(spec) if c.id.startswith(PREFIX)} == \
        {f"{PREFIX}QueryOrder", f"{PREFIX}QueryOrdersList"}
    filled = {e.name: e.filled_after for e in spec.page("QueryOrdersList.aspx").element("Items", "Item").children
              if e.filled_after}
    assert set(filled) == {"jgrqsj", "spdh", "dealdesc", "paychannel"}
    assert all(e.allow_empty for e in spec.page("QueryOrdersList.aspx").element("Items", "Item").children
               if e.filled_after)


@pytest.mark.parametrize("theater", [False, True], ids=["scenic", "theater"])
def test_passes_on_the_mock_with_the_values_as_evidence(spec, theater):
    results = _run(spec, theater=theater)
    assert {i: r["verdict"] for i, r in results.items()} == {i: "passed" for i in results}, \
        {i: r["message"][:300] for i, r in results.items()}
    notes = "\n".join(results[f"{PREFIX}QueryOrdersList"]["notes"])
    assert "paychannel='预订金'" in notes and "dealdesc='共成交" in notes and "jgrqsj='20" in notes


def test_fails_when_the_descriptions_stay_empty(spec):
    results = _run(spec, ("empty-descriptions",))
    for result in results.values():
        assert result["verdict"] == "failed", result["message"][:300]
        assert "paychannel of order" in result["message"] and f"though the order went through {PAID}" \
            in result["message"], result["message"]
    assert "Items/Item/dealdesc of order" in results[f"{PREFIX}QueryOrdersList"]["message"]
    assert "jgrqsj" not in results[f"{PREFIX}QueryOrder"]["message"]  # the fault leaves the others alone
