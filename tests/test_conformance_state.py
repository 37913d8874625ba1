"""The state checks (conformance/checks/state.py) against a real mock: every check passes (or is not
run, for a status the target's settings keep out of reach) on the healthy mock, and fails on a
mock that breaks its rule - by a fault switch where the mock has one (FAULT_EXPECTATIONS), else by
a mock whose own state machine (the spec it is given) breaks exactly that rule (SPEC_MUTATIONS)."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

import httpx
import pytest
import yaml
from livemock import Live, live_mock
from mockkit import DEMO, OTHER

import conformance.target as target_module
from conformance.drivers import AdminDriver, Driver
from conformance.registry import Check, all_checks
from conformance.runner import RunConfig, run_one
from mockserver.handlers import instant, payments
from spec.model import Spec, Transition

# fault switch -> check id prefixes that must fail on a mock started with it
FAULT_EXPECTATIONS = {
    "allow-forbidden-transition": ["state.forbidden.cancel-after-delivery."],
    "oversell": ["state.no-oversell"],
}
# Rules no fault switch breaks: a mock given a mutated spec breaks them instead.
SPEC_MUTATIONS = {
    "retarget": ["state.transition."],  # the transition leads to a status no flow reaches
    "allow-forbidden": ["state.forbidden."],  # every forbidden (status, event) becomes a self-transition
}
# Out of reach on the default world (no payment approval: platform payments go straight to 6, so
# 5 and 9 are never reached; 1 is reached by no V4.0 flow). The approval world runs them.
APPROVAL = {"pay-instant-success-audit", "approve-payment", "reject-payment", "apply-refund-paid",
            "revoke-refund-to-paid", "expire-instant-paid"}
UNREACHED = {"1", "5", "9"}
WORLD = Path(__file__).resolve().parent.parent / "mockserver" / "worlds" / "scenic.yaml"


def _unreached(check_id: str) -> bool:
    """Not run on the default world, by design (see APPROVAL, UNREACHED)."""
    if check_id.startswith("state.transition."):
        return check_id.removeprefix("state.transition.") in APPROVAL
    if check_id.startswith("state.forbidden."):
        return check_id.rsplit(".", 1)[1] in UNREACHED
    return False


@pytest.fixture(scope="module", autouse=True)
def _shared_ssl_context() -> Iterator[None]:
    """Each run_one builds a Target whose httpx.Client creates an SSL context (~60 ms, 165 checks per
    run): share one, as the checks only speak plain HTTP to 127.0.0.1 here."""
    shared = ssl.create_default_context()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(target_module.httpx, "Client", partial(httpx.Client, verify=shared))
        yield


@pytest.fixture(scope="module")
def checks(spec) -> list[Check]:
    return [c for c in all_checks(spec) if c.category == "state"]


def _run(spec: Spec, live: Live, checks: list[Check], driver: Driver | None = None) -> dict[str, dict]:
    """run_one for each check: clock-free ones in parallel, clock-moving ones after, one at a time."""
    config = RunConfig(live.base_url, DEMO, spec, spec.profile(), driver or AdminDriver(live.admin_url, live.token),
                       other=OTHER)
    free = [c for c in checks if "clock" not in c.needs]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda c: run_one(config, c), free))
    results += [run_one(config, c) for c in checks if "clock" in c.needs]
    return {r["id"]: r for r in results}


def _summary(results: dict[str, dict], verdicts: tuple[str, ...]) -> str:
    return "\n".join(f"{i} {r['verdict']}: {r['message'][:300]}" for i, r in sorted(results.items())
                     if r["verdict"] in verdicts)


@pytest.fixture(scope="module")
def approval_world(tmp_path_factory) -> Path:
    data = yaml.safe_load(WORLD.read_text(encoding="utf-8"))
    data["supplier"]["payment_approval"] = True  # platform payments wait for finance (status 5)
    path = tmp_path_factory.mktemp("world") / "approval.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# ------------------------------------------------------------------ spec mutations (mock side only)

def _with(spec: Spec, transitions: list[Transition]) -> Spec:
    return replace(spec, transitions=tuple(transitions), _index=spec._index)


def _wrong_status(spec: Spec) -> str:
    """A status no transition leads to (1 部分支付): what a retargeted transition produces."""
    reached = {t.target for t in spec.transitions}
    return next(s.code for s in spec.order_statuses if s.code not in reached)


def _retarget(spec: Spec, ids: set[str]) -> Spec:
    wrong = _wrong_status(spec)
    return _with(spec, [replace(t, target=wrong) if t.id in ids else t for t in spec.transitions])


def _allow_forbidden(spec: Spec) -> Spec:
    """Every forbidden (status, event) allowed: a self-transition, or - for events whose allowed
    transitions pick their target by history (revoke_refund) - one per such target."""
    added, seen = [], set()
    every = tuple(p.code for p in spec.payment_types)
    for rule in spec.forbidden:
        targets = {t.target for t in spec.transitions if t.event == rule.event}
        sources = {t.source for t in spec.transitions if t.event == rule.event}
        chosen = targets if any(len(spec.transitions_from(s, rule.event)) > 1 for s in sources) else set()
        for source in rule.sources:
            if (source, rule.event) in seen:
                continue
            seen.add((source, rule.event))
            for target in sorted(chosen | {source}):
                added.append(Transition(f"mutant-{rule.event}-{source}-{target}", source, rule.event, target, every,
                                        "", (), "none", "", "mutation", None))
    return _with(spec, [*spec.transitions, *added])


def _steps(result: dict) -> set[str]:
    """Transitions a check drove on its way to the source status (its notes)."""
    return {m.group(1) for n in result["notes"] if (m := re.match(r"step (\S+):", n))} | {"book"}


def _variants(results: dict[str, dict], ids: list[str]) -> list[set[str]]:
    """Transition ids grouped so that no group holds a transition another check of the group passes
    through on its way (retargeting it would stop that check from reaching its source)."""
    uses = {i: _steps(results[f"state.transition.{i}"]) - {i} for i in ids}
    groups: list[set[str]] = []
    for i in ids:
        for g in groups:
            if i not in set().union(*(uses[j] for j in g)) and not (uses[i] & g):
                g.add(i)
                break
        else:
            groups.append({i})
    return groups


# ------------------------------------------------------------------ the healthy mocks

@pytest.fixture(scope="module")
def healthy(spec, checks) -> dict[str, dict]:
    with live_mock(spec) as live:
        return _run(spec, live, checks)


@pytest.fixture(scope="module")
def approval(spec, checks, approval_world) -> dict[str, dict]:
    chosen = [c for c in checks if _unreached(c.id) and not c.id.endswith(".1")]
    with live_mock(spec, world=approval_world) as live:
        return _run(spec, live, chosen)


def test_every_transition_and_forbidden_rule_has_a_check(spec, checks):
    ids = {c.id for c in checks}
    assert {f"state.transition.{t.id}" for t in spec.transitions} <= ids
    assert {f"state.forbidden.{r.id}.{s}" for r in spec.forbidden for s in r.sources} <= ids
    assert "state.no-oversell" in ids
    assert all(c.severity in ("critical", "major", "minor") and c.clause and c.claim for c in checks)
    clock = {c.id for c in checks if "clock" in c.needs}
    assert clock == {f"state.transition.{t.id}" for t in spec.transitions if t.event in ("expire", "pay_timeout")}


def test_healthy_mock_passes(healthy):
    assert not _summary(healthy, ("failed",)), _summary(healthy, ("failed",))
    not_run = {i for i, r in healthy.items() if r["verdict"] == "not_run"}
    assert not_run == {i for i in healthy if _unreached(i)}, _summary(healthy, ("not_run",))


def test_an_unreached_status_names_the_setting_that_reaches_it(healthy):
    message = healthy["state.transition.approve-payment"]["message"]
    assert "finance to approve platform payments" in message, message  # the guard, from transitions.yaml
    assert "payment_approval: true" in message and "no admin event" in message, message  # the admin driver's hint


def test_approval_world_reaches_5_and_9(approval):
    assert not _summary(approval, ("failed", "not_run")), _summary(approval, ("failed", "not_run"))


@pytest.mark.parametrize("fault", sorted(FAULT_EXPECTATIONS))
def test_fault_fails_its_checks(spec, checks, healthy, fault):
    chosen = [c for c in checks if c.id.startswith(tuple(FAULT_EXPECTATIONS[fault]))
              and healthy[c.id]["verdict"] == "passed"]
    assert chosen
    with live_mock(spec, faults=(fault,)) as live:
        _must_fail(_run(spec, live, chosen))


def _mutant_pages(monkeypatch) -> None:
    """The allow-forbidden mutant also takes any SMS verification code, so the broken state rule shows
    through the code-checked pages (UseAccountToPay, UseAccountToPayByFK) without a real code; and
    its RevokeOrder, which returns an order to the status before its refund application, sends an
    order that never applied back to where it is (the mutant's self-transition)."""
    monkeypatch.setattr(payments, "use_code", lambda *args, **kwargs: None)
    back_to = instant._back_to
    monkeypatch.setattr(instant, "_back_to", lambda db, order: back_to(db, order) or order["status"])


def _must_fail(results: dict[str, dict]) -> None:
    wrong = {i: r for i, r in results.items() if r["verdict"] != "failed"}
    assert not wrong, _summary(wrong, ("passed", "not_run", "warning"))


def test_forbidden_checks_fail_when_forbidden_transitions_are_allowed(spec, checks, healthy, monkeypatch):
    _mutant_pages(monkeypatch)
    chosen = [c for c in checks if c.id.startswith(tuple(SPEC_MUTATIONS["allow-forbidden"]))
              and healthy[c.id]["verdict"] == "passed"]
    with live_mock(_allow_forbidden(spec)) as live:
        _must_fail(_run(spec, live, chosen))


def test_transition_checks_fail_when_the_transition_goes_elsewhere(spec, checks, healthy):
    by_id = {c.id: c for c in checks}
    ids = [c.id.removeprefix("state.transition.") for c in checks if c.id.startswith(tuple(SPEC_MUTATIONS["retarget"]))
           and healthy[c.id]["verdict"] == "passed"]
    results: dict[str, dict] = {}
    for group in _variants(healthy, ids):
        with live_mock(_retarget(spec, group)) as live:
            results.update(_run(spec, live, [by_id[f"state.transition.{i}"] for i in sorted(group)]))
    assert len(results) == len(ids)
    _must_fail(results)


def test_approval_checks_fail_on_a_broken_approval_world(spec, checks, approval, approval_world, monkeypatch):
    by_id = {c.id: c for c in checks}
    ids = sorted(i.removeprefix("state.transition.") for i in approval if i.startswith("state.transition."))
    results: dict[str, dict] = {}
    for group in _variants(approval, ids):
        with live_mock(_retarget(spec, group), world=approval_world) as live:
            results.update(_run(spec, live, [by_id[f"state.transition.{i}"] for i in sorted(group)]))
    _mutant_pages(monkeypatch)
    with live_mock(_allow_forbidden(spec), world=approval_world) as live:
        results.update(_run(spec, live, [by_id[i] for i in approval if i.startswith("state.forbidden.")]))
    _must_fail(results)


def test_without_a_driver_nothing_fails_and_driver_checks_are_not_run(spec, checks):
    chosen = [c for c in checks if c.needs] + [by for by in checks if not by.needs][:20]
    with live_mock(spec) as live:
        results = _run(spec, live, chosen, driver=Driver())
    assert not _summary(results, ("failed",)), _summary(results, ("failed",))
    for c in chosen:
        if c.needs:
            assert results[c.id]["verdict"] == "not_run" and "driver 'none'" in results[c.id]["message"], c.id
