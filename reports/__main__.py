"""`python -m reports spec-reference DIR`: write the spec reference (HTML), the OpenAPI
document and one XSD per response into DIR."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spec.dump import dump
from spec.loader import load_spec
from spec.openapi import generate
from spec.xsd import write_all

from .spec_reference import write_reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports")
    sub = parser.add_subparsers(dest="cmd", required=True)
    ref = sub.add_parser("spec-reference", help="HTML reference of the spec, plus OpenAPI and XSDs")
    ref.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    spec = load_spec()
    out: Path = args.dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "openapi.json").write_text(json.dumps(generate(spec), ensure_ascii=False, indent=1), encoding="utf-8")
    xsds = write_all(spec, out / "xsd")
    page = write_reference(dump(spec), out)
    print(f"openapi: {out / 'openapi.json'}", file=sys.stderr)
    print(f"xsd: {len(xsds)} files in {out / 'xsd'}", file=sys.stderr)
    print(page.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
