"""Schema checks: every answer validates against the XSD generated from the spec (structure, and
each value's format, listed values and length) and carries a retcode the page lists."""

from __future__ import annotations

import re
from functools import partial
from typing import Iterable

import xmlschema

from spec.model import Page, Profile, Spec
from spec.xsd import page_xsd

from ..baseline import baseline
from ..context import CheckContext
from ..registry import Check, derive
from ..values import element, value_problem

_INDEX = re.compile(r"\[\d+\]")
SHOWN = 5  # findings quoted in a failure; the exchange holds the whole answer


def answer_problems(spec: Spec, profile: Profile, page: Page, body: bytes) -> list[str]:
    """What keeps `body`, a successful answer of `page`, from validating against the page's XSD:
    for a value, the element (path below the root), the value and what the spec expects of it."""
    found = []
    for error in xmlschema.XMLSchema(page_xsd(page, profile, spec)).iter_errors(body.decode("utf-8", "replace")):
        path = _INDEX.sub("", error.path or "").strip("/").split("/", 1)[-1]
        leaf = error.elem if error.elem is not None and len(error.elem) == 0 else None
        text = (leaf.text or "") if leaf is not None else ""
        wrong = None
        if leaf is not None:
            try:
                wrong = value_problem(spec, element(page, path), text)
            except KeyError:  # an element the spec does not define: the reason says so
                wrong = None
        found.append(f"<{path}> {text!r} {wrong}" if wrong else f"{error.reason} at {error.path}")
    return list(dict.fromkeys(found))  # a value breaking its pattern and its length is one finding


def _validates(page: Page, ctx: CheckContext) -> None:
    ex = ctx.call(page, baseline(ctx, page), note="a correct request; its answer is validated")
    ctx.envelope(ex)
    ctx.ok(ex, f"{page.page} (the answer to validate)")
    found = answer_problems(ctx.spec, ctx.profile, page, ex.body)
    ctx.expect(not found, f"{page.page}: the answer does not validate against its XSD (generated from the spec): "
               + "; ".join(found[:SHOWN]) + (f"; and {len(found) - SHOWN} more" if len(found) > SHOWN else ""))


def _known_retcode(page: Page, ctx: CheckContext) -> None:
    ex = ctx.call(page, {}, note="a request without the page's own parameters")
    ctx.envelope(ex)
    known = {r.code for r in page.retcodes} | {"-1"}
    ctx.expect(ex.retcode in known, f"{page.page}: retcode {ex.retcode} is not one the manual lists for the page")


@derive
def schema_checks(spec: Spec) -> Iterable[Check]:
    for page in spec.request_pages:
        yield Check(f"schema.valid.{page.stem}", "schema", f"{page.section} {page.page} 返回值",
                    f"{page.page}'s answer validates against the XSD generated from the spec: its elements, "
                    "and each value in its format, listed values and length", "major",
                    partial(_validates, page), page=page.page)
        yield Check(f"schema.retcode.{page.stem}", "schema", f"{page.section} {page.page} retcode取值",
                    f"{page.page} refuses with a retcode the manual lists for it", "minor",
                    partial(_known_retcode, page), page=page.page)
