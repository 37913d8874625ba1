"""The conformance suite against the theater supplier (the mock's /theater/): the theater pages'
derived checks run for real with values found through the target's own pages, the seat checks
(conformance/checks/theater.py) pass on the healthy mock and each fails on the mock whose fault
switch breaks its rule (FAULT_EXPECTATIONS), and the mode refusals are checked both ways, failing
against stand-ins that answer a page of the other mode wrongly."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import livemock
import pytest
from livemock import Live, live_mock
from mockkit import DEMO, OTHER

from conformance import shows
from conformance.drivers import AdminDriver
from conformance.registry import CATEGORIES, Check, all_checks
from conformance.runner import RunConfig, run
from mockserver import responses
from spec.errors import YbxError
from spec.model import Spec

DERIVED = ("signature", "encryption", "parameters", "schema")
# fault switch -> seat-check ids that must fail on a theater mock started with it (and no other seat check)
FAULT_EXPECTATIONS = {
    "seat-sold-at-booking": ["seats.booked"],
    "seat-not-sold": ["seats.sold"],
    "seat-not-released": ["seats.released"],
    "oversell": ["seats.no-double-booking"],
    "seat-count-unchecked": ["seats.count-mismatch"],
    "mixed-seat-areas": ["seats.one-area"],
}


def _theater_pages(spec: Spec) -> set[str]:
    return {p.page for p in spec.request_pages if p.mode == "theater"}


def _seat_checks(spec: Spec) -> list[Check]:
    return [c for c in all_checks(spec) if c.category == "seats"]


def _run(live: Live, spec: Spec, checks: list[Check], other=OTHER) -> dict[str, dict]:
    config = RunConfig(live.base_url, DEMO, spec, spec.profile(), AdminDriver(live.admin_url, live.token), other,
                       workers=4)
    return {r["id"]: r for r in run(config, checks)["checks"]}


@pytest.fixture(scope="module")
def healthy(spec) -> dict[str, dict]:
    """The derived checks of the theater pages, every mode check and the seat checks, on the theater."""
    theater = _theater_pages(spec)
    checks = [c for c in all_checks(spec) if (c.category in DERIVED and c.page in theater)
              or c.id.startswith("schema.mode.") or c.category == "seats"]
    with live_mock(spec, theater=True) as live:
        return _run(live.theater, spec, checks)


def test_seats_is_a_category_with_its_checks(spec):
    assert "seats" in CATEGORIES
    assert {c.id for c in _seat_checks(spec)} == {p for ps in FAULT_EXPECTATIONS.values() for p in ps}
    modes = {c.id for c in all_checks(spec) if c.id.startswith("schema.mode.")}
    assert modes == {f"schema.mode.{p.stem}" for p in spec.request_pages if p.mode != "both"}


def test_theater_pages_derived_checks_run_for_real(spec, healthy):
    failed = {i: r["message"][:300] for i, r in healthy.items() if r["verdict"] == "failed"}
    assert not failed, failed
    for page in _theater_pages(spec):
        ran = {r["category"] for r in healthy.values() if r["page"] == page and r["verdict"] == "passed"}
        assert {"signature", "parameters", "schema"} <= ran, (page, ran)
        if any(p.encryption == "3des" for p in spec.page(page).params):
            assert "encryption" in ran, page
    derived = [r for r in healthy.values() if r["category"] in DERIVED and not r["id"].startswith("schema.mode.")]
    passed = sum(r["verdict"] == "passed" for r in derived)
    assert passed >= 0.85 * len(derived), (passed, len(derived))
    # the values came from the target's own pages: a show found through the theater chain
    booking = healthy["signature.valid.OrderProducts2"]["exchanges"]
    assert [e["page"] for e in booking][-6:] == ["QueryTheaterList.aspx", "QueryTheaterSenceList.aspx",
                                                 "GetProducts2.aspx", "QuerySeatAreaList.aspx",
                                                 "QuerySeatsState.aspx", "OrderProducts2.aspx"]


def test_seat_checks_and_mode_refusals_pass_on_the_theater(spec, healthy):
    for chk in _seat_checks(spec):
        assert healthy[chk.id]["verdict"] == "passed", (chk.id, healthy[chk.id]["message"])
    for page in spec.request_pages:
        if page.mode != "both":
            verdict = healthy[f"schema.mode.{page.stem}"]["verdict"]
            assert verdict == ("passed" if page.mode == "scenic" else "not_run"), (page.page, verdict)


def test_on_the_scenic_supplier_theater_pages_are_refused_and_seats_not_applicable(spec):
    own = {"signature.valid.OrderProducts2", "parameters.missing.QuerySeatsState.SeatAreaID",
           "idempotency.same-order.OrderProducts2", "signature.valid.QueryOrder"}
    checks = [c for c in all_checks(spec) if c.id.startswith("schema.mode.") or c.category == "seats" or c.id in own]
    with live_mock(spec) as live:
        results = _run(live, spec, checks)
    for page in spec.request_pages:
        if page.mode != "both":
            want = "passed" if page.mode == "theater" else "not_run"
            assert results[f"schema.mode.{page.stem}"]["verdict"] == want, page.page
    assert {results[c.id]["verdict"] for c in _seat_checks(spec)} == {"not_applicable"}
    assert "no seats" in results["seats.booked"]["message"]
    # a theater page's own checks do not concern a scenic supplier; a page of both modes runs
    for i in own - {"signature.valid.QueryOrder"}:
        assert results[i]["verdict"] == "not_applicable" and "theater page" in results[i]["message"], i
    assert results["signature.valid.QueryOrder"]["verdict"] == "passed"


@pytest.mark.parametrize("fault", sorted(FAULT_EXPECTATIONS))
def test_each_seat_fault_is_caught(spec, fault):
    with live_mock(spec, (fault,), theater=True) as live:
        results = _run(live.theater, spec, _seat_checks(spec))
    failed = {i for i, r in results.items() if r["verdict"] == "failed"}
    assert failed == set(FAULT_EXPECTATIONS[fault]), {i: results[i]["message"][:200] for i in failed}
    assert all(r["verdict"] == "passed" for i, r in results.items() if i not in failed)


def test_a_second_agent_is_optional_for_the_double_booking_check(spec):
    checks = [c for c in _seat_checks(spec) if c.id == "seats.no-double-booking"]
    for faults, verdict in (((), "passed"), (("oversell",), "failed")):
        with live_mock(spec, faults, theater=True) as live:
            result = _run(live.theater, spec, checks, other=None)["seats.no-double-booking"]
        assert result["verdict"] == verdict, result["message"]
        assert any("same agent" in n for n in result["notes"])


# ------------------------------------------------------------------ stand-ins for the mode refusal


def _answering(monkeypatch, page_name: str, answer: Callable) -> None:
    """live_mock's theater supplier answers `page_name` with `answer(theater mock, page)` instead."""
    real = livemock.create_app

    def create_app(mock, **kwargs):
        app, theater = real(mock, **kwargs), kwargs.get("theater")
        path = f"/theater/{page_name}".lower()

        async def asgi(scope, receive, send):
            if scope["type"] == "http" and scope["path"].lower() == path:
                response = answer(theater, theater.spec.page(page_name))
                await response(scope, receive, send)
                return
            await app(scope, receive, send)

        return asgi

    monkeypatch.setattr(livemock, "create_app", create_app)


STAND_INS = {
    # the refusal is the generic failure, not the page's THEATER_MODE message (4.2.1 line 1215)
    "GetProducts.aspx": lambda mock, page: responses.error(mock, page, YbxError("call_failed", "no"), DEMO.key),
    # a scenic page answered as if the theater sold tickets by day
    "OrderProducts.aspx": lambda mock, page: responses.ok(mock, page, {}, DEMO.key),
}


@pytest.mark.parametrize("page_name", sorted(STAND_INS))
def test_the_mode_check_fails_against_a_wrong_answer(spec, monkeypatch, page_name):
    _answering(monkeypatch, page_name, STAND_INS[page_name])
    checks = [c for c in all_checks(spec) if c.id.startswith("schema.mode.")]
    with live_mock(spec, theater=True) as live:
        results = _run(live.theater, spec, checks)
    failed = {i for i, r in results.items() if r["verdict"] == "failed"}
    assert failed == {f"schema.mode.{spec.page(page_name).stem}"}, failed


# ------------------------------------------------------------------ the seat-state table drives the checks


def test_seat_states_come_from_the_spec_table(spec):
    assert (shows.free_state(spec), shows.held_state(spec, "0"), shows.held_state(spec, "2")) == ("1", "S", "B")
    assert shows.held_state(spec, "4") is None  # a closed order holds no seat
    relabelled = replace(spec, seat_statuses=tuple(
        replace(s, code={"1": "0", "S": "Y", "B": "Z"}.get(s.code, s.code)) for s in spec.seat_statuses))
    assert (shows.free_state(relabelled), shows.held_state(relabelled, "0"), shows.held_state(relabelled, "C")) == \
        ("0", "Y", "Z")


# ------------------------------------------------------------------ one report per supplier (make demo)


def test_index_links_one_report_per_supplier(tmp_path):
    from conformance.cli import main

    for name, passed in (("scenic", 3), ("theater", 2)):
        doc = {"target": f"http://127.0.0.1:1/{name}", "started": "2026-11-21T02:00:00+00:00",
               "summary": {"passed": passed, "failed": 0, "warning": 0, "not_run": 1, "score": 0.5, "index": 1.0}}
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    assert main(["index", str(tmp_path), str(tmp_path / "scenic"), str(tmp_path / "theater")]) == 0
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert 'href="scenic/index.html"' in page and 'href="theater/index.html"' in page
    assert "http://127.0.0.1:1/theater" in page
    assert main(["index", str(tmp_path), str(tmp_path / "missing")]) == 2
