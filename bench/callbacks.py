"""Callbacks: how many Notify_OrderChanged events per second the mock delivers to a local receiver,
and how long after the state change each one arrives.

The demo agent's responseaddr points at bench/receiver_app.py (its own uvicorn process, on the
load core). Bookings (each one fires Notify_OrderChanged in the same transaction) are sent by
this process: first a steady phase at a fixed rate (latency), then a burst as fast as 8
connections go (delivery rate). The state change is timed by the booking's answer, which the mock
sends after the transaction commits, so arrival - answer slightly under-states the latency."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import throughput
from bench.common import CACHE, LOAD_CORE, booking_values, free_port, server, signed_url
from bench.throughput import PY, _tomorrow


@dataclass
class Callbacks:
    steady_rate: float
    steady_events: int
    steady_delivered: int
    p50_ms: float
    p99_ms: float
    burst_events: int
    burst_delivered: int
    burst_booking_rate: float
    delivered_per_s: float
    drain_s: float
    duplicates: int
    poll_interval_s: float = 0.5


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def _book(client: httpx.AsyncClient, url: str) -> tuple[float, str]:
    body = (await client.get(url)).content
    answered = time.time()
    if b"<retcode>0</retcode>" not in body:
        raise RuntimeError(f"booking refused: {body[:300]!r}")
    return answered, body.split(b"<orderid>")[1].split(b"</orderid>")[0].decode()


async def _steady(urls: list[str], rate: float) -> dict[str, float]:
    answers: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        start = time.monotonic()
        pending = []
        for i, url in enumerate(urls):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(_book(client, url)))
        for answered, orderid in await asyncio.gather(*pending):
            answers[orderid] = answered
    return answers


async def _burst(urls: list[str], connections: int = 8) -> tuple[dict[str, float], float]:
    answers: dict[str, float] = {}
    queue = list(reversed(urls))
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=connections)) as client:
        async def worker() -> None:
            while queue:
                answered, orderid = await _book(client, queue.pop())
                answers[orderid] = answered
        started = time.time()
        await asyncio.gather(*(worker() for _ in range(connections)))
    return answers, started


def _arrivals(receiver: str) -> list[tuple[float, str, str, str]]:
    return [tuple(a) for a in httpx.get(f"{receiver}/_arrivals", timeout=30).json()]


def _wait_for(receiver: str, orderids: set[str], timeout: float) -> list[tuple[float, str, str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        got = _arrivals(receiver)
        if orderids <= {a[2] for a in got} or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def run(steady_rate: float, steady_seconds: float, burst: int, log_dir: Path) -> Callbacks:
    port = free_port()
    receiver = f"http://127.0.0.1:{port}"
    argv = [PY, "-m", "uvicorn", "bench.receiver_app:app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log"]
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp, \
            server("receiver", argv, f"{receiver}/_arrivals", receiver, core=LOAD_CORE,
                   log=log_dir / "receiver.log"), \
            throughput.mock(throughput.BASELINE, Path(tmp) / "cb.db", log_dir / "mock-callbacks.log") as mock:
        body = httpx.get(signed_url(mock.base, "SetAgentParameters.aspx",
                                    {"responseaddr": f"{receiver}/notify", "sendofficiallysnotify": "0"}),
                         timeout=30).content
        if b"<retcode>0</retcode>" not in body:
            raise RuntimeError(f"SetAgentParameters refused: {body[:300]!r}")
        # a callback needs the booking's senderid (4.2.45.1), so every booking has its own
        day = _tomorrow()
        steady_urls = [signed_url(mock.base, "OrderProducts.aspx", {**booking_values(day), "senderid": f"steady-{i}"})
                       for i in range(int(steady_rate * steady_seconds))]
        burst_urls = [signed_url(mock.base, "OrderProducts.aspx", {**booking_values(day), "senderid": f"burst-{i}"})
                      for i in range(burst)]

        steady = asyncio.run(_steady(steady_urls, steady_rate))
        got = _wait_for(receiver, set(steady), 30)
        first = {}
        for at, _page, orderid, _status in got:
            first.setdefault(orderid, at)
        latencies = [(first[o] - answered) * 1000 for o, answered in steady.items() if o in first]

        seen = len(got)
        answers, started = asyncio.run(_burst(burst_urls))
        booked_at = max(answers.values())
        got = _wait_for(receiver, set(answers), 120)
        burst_got = [a for a in got[seen:] if a[2] in answers]
        times = sorted(a[0] for a in burst_got)
        counts: dict[str, int] = {}
        for a in got:
            counts[a[2]] = counts.get(a[2], 0) + 1
    return Callbacks(
        steady_rate=steady_rate, steady_events=len(steady), steady_delivered=len(latencies),
        p50_ms=statistics.median(latencies) if latencies else float("nan"), p99_ms=_pct(latencies, 0.99),
        burst_events=len(answers), burst_delivered=len({a[2] for a in burst_got}),
        burst_booking_rate=len(answers) / max(booked_at - started, 1e-9),
        delivered_per_s=len(times) / max(times[-1] - started, 1e-9) if times else 0.0,
        drain_s=(times[-1] - booked_at) if times else float("nan"),
        duplicates=sum(n - 1 for n in counts.values() if n > 1))
