"""One mapping from what a check raised to its verdict (context.verdict_of), used by the runner and
the callback-page certification alike."""

from __future__ import annotations

import pytest
from mockkit import DEMO

from conformance.context import Failed, NotApplicable, NotRun, Warned, verdict_of
from conformance.drivers import Driver, DriverError
from conformance.registry import Check
from conformance.runner import VERDICTS, RunConfig, run_one


@pytest.mark.parametrize("exc, verdict, message", [
    (Failed("broken"), "failed", "broken"),
    (Warned("slow"), "warning", "slow"),
    (NotApplicable("other mode"), "not_applicable", "other mode"),
    (NotRun("no data"), "not_run", "no data"),
    (DriverError("no admin"), "not_run", "driver: no admin"),
    (KeyError("x"), "failed", "check error: KeyError: 'x'"),
])
def test_each_exception_has_its_verdict(exc, verdict, message):
    assert verdict_of(exc) == (verdict, message) and verdict in VERDICTS


def test_a_broken_check_carries_its_last_frames_in_the_runner(spec):
    def broken(ctx) -> None:
        {}["missing"]

    chk = Check("signature.valid.X", "signature", "3.4", "claim", "major", broken)
    result = run_one(RunConfig("http://127.0.0.1:9", DEMO, spec, spec.profile(), Driver()), chk)
    assert result["verdict"] == "failed"
    head, _, frames = result["message"].partition("\n")
    assert head == "check error: KeyError: 'missing'"
    assert "Traceback" in frames and 'in broken' in frames
