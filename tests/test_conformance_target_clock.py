"""The target's clock read from its answers' Date headers (conformance/target_clock.py), and the
mock telling its own clock there: a run with --driver none books for the target's day, whatever
this machine's date is."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
from livemock import live_mock
from mockkit import DEMO

from conformance.context import CheckContext
from conformance.drivers import Driver
from conformance.target import Target
from conformance.target_clock import TargetClock, parse_http_date
from spec.clock import FrozenClock

WALL = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def test_before_any_answer_the_clock_is_this_machines():
    clock = TargetClock(FrozenClock(WALL))
    assert not clock.observed and clock.now() == WALL


def test_an_answer_tells_the_targets_time_to_the_second():
    wall = FrozenClock(WALL)
    clock = TargetClock(wall)
    clock.observe(["Tue, 29 Feb 2028 01:59:59 GMT"])
    assert clock.observed
    assert clock.now() == datetime(2028, 2, 29, 1, 59, 59, 500000, tzinfo=timezone.utc)
    wall.advance(3600)  # the target's clock runs on with this machine's
    assert clock.now() == datetime(2028, 2, 29, 2, 59, 59, 500000, tzinfo=timezone.utc)


def test_the_last_well_formed_date_wins():
    assert parse_http_date(["Mon, 07 Dec 2026 12:00:00 GMT", "Tue, 29 Feb 2028 02:00:00 GMT"]) \
        == datetime(2028, 2, 29, 2, 0, tzinfo=timezone.utc)
    assert parse_http_date(["Tue, 29 Feb 2028 02:00:00 GMT", "yesterday"]) \
        == datetime(2028, 2, 29, 2, 0, tzinfo=timezone.utc)
    clock = TargetClock(FrozenClock(WALL))
    clock.observe(["not a date"])
    clock.observe([])
    assert not clock.observed and clock.now() == WALL


def test_the_mock_tells_its_moved_clock_in_one_date_header(spec):
    with live_mock(spec) as live:
        httpx.post(f"{live.admin_url}/clock", json={"set": "2028-02-29T10:00:00+08:00", "freeze": True},
                   headers={"X-Admin-Token": live.token})
        for url in (f"{live.base_url}/GetProviderConfig.aspx", f"{live.admin_url}/clock", f"{live.base_url}/nowhere"):
            answer = httpx.get(url, headers={"X-Admin-Token": live.token})
            assert answer.headers.get_list("date") == ["Tue, 29 Feb 2028 02:00:00 GMT"], url


def test_driver_none_books_for_the_targets_day(spec, profile):
    """The cause of a calendar-dependent failure: with no driver the suite took this machine's date
    for the target's, and a mock whose clock stood elsewhere refused its activation dates."""
    with live_mock(spec) as live:
        httpx.post(f"{live.admin_url}/clock", json={"set": "2029-12-31T23:00:00+08:00"},
                   headers={"X-Admin-Token": live.token})
        driver = Driver()
        target = Target(live.base_url, DEMO, spec, profile, clock=driver.clock)
        ctx = CheckContext(spec, profile, target, driver)
        ctx.call("GetProviderConfig.aspx")
        target.close()
    assert driver.clock.observed
    assert abs(ctx.now() - datetime(2029, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=8)))) < timedelta(seconds=30)
    assert ctx.today().date().isoformat() == "2029-12-31" and ctx.now().utcoffset() == timedelta(hours=8)


def test_a_run_leaves_the_clock_running_and_says_where(spec, profile):
    """Clock checks freeze the target's clock where they set it and move it on; after the run it runs
    on from where they left it (never back: the run's orders would be in the target's future), and
    the results and the console say where."""
    from mockkit import OTHER

    from conformance.drivers import AdminDriver
    from conformance.registry import all_checks
    from conformance.runner import RunConfig, run
    from conformance.summary import summary_lines

    chosen = [c for c in all_checks(spec) if c.id in ("fees.band.cancel.deposit", "state.transition.expire-booked")]
    with live_mock(spec) as live:
        config = RunConfig(live.base_url, DEMO, spec, profile, AdminDriver(live.admin_url, live.token), other=OTHER)
        doc = run(config, chosen)
        clock = httpx.get(f"{live.admin_url}/clock", headers={"X-Admin-Token": live.token}).json()
    assert [r["verdict"] for r in doc["checks"]] == ["passed", "passed"], [r["message"] for r in doc["checks"]]
    assert clock["frozen"] is False
    before, after = (datetime.fromisoformat(doc["clock"][k]) for k in ("before", "after"))
    assert after - before > timedelta(days=1)  # the order expired days after its effect date
    assert any(line.startswith("The run moved the target's clock") for line in summary_lines(doc))
