"""`python -m spec check | dump | openapi | xsd DIR | samples SEEDS_DIR | citations SEEDS_DIR`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import loader


def _load(args: argparse.Namespace):
    try:
        return loader.load_spec(args.root, args.profile_file)
    except loader.SpecInvalid as exc:
        print("the spec is invalid; run `python -m spec check`:", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        raise SystemExit(1) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spec", description="The YBX interface spec.")
    parser.add_argument("--root", type=Path, default=None, help="spec data folder (default: the packaged one)")
    parser.add_argument("--profile-file", type=Path, action="append", default=None, help="an extra profile YAML")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="validate the YAML and every cross-reference; exit 1 listing problems")
    sub.add_parser("dump", help="print the whole spec as JSON")
    op = sub.add_parser("openapi", help="print the OpenAPI 3.1 document")
    op.add_argument("--profile", default="default")
    xs = sub.add_parser("xsd", help="write one XSD per response into DIR")
    xs.add_argument("dir", type=Path)
    xs.add_argument("--profile", default="default")
    xs.add_argument("--structure-only", action="store_true", help="all leaves xs:string (for the manual's samples)")
    sa = sub.add_parser("samples", help="extract the manual's return-XML samples into spec/data/samples")
    sa.add_argument("seeds", type=Path)
    ci = sub.add_parser("citations", help="record the manual's lines the spec cites in spec/data/cited_lines.yaml")
    ci.add_argument("seeds", type=Path, help="the folder holding the manual (e.g. ../shared/seeds)")
    args = parser.parse_args(argv)

    if args.cmd == "check":
        problems = loader.check(args.root, args.profile_file)
        for p in problems:
            print(p)
        if problems:
            print(f"{len(problems)} problem(s)", file=sys.stderr)
            return 1
        spec = loader.load_spec(args.root, args.profile_file)
        print(f"ok: {len(spec.pages)} pages, {sum(len(p.params) for p in spec.pages)} parameters, "
              f"{sum(len(p.retcodes) for p in spec.pages)} retcodes, {len(spec.transitions)} transitions, "
              f"{len(spec.gaps)} gaps, {len(spec.profiles)} profiles")
        return 0
    spec = _load(args)
    if args.cmd == "dump":
        from .dump import dump

        json.dump(dump(spec), sys.stdout, ensure_ascii=False, indent=1)
        print()
    elif args.cmd == "openapi":
        from .openapi import generate

        json.dump(generate(spec, spec.profile(args.profile)), sys.stdout, ensure_ascii=False, indent=1)
        print()
    elif args.cmd == "xsd":
        from .xsd import write_all

        written = write_all(spec, args.dir, spec.profile(args.profile), typed=not args.structure_only)
        print(f"wrote {len(written)} XSD files to {args.dir}")
    elif args.cmd == "samples":
        from .samples import extract_all

        written = extract_all(spec, args.seeds)
        print(f"wrote {len(written)} samples")
    elif args.cmd == "citations":
        from .citations import extract, write

        excerpt = extract(spec, args.seeds)
        print(f"wrote {sum(map(len, excerpt.values()))} cited lines to {write(excerpt)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
