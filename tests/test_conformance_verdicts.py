"""Verdicts of a run: not_applicable is apart from not_run, and the score and index leave it out."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from mockkit import DEMO

from conformance.context import CheckContext, Failed, NotApplicable, NotRun
from conformance.drivers import Driver
from conformance.registry import Check
from conformance.runner import VERDICTS, RunConfig, run_one, summarise

STARTED = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)  # a run's start only stamps the results


def _config(spec) -> RunConfig:
    return RunConfig("http://127.0.0.1:9", DEMO, spec, spec.profile(), Driver())


def _raising(exc: Exception | None):
    def fn(ctx: CheckContext) -> None:
        if exc is not None:
            raise exc
    return fn


@pytest.mark.parametrize("exc, verdict", [
    (None, "passed"), (Failed("broken"), "failed"), (NotRun("no driver"), "not_run"),
    (NotApplicable("a theater page; the target runs in scenic mode"), "not_applicable"),
])
def test_each_outcome_has_its_verdict(spec, exc, verdict):
    chk = Check("signature.valid.X", "signature", "3.4", "claim", "major", _raising(exc))
    result = run_one(_config(spec), chk)
    assert result["verdict"] == verdict and verdict in VERDICTS
    assert result["message"] == (str(exc) if exc else "")


def test_an_expected_failure_never_hides_a_not_applicable(spec):
    config = _config(spec)
    config.expected_failures = {"signature.valid.X": "known"}
    chk = Check("signature.valid.X", "signature", "3.4", "claim", "major", _raising(NotApplicable("other mode")))
    assert run_one(config, chk)["verdict"] == "not_applicable"


def test_score_and_index_leave_not_applicable_checks_out(spec):
    verdicts = ["passed"] * 6 + ["failed"] * 2 + ["not_run"] * 2 + ["not_applicable"] * 10
    results = [{"id": f"c{i}", "category": "signature", "verdict": v, "exchanges": []} for i, v in enumerate(verdicts)]
    s = summarise(_config(spec), results, STARTED)["summary"]
    assert (s["total"], s["applicable"], s["ran"], s["not_applicable"]) == (20, 10, 8, 10)
    assert s["score"] == 0.6  # passed of the checks that apply: 6 / (20 - 10)
    assert s["index"] == 0.75  # passed of those that ran: 6 / (20 - 10 - 2)
    assert s["by_category"]["signature"]["not_applicable"] == 10


def test_a_run_where_nothing_applies_scores_zero_not_a_division_error(spec):
    results = [{"id": "c", "category": "seats", "verdict": "not_applicable", "exchanges": []}]
    s = summarise(_config(spec), results, STARTED)["summary"]
    assert (s["score"], s["index"], s["applicable"]) == (0.0, 0.0, 0)


def test_a_page_of_the_other_mode_is_not_applicable(spec):
    ctx = CheckContext(spec, spec.profile(), None, Driver())  # type: ignore[arg-type]
    ctx._mode = "scenic"
    assert ctx.serves("GetProducts.aspx").page == "GetProducts.aspx"
    assert ctx.serves("QueryOrder.aspx").page == "QueryOrder.aspx"
    with pytest.raises(NotApplicable, match="OrderProducts2.aspx is a theater page; the target runs in scenic mode"):
        ctx.serves("OrderProducts2.aspx")
    ctx._mode = "theater"
    with pytest.raises(NotApplicable, match="GetProducts.aspx is a scenic page"):
        ctx.serves("GetProducts.aspx")
