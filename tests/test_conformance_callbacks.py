"""Callback checks against a live mock: every check passes on the healthy mock and the checks of
each callback rule fail when the mock's fault switch for that rule is on. Content and retry have
no fault switch in the mock yet, so three test-local faults (monkeypatched delivery code of the
in-process mock) show that those checks can fail too."""

from __future__ import annotations

import json
import time

import pytest
from livemock import live_mock
from mockkit import DEMO

from conformance.checks import callbacks as callback_checks
from conformance.drivers import AdminDriver, Driver
from conformance.receiver import Receiver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run, run_one
from mockserver import outbox
from spec.signing import request_sign

# mock fault switch -> check id prefixes that must fail with it on
FAULT_EXPECTATIONS = {
    "callbacks-out-of-order": ["callbacks.order.", "callbacks.blocking", "callbacks.retry."],
    "continue-after-failure": ["callbacks.blocking", "callbacks.order.", "callbacks.retry."],
    "duplicate-callback": ["callbacks.no-duplicate"],
}
# test-local faults (no switch in mockserver/faults.py yet) -> check id prefixes that must fail
LOCAL_FAULT_EXPECTATIONS = {
    "callback-bad-sign": ["callbacks.content."],
    "callback-missing-param": ["callbacks.content."],
    "callback-no-retry": ["callbacks.retry."],
}


@pytest.fixture(scope="module")
def checks(spec):
    return [c for c in all_checks(spec) if c.category == "callbacks"]


def _config(live, spec, profile, driver=None, workers=1) -> RunConfig:
    return RunConfig(live.base_url, DEMO, spec, profile, driver or AdminDriver(live.admin_url, live.token),
                     workers=workers)


def _run(live, spec, profile, checks, prefixes=None) -> dict[str, dict]:
    config = _config(live, spec, profile)
    chosen = [c for c in checks if prefixes is None or c.id.startswith(tuple(prefixes))]
    assert chosen, prefixes
    return {c.id: run_one(config, c) for c in chosen}


def _verdicts(results: dict[str, dict]) -> dict[str, str]:
    return {i: r["verdict"] for i, r in results.items()}


def test_the_checks_are_derived_from_the_spec(spec, checks):
    ids = {c.id for c in checks}
    for page in spec.pages_by("callback"):
        assert f"callbacks.content.{page.stem}" in ids
    assert {"callbacks.blocking", "callbacks.no-duplicate", "callbacks.retry.http-500", "callbacks.retry.retcode",
            "callbacks.order.book-cancel"} <= ids
    for c in checks:
        assert c.clause and c.claim
        if c.id.startswith(("callbacks.order.", "callbacks.retry.")):
            assert "clock" in c.needs, c.id
    assert next(c for c in checks if c.id == "callbacks.content.Notify_Checked").needs == ("events",)
    # every check can fail: each is named by a fault that breaks its rule
    prefixes = [p for table in (FAULT_EXPECTATIONS, LOCAL_FAULT_EXPECTATIONS) for ps in table.values() for p in ps]
    assert all(c.id.startswith(tuple(prefixes)) for c in checks), [c.id for c in checks
                                                                   if not c.id.startswith(tuple(prefixes))]


def test_all_pass_against_the_healthy_mock(spec, profile, checks):
    with live_mock(spec) as live:
        results = _run(live, spec, profile, checks)
    bad = {i: (r["verdict"], r["message"]) for i, r in results.items() if r["verdict"] != "passed"}
    assert not bad, bad
    content = results["callbacks.content.Notify_OrderChanged"]
    assert any("Notify_OrderChanged.aspx" in n for n in content["notes"])  # the received requests are evidence
    assert any(ex["page"] == "SetAgentParameters.aspx" for ex in content["exchanges"])


@pytest.mark.parametrize("fault", sorted(FAULT_EXPECTATIONS))
def test_each_callback_fault_fails_its_checks(spec, profile, checks, fault):
    with live_mock(spec, faults=(fault,)) as live:
        results = _run(live, spec, profile, checks, FAULT_EXPECTATIONS[fault])
    assert set(_verdicts(results).values()) == {"failed"}, {i: (r["verdict"], r["message"]) for i, r in results.items()}
    assert all("check error" not in r["message"] for r in results.values())


# ---------------------------------------------------------------- test-local faults

def _bad_sign(monkeypatch, profile) -> None:
    original = outbox._request  # the outbox signs through spec.protocol.encode_request, shared with the suite

    def forged(mock, row):
        found = original(mock, row)
        if found is None:
            return None
        url, pairs = found
        return url, [(k, "0" * 32 if k == "sign" else v) for k, v in pairs]

    monkeypatch.setattr(outbox, "_request", forged)


def _missing_param(monkeypatch, profile) -> None:
    original = outbox._request

    def without_orderid(mock, row):
        found = original(mock, row)
        if found is None:
            return None
        url, pairs = found
        kept = [(k, v) for k, v in pairs if k not in ("orderid", "sign")]
        return url, kept + [("sign", request_sign(kept, DEMO.key, profile.sign))]

    monkeypatch.setattr(outbox, "_request", without_orderid)


def _no_retry(monkeypatch, profile) -> None:
    original = outbox._record

    def give_up_at_once(mock, row, attempt, now):
        original(mock, row, attempt, now)
        if not attempt.ok:
            with mock.store.transaction() as db:
                db.execute("UPDATE outbox SET state='given_up' WHERE id=?", (row["id"],))

    monkeypatch.setattr(outbox, "_record", give_up_at_once)


LOCAL_FAULTS = {"callback-bad-sign": _bad_sign, "callback-missing-param": _missing_param,
                "callback-no-retry": _no_retry}


@pytest.mark.parametrize("fault", sorted(LOCAL_FAULT_EXPECTATIONS))
def test_local_faults_fail_content_and_retry_checks(spec, profile, checks, monkeypatch, fault):
    LOCAL_FAULTS[fault](monkeypatch, profile)
    monkeypatch.setattr(callback_checks, "WAIT", 2.0)  # the failing path waits out its timeout; keep it short
    prefixes = LOCAL_FAULT_EXPECTATIONS[fault]
    with live_mock(spec) as live:
        results = _run(live, spec, profile, checks, prefixes)
    assert set(_verdicts(results).values()) == {"failed"}, {i: (r["verdict"], r["message"]) for i, r in results.items()}
    messages = " ".join(r["message"] for r in results.values())
    assert "check error" not in messages
    expected = {"callback-bad-sign": "sign does not verify", "callback-missing-param": "required orderid missing",
                "callback-no-retry": "was not sent again"}[fault]
    assert expected in messages


# ---------------------------------------------------------------- without a driver

def test_driver_none_reports_clock_and_event_checks_not_run(spec, profile, checks):
    """With --driver none the mock's background loop still delivers; checks that move the clock
    or need a supplier event are not run, the others pass (run in parallel by the runner)."""
    with live_mock(spec) as live:
        doc = run(_config(live, spec, profile, Driver(), workers=4), checks)
    verdicts = {r["id"]: r["verdict"] for r in doc["checks"]}
    for c in checks:
        if c.needs:
            assert verdicts[c.id] == "not_run", c.id
        else:
            assert verdicts[c.id] == "passed", (c.id, next(r["message"] for r in doc["checks"] if r["id"] == c.id))


# ---------------------------------------------------------------- the receiver itself

def test_receiver_records_fails_on_request_and_answers_signed(profile):
    import httpx

    from spec import wire

    with Receiver(profile, DEMO.key) as r:
        r.fail_next(1, "500", senderid="A")
        r.fail_next(1, "retcode")
        url = f"{r.url}/Notify_OrderChanged.aspx"
        answers = [httpx.get(url, params={"senderid": s, "status": "0"}) for s in ("B", "A", "A", "A")]
        assert [a.status_code for a in answers] == [200, 500, 200, 200]
        envs = [wire.parse(a.content, profile.response) for a in answers if a.status_code == 200]
        assert [e.retcode for e in envs] == ["1", "0", "0"]
        assert all(e.verify(DEMO.key, profile.response) for e in envs)
        got = r.received(senderid="A")
        assert [d.answer for d in got] == ["500", "0", "0"] and got[0].page == "Notify_OrderChanged.aspx"
        assert got[0].arrived <= got[1].arrived and got[0].get("STATUS") == "0"
        started = time.monotonic()
        assert not r.wait(lambda: False, timeout=0.3) and time.monotonic() - started < 1
        assert json.dumps([d.brief() for d in got])
