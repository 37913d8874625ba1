"""`state.ticket-return.*`: after a ticket is returned, the order pages report it in their return
elements. Passes against the mock, fails under `return-fields-frozen` (the old constants) with the
values shown as evidence."""

from __future__ import annotations

from conformance.drivers import AdminDriver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run_one
from livemock import live_mock
from mockkit import DEMO

PREFIX = "state.ticket-return."


def _run(spec, faults=()):
    checks = [c for c in all_checks(spec) if c.id.startswith(PREFIX)]
    with live_mock(spec, faults) as live:
        config = RunConfig(live.base_url, DEMO, spec, spec.profile(), AdminDriver(live.admin_url, live.token))
        return {c.id: run_one(config, c) for c in checks}


def test_derived_for_the_pages_that_count_returned_tickets(spec):
    assert {c.id for c in all_checks(spec) if c.id.startswith(PREFIX)} == \
        {f"{PREFIX}QueryOrder", f"{PREFIX}QueryOrdersList"}


def test_passes_on_the_mock_with_the_values_as_evidence(spec):
    results = _run(spec)
    assert {i: r["verdict"] for i, r in results.items()} == {i: "passed" for i in results}, \
        {i: r["message"][:300] for i, r in results.items()}
    notes = "\n".join(results[f"{PREFIX}QueryOrder"]["notes"])
    # the order is of the world's cheapest plain product, the guide service (conformance.catalog)
    assert "returncount='1'" in notes and "returnticketdesc='退讲解服务1张，合计" in notes
    assert "Item/subitem productid=P1006" in notes


def test_fails_when_the_fields_stay_at_zero(spec):
    results = _run(spec, ("return-fields-frozen",))
    for check_id, result in results.items():
        assert result["verdict"] == "failed", (check_id, result["message"][:300])
        assert "returncount='0', the returned ticket admits 1" in result["message"], result["message"]
        assert "returnticketdesc is empty" in result["message"]
    assert "Item/subitem" in results[f"{PREFIX}QueryOrder"]["message"]
    assert "returnfees='0.00'" in results[f"{PREFIX}QueryOrdersList"]["message"]
