"""A payment the target refuses for the agent's balance is the target right about an agent that cannot
pay: the check that needed it did not run and says why, it never failed (CheckContext.short_of,
balance_refusal). And a run without a driver that tops the accounts up spends little enough - the
cheapest orders (conformance.catalog), closed after each check (conformance.cleanup) - that against
the mock's default world no check stops for the balance (found by an independent tester: 3-5 false
failures and ~100-150 checks not run for the balance with --driver none)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from livemock import live_mock
from mockkit import DEMO, OTHER

from conformance.drivers import AdminDriver, Driver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run
from mockserver.server import DEFAULT_THEATER_WORLD as THEATER_WORLD
from mockserver.world import DEFAULT_WORLD

# what a short balance's not-run says: the balance read, the order total and the ways out
REASON = re.compile(r"the agent's (deposit|rebate) balance \((-?\d+\.\d\d) on (QueryYFKRec|QueryFKRec)\.aspx "
                    r"(BQJY|JEBQJY)[^)]*\) is below the order total (\d+\.\d\d)[^;]*; top it up or run with --driver admin")


def _tiny(tmp_path: Path, world: Path, amount: str) -> Path:
    """A copy of `world` whose demo agent has `amount` in its deposit and rebate accounts."""
    text = world.read_text(encoding="utf-8")
    demo = text.index("user: demo-ota")
    head, tail = text[:demo], text[demo:]
    for account in ("deposit", "rebate"):
        tail, n = re.subn(rf'{account}: "[\d.]+"', f'{account}: "{amount}"', tail, count=1)
        assert n == 1, account
    path = tmp_path / world.name
    path.write_text(head + tail, encoding="utf-8")
    return path


def _run(target, spec, driver, only=(), workers=4):
    config = RunConfig(target.base_url, DEMO, spec, spec.profile(), driver, other=OTHER, only=only, workers=workers)
    return run(config, all_checks(spec))


def _verdicts(doc, verdict):
    return {r["id"]: r["message"] for r in doc["checks"] if r["verdict"] == verdict}


@pytest.mark.parametrize("supplier", ["scenic", "theater"])
def test_driver_none_runs_the_whole_suite_without_failures_or_balance_stops(spec, supplier):
    with live_mock(spec, theater=supplier == "theater") as live:
        doc = _run(live.theater if supplier == "theater" else live, spec, Driver())
    assert not _verdicts(doc, "failed"), _verdicts(doc, "failed")
    stopped = {i: m for i, m in _verdicts(doc, "not_run").items() if "balance (" in m or "余额不足" in m}
    assert not stopped, stopped
    assert doc["summary"]["passed"] > 650, doc["summary"]


def test_a_balance_below_every_order_is_not_run_with_the_reason(spec, tmp_path):
    """Theater seats cost 180.00 and more; the agent has 50.00: every payment is refused."""
    only = ("state", "fees", "idempotency")
    with live_mock(spec, theater=True, theater_world=_tiny(tmp_path, THEATER_WORLD, "50.00")) as live:
        doc = _run(live.theater, spec, Driver(), only)
    assert not _verdicts(doc, "failed"), _verdicts(doc, "failed")
    not_run = _verdicts(doc, "not_run")
    # the page's own retcode (-2097, -2197) and a book-and-pay page's call_failed naming the balance
    for check_id, account in [("state.transition.pay-deposit", "deposit"), ("state.transition.pay-rebate", "rebate"),
                              ("idempotency.same-order.OrderAndPayWithYDJ2", "deposit"),
                              ("idempotency.same-order.OrderAndPayWithFK2", "rebate")]:
        found = REASON.search(not_run.get(check_id, ""))
        assert found, (check_id, not_run.get(check_id))
        assert found.group(1) == account and found.group(2) == "50.00", not_run[check_id]
        assert float(found.group(5)) >= 180, not_run[check_id]
    assert sum(bool(REASON.search(m)) for m in not_run.values()) >= 10, not_run


def test_a_small_balance_runs_what_it_pays_for_and_stops_cleanly(spec, tmp_path):
    """The scenic agent has 50.00 for orders of 30.00: a few payments go through, the rest stop with
    the reason; none fails."""
    only = ("state", "fees", "idempotency")
    with live_mock(spec, world=_tiny(tmp_path, DEFAULT_WORLD, "50.00")) as live:
        doc = _run(live, spec, Driver(), only)
    assert not _verdicts(doc, "failed"), _verdicts(doc, "failed")
    short = [m for m in _verdicts(doc, "not_run").values() if "balance (" in m]
    assert short and all(REASON.search(m) for m in short), short
    assert _verdicts(doc, "passed"), doc["summary"]


def test_the_admin_driver_tops_a_short_balance_up(spec, tmp_path):
    """The same tiny balance with a driver that can top the account up: the payments run."""
    chosen = ("state.transition.pay-deposit", "state.transition.pay-rebate")
    with live_mock(spec, theater=True, theater_world=_tiny(tmp_path, THEATER_WORLD, "50.00")) as live:
        target = live.theater
        config = RunConfig(target.base_url, DEMO, spec, spec.profile(), AdminDriver(target.admin_url, target.token))
        doc = run(config, [c for c in all_checks(spec) if c.id in chosen])
    assert {r["id"]: r["verdict"] for r in doc["checks"]} == dict.fromkeys(chosen, "passed"), \
        {r["id"]: r["message"][:300] for r in doc["checks"]}
