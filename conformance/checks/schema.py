"""Schema checks: every answer validates against the XSD generated from the spec and carries a
retcode the page lists."""

from __future__ import annotations

from functools import partial
from typing import Iterable

import xmlschema

from spec.model import Page, Spec
from spec.xsd import page_xsd

from ..baseline import baseline
from ..context import CheckContext
from ..registry import Check, derive


def _validates(page: Page, ctx: CheckContext) -> None:
    ex = ctx.call(page, baseline(ctx, page), note="a correct request; its answer is validated")
    ctx.envelope(ex)
    ctx.ok(ex, f"{page.page} (the answer to validate)")
    schema = xmlschema.XMLSchema(page_xsd(page, ctx.profile, ctx.spec))
    errors = list(schema.iter_errors(ex.body.decode("utf-8", "replace")))
    ctx.expect(not errors, f"{page.page}: the answer does not validate against its XSD: "
               f"{errors[0].reason if errors else ''} at {errors[0].path if errors else ''}")


def _known_retcode(page: Page, ctx: CheckContext) -> None:
    ex = ctx.call(page, {}, note="a request without the page's own parameters")
    ctx.envelope(ex)
    known = {r.code for r in page.retcodes} | {"-1"}
    ctx.expect(ex.retcode in known, f"{page.page}: retcode {ex.retcode} is not one the manual lists for the page")


@derive
def schema_checks(spec: Spec) -> Iterable[Check]:
    for page in spec.request_pages:
        yield Check(f"schema.valid.{page.stem}", "schema", f"{page.section} {page.page} 返回值",
                    f"{page.page}'s answer validates against the XSD generated from the spec", "major",
                    partial(_validates, page), page=page.page)
        yield Check(f"schema.retcode.{page.stem}", "schema", f"{page.section} {page.page} retcode取值",
                    f"{page.page} refuses with a retcode the manual lists for it", "minor",
                    partial(_known_retcode, page), page=page.page)
