"""The derived signature, encryption, parameter and schema checks: all pass against the mock,
and each fault switch of the mock makes the checks of its rule fail (and no others)."""

from __future__ import annotations

import pytest

from conformance.drivers import AdminDriver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run
from livemock import live_mock
from mockkit import DEMO, OTHER

CATEGORIES = ("signature", "encryption", "parameters", "schema")

# fault -> check-id prefixes that must fail; any other failure is a defect too
FAULT_EXPECTATIONS = {
    "accept-bad-sign": ["signature.missing.", "signature.wrong.", "signature.tampered."],
    "wrong-response-sign": ["signature.valid."],
    "accept-plaintext": ["encryption.plain."],
    "wrong-key-derivation": ["encryption.common-request."],
    "case-sensitive-names": ["parameters.case-insensitive."],
    "ignore-required": ["parameters.missing."],
}


def _run(spec, faults=(), prefixes=None):
    checks = [c for c in all_checks(spec) if c.category in CATEGORIES]
    if prefixes is not None:
        checks = [c for c in checks if any(c.id.startswith(p) for p in prefixes)]
    with live_mock(spec, faults) as live:
        config = RunConfig(live.base_url, DEMO, spec, spec.profile(), AdminDriver(live.admin_url, live.token), OTHER,
                           workers=4)
        return run(config, checks)


def test_every_protocol_check_passes_against_the_mock(spec):
    doc = _run(spec)
    failed = [(c["id"], c["message"][:160]) for c in doc["checks"] if c["verdict"] == "failed"]
    assert not failed, failed
    assert doc["summary"]["passed"] >= 350


@pytest.mark.parametrize("fault", sorted(FAULT_EXPECTATIONS))
def test_each_fault_is_caught_by_its_checks(spec, fault):
    prefixes = FAULT_EXPECTATIONS[fault]
    neighbours = ["signature.valid.", "encryption.common-request."]  # must keep passing unless expected
    doc = _run(spec, (fault,), prefixes + neighbours)
    failed = {c["id"] for c in doc["checks"] if c["verdict"] == "failed"}
    for prefix in prefixes:
        assert any(i.startswith(prefix) for i in failed), (fault, prefix, sorted(failed)[:5])
    unexpected = {i for i in failed if not any(i.startswith(p) for p in prefixes)}
    assert not unexpected, (fault, sorted(unexpected)[:5])


def test_sms_code_pages_are_reached_through_the_drivers_sms_outbox(spec):
    """UseAccountToPay's SmsCode is obtained_from ReadyToPay (spec): the admin driver reads the code
    the mock sent, so the page's own checks run, and a broken sign rule is caught there too."""
    checks = [c for c in all_checks(spec) if c.page == "UseAccountToPay.aspx" and c.category == "signature"]
    for faults, verdict in (((), "passed"), (("accept-bad-sign",), "failed")):
        with live_mock(spec, faults) as live:
            config = RunConfig(live.base_url, DEMO, spec, spec.profile(), AdminDriver(live.admin_url, live.token))
            doc = run(config, checks)
        bad = [c["id"] for c in doc["checks"] if c["id"] != "signature.valid.UseAccountToPay" and c["verdict"] != verdict]
        assert not bad, (faults, bad)
