"""`ybx-conform run | report DIR`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from spec.loader import SpecInvalid, load_spec
from spec.protocol import Credentials

from . import callback_pages
from .certify import add_commands as add_certify_commands
from .drivers import DriverError, make_driver
from .registry import CATEGORIES, all_checks
from .runner import RunConfig, load_expected_failures, print_progress, run, write_results


def _run(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(extra_profiles=[args.profile_file] if args.profile_file else None)
        profile = spec.profile(args.profile)
        driver = make_driver(args.driver, args.admin_url, args.admin_token)
        only = tuple(c.strip() for c in args.only.split(",")) if args.only else ()
        unknown = set(only) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories: {', '.join(sorted(unknown))}; known: {', '.join(CATEGORIES)}")
        expected = load_expected_failures(args.expected_failures)
    except (SpecInvalid, KeyError, ValueError, DriverError, OSError) as exc:
        print(f"ybx-conform: {exc}", file=sys.stderr)
        return 2
    try:
        httpx.get(args.target, timeout=5)
    except httpx.HTTPError as exc:
        print(f"ybx-conform: cannot reach {args.target}: {exc}", file=sys.stderr)
        return 2
    other = Credentials(args.other_user, args.other_password, args.other_key) if args.other_user else None
    config = RunConfig(args.target, Credentials(args.user, args.password, args.key, args.pay_password), spec, profile,
                       driver, other, only, expected, args.workers)
    doc = run(config, all_checks(spec), print_progress)
    out = write_results(doc, args.report)
    from reports.conformance import write_report, write_junit

    page = write_report(doc, args.report)
    if args.junit:
        write_junit(doc, args.junit)
    s = doc["summary"]
    print(f"{s['passed']} passed, {s['failed']} failed, {s['warning']} warnings, {s['not_run']} not run, "
          f"{s['not_applicable']} not applicable (score {s['score']:.1%}, index {s['index']:.1%})")
    print(f"report: {page.resolve()}\nresults: {out.resolve()}")
    return 1 if s["failed"] else 0


def _report(args: argparse.Namespace) -> int:
    from reports.conformance import write_report, write_junit

    path = args.dir / "results.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"ybx-conform: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    print(write_report(doc, args.dir).resolve())
    if args.junit:
        write_junit(doc, args.junit)
    return 0


def _index(args: argparse.Namespace) -> int:
    """OUT/index.html linking the reports of several runs (each RUN_DIR holds results.json and index.html)."""
    import os

    from reports.conformance import write_index

    runs = []
    for run_dir in args.runs:
        try:
            doc = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"ybx-conform: cannot read {run_dir / 'results.json'}: {exc}", file=sys.stderr)
            return 2
        href = os.path.relpath(run_dir / "index.html", args.out).replace(os.sep, "/")
        runs.append((run_dir.name, href, doc))
    print(write_index(runs, args.out).resolve())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ybx-conform", description="Check an implementation of the YBX interface.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the conformance checks against a target")
    r.add_argument("--target", required=True, help="base URL, e.g. http://127.0.0.1:8765")
    r.add_argument("--user", required=True)
    r.add_argument("--password", required=True)
    r.add_argument("--key", required=True)
    r.add_argument("--pay-password", default=None)
    r.add_argument("--other-user", default=None, help="a second agent, for isolation checks")
    r.add_argument("--other-password", default=None)
    r.add_argument("--other-key", default=None)
    r.add_argument("--profile", default="default")
    r.add_argument("--profile-file", type=Path, default=None)
    r.add_argument("--driver", choices=("admin", "manual", "none"), default="none")
    r.add_argument("--admin-url", default=None)
    r.add_argument("--admin-token", default=None)
    r.add_argument("--only", default="", help=f"comma-separated categories: {','.join(CATEGORIES)}")
    r.add_argument("--expected-failures", type=Path, default=None)
    r.add_argument("--report", type=Path, default=Path("ybx-report"))
    r.add_argument("--junit", type=Path, default=None)
    r.add_argument("--workers", type=int, default=4)
    rep = sub.add_parser("report", help="re-render DIR/index.html from DIR/results.json")
    rep.add_argument("dir", type=Path)
    rep.add_argument("--junit", type=Path, default=None)
    idx = sub.add_parser("index", help="OUT/index.html linking the reports of several runs")
    idx.add_argument("out", type=Path)
    idx.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    idx.set_defaults(handler=_index)
    add_certify_commands(sub)
    callback_pages.add_parser(sub)
    args = parser.parse_args(argv)
    if hasattr(args, "handler"):
        return int(args.handler(args))
    return _run(args) if args.cmd == "run" else _report(args)


if __name__ == "__main__":
    raise SystemExit(main())
