"""Checking a world file: the JSON Schema of the format (worlds/world.schema.json), then what a
schema cannot say (references between entries, duplicates, calendar dates, the spec's codes).
Every problem is collected with its position; nothing here raises on a bad world."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from spec.model import Element, Profile, Spec

from . import days
from .stage import stage_problems
from .worldfile import Path_, WorldText

SCHEMA_FILE = Path(__file__).parent / "worlds" / "world.schema.json"
# the supplier settings and fee rows a world gives are answered by this page; their codes are its elements' values
CONFIG_PAGE = "GetProviderConfig.aspx"


@cache
def world_schema() -> dict[str, Any]:
    """The JSON Schema of a world file (shipped beside the worlds)."""
    with SCHEMA_FILE.open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return {**world_schema()["$defs"][ref.rsplit("/", 1)[1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _shown(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_KINDS = {"array": "a list", "object": "a mapping", "string": "text", "integer": "a whole number",
          "number": "a number", "boolean": "true or false", "null": "nothing"}


def _not_a(value: Any, schema: dict[str, Any]) -> str:
    """'5 is not an amount of yuan …; quote it in YAML (write "100.00")'."""
    types = schema.get("type", [])
    expected = schema.get("x-expected") or " or ".join(_KINDS.get(t, t) for t in ([types] if isinstance(types, str) else types))
    message = f"{_shown(value)} is not {expected}"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "string" in types:
        quote = schema.get("x-quote")
        message += f"; quote it in YAML ({quote})" if quote else "; quote it in YAML"
    return message


def _data_path(data: Any, parts: Any) -> Path_:
    """The error's path with mapping keys as the file spells them (text), list indexes as numbers."""
    out: list[str | int] = []
    for part in parts:
        if isinstance(data, list) and isinstance(part, int):
            out.append(part)
            data = data[part] if 0 <= part < len(data) else None
        else:
            out.append(str(part))
            data = data.get(part) if isinstance(data, dict) else None
    return tuple(out)


def schema_problems(text: WorldText) -> None:
    """Add a problem for every place the data breaks the world schema."""
    validator = jsonschema.Draft202012Validator(world_schema())
    reported: set[Path_] = set()
    for error in validator.iter_errors(text.data):
        path = _data_path(text.data, error.absolute_path)
        schema = error.schema if isinstance(error.schema, dict) else {}
        if error.validator == "required":
            for name in error.validator_value:
                child = (*path, name)
                if isinstance(error.instance, dict) and name not in error.instance and child not in reported:
                    reported.add(child)
                    expected = _resolve(schema.get("properties", {}).get(name, {})).get("x-expected")
                    text.add(child, f"missing (required: {expected})" if expected else "missing (required)", at=path)
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(schema.get("properties", {}))
            for key in error.instance:
                if key not in known:
                    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
                    text.add((*path, str(key)), f"unknown key ({hint})", key=True)
        elif error.validator != "propertyNames" and ("x-expected" in schema or error.validator == "type"):
            text.add(path, _not_a(error.instance, schema))
        elif error.validator == "minItems":
            text.add(path, "must list at least one entry")
        elif error.validator == "uniqueItems":
            text.add(path, "lists a value twice")
        else:
            text.add(path, error.message)


def _items(data: Any, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, entry) of the list at `data[key]`, skipping what is not a mapping (the schema said so)."""
    items = data.get(key) if isinstance(data, dict) else None
    for i, item in enumerate(items if isinstance(items, list) else ()):
        if isinstance(item, dict):
            yield i, item


def _duplicates(text: WorldText, where: Path_, entries: Iterator[tuple[int, dict[str, Any]]], field: str,
               what: str) -> None:
    """A problem for each entry repeating the `field` of an earlier one."""
    first: dict[str, int] = {}
    for i, entry in entries:
        value = entry.get(field)
        if not isinstance(value, str):
            continue
        if value in first:
            line = text.position((*where, first[value], field))[0]
            text.add((*where, i, field), f"duplicate {what} {value!r} (first on line {line})")
        else:
            first[value] = i


def _known(text: WorldText, path: Path_, value: Any, allowed: tuple[str, ...] | set[str], what: str,
           none: str = "") -> None:
    """A problem when `value` is not in `allowed`; an empty `allowed` allows anything unless `none` says why not."""
    if not isinstance(value, str) or value in allowed or not (allowed or none):
        return
    why = f"known: {', '.join(sorted(allowed))}" if allowed else none
    text.add(path, f"unknown {what} {value!r} ({why})")


def _element(elements: tuple[Element, ...], name: str) -> Element | None:
    for e in elements:
        found = e if e.name == name else _element(e.children, name)
        if found is not None:
            return found
    return None


def _values(spec: Spec, name: str) -> tuple[str, ...]:
    if not spec.has_page(CONFIG_PAGE):
        return ()
    element = _element(spec.page(CONFIG_PAGE).response, name)
    return element.values or () if element else ()


def _dates(text: WorldText) -> None:
    """Calendar dates: the schema's patterns let 2026-02-30 through."""
    found: list[tuple[Path_, Any, Callable[[object], object], str]] = []
    for i, product in _items(text.data, "products"):
        sold_out = product.get("sold_out")
        found += [(("products", i, "sold_out", j), d, days.parse_day, days.DAY_PATTERN)
                  for j, d in enumerate(sold_out if isinstance(sold_out, list) else ())]
    for i, card in _items(text.data, "year_cards"):
        found.append((("year_cards", i, "effectdate"), card.get("effectdate"), days.parse_day, days.DAY_PATTERN))
        found += [(("year_cards", i, f), card.get(f), days.parse_moment, days.MOMENT_PATTERN)
                  for f in ("ordertime", "deliverytime")]
    for path, value, parse, pattern in found:
        if isinstance(value, str) and re.fullmatch(pattern, value):  # other values: the schema's problem
            try:
                parse(value)
            except ValueError as exc:
                text.add(path, str(exc))


def semantic_problems(text: WorldText, spec: Spec | None = None, profile: Profile | None = None,
                      mode: str | None = None) -> None:
    """Add the problems a schema cannot find; with `spec`, codes are checked against it, and with
    `mode` the world must be of that mode (the theater supplier's world: theater)."""
    data = text.data if isinstance(text.data, dict) else {}
    supplier = data.get("supplier") if isinstance(data.get("supplier"), dict) else {}
    world_mode = supplier.get("mode")
    if world_mode == "theater" and "stage" not in data:
        text.add(("stage",), "missing: a theater-mode world needs a stage section (theaters, scenes, seat areas)",
                 at=("supplier", "mode"))
    if world_mode == "scenic" and "stage" in data:
        text.add(("stage",), "only a theater-mode world has a stage section (supplier.mode is scenic)", key=True)
    if mode and world_mode in ("scenic", "theater") and world_mode != mode:
        text.add(("supplier", "mode"), f"{world_mode!r}: the {mode} supplier needs a world of mode {mode}")
    for key, field, what in (("products", "id", "product id"), ("agents", "user", "agent user"),
                             ("service_items", "code", "service item code"), ("pay_channels", "id", "pay channel id"),
                             ("year_cards", "orderid", "year-card order id")):
        _duplicates(text, (key,), _items(data, key), field, what)
    services = {s["code"] for _, s in _items(data, "service_items") if isinstance(s.get("code"), str)}
    slots: dict[tuple[str, int], int] = {}
    for i, seg in _items(data, "time_segments"):
        _known(text, ("time_segments", i, "service"), seg.get("service"), services, "service item",
               "the world has no service_items")
        slot = (seg.get("service"), seg.get("index"))
        if isinstance(slot[0], str) and isinstance(slot[1], int):
            if slot in slots:
                text.add(("time_segments", i, "index"), f"time segment {slot[1]} of service {slot[0]!r} is given twice "
                                                        f"(first in time_segments[{slots[slot]}])")
            slots.setdefault(slot, i)
    for i, product in _items(data, "products"):
        if product.get("service") and services:
            _known(text, ("products", i, "service"), product.get("service"), services, "service item")
        low, high = product.get("minimum", 1), product.get("maximum", 100)
        if isinstance(low, int) and isinstance(high, int) and low > high:
            text.add(("products", i, "minimum"), f"{low} is more than maximum {high}")
    _dates(text)
    users = {a["user"] for _, a in _items(data, "agents") if isinstance(a.get("user"), str)}
    for i, card in _items(data, "year_cards"):
        _known(text, ("year_cards", i, "agent"), card.get("agent"), users, "agent")
    products = {p["id"] for _, p in _items(data, "products") if isinstance(p.get("id"), str)}
    stage_problems(text, products, spec)
    if spec is not None:
        _spec_problems(text, data, spec, profile or spec.profile())


def _spec_problems(text: WorldText, data: dict[str, Any], spec: Spec, profile: Profile) -> None:
    """The world's codes that are the interface's: checked against the spec, never listed here."""
    supplier = data.get("supplier") if isinstance(data.get("supplier"), dict) else {}
    for name in ("activateable", "tickettype"):
        _known(text, ("supplier", name), supplier.get(name), _values(spec, name), f"{name} value")
    rows = [(("feeitems", i), row) for i, row in _items(data, "feeitems")]
    rows += [(("products", i, "feeitems", j), row) for i, p in _items(data, "products")
             for j, row in _items(p, "feeitems")]
    for path, row in rows:
        _known(text, (*path, "unit"), row.get("unit"), set(profile.fee_bands.unit_seconds), "fee unit")
        _known(text, (*path, "feecalmode"), row.get("feecalmode"), _values(spec, "feecalmode"), "feecalmode")
    payment_types = {t.id for t in spec.payment_types}
    for i, agent in _items(data, "agents"):
        for j, pay_type in enumerate(agent.get("pay_types") if isinstance(agent.get("pay_types"), list) else ()):
            _known(text, ("agents", i, "pay_types", j), pay_type, payment_types, "payment type")
    for i, card in _items(data, "year_cards"):
        _known(text, ("year_cards", i, "statuscode"), card.get("statuscode"), {s.code for s in spec.order_statuses},
               "order status")
        _known(text, ("year_cards", i, "status"), card.get("status"), {s.code for s in spec.ticket_statuses},
               "ticket status")
        _known(text, ("year_cards", i, "paymenttype"), card.get("paymenttype"), payment_types, "payment type")
