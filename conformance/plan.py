"""Certification plans: the flows an OTA must show the supplier, as YAML validated against the
loaded `Spec` (every page, parameter, retcode, order status and payment type by its spec name)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from spec.model import Page, Spec

FEE_CONDITIONS = ("zero", "positive")


class PlanError(ValueError):
    """The plan does not validate; the message lists every problem with its line and flow."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s) in the certification plan\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class ValueCondition:
    """A condition on one parameter's plain value (as the journal decrypted it)."""

    param: str
    present: bool | None = None
    equals: str | None = None
    matches: str | None = None
    format: str | None = None  # a format id of the spec
    format_pattern: str | None = None

    def test(self, values: Mapping[str, str]) -> str | None:
        """None when the condition holds, else why not."""
        value = next((v for k, v in values.items() if k.lower() == self.param.lower()), None)
        given = value not in (None, "")
        if self.present is not None and given != self.present:
            return f"{self.param} {'missing' if self.present else 'given'}"
        if self.equals is not None and value != self.equals:
            return f"{self.param} is {value!r}, not {self.equals!r}"
        if self.matches is not None and not re.search(self.matches, value or ""):
            if not given:  # say it was not sent, not "None does not match"
                return f"{self.param} {'missing' if value is None else 'empty'} (it must match {self.matches!r})"
            return f"{self.param} {value!r} does not match {self.matches!r}"
        if self.format_pattern is not None and not re.fullmatch(self.format_pattern, value or ""):
            if not given:
                return f"{self.param} {'missing' if value is None else 'empty'} (it must be in the format {self.format})"
            return f"{self.param} {value!r} is not in the format {self.format}"
        return None


@dataclass(frozen=True)
class OrderCondition:
    """A condition on the supplier's record of the order a request names (read after the fact)."""

    id_from: str
    status: tuple[str, ...] = ()
    pay_types: tuple[str, ...] = ()
    fees: str | None = None  # zero | positive


@dataclass(frozen=True)
class RequestMatcher:
    """A journal entry matches: one of `pages`, the retcode, every value condition, the order."""

    pages: tuple[str, ...]
    retcode: str | None
    values: tuple[ValueCondition, ...]
    order: OrderCondition | None


@dataclass(frozen=True)
class CallbackMatcher:
    """A callback of `page` for the agent, answered with HTTP 200 and `retcode` by its responseaddr."""

    page: str
    retcode: str


@dataclass(frozen=True)
class Step:
    """Shown by one journal entry matching any of `requests`, or by a delivered `callback`."""

    label: str
    requests: tuple[RequestMatcher, ...] = ()
    callback: CallbackMatcher | None = None


@dataclass(frozen=True)
class Flow:
    id: str
    title: str
    instruction: str
    steps: tuple[Step, ...]
    payment_types: tuple[str, ...]  # selected when the OTA uses one of them; () = always
    optional: bool
    clean: bool  # no entry that satisfies a step may carry an error finding
    line: int

    def selected(self, pay_types: tuple[str, ...]) -> bool:
        return not self.payment_types or bool(set(self.payment_types) & set(pay_types))


@dataclass(frozen=True)
class Plan:
    id: str
    title: str
    source: str
    sha256: str
    flows: tuple[Flow, ...]

    @property
    def payment_types(self) -> tuple[str, ...]:
        """Every payment type some flow is selected by, in first-use order."""
        seen: dict[str, None] = {}
        for f in self.flows:
            seen.update(dict.fromkeys(f.payment_types))
        return tuple(seen)


class _Map(dict):
    line = 0


class _LineLoader(yaml.SafeLoader):
    """Safe YAML whose mappings remember their line, so problems can point at it."""


def _mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    out = _Map(loader.construct_mapping(node, deep=True))
    out.line = node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


class _Checker:
    """Builds the dataclasses and collects every problem instead of stopping at the first."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.problems: list[str] = []

    def problem(self, where: Any, flow: str, text: str) -> None:
        line = getattr(where, "line", 0)
        self.problems.append(f"line {line}{f', flow {flow!r}' if flow else ''}: {text}")

    def keys(self, d: Any, allowed: set[str], required: set[str], flow: str, what: str) -> bool:
        if not isinstance(d, dict):
            self.problem(d, flow, f"{what} must be a mapping, not {type(d).__name__}")
            return False
        for k in sorted(set(d) - allowed):
            self.problem(d, flow, f"unknown key {k!r} in {what} (allowed: {', '.join(sorted(allowed))})")
        for k in sorted(required - set(d)):
            self.problem(d, flow, f"{what} lacks {k!r}")
        return True

    def strings(self, d: Mapping[str, Any], key: str, flow: str) -> tuple[str, ...]:
        raw = d.get(key, [])
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            self.problem(d, flow, f"{key} must be a name or a list of names")
            return ()
        return tuple(raw)

    def payment_types(self, d: Mapping[str, Any], key: str, flow: str) -> tuple[str, ...]:
        known = [t.id for t in self.spec.payment_types]
        names = self.strings(d, key, flow)
        for n in names:
            if n not in known:
                self.problem(d, flow, f"unknown payment type {n!r} (the spec's: {', '.join(known)})")
        return names

    def page(self, d: Any, name: str, flow: str, direction: str) -> Page | None:
        try:
            page = self.spec.page(name)
        except KeyError:
            self.problem(d, flow, f"unknown page {name!r}: no page of that name in the spec")
            return None
        if page.direction != direction:
            self.problem(d, flow, f"page {page.page} is a {page.direction} page, not a {direction} page")
            return None
        return page

    def param(self, d: Any, pages: list[Page], name: str, flow: str) -> None:
        for p in pages:
            if p.param(name) is None:
                self.problem(d, flow, f"unknown parameter {name!r} of page {p.page} "
                                      f"(its parameters: {', '.join(x.name for x in p.params)})")

    def retcode(self, d: Any, pages: list[Page], code: Any, flow: str) -> str | None:
        if code is None:
            return None
        code = str(code)
        for p in pages:
            if code not in {r.code for r in p.retcodes}:
                self.problem(d, flow, f"page {p.page} has no retcode {code!r}")
        return code

    def value(self, d: Any, pages: list[Page], name: str, raw: Any, flow: str) -> ValueCondition:
        self.param(d, pages, name, flow)
        if raw == "present":
            return ValueCondition(name, present=True)
        if raw == "absent":
            return ValueCondition(name, present=False)
        if isinstance(raw, dict) and self.keys(raw, {"equals", "matches", "format"}, set(), flow, f"condition on {name}") \
                and raw:
            pattern = raw.get("matches")
            if pattern is not None:
                try:
                    re.compile(str(pattern))
                except re.error as exc:
                    self.problem(raw, flow, f"bad pattern for {name}: {exc}")
            fmt = raw.get("format")
            formats = {f.id: f.pattern for f in self.spec.formats}
            if fmt is not None and fmt not in formats:
                self.problem(raw, flow, f"unknown format {fmt!r} (the spec's: {', '.join(formats)})")
            return ValueCondition(name, equals=None if raw.get("equals") is None else str(raw["equals"]),
                                  matches=None if pattern is None else str(pattern),
                                  format=fmt, format_pattern=formats.get(fmt) if fmt else None)
        self.problem(d, flow, f"condition on {name} must be present, absent, {{equals: …}}, {{matches: …}} "
                              "or {format: …}")
        return ValueCondition(name)

    def order(self, d: Any, pages: list[Page], flow: str) -> OrderCondition | None:
        if not self.keys(d, {"id_from", "status", "pay_types", "fees"}, {"id_from"}, flow, "order"):
            return None
        self.param(d, pages, str(d.get("id_from", "")), flow)
        statuses = self.strings(d, "status", flow)
        known = [s.code for s in self.spec.order_statuses]
        for s in statuses:
            if s not in known:
                self.problem(d, flow, f"unknown order status {s!r} (the spec's: {', '.join(known)})")
        fees = d.get("fees")
        if fees is not None and fees not in FEE_CONDITIONS:
            self.problem(d, flow, f"fees must be one of {', '.join(FEE_CONDITIONS)}, not {fees!r}")
        return OrderCondition(str(d.get("id_from", "")), statuses, self.payment_types(d, "pay_types", flow), fees)

    def request(self, d: Any, flow: str) -> RequestMatcher | None:
        if not self.keys(d, {"pages", "retcode", "values", "order"}, {"pages"}, flow, "request"):
            return None
        pages = [p for n in self.strings(d, "pages", flow) if (p := self.page(d, n, flow, "request"))]
        values = d.get("values") or {}
        conditions: list[ValueCondition] = []
        if isinstance(values, dict):
            conditions = [self.value(values, pages, str(k), v, flow) for k, v in values.items()]
        else:
            self.problem(d, flow, "values must map parameter names to conditions")
        order = self.order(d["order"], pages, flow) if d.get("order") is not None else None
        return RequestMatcher(tuple(p.page for p in pages), self.retcode(d, pages, d.get("retcode"), flow),
                              tuple(conditions), order)

    def callback(self, d: Any, flow: str) -> CallbackMatcher | None:
        if not self.keys(d, {"page", "retcode"}, {"page"}, flow, "callback"):
            return None
        page = self.page(d, str(d.get("page")), flow, "callback")
        code = self.retcode(d, [page] if page else [], d.get("retcode", "0"), flow) or "0"
        return CallbackMatcher(page.page, code) if page else None

    def step(self, d: Any, flow: str) -> Step | None:
        if not self.keys(d, {"label", "request", "callback"}, {"label"}, flow, "step"):
            return None
        if ("request" in d) == ("callback" in d):
            self.problem(d, flow, "a step has exactly one of request or callback")
            return None
        if "request" in d:
            # a list gives alternatives (e.g. senderid on one page, XCDDH on another)
            raw = d["request"] if isinstance(d["request"], list) else [d["request"]]
            return Step(str(d["label"]), requests=tuple(m for r in raw if (m := self.request(r, flow))))
        return Step(str(d["label"]), callback=self.callback(d["callback"], flow))

    def flow(self, d: Any, seen: set[str]) -> Flow | None:
        fid = str(d.get("id", "")) if isinstance(d, dict) else ""
        allowed = {"id", "title", "instruction", "steps", "payment_types", "optional", "clean"}
        if not self.keys(d, allowed, {"id", "title", "instruction", "steps"}, fid, "flow"):
            return None
        if fid in seen:
            self.problem(d, fid, "two flows with this id")
        seen.add(fid)
        raw_steps = d.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            self.problem(d, fid, "steps must be a non-empty list")
            raw_steps = []
        steps = tuple(s for s in (self.step(s, fid) for s in raw_steps) if s is not None)
        return Flow(fid, str(d.get("title", "")), " ".join(str(d.get("instruction", "")).split()), steps,
                    self.payment_types(d, "payment_types", fid), bool(d.get("optional", False)),
                    bool(d.get("clean", True)), getattr(d, "line", 0))


def parse_plan(text: str, spec: Spec, source: str = "<plan>") -> Plan:
    """Validate a plan's YAML text against `spec`; raise `PlanError` listing every problem."""
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PlanError(source, [f"not YAML: {exc}"]) from None
    checker = _Checker(spec)
    flows: list[Flow] = []
    if checker.keys(data, {"id", "title", "flows"}, {"id", "title", "flows"}, "", "the plan"):
        if isinstance(data["flows"], list) and data["flows"]:
            seen: set[str] = set()
            flows = [f for f in (checker.flow(d, seen) for d in data["flows"]) if f is not None]
        else:
            checker.problem(data, "", "flows must be a non-empty list")
    if checker.problems:
        raise PlanError(source, checker.problems)
    return Plan(str(data["id"]), str(data["title"]), source, hashlib.sha256(text.encode("utf-8")).hexdigest(),
                tuple(flows))


def load_plan(spec: Spec, path: Path | None = None) -> Plan:
    """The plan at `path`, or the default plan shipped with the package."""
    if path is None:
        text = resources.files("conformance").joinpath("plans/default.yaml").read_text(encoding="utf-8")
        return parse_plan(text, spec, "conformance/plans/default.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(str(path), [f"cannot read: {exc}"]) from None
    return parse_plan(text, spec, str(path))
