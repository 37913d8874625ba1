"""Shared pieces of the benchmarks: free ports, server processes pinned to a core, signed
request URLs for the mock, and the machine description that heads RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping, Sequence
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
BENCH = ROOT / "bench"
CACHE = BENCH / ".cache"
ALTSITE = CACHE / "altsite"  # granian, for its server variant only (see throughput.py)
ADMIN_TOKEN = "bench-admin"

from spec.protocol import Credentials  # noqa: E402

# The demo agent of the shipped world (as tests/mockkit.py has it).
DEMO = Credentials("demo-ota", "demo-pass", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "123456")

# Pinning: the load generator on core 0, the server under test on core 1 (when there are two).
CORES = os.cpu_count() or 1
LOAD_CORE = "0"
SERVER_CORE = "1" if CORES >= 2 else "0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(argv: Sequence[str], core: str | None) -> list[str]:
    """`argv` run under taskset on `core` (unchanged when taskset or the core is missing)."""
    if core is None or not shutil.which("taskset") or CORES < 2:
        return list(argv)
    return ["taskset", "-c", core, *argv]


@dataclass
class Server:
    name: str
    base: str
    proc: subprocess.Popen

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's whole process group (all workers)."""
        return group_cpu_seconds(self.proc.pid)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(pgid: int) -> float:
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid pgrp ... utime(12) stime(13)
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def wait_http(url: str, timeout: float = 60.0, headers: Mapping[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=dict(headers or {}), timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered at {url} within {timeout} s")


@contextmanager
def server(name: str, argv: Sequence[str], ready_url: str, base: str, *, env: Mapping[str, str] | None = None,
           core: str | None = SERVER_CORE, ready_headers: Mapping[str, str] | None = None,
           log: Path | None = None, cwd: Path = ROOT) -> Iterator[Server]:
    """Start a server process (its own process group), wait until it answers, stop it afterwards."""
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(pinned(argv, core), env={**os.environ, **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
    try:
        wait_http(ready_url, headers=ready_headers)
        yield Server(name, base, proc)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)
        if log:
            out.close()


def bench_world() -> Path:
    """The shipped scenic world with room in every time slot, so that the write benchmark (d)
    measures booking, not the slots filling up (1100 visitors a day in the shipped world)."""
    import yaml

    world = yaml.safe_load((ROOT / "mockserver" / "worlds" / "scenic.yaml").read_text(encoding="utf-8"))
    for seg in world.get("time_segments", []):
        seg["total"] = seg["capacity"] = 10**9
    path = CACHE / "bench-world.yaml"
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(world, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def mock_env(db: str, world: Path | None = None, memo: bool = True) -> dict[str, str]:
    """Environment for `uvicorn mockserver.asgi:app --factory` (settings as `ybx-mock serve` passes them;
    `memo=False` as `--no-memo`)."""
    return {"YBX_MOCK_SETTINGS": json.dumps({"db": db, "world": str(world) if world else None, "faults": [],
                                             "admin_token": ADMIN_TOKEN, "profile": "default", "memo": memo})}


def signed_url(base: str, page: str, values: Mapping[str, str]) -> str:
    """A GET URL for `page` signed and encrypted as the demo agent would send it."""
    from spec.protocol import encode_request

    spec = _spec()
    p = spec.page(page)
    pairs = encode_request(p, dict(values), DEMO, spec.profile())
    return f"{base}/{p.page}?{urlencode(pairs)}"


@lru_cache(maxsize=1)
def _spec():
    from spec.loader import load_spec

    return load_spec()


def booking_values(day: str) -> dict[str, str]:
    """An OrderProducts request for two tickets of P1001 (unlimited stock in the shipped world)."""
    return {"Order_list": "P1001|2", "Mobile": "13800138000", "ID": "110101199003071234", "SXRQ": day,
            "timespanindex": "-1"}


def retcode(body: bytes) -> str:
    from spec import wire

    return wire.parse(body, _spec().profile().response).retcode


def machine() -> dict[str, str]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"cores": str(CORES), "cpu": model or platform.processor() or "unknown",
            "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}",
            "load": f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"}
