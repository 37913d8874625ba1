"""Read `spec/data/`, validate it, and build the frozen `Spec`.

Validation has two layers: each file against its JSON Schema (`spec/schema/`),
then every cross-reference between files (statuses, events, pages, retcodes,
formats). Problems are collected, never raised one at a time, so that
`python -m spec check` can list them all.
"""

from __future__ import annotations

import copy
import json
import re
import string
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import jsonschema
import yaml
from referencing import Registry, Resource

from . import hawk
from . import model as m
from .errors import PLACEHOLDER
from .xsd import Inexpressible, xsd_pattern

# libyaml's loader is ten times faster where PyYAML was built with it.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DATA_DIR = Path(__file__).parent / "data"
SCHEMA_DIR = Path(__file__).parent / "schema"
TABLES = ("order_status", "ticket_status", "payment_types", "transitions", "fees",
          "refund_modes", "formats", "callbacks", "gaps", "mistakes", "seat_status", "reasons", "accounts")


def _element_names(elements: list[dict[str, Any]]) -> set[str]:
    return {e["name"] for e in elements} | {n for e in elements for n in _element_names(e.get("children", []))}


def _check_accounts(t: dict[str, Any], pages: dict[str, Any], add: Callable[[str, str, str], None]) -> None:
    """Each account is one of the payment types' accounts, read on pages that answer the named elements."""
    rel, accounts = "tables/accounts.yaml", {p.get("account") for p in t["payment_types"]["types"]}
    for i, a in enumerate(t["accounts"]["accounts"]):
        if a["id"] not in accounts:
            add(rel, f"accounts[{i}].id", f"{a['id']!r} is not the account of a payment type")
        for page_key, names in (("balance_page", ("balance",)), ("records_page", ("opening", "closing", "document"))):
            page = pages.get(a[page_key])
            if page is None:
                add(rel, f"accounts[{i}].{page_key}", f"unknown page {a[page_key]!r}")
                continue
            answered = _element_names(page.get("response", []))
            for name in names:
                if a[name] not in answered:
                    add(rel, f"accounts[{i}].{name}", f"{a[page_key]} answers no element {a[name]!r}")
        key = a.get("insufficient")
        if key is None:
            continue
        # the pages paying from the account answer it, and the reasons table words it for those that do not
        paying = [p for p in pages.values() if a["id"] in (p.get("behaviour") or {}).get("accounts", [])]
        if not any(r.get("key") == key for p in paying for r in p.get("retcodes", [])):
            add(rel, f"accounts[{i}].insufficient", f"no page paying from {a['id']} lists the retcode key {key!r}")
        if not any(r.get("key") == key for r in t["reasons"]["reasons"]):
            add(rel, f"accounts[{i}].insufficient", f"tables/reasons.yaml does not word {key!r}")


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class SpecInvalid(Exception):
    """The spec data does not validate; `problems` lists every finding."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---------------------------------------------------------------- raw reading

@dataclass
class RawSpec:
    root: Path
    pages: dict[str, Any]  # relative file name -> data
    tables: dict[str, Any]  # table name -> data
    profiles: dict[str, Any]  # relative file name -> data (extends resolved)


def _read_yaml(path: Path, problems: list[Problem], rel: str) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_YamlLoader)
    except (OSError, yaml.YAMLError) as exc:
        problems.append(Problem(rel, "", f"cannot read YAML: {exc}".replace("\n", " ")))
        return None


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for k, v in override.items():
            merged[k] = _deep_merge(base.get(k), v) if k in base else copy.deepcopy(v)
        return merged
    return copy.deepcopy(override)


def _resolve_profiles(raw: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    by_name = {d.get("name"): (f, d) for f, d in raw.items() if isinstance(d, dict)}
    resolved: dict[str, Any] = {}

    def resolve(fname: str, data: dict, seen: tuple[str, ...]) -> dict:
        parent = data.get("extends")
        if not parent:
            return data
        if parent in seen or parent not in by_name:
            why = "cycle" if parent in seen else "unknown profile"
            problems.append(Problem(fname, "extends", f"{why}: {parent!r}"))
            return {k: v for k, v in data.items() if k != "extends"}
        pfile, pdata = by_name[parent]
        base = resolve(pfile, pdata, seen + (parent,))
        child = {k: v for k, v in data.items() if k != "extends"}
        return _deep_merge(base, child)

    for fname, data in raw.items():
        if isinstance(data, dict):
            resolved[fname] = resolve(fname, data, (data.get("name"),))
    return resolved


def read_raw(root: Path | None = None, extra_profiles: list[Path] | None = None) -> tuple[RawSpec, list[Problem]]:
    root = Path(root) if root else DATA_DIR
    problems: list[Problem] = []
    pages = {}
    for path in sorted((root / "pages").glob("*.yaml")):
        rel = f"pages/{path.name}"
        pages[rel] = _read_yaml(path, problems, rel)
    tables = {}
    for name in TABLES:
        path = root / "tables" / f"{name}.yaml"
        rel = f"tables/{name}.yaml"
        if not path.exists():
            problems.append(Problem(rel, "", "missing table file"))
            continue
        tables[name] = _read_yaml(path, problems, rel)
    raw_profiles = {}
    paths = sorted((root / "profiles").glob("*.yaml")) + list(extra_profiles or [])
    for path in paths:
        rel = f"profiles/{path.name}" if path.parent == root / "profiles" else str(path)
        raw_profiles[rel] = _read_yaml(path, problems, rel)
    return RawSpec(root, pages, tables, _resolve_profiles(raw_profiles, problems)), problems


# ---------------------------------------------------------------- validation

def _schema(name: str) -> dict:
    with (SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as fh:
        return json.load(fh)


def _registry() -> Registry:
    schemas = (_schema(n) for n in ("page", "gap", "tables", "profile"))
    return Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in schemas])


def _errors(schema: dict, data: Any, registry: Registry) -> list[jsonschema.ValidationError]:
    cls = jsonschema.validators.validator_for(schema)
    return sorted(cls(schema, registry=registry).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))


def _json_path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_problems(raw: RawSpec) -> list[Problem]:
    registry = _registry()
    checks = [({"$ref": "ybx:page"}, rel, data) for rel, data in raw.pages.items()]
    checks += [({"$ref": f"ybx:tables#/$defs/{name}"}, f"tables/{name}.yaml", data) for name, data in raw.tables.items()]
    checks += [({"$ref": "ybx:profile"}, rel, data) for rel, data in raw.profiles.items()]
    return [
        Problem(rel, _json_path(err), err.message)
        for schema, rel, data in checks
        for err in _errors(schema, data, registry)
    ]


def _xref_problems(raw: RawSpec) -> list[Problem]:
    """Every name one file uses must be defined by another."""
    problems: list[Problem] = []
    add = lambda f, p, msg: problems.append(Problem(f, p, msg))  # noqa: E731
    t = raw.tables
    statuses = {s["code"] for s in t["order_status"]["statuses"]}
    initial = t["order_status"]["initial"]
    ptypes = {p["id"] for p in t["payment_types"]["types"]}
    events = {e["id"] for e in t["transitions"]["events"]}
    formats = {f["id"] for f in t["formats"]["formats"]}
    encryptions = {e["id"] for e in t["formats"]["encryptions"]}
    patterns = {f["id"]: f["pattern"] for f in t["formats"]["formats"]}
    type_formats = t["formats"].get("type_formats", {})
    for kind, fmt in type_formats.items():
        if fmt not in formats:
            add("tables/formats.yaml", f"type_formats.{kind}", f"unknown format {fmt!r}")

    names: dict[str, str] = {}
    pages: dict[str, dict] = {}
    for rel, data in raw.pages.items():
        page = data["page"]
        stem = page[:-5] if page.lower().endswith(".aspx") else None
        expected = f"pages/{stem}.yaml" if stem else None
        if expected and rel != expected and not any(
            rel == f"pages/{a[:-5]}.yaml" for a in data.get("aliases", [])
        ):
            add(rel, "page", f"file name should be {expected.split('/')[-1]} for page {page!r}")
        own = [page, *data.get("aliases", [])]
        for n in own:
            if n.lower() in names:
                add(rel, "page", f"page name {n!r} is also defined in {names[n.lower()]}")
            names[n.lower()] = rel
        pages[page] = data
    callback_pages = {p for p, d in pages.items() if d["direction"] == "callback"}
    pages_all = set(pages)

    for rel, data in raw.pages.items():
        seen: set[str] = set()
        for i, p in enumerate(data["params"]):
            low = p["name"].lower()
            if low in seen:
                add(rel, f"params[{i}].name", f"parameter {p['name']!r} appears twice (names are case-insensitive)")
            seen.add(low)
            if p["encryption"] not in encryptions:
                add(rel, f"params[{i}].encryption", f"unknown encryption {p['encryption']!r}")
            if p.get("format") and p["format"] not in formats:
                add(rel, f"params[{i}].format", f"unknown format {p['format']!r}")
            if p.get("obtained_from") and p["obtained_from"].lower() not in {n.lower() for n in pages_all}:
                add(rel, f"params[{i}].obtained_from", f"unknown page {p['obtained_from']!r}")
        keys: set[str] = set()
        for i, r in enumerate(data["retcodes"]):
            if r["key"] in keys:
                add(rel, f"retcodes[{i}].key", f"retcode key {r['key']!r} appears twice")
            keys.add(r["key"])
        if data["direction"] == "request" and "0" not in {r["code"] for r in data["retcodes"]}:
            add(rel, "retcodes", "a request page must list retcode 0")
        if "mode_refusal" in data:
            if data["mode"] == "both":
                add(rel, "mode_refusal", "a page served in both modes is never refused for the mode")
            elif data["mode_refusal"] not in keys:
                add(rel, "mode_refusal", f"the page lists no retcode {data['mode_refusal']!r}")
        for i, p in enumerate(data["params"]):
            if "required_when" in p:
                for problem in _condition_problems(p, data, pages, keys):
                    add(rel, f"params[{i}].required_when", problem)

        def walk(elements: list, path: str) -> None:
            for j, e in enumerate(elements):
                if e.get("format") and e["format"] not in formats:
                    add(rel, f"{path}[{j}].format", f"unknown format {e['format']!r}")
                for problem in _element_value_problems(e, patterns, type_formats):
                    add(rel, f"{path}[{j}]", problem)
                if e.get("filled_after") and not e.get("allow_empty"):
                    add(rel, f"{path}[{j}].filled_after", "only an allow_empty element is filled after an event")
                for k, ev in enumerate(e.get("filled_after", ())):
                    if ev not in events:
                        add(rel, f"{path}[{j}].filled_after[{k}]", f"unknown event {ev!r}")
                walk(e.get("children", []), f"{path}[{j}].children")

        walk(data["response"], "response")
        beh = data["behaviour"]
        for i, ev in enumerate(beh.get("events", [])):
            if ev not in events:
                add(rel, f"behaviour.events[{i}]", f"unknown event {ev!r}")
        for i, cb in enumerate(beh.get("callbacks", [])):
            if cb not in callback_pages:
                add(rel, f"behaviour.callbacks[{i}]", f"{cb!r} is not a callback page")

    def known_status(code: str) -> bool:
        return code in statuses or code == initial

    tr = t["transitions"]
    for i, e in enumerate(tr["events"]):
        for j, pg in enumerate(e.get("pages", [])):
            if pg not in pages:
                add("tables/transitions.yaml", f"events[{i}].pages[{j}]", f"unknown page {pg!r}")
    ids: set[str] = set()
    for i, x in enumerate(tr["transitions"]):
        path = f"transitions[{i}]"
        if x["id"] in ids:
            add("tables/transitions.yaml", f"{path}.id", f"duplicate transition id {x['id']!r}")
        ids.add(x["id"])
        for key in ("from", "to"):
            if not known_status(x[key]):
                add("tables/transitions.yaml", f"{path}.{key}", f"unknown order status {x[key]!r}")
        if x["event"] not in events:
            add("tables/transitions.yaml", f"{path}.event", f"unknown event {x['event']!r}")
        for pt in x["payment_types"]:
            if pt not in ptypes:
                add("tables/transitions.yaml", f"{path}.payment_types", f"unknown payment type {pt!r}")
        for cb in x.get("callbacks", []):
            if cb not in callback_pages:
                add("tables/transitions.yaml", f"{path}.callbacks", f"{cb!r} is not a callback page")
    for i, f in enumerate(tr.get("forbidden", [])):
        path = f"forbidden[{i}]"
        if f["event"] not in events:
            add("tables/transitions.yaml", f"{path}.event", f"unknown event {f['event']!r}")
        for s in f["from"]:
            if not known_status(s):
                add("tables/transitions.yaml", f"{path}.from", f"unknown order status {s!r}")
        page = pages.get(f["page"])
        if page is None:
            add("tables/transitions.yaml", f"{path}.page", f"unknown page {f['page']!r}")
        elif f["retcode"] not in {r["key"] for r in page["retcodes"]}:
            add("tables/transitions.yaml", f"{path}.retcode", f"page {f['page']} lists no retcode {f['retcode']!r}")

    fired = {(r["page"], ev) for r in t["callbacks"]["rules"] for ev in r["fires_on"]}
    for i, x in enumerate(tr["transitions"]):
        for cb in x.get("callbacks", []):
            if (cb, x["event"]) not in fired:
                add("tables/transitions.yaml", f"transitions[{i}].callbacks",
                    f"{cb} is not fired on {x['event']!r} by tables/callbacks.yaml")
    for i, r in enumerate(t["callbacks"]["rules"]):
        if r["page"] not in callback_pages:
            add("tables/callbacks.yaml", f"rules[{i}].page", f"{r['page']!r} is not a callback page")
        for ev in r["fires_on"]:
            if ev not in events:
                add("tables/callbacks.yaml", f"rules[{i}].fires_on", f"unknown event {ev!r}")
    for i, ts in enumerate(t["ticket_status"]["statuses"]):
        for pg in ts.get("used_by", []):
            if pg not in pages:
                add("tables/ticket_status.yaml", f"statuses[{i}].used_by", f"unknown page {pg!r}")
    seat_view = pages.get("QuerySeatsState.aspx")
    shown = {v for top in (seat_view or {}).get("response", []) for c in top.get("children", [])
             if c.get("name") == "SeatState" for v in c.get("values", [])}
    for i, ss in enumerate(t["seat_status"]["statuses"]):
        for code in ss.get("held_by", []):
            if not known_status(code):
                add("tables/seat_status.yaml", f"statuses[{i}].held_by", f"unknown order status {code!r}")
        if seat_view is not None and ss["code"] not in shown:
            add("tables/seat_status.yaml", f"statuses[{i}].code", f"{ss['code']!r} is not a SeatState of QuerySeatsState.aspx")
        if ss.get("held_by") and ss["role"] in ("free", "fixed"):
            add("tables/seat_status.yaml", f"statuses[{i}].held_by", f"a state of role {ss['role']} is held by no order")
    for role in ("free", "booking", "sold"):  # the mock writes these; the others are set by the supplier's staff
        playing = [ss["code"] for ss in t["seat_status"]["statuses"] if ss["role"] == role]
        if len(playing) != 1:
            add("tables/seat_status.yaml", "statuses", f"exactly one state must have role {role}, not {playing}")
    _check_accounts(t, pages, add)
    for i, s in enumerate(t["fees"]["situations"]):
        for pt in s["payment_types"]:
            if pt not in ptypes:
                add("tables/fees.yaml", f"situations[{i}].payment_types", f"unknown payment type {pt!r}")

    gap_ids: dict[str, str] = {}
    all_gaps = [(f"pages/{k.split('/')[-1]}", g) for k, d in raw.pages.items() for g in d.get("gaps", [])]
    all_gaps += [("tables/gaps.yaml", g) for g in t["gaps"]["gaps"]]
    for rel, g in all_gaps:
        if g["id"] in gap_ids:
            add(rel, "gaps", f"gap id {g['id']!r} also used in {gap_ids[g['id']]}")
        gap_ids[g["id"]] = rel

    for rel, d in raw.profiles.items():
        try:
            hawk.parse_recipe(d["rest_auth"]["key_recipe"])
        except ValueError as exc:
            add(rel, "rest_auth.key_recipe", str(exc))
    for rel, d in raw.pages.items():
        _rest_problems(rel, d, add)
    profile_names = [d.get("name") for d in raw.profiles.values()]
    if "default" not in profile_names:
        add("profiles", "", "no profile named 'default'")
    if len(set(profile_names)) != len(profile_names):
        add("profiles", "", "two profiles share a name")
    return problems + _mistake_problems(t["mistakes"], pages, formats) + _reason_problems(t["reasons"])


def _element_value_problems(e: dict, patterns: dict[str, str], type_formats: dict[str, str]) -> list[str]:
    """What is wrong with what a response element says of its value: a format the generated XSD
    cannot express (the suite validates answers with it), listed values outside the format, a
    length or value set on an element with children."""
    if e.get("children"):
        keys = {"format", "values", "values_from", "max_length", "allow_empty", "filled_after"} & set(e)
        return [f"{sorted(keys)} on an element with children (leaves only)"] if keys else []
    out = []
    if "values" in e and "values_from" in e:
        out.append("both values and values_from")
    fmt = e.get("format") or type_formats.get(e.get("type", "string"))
    if fmt not in patterns:
        return out
    try:
        xsd_pattern(patterns[fmt])
    except Inexpressible as exc:
        out.append(f"format {fmt!r} cannot be expressed in the generated XSD: {exc}")
        return out
    for v in e.get("values", ()):
        if not re.fullmatch(patterns[fmt], str(v)):
            out.append(f"listed value {v!r} is not in the element's format {fmt!r}")
    return out


def _condition_problems(param: dict, data: dict, pages: dict[str, dict], keys: set[str]) -> list[str]:
    """A conditionally required parameter: optional otherwise, its setting an element (and value) of
    another page's answer, its gap on the same page naming the retcode key the refusal answers."""
    cond, out = param["required_when"], []
    if param.get("required"):
        out.append("a parameter required always needs no condition")
    source = pages.get(cond["page"])
    element = None
    if source is None:
        out.append(f"unknown page {cond['page']!r}")
    else:
        elements: list = source["response"]
        for name in cond["element"].split("/"):
            element = next((e for e in elements if e["name"] == name), None)
            if element is None:
                out.append(f"{cond['page']} answers no element {cond['element']!r}")
                break
            elements = element.get("children", [])
    if element is not None and "values" in element and cond["value"] not in map(str, element["values"]):
        out.append(f"{cond['value']!r} is not a value of {cond['page']} {cond['element']}")
    gap = next((g for g in data.get("gaps", ()) if g["id"] == cond["gap"]), None)
    if gap is None:
        out.append(f"the page records no gap {cond['gap']!r}")
    elif str(gap.get("value")) not in keys:
        out.append(f"gap {cond['gap']}'s value must be a retcode key of the page (the refusal), not {gap.get('value')!r}")
    return out


def _reason_problems(table: dict) -> list[Problem]:
    """Reasons: one per key, `internal` among them (the last resort), no field but {param} and
    {value}, and no placeholder of a message (they fill one)."""
    rel, problems, seen = "tables/reasons.yaml", [], set()
    for i, r in enumerate(table["reasons"]):
        path = f"reasons[{i}]"
        if r["key"] in seen:
            problems.append(Problem(rel, f"{path}.key", f"reason key {r['key']!r} appears twice"))
        seen.add(r["key"])
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(r["zh"]) if f is not None}
        except ValueError as exc:
            problems.append(Problem(rel, f"{path}.zh", f"not a template: {exc}"))
            continue
        if fields - {"param", "value"}:
            problems.append(Problem(rel, f"{path}.zh", f"unknown fields {sorted(fields - {'param', 'value'})}"))
        if PLACEHOLDER.search(r["zh"]):
            problems.append(Problem(rel, f"{path}.zh", "holds a message placeholder (xxxx, ex, X, [..])"))
    if "internal" not in seen:
        problems.append(Problem(rel, "reasons", "no reason for key 'internal' (the last resort)"))
    return problems


_TEMPLATE_FIELDS = {"clause": {"section", "page", "param", "line"},
                    "message": {"section", "page", "param", "line", "method", "path", "value", "variant", "detail",
                                "example"}}
_TEMPLATE_FIELDS["hint"] = _TEMPLATE_FIELDS["message"]
_VARIANT_PART = {"sign-variant": "sign", "cipher-variant": None, "password-variant": "password"}


def _mistake_problems(table: dict, pages: dict[str, dict], formats: set[str]) -> list[Problem]:
    """The mistake catalogue names known formats and parameters, and its templates known fields."""
    rel, problems = "tables/mistakes.yaml", []
    names = {p["name"].lower() for d in pages.values() for p in d["params"]}
    seen: set[str] = set()
    for i, x in enumerate(table["mistakes"]):
        path = f"mistakes[{i}]"
        if x["id"] in seen:
            problems.append(Problem(rel, f"{path}.id", f"duplicate mistake id {x['id']!r}"))
        seen.add(x["id"])
        for key, allowed in _TEMPLATE_FIELDS.items():
            fields = {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(x[key]) if f}
            for f in sorted(fields - allowed):
                problems.append(Problem(rel, f"{path}.{key}", f"unknown template field {{{f}}}"))
        for j, f in enumerate(x.get("formats", [])):
            if f not in formats:
                problems.append(Problem(rel, f"{path}.formats[{j}]", f"unknown format {f!r}"))
        if x["detect"] in _VARIANT_PART and not x.get("variants"):
            problems.append(Problem(rel, path, f"a {x['detect']} mistake needs variants"))
        part = _VARIANT_PART.get(x["detect"])
        for j, v in enumerate(x.get("variants", [])):
            if part and part not in v:
                problems.append(Problem(rel, f"{path}.variants[{j}]", f"a {x['detect']} variant needs {part!r}"))
        if (x["detect"] == "booking-repeat") != ("repeat" in x):
            problems.append(Problem(rel, path, "repeat is given exactly for booking-repeat mistakes"))
        for key in ("key_params", "same_params"):
            for j, name in enumerate(x.get("repeat", {}).get(key, [])):
                if name.lower() not in names:
                    problems.append(Problem(rel, f"{path}.repeat.{key}[{j}]", f"no page has a parameter {name!r}"))
    return problems


def _rest_problems(rel: str, data: dict, add: Callable[[str, str, str], None]) -> None:
    """A REST block names its page's own collection elements, and each error key once."""
    rest = data.get("rest")
    if not rest:
        return
    collections = {e["name"] for e in data["response"] if e.get("children")}
    for i, name in enumerate(rest.get("empty_collections", [])):
        if name not in collections:
            add(rel, f"rest.empty_collections[{i}]", f"{name!r} is not a collection element of the response")
    keys: set[str] = set()
    for i, e in enumerate(rest.get("errors", [])):
        if e["key"] in keys:
            add(rel, f"rest.errors[{i}].key", f"error key {e['key']!r} appears twice")
        keys.add(e["key"])


def _problems(raw: RawSpec, read_problems: list[Problem]) -> list[Problem]:
    if read_problems:
        return read_problems
    return _schema_problems(raw) or _xref_problems(raw)


def check(root: Path | None = None, extra_profiles: list[Path] | None = None) -> list[Problem]:
    """Every problem of the spec at `root` (default: the packaged spec)."""
    return _problems(*read_raw(root, extra_profiles))


# ---------------------------------------------------------------- building

def _t(v: Any) -> tuple:
    return tuple(str(x) for x in (v or ()))


def _s(v: Any) -> str:
    return "" if v is None else str(v)


def _element(d: dict, codes: dict[str, tuple[str, ...]]) -> m.Element:
    values = _t(d["values"]) if "values" in d else codes[d["values_from"]] if "values_from" in d else None
    return m.Element(
        name=d["name"], occurs=d.get("occurs", "1"), type=d.get("type", "string"),
        label_zh=_s(d.get("label_zh")), en=_s(d.get("en")), values=values, format=d.get("format"),
        children=tuple(_element(c, codes) for c in d.get("children", ())),
        max_length=d.get("max_length"), line=d.get("line"), allow_empty=bool(d.get("allow_empty", False)),
        filled_after=_t(d.get("filled_after")),
    )


def _status_codes(t: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """The codes of each status table an element's `values_from` may name."""
    return {name: tuple(str(s["code"]) for s in t[name]["statuses"]) for name in ("order_status", "ticket_status", "seat_status")}


def _gap(d: dict, where: str) -> m.Gap:
    value = d.get("value")
    return m.Gap(d["id"], d["clause"], d.get("line"), d["issue_en"], d["choice_en"], where,
                 None if value is None else str(value))


def _page(rel: str, d: dict, codes: dict[str, tuple[str, ...]]) -> m.Page:
    params = []
    for p in d["params"]:
        base, length = m.parse_type(p.get("type"))
        params.append(m.Param(
            name=p["name"], label_zh=p["label_zh"], en=p["en"], required=p["required"],
            type_raw=p.get("type"), base_type=base, max_length=p.get("max_length", length), encryption=p["encryption"],
            format=p.get("format"), values=_t(p["values"]) if "values" in p else None,
            default=None if p.get("default") is None else str(p["default"]),
            note_zh=_s(p.get("note_zh")), line=p.get("line"), location=p.get("in", "query"),
            allow_empty=bool(p.get("allow_empty", False)), obtained_from=p.get("obtained_from"),
            required_when=m.Condition(**p["required_when"]) if "required_when" in p else None,
            first_page=p.get("first_page"),
        ))
    old = d.get("old_edition")
    beh = d["behaviour"]
    rest = d.get("rest")
    return m.Page(
        page=d["page"], aliases=_t(d.get("aliases")), section=d["section"], title_zh=d["title_zh"],
        title_en=d["title_en"], since=d["since"], direction=d["direction"], methods=_t(d["methods"]),
        mode=d["mode"], kept_in_v4=d["kept_in_v4"], v4_backward_compatible=d["v4_backward_compatible"],
        source_file=d["source"].get("file", "000_99959f91876fab7c.txt"), source_lines=tuple(d["source"]["lines"]),
        old_edition=m.OldEdition(old["name"], tuple(old["lines"]), _t(old.get("differences_en"))) if old else None,
        summary_zh=d["summary_zh"], summary_en=d["summary_en"], params=tuple(params),
        response=tuple(_element(e, codes) for e in d["response"]),
        retcodes=tuple(m.Retcode(r["code"], r["key"], r["message_zh"], r["message_en"], r.get("line")) for r in d["retcodes"]),
        behaviour=m.Behaviour(_t(beh.get("reads")), _t(beh.get("writes")), _t(beh.get("events")),
                              _t(beh.get("callbacks")), beh["fees"], _t(beh.get("accounts")), _s(beh.get("notes_en"))),
        gaps=tuple(_gap(g, rel) for g in d.get("gaps", ())),
        rest=_rest(rest) if rest else None,
        file=rel,
        mode_refusal=d.get("mode_refusal"),
    )


_REST_TYPED = ("path", "media_types", "xml_root", "xml_namespace", "xml_instance_namespace", "error_root",
               "empty_collections", "errors", "customer_types")


def _rest(d: dict) -> m.RestInfo:
    return m.RestInfo(
        d["path"], _t(d["media_types"]), d["xml_root"], d["xml_namespace"],
        {k: v for k, v in d.items() if k not in _REST_TYPED},
        xml_instance_namespace=d.get("xml_instance_namespace", ""), error_root=d.get("error_root", "Error"),
        empty_collections=_t(d.get("empty_collections")),
        errors=tuple(m.RestError(e["key"], int(e["status"]), e["message"], e.get("detail"), e["clause"],
                                 " ".join(_s(e.get("note_en")).split())) for e in d.get("errors", ())),
        customer_types=tuple(m.CodeName(str(c["code"]), c["name_zh"]) for c in d.get("customer_types", ())),
    )


def _rule(d: dict) -> m.Rule:
    return m.Rule(d.get("clause", ""), " ".join(_s(d.get("note_en")).split()))


def _profile(d: dict) -> m.Profile:
    tr, ci, sg, rs, cb, ke, fb, ra = (d[k] for k in (
        "transport", "cipher", "sign", "response", "callbacks", "key_export", "fee_bands", "rest_auth"))
    return m.Profile(
        name=d["name"], title_en=d["title_en"], description_en=" ".join(d["description_en"].split()),
        transport=m.TransportProfile(tr["get_path"], tr["post_path"], tr["post_content_type"], tr["charset"],
                                     tr["names_case_insensitive"], _rule(tr)),
        cipher=m.CipherProfile(ci["algorithm"], ci["key_encoding"], ci["key_pad_char"], ci["key_length"],
                               ci["mode"], ci.get("iv"), ci["padding"], ci["output"], _rule(ci)),
        password=_rule(d["password"]),
        sign=m.SignProfile(_t(sg["exclude"]), sg["skip_empty"], sg["name_case"], sg["sort"], sg["pair_format"],
                           sg["separator"], sg["value_form"], sg["key_position"], sg.get("key_param"), sg["hash"],
                           sg["hex_case"], sg["compare_case_insensitive"], _rule(sg)),
        response=m.ResponseProfile(rs["content_type"], rs["xml_declaration"], rs["root"], _t(rs["envelope"]),
                                   rs["sign_blanks_element"], rs["sign_key_position"], rs["hash"], rs["hex_case"],
                                   rs["unknown_agent_sign"], _rule(rs)),
        callbacks=m.CallbackProfile(cb["method"], cb["path"], cb["signed_like_requests"], cb["answer_like_responses"], _rule(cb)),
        key_export=m.KeyExportProfile(ke["file_extension"], _rule(ke)),
        fee_bands=m.FeeBandProfile(fb["timezone"], fb["scenic_reference"], fb["theater_reference"],
                                   {k: int(v) for k, v in fb["unit_seconds"].items()}, fb["match"],
                                   fb["zero_count_match"], fb["select"], fb["per"], fb["rounding"],
                                   fb["cap_at_price"], _rule(fb)),
        rest_auth=m.RestAuthProfile(ra["scheme"], ra["algorithm"], ra["id_from"], ra["key_recipe"],
                                    ra["unauthorized_status"], _rule(ra), int(ra["skew_seconds"]),
                                    ra["unauthorized_message"]),
        error_fallbacks={k: _t(v) for k, v in d.get("error_fallbacks", {}).items()},
    )


def _error_catalogue(pages: tuple[m.Page, ...]) -> tuple[m.ErrorEntry, ...]:
    by_code: dict[str, dict[str, Any]] = {}
    for page in pages:
        for r in page.retcodes:
            entry = by_code.setdefault(r.code, {"messages": {}, "pages": []})
            entry["messages"].setdefault((r.key, r.message_zh), r.message_en)
            if page.page not in entry["pages"]:
                entry["pages"].append(page.page)

    def order(code: str) -> tuple[int, str]:
        try:
            return (0, f"{-int(code):012d}" if int(code) <= 0 else f"z{int(code):012d}")
        except ValueError:
            return (1, code)

    return tuple(
        m.ErrorEntry(code, tuple((k, zh, en) for (k, zh), en in e["messages"].items()), tuple(e["pages"]))
        for code, e in sorted(by_code.items(), key=lambda kv: order(kv[0]))
    )


def build(raw: RawSpec) -> m.Spec:
    t = raw.tables
    codes = _status_codes(t)
    pages = tuple(sorted((_page(rel, d, codes) for rel, d in raw.pages.items()), key=_section_key))
    index: dict[str, m.Page] = {}
    for p in pages:
        for n in p.names:
            index.setdefault(n.lower(), p)
    tr = t["transitions"]
    transitions = tuple(
        m.Transition(x["id"], x["from"], x["event"], x["to"], _t(x["payment_types"]), _s(x.get("guard_en")),
                     _t(x.get("callbacks")), x.get("fees", "none"), _s(x.get("accounts_en")), x["clause"], x.get("line"))
        for x in tr["transitions"]
    )
    changing = {x.source for x in transitions if x.source != x.target}
    statuses = tuple(
        m.OrderStatus(s["code"], s["name_zh"], s["name_en"], s["since"], s["code"] not in changing,
                      s["active"], _s(s.get("note_en")), s.get("line"))
        for s in t["order_status"]["statuses"]
    )
    cbs = t["callbacks"]
    fees = t["fees"]
    gaps = tuple(g for p in pages for g in p.gaps) + tuple(_gap(g, "tables/gaps.yaml") for g in t["gaps"]["gaps"])
    return m.Spec(
        pages=pages,
        order_statuses=statuses,
        ticket_statuses=tuple(
            m.TicketStatus(s["code"], s["name_zh"], s["name_en"], s["since"], _t(s.get("used_by")),
                           _s(s.get("note_en")), s.get("line"))
            for s in t["ticket_status"]["statuses"]
        ),
        accounts=tuple(
            m.AccountView(a["id"], a["name_zh"], a["balance_page"], a["balance"], a["records_page"], a["opening"],
                          a["closing"], a["document"], a.get("insufficient", ""))
            for a in t["accounts"]["accounts"]
        ),
        seat_statuses=tuple(
            m.SeatStatus(s["code"], s["name_zh"], s["name_en"], _t(s.get("held_by")), s["role"], s.get("line"))
            for s in t["seat_status"]["statuses"]
        ),
        payment_types=tuple(
            m.PaymentType(p["id"], _s(p.get("code", p["id"])), p["name_zh"], p["name_en"], p.get("account"),
                          p["fees_apply"], p["clause"])
            for p in t["payment_types"]["types"]
        ),
        events=tuple(
            m.Event(e["id"], e["name_zh"], e["name_en"], e["actor"], _t(e.get("pages")), e["clause"]) for e in tr["events"]
        ),
        transitions=transitions,
        forbidden=tuple(
            m.ForbiddenTransition(f["id"], f["event"], _t(f["from"]), f["page"], f["retcode"], f["clause"], _s(f.get("note_en")))
            for f in tr.get("forbidden", ())
        ),
        fee_model=m.FeeModel(
            situations=tuple(
                m.FeeSituation(s["id"], " ".join(s["description_en"].split()), _t(s["payment_types"]), s["charged_to"], s["clause"])
                for s in fees["situations"]
            ),
            desk_never_charged=fees["desk_never_charged"],
            example_items=tuple(
                m.FeeItem(i["unit"], int(i["unitcount"]), i["feecalmode"], Decimal(str(i["feevalue"])))
                for i in fees["example_items"]
            ),
            clause=fees["clause"],
        ),
        refund_modes=tuple(
            m.RefundMode(r["code"], r["name_zh"], r["name_en"], " ".join(r["description_en"].split()), r["clause"])
            for r in t["refund_modes"]["modes"]
        ),
        formats=tuple(m.Format(f["id"], f["pattern"], f["description_en"], _s(f.get("example"))) for f in t["formats"]["formats"]),
        callback_policy=m.CallbackPolicy(
            ordering=cbs["ordering"], blocking=cbs["blocking"], retry_window_seconds=int(cbs["retry_window_seconds"]),
            backoff_seconds=tuple(int(x) for x in cbs["backoff_seconds"]), success=cbs["success"],
            rules=tuple(
                m.CallbackRule(r["page"], _t(r["fires_on"]), _s(r.get("requires")), r["clause"], _s(r.get("note_en")))
                for r in cbs["rules"]
            ),
            clause=cbs["clause"], timeout_seconds=float(cbs["timeout_seconds"]),
        ),
        gaps=gaps,
        profiles=tuple(_profile(d) for d in raw.profiles.values()),
        errors=_error_catalogue(pages),
        initial_status=t["order_status"]["initial"],
        mistakes=tuple(_mistake(x) for x in t["mistakes"]["mistakes"]),
        reasons=tuple(m.Reason(r["key"], r["zh"], r.get("line"), " ".join(_s(r.get("adapted_en")).split()))
                      for r in t["reasons"]["reasons"]),
        type_formats=tuple(sorted(t["formats"].get("type_formats", {}).items())),
        _index=index,
    )


def _mistake(d: dict) -> m.Mistake:
    def pairs(v: dict | None) -> tuple:
        return tuple((k, tuple(x) if isinstance(x, list) else x) for k, x in (v or {}).items())

    rep = d.get("repeat")
    return m.Mistake(
        id=d["id"], detect=d["detect"], rule=" ".join(d["rule"].split()), clause=d["clause"], severity=d["severity"],
        message=" ".join(d["message"].split()), hint=" ".join(d["hint"].split()),
        variants=tuple(m.MistakeVariant(v["label"], v.get("secret", "key"), pairs(v.get("sign")), pairs(v.get("cipher")),
                                        pairs(v.get("password"))) for v in d.get("variants", ())),
        formats=_t(d.get("formats")),
        repeat=m.RepeatRule(_t(rep["key_params"]), _t(rep["same_params"]), int(rep["window_seconds"])) if rep else None,
    )


def _section_key(page: m.Page) -> tuple:
    if page.section == "REST":
        return (99,)
    return tuple(int(x) for x in page.section.split(".")) + (page.page,)


def load_spec(root: Path | None = None, extra_profiles: list[Path] | None = None) -> m.Spec:
    """Load and validate the spec; raise `SpecInvalid` listing every problem."""
    raw, read_problems = read_raw(root, extra_profiles)
    problems = _problems(raw, read_problems)
    if problems:
        raise SpecInvalid(problems)
    return build(raw)
