"""The OTA certificate (`certificate.json`) as a printable HTML page carrying the SHA-256
fingerprint of the JSON's canonical form, and the check that neither file was edited since."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .render import environment

_META = re.compile(r'<meta name="ybx-certificate-sha256" content="([0-9a-f]{64})">')


def canonical(doc: Any) -> bytes:
    """The canonical form: sorted keys, no whitespace, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def fingerprint(doc: Any) -> str:
    return hashlib.sha256(canonical(doc)).hexdigest()


def render_certificate(doc: dict[str, Any]) -> str:
    """The HTML page, from the certificate document only (deterministic, so it can be re-checked)."""
    return environment().get_template("certificate.html.j2").render(doc=doc, fingerprint=fingerprint(doc))


def write_certificate(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path, str]:
    """Write `certificate.json` and `index.html`; return both paths and the fingerprint."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / "certificate.json"
    data.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    page = out_dir / "index.html"
    page.write_text(render_certificate(doc), encoding="utf-8")
    return data, page, fingerprint(doc)


def verify_certificate(out_dir: Path, expected: str | None = None) -> list[str]:
    """Problems found (none: intact). Recomputes the fingerprint of `certificate.json` and compares
    it with the one in `index.html` (and with `expected`, a fingerprint received separately), then
    re-renders the page to catch an edited `index.html`."""
    try:
        doc = json.loads((out_dir / "certificate.json").read_text(encoding="utf-8"))
        html = (out_dir / "index.html").read_text(encoding="utf-8")
    except (OSError, json.JSONDecodeError) as exc:
        return [f"cannot read the certificate in {out_dir}: {exc}"]
    actual = fingerprint(doc)
    problems = []
    found = _META.search(html)
    if found is None:
        problems.append("index.html carries no fingerprint")
    elif found.group(1) != actual:
        problems.append(f"certificate.json was changed after it was issued: index.html says {found.group(1)}, "
                        f"certificate.json hashes to {actual}")
    if expected and expected.lower() != actual:
        problems.append(f"certificate.json hashes to {actual}, not to the fingerprint given ({expected})")
    if not problems and html != render_certificate(doc):
        problems.append("index.html differs from the certificate it claims to show (edited after it was issued)")
    return problems
