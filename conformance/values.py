"""Values the target returned, read by their spec format.

Every check that computes with a value of an answer (a date, a time, an amount, a count) reads it
here: a value outside its element's format, listed values or length is the target's failure,
naming the page, the element, the value and what the spec expects, never a crash of the check nor
a check that could not run. The schema checks word their findings with `value_problem` too."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from spec.model import Element, Format, Page, Param, Spec

from .context import Failed

# How a format's value becomes a Python value; other formats stay text.
_DATES = {"yyyyMMdd": "%Y%m%d", "yyyy-MM-dd": "%Y-%m-%d"}
_STAMPS = {"yyyyMMddHHmmss": "%Y%m%d%H%M%S", "yyyy-MM-dd HH:mm:ss": "%Y-%m-%d %H:%M:%S"}
_TIMES = {"HHmm": "%H%M", "HH:mm": "%H:%M"}
_NUMBERS = {"int": int, "integer": int, "decimal": Decimal, "money": Decimal}


class Malformed(Failed):
    """A value the target returned is not what the spec says its element holds."""


def element(page: Page, path: str) -> Element:
    """The response element of `page` at `path` (`Item/sxrq`), or by its bare name (`sxrq`) where
    every element of that name in the page has the same format, values and length."""
    names = path.split("/")
    if len(names) > 1:
        found = page.element(*names)
        if found is None:
            raise KeyError(f"{page.page} answers no element {path}")
        return found
    same = [e for root in page.response for e in root.walk() if not e.children and e.name.lower() == path.lower()]
    if not same:
        raise KeyError(f"{page.page} answers no element {path}")
    if len({(e.format, e.type, e.values, e.max_length, e.allow_empty) for e in same}) > 1:
        raise KeyError(f"{page.page} has several elements {path} of different kinds; give its path")
    return same[0]


def _expected(item: Element | Param, fmt: Format | None) -> str:
    if item.values:
        return f"one of {list(item.values)}"
    if fmt is not None:
        return f"format {fmt.id} ({fmt.description_en}, e.g. {fmt.example})"
    return "a value"


def value_problem(spec: Spec, item: Element | Param, text: str | None) -> str | None:
    """What is wrong with `text` as the value of a response element or a parameter the target sent
    (format, listed values, length, emptiness), or None when nothing is."""
    fmt = spec.format_for(item)
    if not text:
        # a response leaf is empty only where the spec marks it (gap response-empty-values); a
        # parameter's emptiness is its required flag's business
        may_be_empty = item.allow_empty or (isinstance(item, Param) and fmt is None and not item.values)
        if may_be_empty:
            return None
        unmarked = " (the spec does not mark it allow_empty)" if isinstance(item, Element) else ""
        return f"is empty, expected {_expected(item, fmt)}{unmarked}"
    if item.values:
        if text not in item.values:
            return f"is not {_expected(item, fmt)}"
    elif fmt is not None and not re.fullmatch(fmt.pattern, text):
        return f"is not in {_expected(item, fmt)}"
    limit = item.max_length
    ciphertext = isinstance(item, Param) and (item.encrypted or item.encryption == "md5-sign")
    if limit and len(text) > limit and not ciphertext:  # a parameter's length is that of its plain value
        return f"is {len(text)} characters long, at most {limit} expected"
    if fmt is not None and not item.values:
        try:
            _convert(fmt.id, text)
        except ValueError as exc:
            return f"is not a real {fmt.id} value ({exc})"
    return None


def _convert(format_id: str, text: str) -> Any:
    if format_id in _DATES:
        return datetime.strptime(text, _DATES[format_id]).date()
    if format_id in _STAMPS:
        return datetime.strptime(text, _STAMPS[format_id])
    if format_id in _TIMES:
        return datetime.strptime(text, _TIMES[format_id]).time()
    if format_id in _NUMBERS:
        return _NUMBERS[format_id](text)
    return text


def parse_value(spec: Spec, page: Page | str, path: str, text: str | None) -> Any:
    """The value `text` that `page` answered for its element `path`, as its format reads it: a
    `date` (yyyyMMdd, yyyy-MM-dd), a naive `datetime` (yyyyMMddHHmmss, yyyy-MM-dd HH:mm:ss), a
    `time` (HHmm, HH:mm), an `int`, a `Decimal` (decimal, money), else the text; None for an empty
    value the element allows. Raises `Malformed` (a failure of the target) otherwise."""
    page = spec.page(page) if isinstance(page, str) else page
    el = element(page, path)
    wrong = value_problem(spec, el, text)
    if wrong is not None:
        raise Malformed(f"{page.page}: <{path}> {text!r} {wrong}")
    if not text:
        return None
    fmt = spec.format_for(el)
    return _convert(fmt.id, text) if fmt is not None else text

