"""Callback-page certification (issue 6 item 3): the suite plays the supplier's callback sender
and judges the integrator's (OTA's) callback pages.

For every callback page of the spec (direction `callback`, 4.2.45) the OTA's
`{responseaddr}/{page}` is called as profile rule f says — GET, parameters encoded and signed
like a request with the agent's credentials (`spec.protocol.encode_request`) — and its answer is
judged against the rule (e) envelope and the callback policy (tables/callbacks.yaml): a correct
callback is acknowledged (retcode 0, signed answer), a repeated one again, forged ones (bad sign,
wrong password, a required parameter missing) are refused, out-of-order events are answered,
and the answer comes within the supplier's callback timeout.

Every check first sends a correct callback as a control where its verdict depends on it, so a
page that refuses everything is reported as not accepting callbacks, never as "refusing
forgeries". Parameter values come from the page's table (value sets, formats, types); the
order id and business id are the OTA's own known orders when given, else synthetic ones, said
so in each result's notes."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from spec import signing
from spec.model import Page, Param, Profile, Spec
from spec.protocol import Credentials, callback_url, encode_request

from .cliargs import positive_seconds
from .context import Failed, NotRun, Warned, verdict_of
from .preflight import check_callback_url, stop
from .summary import summary_lines
from .target import Exchange, Target

CATEGORY = "callbacks"
SEVERITIES = ("critical", "major", "minor")
# The manual's names of the order and business-id parameters of every 4.2.45 page (lines 9205, 9211).
ORDER_PARAM, SENDER_PARAM = "orderid", "senderid"
# Added by encode_request from the credentials, or the signature itself (rule f).
CREDENTIAL_PARAMS = ("user", "password", "sign")
EVIDENCE_CHARS = 400


# ------------------------------------------------------------------ configuration

@dataclass(frozen=True)
class CallbackPageConfig:
    """What to certify: the OTA's callback address (its responseaddr) and the agent's credentials."""

    url: str
    creds: Credentials
    spec: Spec
    profile: Profile
    timeout: float | None = None  # seconds; None: the spec's callback timeout (tables/callbacks.yaml)
    orders: tuple[tuple[str, str], ...] = ()  # known (orderid, senderid) pairs of the OTA
    pages: tuple[str, ...] = ()  # only these callback pages (default: every one of the spec)
    only: tuple[str, ...] = ()  # only these check names (default: all)

    @property
    def answer_timeout(self) -> float:
        return self.timeout if self.timeout is not None else self.spec.callback_policy.timeout_seconds

    @property
    def transport_timeout(self) -> float:
        # a slow answer is judged by answer-time alone; the other checks still see what it says
        return 2 * self.answer_timeout


class CallbackTarget(Target):
    """The OTA's callback folder, reached at rule f's path instead of the request transport."""

    def url(self, page: Page, method: str) -> str:
        return callback_url(self.profile, self.base_url, page)


# ------------------------------------------------------------------ one check run on one page

@dataclass
class Probe:
    config: CallbackPageConfig
    page: Page
    target: CallbackTarget
    orderid: str
    senderid: str
    exchanges: list[Exchange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def spec(self) -> Spec:
        return self.config.spec

    @property
    def profile(self) -> Profile:
        return self.config.profile

    def values(self, **override: str) -> dict[str, str]:
        """Plain values of a correct callback: what the supplier sends (required parameters and
        the business id), from the page's value sets, formats and types."""
        out: dict[str, str] = {}
        for p in self.page.params:
            if p.name.lower() in CREDENTIAL_PARAMS or not (p.required or p.name.lower() == SENDER_PARAM):
                continue
            out[p.name] = self._value(p)
        for name, value in override.items():
            param = self.page.param(name)
            out[param.name if param else name] = value
        return out

    def _value(self, p: Param) -> str:
        low = p.name.lower()
        if low == ORDER_PARAM:
            return self.orderid
        if low == SENDER_PARAM:
            return self.senderid
        if p.values:
            return p.values[0]
        if p.format:
            return self.spec.format(p.format).example
        # the manual types one amount "deciaml" (Notify_Refund fees); it is a decimal all the same
        if p.base_type == "decimal" or (p.type_raw or "").lower().startswith("dec"):
            return self.spec.format("decimal").example
        if p.base_type == "int":
            return "1"
        return f"YBX-{p.name.upper()}"[: p.max_length or None]

    def pairs(self, values: dict[str, str] | None = None, creds: Credentials | None = None,
              sign: bool = True) -> list[tuple[str, str]]:
        return encode_request(self.page, values if values is not None else self.values(), creds or self.config.creds,
                              self.profile, sign=sign)

    def send(self, pairs: list[tuple[str, str]], note: str) -> Exchange:
        ex = self.target.send(self.page, pairs, self.profile.callbacks.method, note=note)
        self.exchanges.append(ex)
        return ex

    def correct(self, note: str = "a correct, signed callback") -> Exchange:
        return self.send(self.pairs(), note)

    def control(self) -> Exchange:
        """A correct callback that must be accepted before a refusal can mean anything."""
        ex = self.correct("control: a correct, signed callback")
        if not accepted(ex):
            raise NotRun(f"the page does not accept a correct callback either ({answer_of(ex)}), so a refusal "
                         f"proves nothing; see callback-page.accepts")
        return ex

    def refused(self, pairs: list[tuple[str, str]], what: str) -> str | None:
        """Send a forged callback; return a problem when it was acknowledged."""
        ex = self.send(pairs, what)
        if accepted(ex):
            return f"{what}: acknowledged with retcode 0 — a forged callback would be taken for the supplier's"
        if ex.envelope is None:
            self.notes.append(f"{what}: refused without an envelope ({answer_of(ex)})")
        return None


def accepted(ex: Exchange) -> bool:
    return ex.status == 200 and ex.envelope is not None and ex.retcode == "0"


def evidence(ex: Exchange) -> str:
    body = ex.body.decode("utf-8", "replace")
    return body if len(body) <= EVIDENCE_CHARS else body[:EVIDENCE_CHARS] + "…"


def answer_of(ex: Exchange) -> str:
    """How the page answered, in a few words, with the body as evidence."""
    if ex.status is None:
        return f"no answer: {ex.error}"
    if ex.status != 200:
        return f"HTTP {ex.status}, body {evidence(ex)!r}"
    if ex.envelope is None:
        return f"HTTP 200 but not a response envelope ({ex.error}), body {evidence(ex)!r}"
    return f"retcode {ex.retcode} {ex.retmsg!r}"


# ------------------------------------------------------------------ registry

@dataclass(frozen=True)
class PageCheck:
    name: str
    clause: str
    claim: str
    severity: str
    fn: Callable[[Probe], None] = field(compare=False, repr=False)
    applies: Callable[[Spec, Page], bool] = field(compare=False, repr=False, default=lambda spec, page: True)

    @property
    def id(self) -> str:
        return f"callback-page.{self.name}"


_CHECKS: dict[str, PageCheck] = {}


def page_check(name: str, clause: str, claim: str, severity: str = "major",
               applies: Callable[[Spec, Page], bool] | None = None) -> Callable:
    """Register a callback-page check (run once per callback page it applies to)."""
    if severity not in SEVERITIES:
        raise ValueError(f"{name}: unknown severity {severity!r}")

    def register(fn: Callable[[Probe], None]) -> Callable[[Probe], None]:
        if name in _CHECKS:
            raise ValueError(f"duplicate callback-page check {name!r}")
        _CHECKS[name] = PageCheck(name, clause, claim, severity, fn, applies or (lambda spec, page: True))
        return fn

    return register


def registered() -> tuple[PageCheck, ...]:
    return tuple(_CHECKS.values())


RULE_E = "profile rule e"
RULE_F = "profile rule f"


def _clause(page: Page, tail: str) -> str:
    ok = next((r for r in page.retcodes if r.success), None)
    line = f" retcode 0 (line {ok.line})" if ok and ok.line else ""
    return f"{page.section}{line}; {tail}"


# ------------------------------------------------------------------ the checks

# Every correct callback of a run carries the same content, as the supplier's repeats of one event
# would; `duplicate` runs first on each page so that its first delivery is the first of the run.
@page_check("duplicate", f"2.13 (line 400: retried until delivered); {RULE_F}",
            "The same callback sent again is acknowledged again (retcode 0, no error).")
def _duplicate(probe: Probe) -> None:
    pairs = probe.pairs()
    first = probe.send(pairs, "first delivery")
    if not accepted(first):
        raise NotRun(f"the first delivery was not acknowledged ({answer_of(first)}); see callback-page.accepts (a "
                     f"page that took this callback in an earlier run sees even the first one as a repeat)")
    second = probe.send(list(pairs), "the same callback again (a retry after a lost answer)")
    if not accepted(second):
        raise Failed(f"{probe.page.page}: the repeated callback was not acknowledged — {answer_of(second)}; a retry "
                     f"of a delivered event must get the same answer, or the supplier keeps retrying it")


@page_check("accepts", f"tables/callbacks.yaml success; {RULE_F}",
            "A correct, signed callback is answered HTTP 200 with a well-formed envelope and retcode 0.", "critical")
def _accepts(probe: Probe) -> None:
    ex = probe.correct()
    if not accepted(ex):
        raise Failed(f"{probe.page.page}: a correct callback was not acknowledged — {answer_of(ex)}; the supplier "
                     f"counts this as a failed delivery and retries it for "
                     f"{probe.spec.callback_policy.retry_window_seconds // 3600} h (2.13)")


@page_check("answer-sign", f"{RULE_E}; {RULE_F}",
            "The answer's <sign> verifies with the agent's KEY (rule e).", "critical")
def _answer_sign(probe: Probe) -> None:
    ex = probe.correct()
    if ex.envelope is None:
        raise NotRun(f"no envelope to verify ({answer_of(ex)}); see callback-page.accepts")
    rule = probe.profile.response
    if not ex.envelope.sign:
        raise Failed(f"{probe.page.page}: the answer is unsigned (empty <sign>); rule e: sign = MD5 of the body with "
                     f"<sign></sign> emptied, followed by the agent's KEY")
    if not signing.verify_response_sign(ex.body, probe.config.creds.key, rule):
        expected = signing.response_sign(ex.body, probe.config.creds.key, rule)
        raise Failed(f"{probe.page.page}: the answer is wrongly signed: <sign> {ex.envelope.sign}, rule e with the "
                     f"agent's KEY gives {expected}")


@page_check("bad-sign", f"{RULE_F} (signed as rule d)",
            "Callbacks with a wrong, tampered or missing sign are refused (retcode other than 0).", "critical")
def _bad_sign(probe: Probe) -> None:
    probe.control()
    creds = probe.config.creds
    wrong_key = creds.key[::-1] if creds.key[::-1] != creds.key else creds.key + "0"
    unsigned = probe.pairs(sign=False)
    forged = [(unsigned + [("sign", signing.request_sign(unsigned, wrong_key, probe.profile.sign))],
               "sign computed with a wrong KEY"),
              (_tampered(probe), "a value changed after signing"),
              (unsigned, "no sign")]
    problems = [p for pairs, what in forged if (p := probe.refused(pairs, what))]
    if problems:
        raise Failed(f"{probe.page.page}: " + "; ".join(problems))


def _tampered(probe: Probe) -> list[tuple[str, str]]:
    """A correctly signed callback with one value changed afterwards."""
    pairs = probe.pairs()
    victim = next((p for p in probe.page.params if p.values and len(p.values) > 1 and p.required), None)
    out = []
    for k, v in pairs:
        if victim is not None and k == victim.name:
            v = next(x for x in victim.values if x != v)
        elif victim is None and k.lower() == ORDER_PARAM:
            v = v[:-1] + ("1" if v[-1:] != "1" else "2")
        out.append((k, v))
    return out


@page_check("wrong-password", "4.2.45 password row (TripleDes(Upper(MD5(登陆密码)),KEY)); gap callback-credentials",
            "A correctly signed callback carrying a wrong password is refused.", "critical",
            applies=lambda spec, page: page.param("password") is not None)
def _wrong_password(probe: Probe) -> None:
    probe.control()
    creds = probe.config.creds
    wrong = Credentials(creds.user, "wrong-" + creds.password, creds.key)
    problem = probe.refused(probe.pairs(creds=wrong), "password of another login password, correctly signed")
    if problem:
        raise Failed(f"{probe.page.page}: {problem}")


@page_check("missing-param", "4.2.45 parameter tables (必须 = 是)",
            "A correctly signed callback without one of its required parameters is refused.")
def _missing_param(probe: Probe) -> None:
    probe.control()
    full = probe.pairs(sign=False)
    problems = []
    for param in probe.page.required_params:
        if param.name.lower() == "sign":
            continue  # a missing sign is callback-page.bad-sign
        pairs = [(k, v) for k, v in full if k.lower() != param.name.lower()]
        pairs.append(("sign", signing.request_sign(pairs, probe.config.creds.key, probe.profile.sign)))
        problem = probe.refused(pairs, f"without required {param.name} (line {param.line})")
        if problem:
            problems.append(problem)
    if problems:
        raise Failed(f"{probe.page.page}: {len(problems)} incomplete callback(s) acknowledged: " + "; ".join(problems))


def _status_param(spec: Spec, page: Page) -> Param | None:
    """The parameter carrying an order status (its value set is the order-status table)."""
    codes = {s.code for s in spec.order_statuses}
    return next((p for p in page.params if p.values and set(p.values) == codes), None)


def stale_pair(spec: Spec, page: Page) -> tuple[str, str] | None:
    """(later, stale) statuses of one order from the transition table: a terminal status the page
    reports, and a status it reports just before it (preferring one reached after the first step)."""
    firing = [t for t in spec.transitions if page.page in t.callbacks]
    reached = {t.target: t.source for t in firing}
    found = []
    for t in firing:
        if t.source != t.target and t.source in reached and spec.order_status(t.target).terminal:
            found.append((reached[t.source] != spec.initial_status, t.target, t.source))
    if not found:
        return None
    found.sort(key=lambda f: not f[0])
    return found[0][1], found[0][2]


@page_check("out-of-order", "2.13 (line 397: events of one order are sent in sequence); tables/transitions.yaml",
            "A stale event of an order after a later one is still answered (the note says if it was accepted).",
            "minor", applies=lambda spec, page: _status_param(spec, page) is not None and stale_pair(spec, page) is not None)
def _out_of_order(probe: Probe) -> None:
    param = _status_param(probe.spec, probe.page)
    pair = stale_pair(probe.spec, probe.page)
    assert param is not None and pair is not None  # guaranteed by `applies`
    later, stale = pair
    name = lambda code: f"{code} {probe.spec.order_status(code).name_en}"  # noqa: E731
    first = probe.send(probe.pairs(probe.values(**{param.name: later})), f"status {name(later)} first")
    second = probe.send(probe.pairs(probe.values(**{param.name: stale})), f"then the stale status {name(stale)}")
    probe.notes.append(f"later event {name(later)}: {answer_of(first)}")
    if accepted(second):
        probe.notes.append(f"the stale event {name(stale)} was acknowledged (retcode 0): the OTA must not move the "
                           f"order back to it; QueryOrder.aspx gives the current status (2.13 line 403)")
    else:
        probe.notes.append(f"the stale event {name(stale)} was refused: {answer_of(second)} — the supplier will "
                           f"retry it for {probe.spec.callback_policy.retry_window_seconds // 3600} h (2.13) and hold "
                           f"back the order's later callbacks meanwhile")
    silent = [f"{what}: {answer_of(ex)}" for ex, what in ((first, "later event"), (second, "stale event"))
              if ex.status != 200 or ex.envelope is None]
    if silent:
        raise Warned(f"{probe.page.page}: out-of-order events are not answered with an envelope — " + "; ".join(silent))


@page_check("answer-time", "tables/callbacks.yaml timeout_seconds (gap callback-timeout)",
            "A correct callback is answered within the supplier's callback timeout (warning above half of it).")
def _answer_time(probe: Probe) -> None:
    limit = probe.config.answer_timeout
    ex = probe.correct("a correct callback, timed")
    took = ex.elapsed_ms / 1000
    if ex.status is None:
        raise Failed(f"{probe.page.page}: no answer ({ex.error}; waited up to {probe.config.transport_timeout:g} s); "
                     f"the supplier gives up after {limit:g} s and counts a failed delivery")
    if took >= limit:
        raise Failed(f"{probe.page.page}: answered in {took:.2f} s, the supplier waits {limit:g} s and counts a "
                     f"failed delivery")
    probe.notes.append(f"answered in {took:.3f} s (timeout {limit:g} s)")
    if took > limit / 2:
        raise Warned(f"{probe.page.page}: answered in {took:.2f} s, more than half of the {limit:g} s timeout")


# ------------------------------------------------------------------ running

def callback_pages(config: CallbackPageConfig) -> tuple[Page, ...]:
    pages = config.spec.pages_by("callback")
    if config.pages:
        wanted = {config.spec.page(p).page for p in config.pages}
        pages = tuple(p for p in pages if p.page in wanted)
    return pages


def _orders(config: CallbackPageConfig) -> tuple[tuple[str, str], tuple[str, str], str]:
    """(order for most checks, order for the out-of-order check, note)."""
    if config.orders:
        main, spare = config.orders[0], config.orders[-1]
        note = f"known order {main[0]} (senderid {main[1]})"
        if spare != main:
            note += f"; the out-of-order check uses {spare[0]}"
        return main, spare, note
    # synthetic ids: unique per run, within the manual's lengths (orderid string(20), senderid string(36))
    stamp = datetime.now(timezone.utc).strftime("%y%m%d%H%M%S")
    main, spare = (f"YBXC{stamp}1", f"ybx-cert-{stamp}-1"), (f"YBXC{stamp}2", f"ybx-cert-{stamp}-2")
    return main, spare, (f"SYNTHETIC order id {main[0]} / senderid {main[1]} (no known orders given): an OTA that "
                         f"refuses callbacks for orders it does not know fails the acceptance checks; give its own "
                         f"orders (--order ORDERID:SENDERID)")


def run_check(config: CallbackPageConfig, chk: PageCheck, page: Page, order: tuple[str, str],
              order_note: str) -> dict[str, Any]:
    """Run one check on one page; never raises. The result has the shape of `runner.run_one`."""
    target = CallbackTarget(config.url, config.creds, config.spec, config.profile, config.transport_timeout)
    probe = Probe(config, page, target, order[0], order[1], notes=[order_note])
    started = time.monotonic()
    verdict, message = "passed", ""
    try:
        chk.fn(probe)
    except Exception as exc:
        verdict, message = verdict_of(exc)
    finally:
        target.close()
    return {
        "id": f"{chk.id}.{page.stem}", "category": CATEGORY, "clause": _clause(page, chk.clause), "claim": chk.claim,
        "severity": chk.severity, "page": page.page, "needs": [], "verdict": verdict, "message": message,
        "duration_ms": int((time.monotonic() - started) * 1000),
        "exchanges": [ex.as_dict() for ex in probe.exchanges], "notes": probe.notes,
    }


def validate(config: CallbackPageConfig) -> None:
    """Raise ValueError for a page that is not a callback page or an unknown check name."""
    for name in config.pages:
        if config.spec.page(name).direction != "callback":
            raise ValueError(f"{name} is not a callback page; callback pages: "
                             f"{', '.join(p.page for p in config.spec.pages_by('callback'))}")
    unknown = set(config.only) - {c.name for c in registered()}
    if unknown:
        raise ValueError(f"unknown callback-page checks: {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(c.name for c in registered())}")


def certify_callback_pages(config: CallbackPageConfig) -> list[dict[str, Any]]:
    """Every registered check on every callback page of the spec (as `config` narrows them)."""
    validate(config)
    main, spare, note = _orders(config)
    results = []
    for page in callback_pages(config):
        for chk in registered():
            if (config.only and chk.name not in config.only) or not chk.applies(config.spec, page):
                continue
            order = spare if chk.name == "out-of-order" else main
            results.append(run_check(config, chk, page, order, note))
    return results


def results_document(config: CallbackPageConfig, results: list[dict[str, Any]], started: datetime) -> dict[str, Any]:
    """The results.json document of a stand-alone callback-page run (same keys as `runner.summarise`)."""
    totals = {v: sum(1 for r in results if r["verdict"] == v) for v in ("passed", "failed", "warning", "not_run")}
    ran = len(results) - totals["not_run"]
    pages = callback_pages(config)
    seen = {ex["page"] for r in results for ex in r["exchanges"]}
    codes = {(ex["page"], ex["retcode"]) for r in results for ex in r["exchanges"] if ex["retcode"] is not None}
    all_codes = {(p.page, rc.code) for p in pages for rc in p.retcodes}
    return {
        "tool": "ybx-conform", "format": 1, "kind": "callback-pages",
        "target": config.url, "user": config.creds.user, "profile": config.profile.name,
        "driver": "callback sender", "started": started.isoformat(), "finished": datetime.now(timezone.utc).isoformat(),
        "summary": {
            **totals, "total": len(results), "ran": ran,
            "score": round(totals["passed"] / len(results), 4) if results else 0.0,
            "index": round(totals["passed"] / ran, 4) if ran else 0.0,
            "by_category": {CATEGORY: totals} if results else {},
        },
        "coverage": {"pages": sorted(seen), "pages_total": len(pages), "pages_exercised": len({p.page for p in pages} & seen),
                     "retcodes_total": len(all_codes), "retcodes_exercised": len(all_codes & codes)},
        "checks": results,
    }


# ------------------------------------------------------------------ command line

def add_parser(sub: Any) -> None:
    """`ybx-conform callback-pages`: the subcommand's arguments."""
    c = sub.add_parser("callback-pages", help="certify an OTA's callback pages (the suite sends the Notify_* callbacks)")
    c.add_argument("--url", required=True, help="the OTA's callback address (its responseaddr)")
    c.add_argument("--user", required=True, help="the agent's user name the callbacks carry, e.g. demo-ota")
    c.add_argument("--password", required=True, help="the agent's login password (the callbacks carry it, rule c)")
    c.add_argument("--key", required=True, help="the agent's KEY (signs the callbacks, verifies the answers)")
    c.add_argument("--order", action="append", default=[], metavar="ORDERID:SENDERID",
                   help="a known order of the OTA to use in the callbacks (repeatable; default: synthetic ids)")
    c.add_argument("--timeout", type=positive_seconds, default=None, help="answer timeout in s (default: the spec's)")
    c.add_argument("--pages", default="", help="comma-separated callback pages (default: all)")
    c.add_argument("--only", default="",
                   help=f"comma-separated checks: {','.join(k.name for k in registered())} (default: all)")
    c.add_argument("--profile", default="default", help="the protocol profile (default: default)")
    c.add_argument("--profile-file", type=Path, default=None, metavar="FILE",
                   help="a profile YAML of your own, usable by its name with --profile")
    c.add_argument("--report", type=Path, default=Path("ybx-callback-report"), metavar="DIR",
                   help="where results.json and index.html go (default: ybx-callback-report)")
    c.add_argument("--junit", type=Path, default=None, metavar="FILE", help="also write JUnit XML here (for CI)")
    c.set_defaults(handler=command)


def _split(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _order_arg(text: str) -> tuple[str, str]:
    orderid, sep, senderid = text.partition(":")
    if not sep or not orderid or not senderid:
        raise ValueError(f"--order {text!r}: give ORDERID:SENDERID")
    return orderid, senderid


def command(args: Any) -> int:
    """Run the callback-page checks, write results.json and the HTML report; exit 0, 1 or 2."""
    from reports.conformance import write_junit, write_report
    from spec.loader import SpecInvalid, load_spec

    from .runner import write_results

    try:
        spec = load_spec(extra_profiles=[args.profile_file] if args.profile_file else None)
        config = CallbackPageConfig(args.url, Credentials(args.user, args.password, args.key), spec,
                                    spec.profile(args.profile), args.timeout, tuple(_order_arg(o) for o in args.order),
                                    _split(args.pages), _split(args.only))
        validate(config)
    except (SpecInvalid, KeyError, ValueError, OSError) as exc:
        print(f"ybx-conform: {exc}", file=sys.stderr)
        return 2
    problems = check_callback_url(args.url, spec, config.profile, config.pages, config.transport_timeout)
    if problems:
        return stop(problems)
    started = datetime.now(timezone.utc)
    doc = results_document(config, certify_callback_pages(config), started)
    out = write_results(doc, args.report)
    page = write_report(doc, args.report)
    if args.junit:
        write_junit(doc, args.junit)
    print("\n".join(summary_lines(doc)))
    for r in doc["checks"]:
        if r["verdict"] in ("failed", "warning"):
            print(f"  {r['verdict']}: {r['id']}: {r['message'].splitlines()[0][:200]}")
    print(f"report: {page.resolve()}\nresults: {out.resolve()}")
    return 1 if doc["summary"]["failed"] else 0
