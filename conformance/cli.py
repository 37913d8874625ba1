"""`ybx-conform run | report | index | certify-ota | verify-certificate | callback-pages`."""

from __future__ import annotations

import argparse
import json
import sys
from enum import IntEnum
from pathlib import Path

from spec.loader import SpecInvalid, load_spec
from spec.protocol import Credentials

from . import callback_pages, preflight
from .cliargs import positive_int
from .certify import add_commands as add_certify_commands
from .drivers import DriverError, make_driver
from .expected import ExpectedFailuresError, load_expected_failures
from .registry import CATEGORIES, all_checks
from .runner import RunConfig, print_progress, run, write_results
from .summary import summary_lines


class ExitCode(IntEnum):
    """`ybx-conform`'s exit statuses (README "Exit codes")."""

    PASSED = 0  # every check that ran passed (certify-ota: certified; verify-certificate: intact)
    FAILED = 1  # a check failed (certify-ota: not certified; verify-certificate: edited)
    USAGE = 2  # bad options or input, or the preflight stopped the run: nothing was judged


def _run(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(extra_profiles=[args.profile_file] if args.profile_file else None)
        profile = spec.profile(args.profile)
        driver = make_driver(args.driver, args.admin_url, args.admin_token)
        only = tuple(c.strip() for c in args.only.split(",")) if args.only else ()
        unknown = set(only) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories: {', '.join(sorted(unknown))}; known: {', '.join(CATEGORIES)}")
        others = {"--other-user": args.other_user, "--other-password": args.other_password,
                  "--other-key": args.other_key}
        if any(others.values()) and not all(others.values()):
            raise ValueError(f"the second agent needs all of {', '.join(others)}; missing: "
                             f"{', '.join(flag for flag, value in others.items() if not value)}")
        checks = all_checks(spec)
        expected = load_expected_failures(args.expected_failures, (c.id for c in checks))
        preflight.probe_page(spec, profile)
    except ExpectedFailuresError as exc:
        print("\n".join(f"ybx-conform: {line}" for line in exc.problems), file=sys.stderr)
        return ExitCode.USAGE
    except (SpecInvalid, KeyError, ValueError, DriverError, OSError) as exc:
        print(f"ybx-conform: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    creds = Credentials(args.user, args.password, args.key, args.pay_password)
    other = Credentials(args.other_user, args.other_password, args.other_key) if args.other_user else None
    problems = preflight.same_agent(creds, other)
    if not problems:
        problems = preflight.check_agent(args.target, creds, spec, profile)
    if other is not None and not problems:
        problems = preflight.check_agent(args.target, other, spec, profile, preflight.OTHER_FLAGS)
    problems += preflight.driver_problems(driver)
    if not problems:
        problems = preflight.driver_manages(driver, args.target, creds, spec, profile)
    if problems:
        return preflight.stop(problems)
    config = RunConfig(args.target, creds, spec, profile, driver, other, only, expected, args.workers)
    doc = run(config, checks, print_progress)
    out = write_results(doc, args.report)
    from reports.conformance import write_report, write_junit

    page = write_report(doc, args.report)
    if args.junit:
        write_junit(doc, args.junit)
    print("\n".join(summary_lines(doc)))
    print(f"report: {page.resolve()}\nresults: {out.resolve()}")
    return ExitCode.FAILED if doc["summary"]["failed"] else ExitCode.PASSED


def _report(args: argparse.Namespace) -> int:
    from reports.conformance import write_report, write_junit

    path = args.dir / "results.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"ybx-conform: cannot read {path}: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    print(write_report(doc, args.dir).resolve())
    if args.junit:
        write_junit(doc, args.junit)
    return ExitCode.PASSED


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
            return ExitCode.USAGE
        href = os.path.relpath(run_dir / "index.html", args.out).replace(os.sep, "/")
        runs.append((run_dir.name, href, doc))
    print(write_index(runs, args.out).resolve())
    return ExitCode.PASSED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ybx-conform", description="Check an implementation of the YBX interface.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the conformance checks against a target")
    r.add_argument("--target", required=True,
                   help="the supplier's interface address, e.g. http://127.0.0.1:8765 (…/theater for the mock's theater)")
    r.add_argument("--user", required=True, help="the agent's user name, e.g. demo-ota")
    r.add_argument("--password", required=True, help="the agent's login password (sent as rule c says)")
    r.add_argument("--key", required=True, help="the agent's KEY (signs requests, encrypts fields)")
    r.add_argument("--pay-password", default=None, help="the agent's pay password, for the pages that pay with it")
    r.add_argument("--other-user", default=None, help="a second agent, for isolation checks")
    r.add_argument("--other-password", default=None, help="the second agent's login password")
    r.add_argument("--other-key", default=None, help="the second agent's KEY")
    r.add_argument("--profile", default="default", help="the protocol profile the target follows (default: default)")
    r.add_argument("--profile-file", type=Path, default=None, metavar="FILE",
                   help="a profile YAML of your own, usable by its name with --profile")
    r.add_argument("--driver", choices=("admin", "manual", "none"), default="none",
                   help="how supplier-side events and the clock are made to happen: admin (the mock's admin API), "
                        "manual (you, when asked), none (those checks are reported not run; the default)")
    r.add_argument("--admin-url", default=None, help="the mock's admin API for --driver admin, e.g. "
                   "http://127.0.0.1:8765/_admin")
    r.add_argument("--admin-token", default=None, help="the admin API's X-Admin-Token, for --driver admin")
    r.add_argument("--only", default="", help=f"comma-separated categories: {','.join(CATEGORIES)} (default: all)")
    r.add_argument("--expected-failures", type=Path, default=None, metavar="FILE",
                   help="YAML of known deviations (check-id: reason): their failures become warnings")
    r.add_argument("--report", type=Path, default=Path("ybx-report"), metavar="DIR",
                   help="where results.json and index.html go (default: ybx-report)")
    r.add_argument("--junit", type=Path, default=None, metavar="FILE", help="also write JUnit XML here (for CI)")
    r.add_argument("--workers", type=positive_int, default=4, help="checks run at once, at least 1 (default: 4)")
    rep = sub.add_parser("report", help="re-render DIR/index.html from DIR/results.json")
    rep.add_argument("dir", type=Path, help="a report folder holding results.json")
    rep.add_argument("--junit", type=Path, default=None, metavar="FILE", help="also write JUnit XML here")
    idx = sub.add_parser("index", help="OUT/index.html linking the reports of several runs")
    idx.add_argument("out", type=Path, help="the folder to write index.html to")
    idx.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="report folders, each with results.json")
    idx.set_defaults(handler=_index)
    add_certify_commands(sub)
    callback_pages.add_parser(sub)
    args = parser.parse_args(argv)
    if hasattr(args, "handler"):
        return int(args.handler(args))
    return int(_run(args) if args.cmd == "run" else _report(args))


if __name__ == "__main__":
    raise SystemExit(main())
