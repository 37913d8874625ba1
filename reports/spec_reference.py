"""The spec as a browsable, self-contained HTML reference (the English-annotated manual)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .render import environment


def write_reference(spec_dump: dict[str, Any], out_dir: Path) -> Path:
    """Write `out_dir/spec.html` from the output of `spec.dump.dump` (plain data)."""
    path = out_dir / "spec.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reference_html(spec_dump), encoding="utf-8")
    return path


def reference_html(spec_dump: dict[str, Any]) -> str:
    """The reference page itself (the mock serves it too)."""
    interfaces = spec_dump["interfaces"]
    counts = {
        "pages": len(interfaces),
        "params": sum(len(i["params"]) for i in interfaces),
        "retcodes": sum(len(i["retcodes"]) for i in interfaces),
        "transitions": len(spec_dump["transitions"]),
        "gaps": len(spec_dump["gaps"]),
        "profiles": len(spec_dump["profiles"]),
    }
    by_direction: dict[str, list] = {}
    for i in interfaces:
        by_direction.setdefault(i["direction"], []).append(i)
    return environment().get_template("spec.html.j2").render(
        spec=spec_dump, counts=counts, by_direction=by_direction,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
