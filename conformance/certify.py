"""`ybx-conform certify-ota`: the mock judges an OTA's own system. The person is told which flow
of the plan to perform next; the mock's request journal (`/_admin/journal`) and callback outbox
(`/_admin/callbacks`) are watched until each flow is shown; the result is a certificate."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from pathlib import Path
from typing import Any, Callable, Mapping, TextIO
from zoneinfo import ZoneInfo

import httpx

from spec.model import Profile, Spec

from .cliargs import seconds
from .drivers import AdminDriver, DriverError
from .journal import Entry, Window
from .journal import when as _when
from .plan import Flow, OrderCondition, Plan, RequestMatcher, Step
from .preflight import check_callback_url, driver_problems, stop

EVIDENCE_LIMIT = 3  # entries kept per step: enough to show, small enough to print


class Exit(IntEnum):
    CERTIFIED = 0
    NOT_CERTIFIED = 1
    USAGE = 2


def _order_miss(cond: OrderCondition, entry: Entry, orders: Callable[[str], Mapping[str, Any] | None]) -> str | None:
    orderid = entry.value(cond.id_from)
    if not orderid:
        return f"no {cond.id_from} in the request"
    order = orders(orderid)
    if order is None:
        return f"the supplier has no order {orderid}"
    if cond.status and str(order.get("status")) not in cond.status:
        return f"order {orderid} is in status {order.get('status')}, not {'/'.join(cond.status)}"
    if cond.pay_types and str(order.get("pay_type")) not in cond.pay_types:
        return f"order {orderid} was paid by {order.get('pay_type') or 'nothing'}, not {'/'.join(cond.pay_types)}"
    if cond.fees:
        try:
            fees = Decimal(str(order.get("fees", "0")))
        except InvalidOperation:
            return f"order {orderid} has no readable fee"
        if (fees == 0) != (cond.fees == "zero"):
            return f"order {orderid} was charged a fee of {fees}, expected {'none' if cond.fees == 'zero' else 'a fee'}"
    return None


def _miss(m: RequestMatcher, entry: Entry, orders: Callable[[str], Mapping[str, Any] | None]) -> str | None:
    """None when `entry` (on one of the matcher's pages) matches, else every reason why not."""
    reasons = []
    if m.retcode is not None and entry.retcode != m.retcode:
        reasons.append(f"answered retcode {entry.retcode} {entry.retmsg or ''}".rstrip())
    reasons += [why for cond in m.values if (why := cond.test(entry.values))]
    if not reasons and m.order is not None:  # the order is looked up only for an otherwise matching request
        why = _order_miss(m.order, entry, orders)
        reasons += [why] if why else []
    return "; ".join(reasons) or None


def _on_page(m: RequestMatcher, entry: Entry, spec: Spec) -> bool:
    if not entry.page or not spec.has_page(entry.page):
        return False
    return spec.page(entry.page).page in m.pages


@dataclass
class Judge:
    spec: Spec
    window: Window
    base_url: str

    def step(self, flow: Flow, step: Step) -> dict[str, Any]:
        if step.callback is not None:
            return self._callback_step(step)
        cache: dict[str, Mapping[str, Any] | None] = {}

        def orders(orderid: str) -> Mapping[str, Any] | None:
            if orderid not in cache:
                cache[orderid] = self.window.order(orderid)
            return cache[orderid]

        matched: list[Entry] = []
        near: list[tuple[Entry, str]] = []
        for entry in self.window.entries:
            for m in step.requests:
                if not _on_page(m, entry, self.spec):
                    continue
                why = _miss(m, entry, orders)
                if why is None:
                    matched.append(entry)
                    break
                near.append((entry, why))
        clean = [e for e in matched if not e.errors] if flow.clean else matched
        if clean:
            return {"label": step.label, "verdict": "passed", "message": f"shown by request #{clean[0].id}",
                    "evidence": [e.evidence(self.base_url) for e in clean[:EVIDENCE_LIMIT]]}
        if matched:
            ids = ", ".join(f"#{e.id}" for e in matched[:EVIDENCE_LIMIT])
            return {"label": step.label, "verdict": "failed",
                    "message": f"shown only by requests with mistakes ({ids}): "
                               + "; ".join(sorted({f.mistake for e in matched for f in e.errors})),
                    "evidence": [e.evidence(self.base_url) for e in matched[:EVIDENCE_LIMIT]]}
        pages = sorted({p for m in step.requests for p in m.pages})
        message = f"not shown: no accepted request of {', '.join(pages)}"
        if near:
            message += f" ({len(near)} attempt(s); the last: #{near[-1][0].id} {near[-1][1]})"
        return {"label": step.label, "verdict": "not_shown", "message": message,
                "evidence": [e.evidence(self.base_url, why) for e, why in near[-EVIDENCE_LIMIT:]]}

    def _callback_step(self, step: Step) -> dict[str, Any]:
        cb = step.callback
        assert cb is not None
        sent = [d for d in self.window.deliveries if d.page == cb.page]
        good = [d for d in sent if d.answered(cb.retcode)]
        if good:
            return {"label": step.label, "verdict": "passed",
                    "message": f"callback {good[0].id} (order {good[0].orderid}) answered retcode {cb.retcode}",
                    "evidence": [d.evidence() for d in good[:EVIDENCE_LIMIT]]}
        tried = [d for d in sent if d.attempts]
        if tried:
            last = tried[-1].attempts[-1]
            why = (f"HTTP {last.get('http_status')} retcode {last.get('retcode') or '-'} "
                   f"{last.get('error') or ''}").rstrip()
            return {"label": step.label, "verdict": "failed",
                    "message": f"{len(tried)} {cb.page} callback(s) sent, none answered retcode {cb.retcode}: {why}",
                    "evidence": [d.evidence("not answered as the manual asks") for d in tried[-EVIDENCE_LIMIT:]]}
        message = (f"not shown: no {cb.page} was delivered to the agent's responseaddr "
                   f"(is responseaddr set, and do the orders carry senderid?)")
        if sent:
            message += f"; {len(sent)} waiting in the outbox"
        return {"label": step.label, "verdict": "not_shown", "message": message,
                "evidence": [d.evidence("not yet attempted") for d in sent[:EVIDENCE_LIMIT]]}

    def flow(self, flow: Flow, pay_types: tuple[str, ...]) -> dict[str, Any]:
        head = {"id": flow.id, "title": flow.title, "instruction": flow.instruction,
                "payment_types": list(flow.payment_types), "optional": flow.optional}
        if not flow.selected(pay_types):
            return {**head, "verdict": "not_selected", "steps": [],
                    "message": f"the OTA does not use {'/'.join(flow.payment_types)}"}
        steps = [self.step(flow, s) for s in flow.steps]
        bad = [s for s in steps if s["verdict"] != "passed"]
        if not bad:
            verdict, message = "passed", "; ".join(s["message"] for s in steps)
        elif flow.optional and all(s["verdict"] == "not_shown" for s in bad):
            verdict, message = "not_shown", "optional; not shown in this run"
        else:
            verdict = "failed"
            message = "; ".join(f"{s['label']}: {s['message']}" for s in bad)
        return {**head, "verdict": verdict, "message": message, "steps": steps}


def group_mistakes(entries: list[Entry]) -> list[dict[str, Any]]:
    """Every finding of the run, grouped by mistake id (errors first, then by count)."""
    groups: dict[str, dict[str, Any]] = {}
    for e in entries:
        for f in e.findings:
            first = {k: v for k, v in f.as_dict().items() if k != "param"}
            g = groups.setdefault(f.mistake, {**first, "count": 0, "findings": 0, "entries": [], "pages": [], "params": []})
            if e.id not in g["entries"]:  # count requests, not findings: one request with two bad dates is one
                g["count"] += 1
                g["entries"].append(e.id)
            g["findings"] += 1
            for key, value in (("pages", e.page), ("params", f.param)):
                if value and value not in g[key]:
                    g[key].append(value)
    return sorted(groups.values(), key=lambda g: (g["severity"] != "error", -g["count"], g["mistake"]))


def verdict(flows: list[dict[str, Any]], mistakes: list[dict[str, Any]],
            callback_pages: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """`certified` only with every selected flow shown, no error in any request and no failed
    callback-page check; otherwise the reasons."""
    reasons = [f"flow {f['id']} ({f['title']}) {f['verdict'].replace('_', ' ')}: {f['message']}"
               for f in flows if f["verdict"] == "failed"]
    reasons += [f"{m['count']} request(s) with mistake {m['mistake']}: {m['message']} — fix: {m['hint']}"
                for m in mistakes if m["severity"] == "error"]
    reasons += [f"callback page check {c['id']} failed: {c['message']}" for c in callback_pages if c["verdict"] == "failed"]
    return ("not certified" if reasons else "certified"), reasons


# ---------------------------------------------------------------- the run

@dataclass
class CertifyConfig:
    spec: Spec
    profile: Profile
    plan: Plan
    admin: AdminDriver
    mock_url: str
    agent: str
    pay_types: tuple[str, ...]
    since: str | None = None
    wait: float = 300.0
    no_wait: bool = False
    poll: float = 0.5
    callback_url: str | None = None
    callback_pages: Callable[[Window], list[dict[str, Any]]] | None = None
    out: TextIO = field(default_factory=lambda: sys.stdout)


def _say(config: CertifyConfig, text: str) -> None:
    print(text, file=config.out, flush=True)


def _print_entry(config: CertifyConfig, entry: Entry) -> None:
    mark = "✗" if entry.errors else ("!" if entry.findings else "·")
    _say(config, f"  {mark} #{entry.id} {entry.method} {entry.page or entry.path} → retcode {entry.retcode} "
                 f"{entry.retmsg or ''}".rstrip())
    for f in entry.findings:
        _say(config, f"      {f.severity}: {f.mistake} — {f.message} [{f.rule}; manual {f.clause}]")
        _say(config, f"      fix: {f.hint}")


def _print_flow(config: CertifyConfig, result: dict[str, Any]) -> None:
    mark = {"passed": "✓", "failed": "✗"}.get(result["verdict"], "–")
    _say(config, f"  {mark} {result['verdict'].replace('_', ' ')}: {result['message']}")
    for step in result["steps"]:
        for ev in step["evidence"]:
            if "entry" in ev:
                _say(config, f"      evidence #{ev['entry']}: {ev['method']} {ev['page']} retcode {ev['retcode']}"
                             + (f" — {ev['why']}" if ev.get("why") else ""))
            else:
                _say(config, f"      evidence callback {ev['callback']}: {ev['page']} order {ev['orderid']}"
                             + (f" — {ev['why']}" if ev.get("why") else ""))


def _live(config: CertifyConfig, window: Window, judge: Judge, flows: list[Flow]) -> None:
    required = [f for f in flows if not f.optional]
    optional = [f for f in flows if f.optional]
    if optional:
        _say(config, "Optional flows, judged at the end if shown: " + "; ".join(f.title for f in optional))
    for i, flow in enumerate(required, 1):
        _say(config, f"\nFlow {i}/{len(required)} — {flow.title}: {flow.instruction}")
        wants_callbacks = any(s.callback for s in flow.steps)
        deadline = time.monotonic() + config.wait
        while True:
            try:
                for entry in window.poll():
                    _print_entry(config, entry)
                if wants_callbacks:
                    window.refresh_callbacks(flush=True)
            except (DriverError, httpx.HTTPError) as exc:  # a restart or a slow flush costs one round, not the run
                _say(config, f"  (the mock's admin API failed: {exc}; trying again)")
            result = judge.flow(flow, config.pay_types)
            if result["verdict"] == "passed" or time.monotonic() >= deadline:
                break
            time.sleep(config.poll)
        if result["verdict"] != "passed":
            result["message"] = f"not shown within {config.wait:g} s — {result['message']}"
            result["verdict"] = "failed"
        _print_flow(config, result)


def certify(config: CertifyConfig) -> dict[str, Any]:
    """Run the plan against the mock's journal; return the certificate document."""
    started = datetime.now(timezone.utc)
    supplier = dict(config.admin.get_json(""))
    agent = next((a for a in config.admin.get_json("/agents") if a.get("user") == config.agent), None)
    if agent is None:
        raise DriverError(f"the mock knows no agent {config.agent!r}")
    # the profile's zone is the supplier's (rule h), in which the mock stamps its outbox
    window = Window(config.admin, config.agent, config.since, ZoneInfo(config.profile.fee_bands.timezone))
    if not config.no_wait and not config.since:
        window.skip_past()
    start_id = window.after_id
    judge = Judge(config.spec, window, config.mock_url)
    flows = [f for f in config.plan.flows if f.selected(config.pay_types)]
    _say(config, f"Certifying agent {config.agent} at {config.mock_url} with plan {config.plan.id} "
                 f"({len(flows)} flows; payment types {', '.join(config.pay_types) or 'none'})")
    if config.no_wait:
        for entry in window.poll():
            _print_entry(config, entry)
    else:
        _live(config, window, judge, flows)
        window.poll()
    window.refresh_callbacks(flush=False)
    results = [judge.flow(f, config.pay_types) for f in config.plan.flows]
    _say(config, "\nVerdicts")
    for r in results:
        _say(config, f"{r['id']}:")
        _print_flow(config, r)
    mistakes = group_mistakes(window.entries)
    known = {str(a.get("user")) for a in config.admin.get_json("/agents")}
    strangers = window.strangers(known, start_id)
    if strangers:
        _say(config, f"\n{len(strangers)} request(s) under a user name the mock does not know (is your client "
                     f"configured as {config.agent}?): " + ", ".join(sorted({str(e.agent) for e in strangers})))
    callback_pages: list[dict[str, Any]] = []
    if config.callback_pages is not None:
        _say(config, f"\nCallback pages at {config.callback_url}")
        callback_pages = config.callback_pages(window)
        for c in callback_pages:
            _say(config, f"  {c['verdict']}: {c['id']} — {c['message'] or c['claim']}")
    final, reasons = verdict(results, mistakes, callback_pages)
    return {
        "tool": "ybx-conform certify-ota", "format": 1, "agent": config.agent, "mock": config.mock_url,
        "supplier": {**supplier, "agent": {k: agent.get(k) for k in ("user", "enabled", "responseaddr")}},
        "plan": {"id": config.plan.id, "title": config.plan.title, "source": config.plan.source,
                 "sha256": config.plan.sha256},
        "pay_types": list(config.pay_types), "mode": "no-wait" if config.no_wait else "live",
        "window": {"since": config.since, "entries": len(window.entries), "callbacks": len(window.deliveries),
                   "first_entry": window.entries[0].id if window.entries else None,
                   "last_entry": window.entries[-1].id if window.entries else None},
        "started": started.isoformat(), "finished": datetime.now(timezone.utc).isoformat(),
        "flows": results,
        "summary": {v: sum(r["verdict"] == v for r in results) for v in ("passed", "failed", "not_shown", "not_selected")},
        "unknown_user_requests": [e.evidence(config.mock_url) for e in strangers[:EVIDENCE_LIMIT * 5]],
        "mistakes": mistakes, "callback_url": config.callback_url, "callback_pages": callback_pages,
        "verdict": final, "reasons": reasons,
    }


# ---------------------------------------------------------------- command line

def _known_orders(window: Window) -> tuple[tuple[str, str], ...]:
    """The agent's own (orderid, senderid) pairs seen in this run's callbacks, for the callback-page checks."""
    pairs = {(d.orderid, str(d.params.get("senderid", ""))) for d in window.deliveries if d.params.get("senderid")}
    return tuple(sorted(pairs))


def _callback_runner(args: Any, spec: Spec) -> Callable[[Window], list[dict[str, Any]]] | None:
    if not args.callback_url:
        return None
    if not (args.password and args.key):
        raise ValueError("--callback-url needs the agent's --password and --key (the callbacks are signed with them)")
    try:
        from .callback_pages import CallbackPageConfig, certify_callback_pages
    except ImportError as exc:  # the callback-page checks ship separately
        raise ValueError(f"callback-page certification is not available: {exc}") from None
    from spec.protocol import Credentials

    creds = Credentials(args.agent, args.password, args.key)

    def run(window: Window) -> list[dict[str, Any]]:
        config = CallbackPageConfig(args.callback_url, creds, spec, spec.profile(args.profile),
                                    orders=_known_orders(window))
        return certify_callback_pages(config)

    return run


def _preflight(args: Any, spec: Spec, admin: AdminDriver) -> list[str]:
    """The mock's admin API with the token, and the OTA's callback address when given: [] when both answer."""
    problems = driver_problems(admin, url_flag="--mock")
    if args.callback_url:
        problems += check_callback_url(args.callback_url, spec, spec.profile(args.profile), flag="--callback-url")
    return problems


def certify_command(args: Any) -> int:
    """`ybx-conform certify-ota`: run, write the certificate, exit 0 only when certified."""
    from reports.certificate import write_certificate
    from spec.loader import SpecInvalid, load_spec

    from .plan import PlanError, load_plan

    try:
        spec = load_spec()
        plan = load_plan(spec, args.plan)
        pay_types = tuple(t.strip() for t in args.pay_types.split(",") if t.strip()) if args.pay_types \
            else plan.payment_types
        unknown = set(pay_types) - {t.id for t in spec.payment_types}
        if unknown:
            raise ValueError(f"unknown payment types: {', '.join(sorted(unknown))}; "
                             f"the spec's: {', '.join(t.id for t in spec.payment_types)}")
        if args.since and _when(args.since) is None:
            raise ValueError(f"--since {args.since!r} is not an ISO 8601 time")
        callbacks = _callback_runner(args, spec)
        admin = AdminDriver(args.mock, args.admin_token)
        problems = _preflight(args, spec, admin)
        if problems:
            return stop(problems)
        config = CertifyConfig(spec, spec.profile(args.profile), plan, admin, args.mock.rstrip("/"), args.agent,
                               pay_types, args.since, args.wait, args.no_wait, callback_url=args.callback_url,
                               callback_pages=callbacks)
        doc = certify(config)
    except (SpecInvalid, PlanError, KeyError, ValueError, DriverError, OSError, httpx.HTTPError) as exc:
        print(f"ybx-conform: {exc}", file=sys.stderr)
        return Exit.USAGE
    data, page, sha = write_certificate(doc, args.report)
    print(f"\n{doc['verdict'].upper()}" + "".join(f"\n  - {r}" for r in doc["reasons"]))
    print(f"certificate: {page.resolve()}\ndata: {data.resolve()}\nsha256: {sha}")
    return Exit.CERTIFIED if doc["verdict"] == "certified" else Exit.NOT_CERTIFIED


def verify_command(args: Any) -> int:
    """`ybx-conform verify-certificate DIR`: exit 1 when the certificate was edited."""
    from reports.certificate import fingerprint, verify_certificate

    problems = verify_certificate(args.dir, args.fingerprint)
    if problems:
        print("certificate NOT intact:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    doc = json.loads((args.dir / "certificate.json").read_text(encoding="utf-8"))
    print(f"certificate intact: {doc['agent']} {doc['verdict']} ({doc['finished'][:10]}), sha256 {fingerprint(doc)}")
    return 0


def add_commands(sub: Any) -> None:
    """The `certify-ota` and `verify-certificate` sub-commands of `ybx-conform`."""
    c = sub.add_parser("certify-ota", help="certify an OTA's own system against the mock (ybx-mock serve --certify)")
    c.add_argument("--mock", required=True, help="the mock's base URL, e.g. http://127.0.0.1:8765")
    c.add_argument("--admin-token", required=True, help="the mock's admin token (its --admin-token)")
    c.add_argument("--agent", required=True, help="the OTA's user name, e.g. demo-ota")
    c.add_argument("--callback-url", default=None, help="the OTA's callback folder (its responseaddr)")
    c.add_argument("--password", default=None, help="the agent's login password (for --callback-url)")
    c.add_argument("--key", default=None, help="the agent's KEY (for --callback-url)")
    c.add_argument("--profile", default="default", help="the protocol profile (default: default)")
    c.add_argument("--plan", type=Path, default=None, help="a plan YAML (default: the shipped plan)")
    c.add_argument("--pay-types", default="", help="payment types the OTA uses, e.g. deposit,instant (default: all)")
    c.add_argument("--since", default=None, help="judge the journal from this ISO 8601 time")
    c.add_argument("--wait", type=seconds, default=300.0,
                   help="seconds to wait for each flow (live mode; default 300)")
    c.add_argument("--no-wait", action="store_true", help="judge the journal as it stands")
    c.add_argument("--report", type=Path, default=Path("ybx-certificate"), metavar="DIR",
                   help="where certificate.json and index.html go (default: ybx-certificate)")
    c.set_defaults(handler=certify_command)
    v = sub.add_parser("verify-certificate", help="check that a certificate was not edited")
    v.add_argument("dir", type=Path, help="the certificate folder (certificate.json and index.html)")
    v.add_argument("--fingerprint", default=None, help="the SHA-256 received with the certificate")
    v.set_defaults(handler=verify_command)
