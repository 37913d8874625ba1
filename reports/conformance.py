"""Render a conformance run (`results.json`) as one self-contained HTML file and as JUnit XML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .render import write

SPEC_REFERENCE = Path("spec") / "spec.html"
VERDICT_ORDER = {"failed": 0, "warning": 1, "not_run": 2, "passed": 3, "not_applicable": 4}


def write_report(doc: dict[str, Any], out_dir: Path) -> Path:
    """Write `out_dir/index.html` from the results document only; checks that do not apply to the
    target are listed apart, collapsed."""
    checks = sorted(doc["checks"], key=lambda c: (VERDICT_ORDER[c["verdict"]], c["category"], c["id"]))
    return write(out_dir / "index.html", "conformance.html.j2", doc=doc, summary=_summary(doc),
                 checks=[c for c in checks if c["verdict"] != "not_applicable"],
                 inapplicable=[c for c in checks if c["verdict"] == "not_applicable"])


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The summary with every verdict counted (results written before not_applicable existed lack it)."""
    s = dict(doc["summary"])
    s.setdefault("not_applicable", 0)
    s.setdefault("applicable", s["total"] - s["not_applicable"])
    s["by_category"] = {cat: {"not_applicable": 0, **counts} for cat, counts in s.get("by_category", {}).items()}
    return s


def write_index(runs: list[tuple[str, str, dict[str, Any]]], out_dir: Path,
                spec_reference: Path | None = None) -> Path:
    """Write `out_dir/index.html` linking several runs: (label, link relative to out_dir, results document),
    and the spec reference they were judged against: `spec_reference`, else `out_dir/spec/spec.html` when
    `python -m reports spec-reference out_dir/spec` wrote one there (as `make demo` does)."""
    rows = [{"label": label, "href": href, "doc": doc} for label, href, doc in runs]
    reference = spec_reference or out_dir / SPEC_REFERENCE
    spec_href = os.path.relpath(reference, out_dir).replace(os.sep, "/") if reference.is_file() else None
    return write(out_dir / "index.html", "conformance_index.html.j2", runs=rows, spec_href=spec_href)


def write_junit(doc: dict[str, Any], path: Path) -> Path:
    """JUnit XML: one testsuite per category, one testcase per check."""
    suites: dict[str, list[dict[str, Any]]] = {}
    for c in doc["checks"]:
        suites.setdefault(c["category"], []).append(c)
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f'<testsuites name="ybx-conform" tests="{len(doc["checks"])}" '
           f'failures="{doc["summary"]["failed"]}">']
    for category, items in suites.items():
        failures = sum(c["verdict"] == "failed" for c in items)
        skipped = sum(c["verdict"] in ("not_run", "warning", "not_applicable") for c in items)
        out.append(f'<testsuite name={quoteattr(category)} tests="{len(items)}" failures="{failures}" '
                   f'skipped="{skipped}">')
        for c in items:
            out.append(f'<testcase classname={quoteattr(category)} name={quoteattr(c["id"])} '
                       f'time="{c["duration_ms"] / 1000:.3f}">')
            if c["verdict"] == "failed":
                out.append(f'<failure message={quoteattr(c["message"][:500])}>{escape(c["claim"])} '
                           f'[{escape(c["clause"])}]</failure>')
            elif c["verdict"] in ("not_run", "warning"):
                out.append(f'<skipped message={quoteattr(c["message"][:500])}/>')
            elif c["verdict"] == "not_applicable":
                out.append(f'<skipped message={quoteattr(("not applicable: " + c["message"])[:500])}/>')
            out.append("</testcase>")
        out.append("</testsuite>")
    out.append("</testsuites>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")
    return path
