"""The REST page checks: all pass against the mock (also when the suite's clock is far from the
mock's: Hawk's stale-timestamp answer corrects it), and each REST fault switch of the mock makes
exactly the checks of its rule fail."""

from __future__ import annotations

import pytest
from livemock import live_mock
from mockkit import DEMO, OTHER

from conformance.drivers import AdminDriver, Driver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run_one

PREFIXES = ("signature.rest-", "schema.rest-", "isolation.rest.")
# fault switch of the mock -> check-id prefixes that must fail under it (and no other REST check)
FAULT_EXPECTATIONS = {
    "rest-no-auth": ["signature.rest-", "isolation.rest."],
    "rest-xml-declaration-order": ["schema.rest-media.application-xml.", "schema.rest-media.text-xml."],
}


def _checks(spec):
    return [c for c in all_checks(spec) if c.id.startswith(PREFIXES)]


def _run(spec, faults=(), admin=True):
    with live_mock(spec, faults) as live:
        driver = AdminDriver(live.admin_url, live.token) if admin else Driver()
        config = RunConfig(live.base_url, DEMO, spec, spec.profile(), driver, OTHER)
        return {c.id: run_one(config, c) for c in _checks(spec)}


def test_the_checks_are_derived_from_the_rest_pages(spec):
    ids = {c.id for c in _checks(spec)}
    page = spec.pages_by("rest")[0]
    assert {f"schema.rest-media.{mt.replace('/', '-')}.YearCardQueryMain" for mt in page.rest.media_types} <= ids
    assert {"signature.rest-no-credentials.YearCardQueryMain", "signature.rest-replay.YearCardQueryMain",
            "schema.rest-bson-json.YearCardQueryMain", "isolation.rest.YearCardQueryMain"} <= ids
    assert len(ids) == 4 + len(page.rest.media_types) + 3


@pytest.mark.parametrize("admin", [True, False], ids=["admin-driver", "no-driver"])
def test_every_rest_check_passes_against_the_mock(spec, admin):
    results = _run(spec, admin=admin)
    bad = {i: (r["verdict"], r["message"][:200]) for i, r in results.items() if r["verdict"] != "passed"}
    assert not bad, bad


@pytest.mark.parametrize("fault", sorted(FAULT_EXPECTATIONS))
def test_each_rest_fault_is_caught(spec, fault):
    results = _run(spec, (fault,))
    failed = {i for i, r in results.items() if r["verdict"] == "failed"}
    for prefix in FAULT_EXPECTATIONS[fault]:
        assert any(i.startswith(prefix) for i in failed), (fault, prefix, sorted(failed))
    unexpected = {i for i in failed if not i.startswith(tuple(FAULT_EXPECTATIONS[fault]))}
    assert not unexpected, (fault, sorted(unexpected))
    if fault == "rest-no-auth":
        assert {i for i in results if i.startswith("signature.rest-")} <= failed
        assert "HTTP 200" in results["signature.rest-no-credentials.YearCardQueryMain"]["message"] or \
            "HTTP 403" in results["signature.rest-no-credentials.YearCardQueryMain"]["message"]
    else:
        assert "ordinal order" in results["schema.rest-media.text-xml.YearCardQueryMain"]["message"]
