"""The end-to-end self-test: the whole conformance suite against a served mock supplier through the
admin driver, the mock seeded with its clock at a given moment. Run serially (one worker), so that
the checks that cannot run are the same whatever the date: the date is the only thing that varies."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

from livemock import live_mock
from mockkit import DEMO, OTHER

from conformance.drivers import AdminDriver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run
from spec.loader import load_spec


@cache
def self_test(supplier: str, at: datetime) -> dict[str, Any]:
    """The results document of the full suite against the mock's `supplier`, seeded at `at`."""
    spec = load_spec()
    with live_mock(spec, theater=supplier == "theater", at=at) as live:
        target = live.theater if supplier == "theater" else live
        config = RunConfig(target.base_url, DEMO, spec, spec.profile(), AdminDriver(target.admin_url, target.token),
                           other=OTHER, workers=1)
        return run(config, all_checks(spec))


def failures(doc: dict[str, Any]) -> list[str]:
    return [f"{r['id']}: {r['message'][:400]}" for r in doc["checks"] if r["verdict"] == "failed"]


def not_run(doc: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["message"][:200] for r in doc["checks"] if r["verdict"] == "not_run"}


CST = timezone(timedelta(hours=8))
# a month end, 31 December late in the evening, 29 February 2028, three years after this test was written
DATES = {
    "month-end": datetime(2026, 11, 30, 10, 0, tzinfo=CST),
    "new-year-eve": datetime(2027, 12, 31, 21, 0, tzinfo=CST),
    "leap-day": datetime(2028, 2, 29, 10, 0, tzinfo=CST),
    "three-years-ahead": datetime(2029, 12, 7, 10, 0, tzinfo=CST),
}
