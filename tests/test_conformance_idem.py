"""Idempotency, isolation and robustness checks: every one passes against the healthy mock (the
theater pages are not run against the scenic mock), and each can fail: the mock's fault switches
break the idempotency checks and the state machine, and small fake targets (no fault of the mock
breaks them) break the isolation and fuzz checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from livemock import live_mock
from mockkit import DEMO, OTHER
from receiver import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conformance.drivers import AdminDriver, Driver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run_one
from spec import wire

CATEGORIES = ("idempotency", "isolation", "robustness")

# fault switch of the mock -> check-id prefixes that must fail under it (and nothing else of these categories)
FAULT_EXPECTATIONS = {
    "duplicate-order-on-repeat": ["idempotency.same-order.", "idempotency.list-count.", "idempotency.single-debit."],
    "allow-forbidden-transition": ["robustness.state-machine"],
    "oversell": ["robustness.state-machine"],
}
# fake target (no mock fault breaks these rules) -> check-id prefixes that must fail against it
FAKE_EXPECTATIONS = {
    "serves-every-order": ["isolation.foreign-order."],
    "http-500": ["robustness.fuzz."],
    "broken-xml": ["robustness.fuzz."],
}
ORDER = "2026112100000001"


def _checks(spec, prefixes=None):
    checks = [c for c in all_checks(spec) if c.category in CATEGORIES]
    if prefixes is not None:
        checks = [c for c in checks if c.id.startswith(tuple(prefixes))]
    return checks


def _run(base_url, spec, checks, driver=None):
    config = RunConfig(base_url, DEMO, spec, spec.profile(), driver or Driver(), OTHER)
    return {c.id: run_one(config, c) for c in checks}


def _run_live(spec, checks, faults=()):
    with live_mock(spec, faults) as live:
        return _run(live.base_url, spec, checks, AdminDriver(live.admin_url, live.token))


@pytest.fixture(scope="module")
def healthy(spec):
    return _run_live(spec, _checks(spec))


def test_the_categories_are_derived_from_the_spec(spec):
    ids = {c.id for c in _checks(spec)}
    for page in ("OrderProducts", "OrderAndPayWithYDJ", "OrderAndPayWithFK"):
        assert f"idempotency.same-order.{page}" in ids and f"idempotency.list-count.{page}" in ids
    assert "idempotency.single-debit.OrderAndPayWithYDJ" in ids and "idempotency.single-debit.OrderProducts" not in ids
    assert {"isolation.foreign-order.QueryOrder", "isolation.foreign-order.CancelOrder",
            "isolation.foreign-order.QueryOrdersList"} <= ids
    assert "isolation.foreign-order.ChangePayPwd" not in ids  # ZFDH is a verification-code document
    assert not any(i.startswith("isolation.foreign-order.OrderAndPay") for i in ids)  # the integrator's own number
    fuzzed = {i for i in ids if i.startswith("robustness.fuzz.")}
    assert len(fuzzed) == len([p for p in spec.pages if p.direction in ("request", "payment_notify", "rest")])
    machine = next(c for c in _checks(spec) if c.id == "robustness.state-machine")
    assert machine.needs == ("clock",) and "forbidden" in machine.clause


def test_every_check_passes_against_the_healthy_mock(spec, healthy):
    pages = {c.id: c.page for c in _checks(spec)}
    failed = [(i, r["message"][:300]) for i, r in healthy.items() if r["verdict"] == "failed"]
    assert not failed, failed
    skipped = {i for i, r in healthy.items() if r["verdict"] != "passed"}
    theater = {i for i in pages if pages[i] and spec.page(pages[i]).mode == "theater" and i.startswith("idempotency.")}
    assert skipped == theater, sorted(skipped ^ theater)
    assert {healthy[i]["verdict"] for i in theater} == {"not_applicable"}
    assert len(healthy) - len(theater) >= 85


def test_checks_without_a_driver_or_second_agent_are_not_run(spec):
    machine = [c for c in _checks(spec) if c.id == "robustness.state-machine"]
    isolation = [c for c in _checks(spec) if c.id == "isolation.foreign-order.QueryOrder"]
    with live_mock(spec) as live:
        results = _run(live.base_url, spec, machine)  # driver none: no clock
        config = RunConfig(live.base_url, DEMO, spec, spec.profile(), AdminDriver(live.admin_url, live.token), None)
        results[isolation[0].id] = run_one(config, isolation[0])
    assert {r["verdict"] for r in results.values()} == {"not_run"}, results


@pytest.mark.parametrize("fault", sorted(FAULT_EXPECTATIONS))
def test_each_fault_is_caught(spec, healthy, fault):
    prefixes = FAULT_EXPECTATIONS[fault]
    checks = _checks(spec, ["idempotency.", *prefixes])  # the cheap neighbours must keep passing
    results = _run_live(spec, checks, (fault,))
    failed = {i for i, r in results.items() if r["verdict"] == "failed"}
    for prefix in prefixes:
        expected = {i for i in results if i.startswith(prefix) and healthy[i]["verdict"] == "passed"}
        assert expected and expected <= failed, (fault, prefix, sorted(expected - failed))
    unexpected = {i for i in failed if not i.startswith(tuple(prefixes))}
    assert not unexpected, (fault, sorted(unexpected))


# ------------------------------------------------------------------ fake targets


@contextmanager
def _serve(app) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", date_header=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake target did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _fake(spec, kind: str) -> Starlette:
    rule = spec.profile().response
    order = wire.Node.record("Item", [
        ("orderid", ORDER), ("ordertime", "20261121100000"), ("orderstatus", "0"), ("summary", "100.00"),
        ("productid", "P1001"), ("productname", "成人票"), ("price", "100.00"), ("needname", "0")])

    async def answer(request: Request) -> Response:
        if kind == "http-500":
            return Response("Internal Server Error", status_code=500)
        if kind == "broken-xml":
            return Response(b"<root><retcode>0</retcode><retmsg>", media_type="text/xml")
        return Response(wire.render(rule, "0", "", (order,), DEMO.key), media_type="text/xml")

    return Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])


def test_isolation_checks_fail_against_a_target_that_serves_every_order(spec):
    checks = _checks(spec, FAKE_EXPECTATIONS["serves-every-order"])
    with _serve(_fake(spec, "serves-every-order")) as base:
        results = _run(base, spec, checks)
    assert {r["verdict"] for r in results.values()} == {"failed"}, {
        i: (r["verdict"], r["message"][:120]) for i, r in results.items() if r["verdict"] != "failed"}
    assert "was served" in results["isolation.foreign-order.CancelOrder"]["message"]
    assert "shows" in results["isolation.foreign-order.QueryOrder"]["message"]


@pytest.mark.parametrize("kind", ["http-500", "broken-xml"])
def test_fuzz_checks_fail_against_a_broken_target(spec, kind):
    pages = ("QueryOrder", "OrderProducts", "YearCardQueryMain", "notify_Payback_url")
    checks = [c for c in _checks(spec, FAKE_EXPECTATIONS[kind]) if c.id.rsplit(".", 1)[1] in pages]
    assert len(checks) == len(pages)
    with _serve(_fake(spec, kind)) as base:
        results = _run(base, spec, checks)
    verdicts = {i.rsplit(".", 1)[1]: r["verdict"] for i, r in results.items()}
    # a request page must answer an envelope; the payment-platform and REST pages only never 5xx
    expected = {"QueryOrder": "failed", "OrderProducts": "failed",
                "YearCardQueryMain": "failed" if kind == "http-500" else "passed",
                "notify_Payback_url": "failed" if kind == "http-500" else "passed"}
    assert verdicts == expected, {i: r["message"][:200] for i, r in results.items()}
    evidence = results["robustness.fuzz.QueryOrder"]["exchanges"]
    assert evidence and evidence[0]["status"] == (500 if kind == "http-500" else 200)
