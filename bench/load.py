"""Load generation: `wrk` (keep-alive, fixed connections, its own latency percentiles) when it is
installed, else a small asyncio HTTP/1.1 client in this file that keeps every latency sample.

`measure(urls, ...)` runs a warm-up, then `runs` timed runs, and returns each run's req/s, p50
and p99 with the median of the runs. Several URLs are sent round-robin (wrk through a Lua
script); errors (socket errors, non-2xx answers) are counted, never hidden."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlsplit

from bench.common import LOAD_CORE, pinned

WRK = shutil.which("wrk")

# wrk calls done() once at the end; latency percentiles come from its histogram (microseconds).
_WRK_LUA = r"""
local paths = {%(paths)s}
local i = 0
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %%d, \"duration_us\": %%d, \"errors\": %%d, \"non2xx\": %%d, " ..
    "\"p50_us\": %%d, \"p99_us\": %%d, \"max_us\": %%d}\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cpu_us: float | None = None  # server CPU time per answered request


@dataclass
class Measurement:
    generator: str
    connections: int
    seconds: float
    runs: list[Run] = field(default_factory=list)
    warmup_requests: int = 0

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def server_cpu_us(self) -> float | None:
        values = [r.server_cpu_us for r in self.runs if r.server_cpu_us is not None]
        return statistics.median(values) if values else None

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.runs)


def generator_name() -> str:
    if WRK:
        out = subprocess.run([WRK, "--version"], capture_output=True, text=True)
        first = (out.stdout or out.stderr).strip().splitlines()[0]
        return re.sub(r"\s+Copyright.*", "", first)
    return "bench/load.py asyncio client (wrk not installed)"


def _lua_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrk(urls: Sequence[str], connections: int, seconds: float, script: Path) -> Run:
    parts = urlsplit(urls[0])
    base = f"{parts.scheme}://{parts.netloc}"
    paths = [urlsplit(u).path + ("?" + urlsplit(u).query if urlsplit(u).query else "") for u in urls]
    script.write_text(_WRK_LUA % {"paths": ", ".join(_lua_quote(p) for p in paths)})
    threads = min(connections, 2)
    out = subprocess.run(pinned([WRK, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
                                 "--timeout", "10s", "-s", str(script), base], LOAD_CORE),
                         capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    data = json.loads(line[len("WRKJSON "):])
    return Run(data["requests"] / (data["duration_us"] / 1e6), data["p50_us"] / 1000, data["p99_us"] / 1000,
               data["requests"], data["errors"] + data["non2xx"])


async def _client(host: str, port: int, requests: list[bytes], stop_at: float, samples: list[float],
                  errors: list[int], offset: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < stop_at:
            req = requests[i % len(requests)]
            i += 1
            started = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if m:
                await reader.readexactly(int(m.group(1)))
            elif re.search(rb"(?i)\r\ntransfer-encoding:\s*chunked", head):
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            samples.append(time.perf_counter() - started)
            if not 200 <= status < 300:
                errors[0] += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        errors[0] += 1
    finally:
        writer.close()


def _asyncio_run(urls: Sequence[str], connections: int, seconds: float) -> Run:
    parts = urlsplit(urls[0])
    requests = []
    for u in urls:
        p = urlsplit(u)
        target = p.path + ("?" + p.query if p.query else "")
        requests.append(f"GET {target} HTTP/1.1\r\nHost: {p.netloc}\r\nConnection: keep-alive\r\n\r\n".encode())
    samples: list[float] = []
    errors = [0]

    async def main() -> float:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(_client(parts.hostname or "127.0.0.1", parts.port or 80, requests, stop_at, samples,
                                       errors, k) for k in range(connections)))
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    samples.sort()
    if not samples:
        return Run(0.0, 0.0, 0.0, 0, errors[0])
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] * 1000  # noqa: E731
    return Run(len(samples) / elapsed, pick(0.50), pick(0.99), len(samples), errors[0])


def _one(urls: Sequence[str], connections: int, seconds: float, script: Path) -> Run:
    if WRK:
        return _wrk(urls, connections, seconds, script)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(LOAD_CORE)})  # the fallback client runs in this process: pin it
    return _asyncio_run(urls, connections, seconds)


def measure(urls: Sequence[str], *, connections: int = 32, seconds: float = 10, warmup: float = 3,
            runs: int = 3, cpu: Callable[[], float] | None = None) -> Measurement:
    """Warm up, then `runs` timed runs of `seconds` each at `connections` keep-alive connections.
    `cpu` reads the server's CPU seconds, so that each run also reports CPU time per request (a
    figure that other load on the machine disturbs far less than req/s)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.lua"
        warm = _one(urls, connections, warmup, script) if warmup > 0 else None
        result = Measurement(generator_name(), connections, seconds, warmup_requests=warm.requests if warm else 0)
        for _ in range(runs):
            before = cpu() if cpu else None
            run = _one(urls, connections, seconds, script)
            if cpu and run.requests:
                run = replace(run, server_cpu_us=(cpu() - before) / run.requests * 1e6)
            result.runs.append(run)
    if not WRK and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return result
