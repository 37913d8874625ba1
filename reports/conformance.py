"""Render a conformance run (`results.json`) as one self-contained HTML file and as JUnit XML."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .render import write

VERDICT_ORDER = {"failed": 0, "warning": 1, "not_run": 2, "passed": 3}


def write_report(doc: dict[str, Any], out_dir: Path) -> Path:
    """Write `out_dir/index.html` from the results document only."""
    checks = sorted(doc["checks"], key=lambda c: (VERDICT_ORDER[c["verdict"]], c["category"], c["id"]))
    return write(out_dir / "index.html", "conformance.html.j2", doc=doc, checks=checks)


def write_index(runs: list[tuple[str, str, dict[str, Any]]], out_dir: Path) -> Path:
    """Write `out_dir/index.html` linking several runs: (label, link relative to out_dir, results document)."""
    rows = [{"label": label, "href": href, "doc": doc} for label, href, doc in runs]
    return write(out_dir / "index.html", "conformance_index.html.j2", runs=rows)


def write_junit(doc: dict[str, Any], path: Path) -> Path:
    """JUnit XML: one testsuite per category, one testcase per check."""
    suites: dict[str, list[dict[str, Any]]] = {}
    for c in doc["checks"]:
        suites.setdefault(c["category"], []).append(c)
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f'<testsuites name="ybx-conform" tests="{len(doc["checks"])}" '
           f'failures="{doc["summary"]["failed"]}">']
    for category, items in suites.items():
        failures = sum(c["verdict"] == "failed" for c in items)
        skipped = sum(c["verdict"] in ("not_run", "warning") for c in items)
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
            out.append("</testcase>")
        out.append("</testsuite>")
    out.append("</testsuites>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")
    return path
