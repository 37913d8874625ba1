"""Shared Jinja2 environment: self-contained HTML, autoescaped, no network needed to open."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape


def environment() -> Environment:
    env = Environment(loader=PackageLoader("reports", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["anchor"] = lambda s: "".join(c if c.isalnum() else "-" for c in str(s))
    return env


def write(path: Path, template: str, **context) -> Path:
    """Render `template` with `context` into `path` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(environment().get_template(template).render(**context), encoding="utf-8")
    return path
