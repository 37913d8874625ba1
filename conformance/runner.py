"""Run checks against a target and produce `results.json` (the only input of the reports)."""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

from spec.model import Profile, Spec
from spec.protocol import Credentials

from .baseline import paced
from .cleanup import close_orders
from .context import CheckContext, verdict_of
from .drivers import Driver, DriverError
from .registry import Check
from .shared import RunShared
from .target import Target

# not_applicable: the rule does not concern this target (the other supplier mode); it counts nowhere
VERDICTS = ("passed", "failed", "warning", "not_run", "not_applicable")


@dataclass
class RunConfig:
    base_url: str
    creds: Credentials
    spec: Spec
    profile: Profile
    driver: Driver
    other: Credentials | None = None
    only: tuple[str, ...] = ()
    expected_failures: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    timeout: float = 10.0


def load_expected_failures(path: Path | None) -> dict[str, str]:
    """`{check id: reason}` from a YAML file of known deviations (a list of ids also works)."""
    if path is None:
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if isinstance(data, list):
        return {str(i): "known deviation" for i in data}
    return {str(k): str(v) for k, v in data.items()}


def run_one(config: RunConfig, chk: Check, shared: RunShared | None = None) -> dict[str, Any]:
    """Run one check in its own target session, with what the run's checks share; never raises."""
    target = Target(config.base_url, config.creds, config.spec, config.profile, config.timeout,
                    clock=config.driver.clock)
    ctx = CheckContext(config.spec, config.profile, target, config.driver, config.other, shared=shared or RunShared())
    started = time.monotonic()
    verdict, message = "passed", ""
    try:
        for need in chk.needs:
            ctx.needs(need)
        chk.fn(ctx)
    except Exception as exc:
        verdict, message = verdict_of(exc, trace=True)
    try:
        if verdict != "failed":
            close_orders(ctx)
    except Exception as exc:  # the verdict stands whatever the clean-up meets
        ctx.notes.append(f"clean-up stopped: {type(exc).__name__}: {exc}")
    finally:
        target.close()
    if verdict == "failed" and chk.id in config.expected_failures:
        verdict, message = "warning", f"known deviation ({config.expected_failures[chk.id]}): {message}"
    return {
        "id": chk.id, "category": chk.category, "clause": chk.clause, "claim": chk.claim, "severity": chk.severity,
        "page": chk.page, "needs": list(chk.needs), "verdict": verdict, "message": message,
        "duration_ms": int((time.monotonic() - started) * 1000),
        "exchanges": [ex.as_dict() for ex in ctx.exchanges],
        "notes": ctx.notes,
    }


def run(config: RunConfig, checks: list[Check], progress: Callable[[int, int, int], None] | None = None) -> dict[str, Any]:
    """Run `checks` (those moving the clock or the callback address one at a time, after the
    others); return the results document."""
    if config.only:
        checks = [c for c in checks if c.category in config.only]
    started = datetime.now(timezone.utc)
    # clock moves and the agent's single callback address must not be shared with other checks; nor
    # a page whose correct request moves the clock past an agent-wide code's resend interval
    paced_pages = {p.page for p in config.spec.request_pages if paced(config.spec, p)}
    alone = lambda c: "clock" in c.needs or c.category == "callbacks" or c.page in paced_pages  # noqa: E731
    parallel = [c for c in checks if not alone(c)]
    serial = [c for c in checks if alone(c)]
    results: list[dict[str, Any]] = []
    failures = 0

    def done(result: dict[str, Any]) -> None:
        nonlocal failures
        results.append(result)
        failures += result["verdict"] == "failed"
        if progress:
            progress(len(results), len(checks), failures)

    clock_before = _target_time(config)
    shared = RunShared()  # one run's seats and choices, never another's
    with ThreadPoolExecutor(max(1, config.workers)) as pool:
        for result in pool.map(lambda c: run_one(config, c, shared), parallel):
            done(result)
    for chk in serial:
        done(run_one(config, chk, shared))
    order = {c.id: i for i, c in enumerate(checks)}
    results.sort(key=lambda r: order[r["id"]])
    clock = None
    if clock_before is not None:  # checks froze and moved the target's clock: it runs on from there
        config.driver.release_clock()
        clock = {"before": clock_before.isoformat(), "after": _target_time(config).isoformat()}
    return summarise(config, results, started, clock=clock)


def _target_time(config: RunConfig) -> datetime | None:
    """The target's clock when the driver can move it (the run then says where it left it)."""
    if "clock" not in config.driver.capabilities:
        return None
    try:
        return config.driver.now()
    except DriverError:
        return None


def summarise(config: RunConfig, results: list[dict[str, Any]], started: datetime, *,
              clock: dict[str, str] | None = None) -> dict[str, Any]:
    """The results document; `clock`: the target's clock before and after the run, where it was moved."""
    by_category: dict[str, dict[str, int]] = {}
    for r in results:
        counts = by_category.setdefault(r["category"], {v: 0 for v in VERDICTS})
        counts[r["verdict"]] += 1
    totals = {v: sum(1 for r in results if r["verdict"] == v) for v in VERDICTS}
    applicable = len(results) - totals["not_applicable"]
    ran = applicable - totals["not_run"]
    pages_seen, codes_seen = set(), set()
    for r in results:
        for ex in r["exchanges"]:
            pages_seen.add(ex["page"])
            if ex["retcode"] is not None:
                codes_seen.add((ex["page"], ex["retcode"]))
    request_pages = [p for p in config.spec.request_pages]
    all_codes = {(p.page, rc.code) for p in request_pages for rc in p.retcodes}
    return {
        "tool": "ybx-conform", "format": 1,
        "target": config.base_url, "user": config.creds.user, "profile": config.profile.name,
        "driver": config.driver.name, "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(), "clock": clock,
        "summary": {
            **totals, "total": len(results), "applicable": applicable, "ran": ran,
            # score: what passed of the checks that concern this target; index: what passed of what could
            # run with this driver. Checks of the other supplier mode (not_applicable) are in neither.
            "score": round(totals["passed"] / applicable, 4) if applicable else 0.0,
            "index": round(totals["passed"] / ran, 4) if ran else 0.0,
            "by_category": by_category,
        },
        "coverage": {
            "pages": sorted(pages_seen), "pages_total": len(request_pages),
            "pages_exercised": len({p.page for p in request_pages} & pages_seen),
            "retcodes_total": len(all_codes), "retcodes_exercised": len(all_codes & codes_seen),
        },
        "checks": results,
    }


def write_results(doc: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def print_progress(done: int, total: int, failures: int) -> None:
    """One updating line on a terminal; a line per tenth of the run elsewhere (CI logs)."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{done}/{total} checks, {failures} failed" + ("\n" if done == total else ""))
    elif done == total or done % max(1, total // 10) == 0:
        sys.stderr.write(f"{done}/{total} checks, {failures} failed\n")
    sys.stderr.flush()
