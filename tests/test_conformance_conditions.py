"""`parameters.missing-when.*`: a parameter the spec requires only in a supplier setting
(timespanindex while GetProviderConfig answers sublevelmode 1) must be refused when left out.
Passes against the timed mock, fails under `ignore-required-when`, and is not applicable on a
target whose own GetProviderConfig says it is not in that setting (the theater)."""

from __future__ import annotations

from conformance.drivers import AdminDriver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run_one
from livemock import live_mock
from mockkit import DEMO

PREFIX = "parameters.missing-when."


def _checks(spec):
    return [c for c in all_checks(spec) if c.id.startswith(PREFIX)]


def _run(spec, faults=(), theater=False):
    with live_mock(spec, faults, theater=theater) as live:
        target = live.theater if theater else live
        config = RunConfig(target.base_url, DEMO, spec, spec.profile(), AdminDriver(target.admin_url, target.token))
        return {c.id: run_one(config, c) for c in _checks(spec)}


def test_one_check_per_conditionally_required_parameter(spec):
    expected = {f"{PREFIX}{page.stem}.{p.name}" for page in spec.request_pages for p in page.params
                if p.required_when is not None}
    assert {c.id for c in _checks(spec)} == expected
    assert {"parameters.missing-when.OrderProducts.timespanindex",
            "parameters.missing-when.OrderAndPayWithYDJ.timespanindex"} <= expected


def test_passes_on_the_timed_mock_and_fails_when_a_slot_is_chosen_silently(spec):
    healthy, faulty = _run(spec), _run(spec, ("ignore-required-when",))
    assert {i: r["verdict"] for i, r in healthy.items() if r["verdict"] != "passed"} == {}, \
        {i: r["message"][:200] for i, r in healthy.items() if r["verdict"] != "passed"}
    assert {i: r["verdict"] for i, r in faulty.items() if r["verdict"] != "failed"} == {}, \
        {i: r["message"][:200] for i, r in faulty.items() if r["verdict"] != "failed"}
    result = faulty["parameters.missing-when.OrderProducts.timespanindex"]
    assert "without timespanindex while GetProviderConfig.aspx answers Item/sublevelmode 1 was accepted" in result["message"]


def test_not_applicable_where_the_target_is_not_in_timed_mode(spec):
    results = _run(spec, theater=True)
    assert {r["verdict"] for r in results.values()} == {"not_applicable"}
    assert "sublevelmode '0'" in results["parameters.missing-when.ActivateTicket.timespanindex"]["message"]
