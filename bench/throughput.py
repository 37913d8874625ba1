"""Throughput and latency of the four targets (issue 7): (a) bare Starlette on uvicorn with a fixed
1 KB XML body, (b) WireMock (npm package `wiremock`, its bundled jar on Java) serving the same
stub, (c) the mock answering a signed QueryOrder for an existing order, (d) the mock taking a
signed OrderProducts (a write; no senderid, so every request creates an order).

Every target is served on 127.0.0.1 on a free port, pinned to core 1 while the load generator runs
on core 0 (see common.py), and measured with the same `load.measure` settings."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import httpx

from bench import load
from bench.bare_app import BODY
from bench.common import (ADMIN_TOKEN, ROOT, Server, ALTSITE, CACHE, SERVER_CORE, bench_world, booking_values, free_port, mock_env, retcode,
                          server, signed_url)

PY = sys.executable
WIREMOCK_DIR = CACHE / "wiremock"


@dataclass(frozen=True)
class Variant:
    """How a Python target is served."""

    name: str
    server: str = "uvicorn"  # uvicorn | granian
    loop: str = "asyncio"
    http: str = "h11"
    workers: int = 1

    @property
    def needs_altsite(self) -> bool:
        return self.server == "granian"  # not a dependency: installed into bench/.cache/altsite to compare

    @property
    def core(self) -> str | None:
        # several workers get both cores (the load generator then shares one with them)
        return SERVER_CORE if self.workers == 1 else None


# What `ybx-mock serve` runs: uvicorn picks uvloop and httptools, dependencies of the project.
BASELINE = Variant("uvicorn, uvloop + httptools (as shipped)", loop="uvloop", http="httptools")
VARIANTS = (
    Variant("uvicorn, asyncio + h11 (without uvloop/httptools)"),
    Variant("uvicorn --workers 2, uvloop + httptools", loop="uvloop", http="httptools", workers=2),
    Variant("granian 1 worker (Rust HTTP, uvloop)", server="granian", loop="uvloop"),
)


@dataclass
class Target:
    key: str
    label: str
    variant: str
    result: load.Measurement | None = None
    note: str = ""
    body_bytes: int = 0


@dataclass
class Throughput:
    targets: list[Target] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, variant: str = BASELINE.name) -> Target | None:
        return next((t for t in self.targets if t.key == key and t.variant == variant), None)


def _argv(app: str, port: int, v: Variant, factory: bool) -> list[str]:
    if v.server == "granian":
        argv = [PY, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(v.workers), "--loop", v.loop, "--log-level", "warning", "--no-access-log", app]
        return argv + (["--factory"] if factory else [])
    argv = [PY, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--no-access-log", "--loop", v.loop, "--http", v.http, "--workers", str(v.workers)]
    return argv + (["--factory"] if factory else [])


def _env(v: Variant) -> dict[str, str]:
    if not v.needs_altsite:
        return {}
    return {"PYTHONPATH": str(ALTSITE)}


@contextmanager
def bare(v: Variant, log: Path) -> Iterator[Server]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with server("bare", _argv("bench.bare_app:app", port, v, False), f"{base}/Ping.aspx", base, env=_env(v),
                core=v.core, log=log) as s:
        yield s


@contextmanager
def mock(v: Variant, db: Path, log: Path, tree: Path | None = None, memo: bool = True) -> Iterator[Server]:
    """The mock served from this checkout (or from `tree`, a copy to compare against); `memo=False`
    serves it as `ybx-mock serve --no-memo`."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**mock_env(str(db), bench_world(), memo), **_env(v)}
    with server("mock", _argv("mockserver.asgi:app", port, v, True), f"{base}/_admin", base, env=env, core=v.core,
                ready_headers={"X-Admin-Token": ADMIN_TOKEN}, log=log, cwd=tree or ROOT) as s:
        yield s


def wiremock_jar() -> Path | None:
    """The jar of the npm package `wiremock`, installed into bench/.cache/wiremock on first use."""
    jars = sorted(WIREMOCK_DIR.glob("node_modules/wiremock/build/*.jar"))
    if jars:
        return jars[-1]
    if not shutil.which("npm"):
        return None
    WIREMOCK_DIR.mkdir(parents=True, exist_ok=True)
    if not (WIREMOCK_DIR / "package.json").exists():
        (WIREMOCK_DIR / "package.json").write_text('{"name": "ybx-bench-wiremock", "private": true}\n')
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "wiremock@3"], cwd=WIREMOCK_DIR,
                   capture_output=True, timeout=600)
    jars = sorted(WIREMOCK_DIR.glob("node_modules/wiremock/build/*.jar"))
    return jars[-1] if jars else None


def wiremock_version(jar: Path) -> str:
    try:
        return json.loads((jar.parent.parent / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return jar.stem


@contextmanager
def wiremock(jar: Path, root: Path, log: Path) -> Iterator[Server]:
    (root / "mappings").mkdir(parents=True, exist_ok=True)
    (root / "__files").mkdir(exist_ok=True)
    stub = {"request": {"method": "GET", "urlPathPattern": "/.*"},
            "response": {"status": 200, "body": BODY.decode(), "headers": {"Content-Type": "text/xml; charset=utf-8"}}}
    (root / "mappings" / "stub.json").write_text(json.dumps(stub))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = ["java", "-jar", str(jar), "--port", str(port), "--bind-address", "127.0.0.1", "--root-dir", str(root),
            "--disable-banner", "--no-request-journal", "--disable-request-logging"]
    with server("wiremock", argv, f"{base}/__admin/mappings", base, log=log) as s:
        yield s


def _tomorrow() -> str:
    return (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).strftime("%Y%m%d")


def _book(base: str) -> str:
    body = httpx.get(signed_url(base, "OrderProducts.aspx", booking_values(_tomorrow())), timeout=10).content
    if retcode(body) != "0":
        raise RuntimeError(f"the mock refused the benchmark booking: {body[:300]!r}")
    return body.split(b"<orderid>")[1].split(b"</orderid>")[0].decode()


def _orders(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]


def _measure(urls: list[str], cfg: dict, srv: Server, warmup_factor: float = 1) -> load.Measurement:
    return load.measure(urls, connections=cfg["connections"], seconds=cfg["seconds"],
                        warmup=cfg["warmup"] * warmup_factor, runs=cfg["runs"], cpu=srv.cpu_seconds)


def run(cfg: dict, variants: tuple[Variant, ...], log_dir: Path, wiremock_on: bool = True) -> Throughput:
    """Measure a, b, c, d under the baseline and each variant (b only once: it is not Python)."""
    out = Throughput(settings={"connections": str(cfg["connections"]), "seconds": str(cfg["seconds"]),
                               "warmup": str(cfg["warmup"]), "runs": str(cfg["runs"])})
    for v in (BASELINE, *variants):
        if v.needs_altsite and not (ALTSITE / "granian").is_dir():
            print(f"  [{v.name}] skipped: not installed in {ALTSITE}", flush=True)
            continue
        target = Target("a", "bare Starlette, fixed 1 KB XML", v.name, body_bytes=len(BODY))
        with bare(v, log_dir / "bare.log") as srv:
            target.result = _measure([f"{srv.base}/QueryOrder.aspx"], cfg, srv)
        out.targets.append(target)
        print(f"  [{v.name}] a: {target.result.rps:.0f} req/s", flush=True)
        if v is BASELINE and wiremock_on:
            out.targets.append(_wiremock(cfg, log_dir))
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            db = Path(tmp) / "mock.db"
            with mock(v, db, log_dir / "mock.log") as srv:
                base = srv.base
                query = signed_url(base, "QueryOrder.aspx", {"order_id": _book(base)})
                target = Target("c", "mock, signed QueryOrder", v.name)
                target.result = _measure([query], cfg, srv)
                body = httpx.get(query, timeout=10).content
                target.body_bytes = len(body)
                if retcode(body) != "0":
                    target.note = f"answer after the run is not retcode 0: {body[:200]!r}"
                out.targets.append(target)
                print(f"  [{v.name}] c: {target.result.rps:.0f} req/s", flush=True)
                before = _orders(db)
                book = signed_url(base, "OrderProducts.aspx", booking_values(_tomorrow()))
                target = Target("d", "mock, signed OrderProducts (write)", v.name)
                target.result = _measure([book], cfg, srv)
                created = _orders(db) - before
                body = httpx.get(book, timeout=10).content
                target.body_bytes = len(body)
                answered = target.result.requests + target.result.warmup_requests
                # wrk counts answers; a request still in flight when a run stops may be booked unanswered
                ok = answered <= created <= answered + 2 * cfg["connections"] * (cfg["runs"] + 1)
                target.note = (f"{created} orders booked for {answered} answered requests (warm-up included)"
                               + ("" if ok else " — **mismatch: not every answer booked an order**"))
                if retcode(body) != "0":
                    target.note += f"; answer after the run is not retcode 0: {body[:200]!r}"
                out.targets.append(target)
                print(f"  [{v.name}] d: {target.result.rps:.0f} req/s", flush=True)
    return out


def _wiremock(cfg: dict, log_dir: Path) -> Target:
    target = Target("b", "WireMock, same static 1 KB stub", BASELINE.name, body_bytes=len(BODY))
    if not shutil.which("java"):
        target.note = "not measured: no java on this machine"
        return target
    jar = wiremock_jar()
    if jar is None:
        target.note = "not measured: the npm package `wiremock` could not be installed (no npm or no registry)"
        return target
    target.label += f" (wiremock {wiremock_version(jar)}, {_java_version()})"
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        try:
            with wiremock(jar, Path(tmp), log_dir / "wiremock.log") as srv:
                # the JIT needs longer than CPython to settle: twice the warm-up
                target.result = _measure([f"{srv.base}/QueryOrder.aspx"], cfg, srv, warmup_factor=2)
        except RuntimeError as exc:
            target.note = f"not measured: {exc}"
            return target
    print(f"  b: {target.result.rps:.0f} req/s", flush=True)
    return target


def _java_version() -> str:
    out = subprocess.run(["java", "-version"], capture_output=True, text=True)
    first = (out.stderr or out.stdout).strip().splitlines()[0]
    return first.replace('"', "")
