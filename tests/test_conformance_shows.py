"""conformance.shows: theater seats under parallel checks. Two runs of the theater checks with four
workers give the same verdicts - no check is handed a seat another check of the run books (found by
an independent tester: 3-8 checks not run for 座位…已被占用, the score moving between runs) - and a seat
taken by something outside the run is replaced by other free seats, in a fixture booking
(take_seats) and in a baseline's correct request (baseline.accepted)."""

from __future__ import annotations

from livemock import live_mock
from mockkit import DEMO, OTHER

from conformance.baseline import accepted, baseline
from conformance.context import CheckContext
from conformance.drivers import AdminDriver, Driver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run
from conformance.shows import BOOK_PAGE, take_seats
from conformance.target import Target

TAKEN = "已被占用"


def _context(spec, live) -> CheckContext:
    target = Target(live.base_url, DEMO, spec, spec.profile())
    return CheckContext(spec, spec.profile(), target, Driver(target.clock), OTHER)


def _taken_first(ctx: CheckContext, stolen: list) -> None:
    """Before the check's first booking reaches the target, another agent books the same seats."""
    real = ctx.target.call

    def call(page, values=None, method="GET", **kw):
        name = page if isinstance(page, str) else page.page
        if name == BOOK_PAGE and not stolen:
            stolen.append(real(page, values, method, creds=OTHER, note="outside the run: the same seats"))
        return real(page, values, method, **kw)

    ctx.target.call = call  # type: ignore[method-assign]


def test_a_fixture_booking_takes_other_seats_when_one_was_taken_outside_the_run(spec):
    with live_mock(spec, theater=True) as live:
        ctx = _context(spec, live.theater)
        stolen: list = []
        _taken_first(ctx, stolen)
        show, seats, ex = take_seats(ctx)
    assert stolen[0].retcode == "0", stolen[0].retmsg
    refused = [e for e in ctx.exchanges if e.page == BOOK_PAGE and e.retcode != "0"]
    assert len(refused) == 1 and TAKEN in refused[0].retmsg, [(e.retcode, e.retmsg) for e in ctx.exchanges]
    assert ex.retcode == "0" and seats[0] != stolen[0].plain["SeatInfo"].split()[0]
    assert any("taken outside this run" in n for n in ctx.notes), ctx.notes


def test_a_baseline_request_takes_other_seats_when_one_was_taken_outside_the_run(spec):
    with live_mock(spec, theater=True) as live:
        ctx = _context(spec, live.theater)
        page = spec.page(BOOK_PAGE)
        values = baseline(ctx, page)
        first = values["SeatInfo"]
        outside = ctx.target.call(page, values, creds=OTHER, note="outside the run: the same seat")
        assert outside.retcode == "0", outside.retmsg
        accepted(ctx, page, values)
    assert values["SeatInfo"] != first
    correct = [e for e in ctx.exchanges if e.note.startswith("baseline")]
    assert [e.retcode for e in correct][-1] == "0" and TAKEN in correct[0].retmsg, [e.retmsg for e in correct]
    assert any("taken outside this run" in n for n in ctx.notes), ctx.notes


def _seat_checks(spec):
    """The checks that book seats side by side: those of the theater pages (each correct request books
    a seat), the seat checks and the state checks (their orders are seats for the next two days)."""
    theater = {p.page for p in spec.request_pages if p.mode == "theater"}
    return [c for c in all_checks(spec) if (c.page in theater or c.category in ("seats", "state"))
            and "clock" not in c.needs]


def test_two_runs_with_four_workers_give_the_same_verdicts(spec):
    runs = []
    for _ in range(2):
        with live_mock(spec, theater=True) as live:
            target = live.theater
            config = RunConfig(target.base_url, DEMO, spec, spec.profile(), AdminDriver(target.admin_url, target.token),
                               other=OTHER, workers=4)
            runs.append({r["id"]: r for r in run(config, _seat_checks(spec))["checks"]})
    first, second = runs
    taken = {i: r["message"][:200] for doc in runs for i, r in doc.items() if TAKEN in r["message"]}
    assert not taken, taken
    differ = {i: (first[i]["verdict"], second[i]["verdict"]) for i in first if first[i]["verdict"] != second[i]["verdict"]}
    assert not differ, differ
    assert not [i for i, r in first.items() if r["verdict"] == "failed"]
