"""`ybx-mock serve | check-world | wait | faults | events`."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from . import faults as fault_registry

DEFAULT_PORT = 8765


class ExitCode(IntEnum):
    """`ybx-mock`'s exit statuses (README "Exit codes")."""

    OK = 0
    NOT_READY = 1  # `wait`: no mock answered in time
    USAGE = 2  # bad options or input: a bad world, port, database or fault; nothing was served


def _port(text: str) -> int:
    """--port: a TCP port a server can listen on."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def _at_least_one(text: str) -> int:
    """--workers: a whole number of at least 1 (0 would serve nothing)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: at least 1")
    return n


def _seconds(text: str) -> float:
    """--timeout: a finite number of seconds, not negative."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text}: a number of seconds, 0 or more")
    return value


def _db_problem(db: str) -> str:
    """Why `db` cannot hold the mock's state, or "" (then it is a SQLite database, made if it was
    missing, with the mock's tables): asked before the banner, which would read like a running mock."""
    import sqlite3

    from .handlers import load_all
    from .store import Store

    if db == ":memory:":
        return ""
    path = Path(db)
    if path.is_dir():
        return f"--db {db} is a folder; give a file in it, e.g. --db {path / 'ybx-mock.db'}"
    if not path.parent.is_dir():
        return f"--db {db}: the folder {path.parent} does not exist"
    load_all()  # the handlers' own tables, as a worker makes them
    try:
        Store(db).close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            return f"--db {db} is not a SQLite database (another kind of file?); give a new file or the mock's database"
        return f"--db {db} cannot be used as the mock's database: {exc}"
    except OSError as exc:
        return f"--db {db} cannot be used as the mock's database: {exc.strerror or exc}"
    return ""


def _port_taken(host: str, port: int) -> str:
    """Why `host:port` cannot be listened on, or "" (checked with the same SO_REUSEADDR uvicorn sets)."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            said = exc.strerror or str(exc)
            if exc.errno == errno.EADDRINUSE:
                return f"{said} (another mock, or another server? choose another --port)"
            if exc.errno == errno.EACCES:
                return f"{said} (ports below 1024 need privileges; choose another --port)"
            return f"{said} (is --host {host} an address of this machine?)"
    return ""


def _checked_worlds(paths: list[tuple[Path | None, str | None]], profile_name: str) -> tuple[list[Any], Any] | None:
    """Each world checked against the spec (mode: the one it must have); problems go to stderr, one
    line each. Returns the worlds and the profile, or None when any file has a problem."""
    from spec.loader import load_spec

    from .world import check_world

    spec = load_spec()
    profile = spec.profile(profile_name)
    worlds, bad = [], False
    for path, mode in paths:
        world, problems = check_world(path, spec=spec, profile=profile, mode=mode)
        for p in problems:
            print(p, file=sys.stderr)
        bad = bad or bool(problems)
        worlds.append(world)
    return None if bad else (worlds, profile)


def _clock_arg(value: str, tz_name: str) -> datetime:
    """--clock: ISO 8601 (without an offset, the supplier's time zone), within the admin API's range."""
    from .admin import CLOCK_YEARS

    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--clock {value!r} is not an ISO 8601 date-time (2028-02-29T10:00:00+08:00)") from None
    when = when if when.tzinfo else when.replace(tzinfo=ZoneInfo(tz_name))
    try:
        year = when.astimezone(ZoneInfo(tz_name)).year
    except OverflowError:
        year = 0
    if not CLOCK_YEARS[0] <= year <= CLOCK_YEARS[1]:
        raise ValueError(f"--clock {value}: the clock runs within the years {CLOCK_YEARS[0]} to {CLOCK_YEARS[1]}")
    return when


def _said(exc: Exception) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .server import DEFAULT_THEATER_WORLD, Settings, clock_on_seeded, theater_db

    theater_world = None if args.no_theater else (args.theater_world or DEFAULT_THEATER_WORLD)
    try:
        fault_registry.validate(args.fault)
        checked = _checked_worlds([(args.world, None), *([(theater_world, "theater")] if theater_world else [])],
                                  args.profile)
        if checked is None:
            return ExitCode.USAGE
        (world, *rest), profile = checked
        theater = rest[0] if rest else None
        clock = _clock_arg(args.clock, profile.fee_bands.timezone) if args.clock else None
    except (fault_registry.UnknownFault, KeyError, ValueError) as exc:
        print(f"ybx-mock: {_said(exc)}", file=sys.stderr)
        return ExitCode.USAGE
    settings = {"db": args.db, "world": str(args.world) if args.world else None, "faults": args.fault,
                "admin_token": args.admin_token, "profile": args.profile,
                "theater_world": str(theater_world) if theater_world else None, "certify": args.certify, "memo": not args.no_memo,
                "clock": clock.isoformat() if clock else None, "quiet": args.quiet, "log_format": args.log_format}
    os.environ["YBX_MOCK_SETTINGS"] = json.dumps(settings)
    problem = _port_taken(args.host, args.port)
    if problem:  # say so before the banner: a banner followed by a bind error reads like a running mock
        print(f"ybx-mock: cannot listen on {args.host}:{args.port}: {problem}", file=sys.stderr)
        return ExitCode.USAGE
    for db in dict.fromkeys([args.db, *([theater_db(args.db)] if theater is not None else [])]):
        problem = _db_problem(db)
        if problem:
            print(f"ybx-mock: {problem}", file=sys.stderr)
            return ExitCode.USAGE
    base = f"http://{args.host}:{args.port}"
    demo = world.agents[0]
    print(f"YBX mock supplier ({world.supplier.mode}, {world.supplier.providername}) at {base}/", flush=True)
    print(f"  GET  {base}/{{Page}}.aspx    POST {base}/POST/{{Page}}.aspx", flush=True)
    print(f"  demo agent: user={demo.user} password={demo.password} KEY={demo.key} pay password={demo.pay_password}",
          flush=True)
    print(f"  admin API:  {base}/_admin/  (header X-Admin-Token: {args.admin_token})", flush=True)
    print(f"  home page:  {base}/   request log: "
          f"{'off (--quiet)' if args.quiet else f'one line per request on stderr ({args.log_format})'}", flush=True)
    print(f"  database:   {args.db}   faults: {', '.join(args.fault) or 'none'}", flush=True)
    moved = clock_on_seeded(Settings(db=args.db, clock=clock), ZoneInfo(profile.fee_bands.timezone))
    if moved:
        print(f"  {moved}", flush=True)
    if args.certify:
        print(f"  certification mode: every request is judged; journal at {base}/_admin/journal", flush=True)
    if theater is not None:
        print(f"  theater supplier ({theater.supplier.providername}): GET {base}/theater/{{Page}}.aspx    "
              f"POST {base}/theater/POST/{{Page}}.aspx    admin {base}/theater/_admin/    "
              f"database {theater_db(args.db)}", flush=True)
    uvicorn.run("mockserver.asgi:app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, access_log=False, date_header=False)  # Date: the mock's clock (app.py)
    return ExitCode.OK


def _wait(args: argparse.Namespace) -> int:
    """Wait until a mock answers its admin API (for scripts that start one in the background)."""
    import time

    import httpx

    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(args.url.rstrip("/") + "/_admin", headers={"X-Admin-Token": args.admin_token},
                         timeout=1).status_code == 200:
                return 0
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    print(f"ybx-mock: no mock answered at {args.url} within {args.timeout:g} s", file=sys.stderr)
    return ExitCode.NOT_READY


def _faults(args: argparse.Namespace) -> int:
    width = max(len(f.name) for f in fault_registry.FAULTS)
    for f in fault_registry.FAULTS:
        print(f"{f.name:<{width}}  {f.description}  [{f.breaks}]")
    return 0


def _events(args: argparse.Namespace) -> int:
    from .events import EVENTS
    from .handlers import load_all

    load_all()
    for e in EVENTS.values():
        print(f"{e.name:<16} {e.params:<40} {e.description}")
    return 0


def _check_world(args: argparse.Namespace) -> int:
    """Check world files without serving: each file's problems on stderr, one line each, or its "ok" line
    on stdout; exit 2 when any file has a problem."""
    from spec.loader import load_spec

    from .world import SHIPPED_WORLDS, check_world

    spec = load_spec()
    try:
        profile = spec.profile(args.profile)
    except KeyError as exc:
        print(f"ybx-mock: {_said(exc)}", file=sys.stderr)
        return ExitCode.USAGE
    bad = False
    for path in args.files or list(SHIPPED_WORLDS):
        world, problems = check_world(path, spec=spec, profile=profile)
        for p in problems:
            print(p, file=sys.stderr)
        if world is None:
            bad = True
            continue
        relative = " (dates relative to the seed day)" if world.relative else ""
        print(f"{path}: ok: {world.supplier.mode}, {len(world.products)} products, {len(world.agents)} agents{relative}",
              flush=True)
    return ExitCode.USAGE if bad else ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ybx-mock", description="The YBX mock supplier.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the mock supplier")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    serve.add_argument("--db", default="ybx-mock.db", help="SQLite file (default ./ybx-mock.db; ':memory:' for a throwaway run)")
    serve.add_argument("--world", type=Path, default=None, help="world YAML (default: the shipped scenic world)")
    serve.add_argument("--theater-world", type=Path, default=None, metavar="FILE",
                       help="theater world YAML served under /theater/ (default: the shipped theater world)")
    serve.add_argument("--no-theater", action="store_true", help="serve no theater supplier")
    serve.add_argument("--clock", metavar="ISO", default=None,
                       help="a new database is seeded with the clock at this instant (2028-02-29T10:00:00+08:00; no "
                            "offset: Asia/Shanghai), the world's relative dates counting from its day; on a database "
                            "already seeded, the clock is moved there and the world's days stay as seeded")
    serve.add_argument("--certify", action="store_true",
                       help="certification mode: judge every request and keep the journal at /_admin/journal")
    serve.add_argument("--no-memo", action="store_true",
                       help="answer every read afresh, never from the answer memo (to measure or debug lookups)")
    serve.add_argument("--admin-token", default="demo-admin",
                       help="the X-Admin-Token every admin API call must carry (default demo-admin)")
    serve.add_argument("--fault", action="append", default=[], metavar="NAME", help="break one rule (see `ybx-mock faults`)")
    serve.add_argument("--workers", type=_at_least_one, default=1,
                       help="uvicorn worker processes sharing the database (default 1)")
    serve.add_argument("--profile", default="default", help="the protocol profile the mock follows (default: default)")
    serve.add_argument("--log-level", default="warning",
                       help="uvicorn's own log level (default warning); the request lines are --quiet's")
    serve.add_argument("--quiet", action="store_true", help="no log line per request")
    serve.add_argument("--log-format", choices=("text", "json"), default="text",
                       help="one log line per request on stderr as text (default) or one JSON object")
    wait = sub.add_parser("wait", help="wait until a mock answers (for scripts)")
    wait.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}",
                      help=f"the mock's base URL (default http://127.0.0.1:{DEFAULT_PORT})")
    wait.add_argument("--admin-token", default="demo-admin", help="the mock's admin token (default demo-admin)")
    wait.add_argument("--timeout", type=_seconds, default=20, help="seconds to wait before giving up (default 20)")
    check = sub.add_parser("check-world", help="check world files as serve would, without serving (exit 2 on a problem)")
    check.add_argument("files", nargs="*", type=Path, metavar="FILE",
                       help="world YAML files (default: the shipped worlds, mockserver/worlds/*.yaml)")
    check.add_argument("--profile", default="default",
                       help="the spec profile whose codes the worlds are checked against (default: default)")
    sub.add_parser("faults", help="list the fault switches")
    sub.add_parser("events", help="list the supplier-side events of the admin API")
    args = parser.parse_args(argv)
    if args.cmd == "serve" and args.db == ":memory:" and args.workers > 1:
        parser.error("--db :memory: cannot be shared by several workers")
    return int({"serve": _serve, "wait": _wait, "faults": _faults, "events": _events,
                "check-world": _check_world}[args.cmd](args))


if __name__ == "__main__":
    raise SystemExit(main())
