"""The mock's hot path without HTTP: time `app.handle` for signed QueryOrder (c) and OrderProducts (d)
in-process, and optionally profile it with pyinstrument.

    .venv/bin/python bench/profile_hot.py [-n 2000] [--profile] [--db FILE]

Prints microseconds per call (median of 5 batches) and, with --profile, pyinstrument's call tree of
each target. The database is a file in WAL mode as under `ybx-mock serve`, on the system clock."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import DEMO, bench_world, booking_values  # noqa: E402
from mockserver.app import handle  # noqa: E402
from mockserver.server import Settings, build_mock  # noqa: E402
from spec.protocol import encode_request  # noqa: E402


def targets(db: str) -> dict[str, Callable[[], object]]:
    mock = build_mock(Settings(db=db, world=bench_world()))
    profile = mock.spec.profile()
    day = (mock.now() + timedelta(days=1)).strftime("%Y%m%d")
    book_page = mock.spec.page("OrderProducts.aspx")
    book = urlencode(encode_request(book_page, booking_values(day), DEMO, profile)).encode()
    first = handle(mock, book_page, "GET", book)
    assert b"<retcode>0</retcode>" in first.body, first.body
    orderid = first.body.split(b"<orderid>")[1].split(b"</orderid>")[0].decode()
    query_page = mock.spec.page("QueryOrder.aspx")
    query = urlencode(encode_request(query_page, {"order_id": orderid}, DEMO, profile)).encode()
    assert b"<retcode>0</retcode>" in handle(mock, query_page, "GET", query).body
    return {"QueryOrder (c)": _checked(lambda: handle(mock, query_page, "GET", query)),
            "OrderProducts (d)": _checked(lambda: handle(mock, book_page, "GET", book))}


def _checked(fn: Callable[[], object]) -> Callable[[], object]:
    """`fn`, failing loudly if an answer is a refusal (a refusal is cheaper and would flatter the figure)."""
    def call() -> object:
        response = fn()
        if b"<retcode>0</retcode>" not in response.body:
            raise RuntimeError(f"refused during the measurement: {response.body[:300]!r}")
        return response
    return call


def per_call_us(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """(wall, CPU) microseconds per call, each the median of 5 batches; CPU time is the figure to
    compare on a busy machine (it does not count the time other processes hold the core)."""
    wall, cpu = [], []
    for _ in range(5):
        started, started_cpu = time.perf_counter(), time.process_time()
        for _ in range(n // 5):
            fn()
        wall.append((time.perf_counter() - started) / (n // 5) * 1e6)
        cpu.append((time.process_time() - started_cpu) / (n // 5) * 1e6)
    return statistics.median(wall), statistics.median(cpu)


def measure(n: int) -> dict[str, tuple[float, float]]:
    """{target: (wall, CPU) microseconds per call} on a throwaway file database."""
    with tempfile.TemporaryDirectory() as tmp:
        out = {}
        for name, fn in targets(str(Path(tmp) / "hot.db")).items():
            for _ in range(50):
                fn()
            out[name] = per_call_us(fn, n)
        return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--db")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in targets(args.db or str(Path(tmp) / "hot.db")).items():
            for _ in range(50):
                fn()  # warm caches
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005)
                profiler.start()
                for _ in range(args.n):
                    fn()
                profiler.stop()
                print(f"===== {name}")
                print(profiler.output_text(unicode=False, color=False, show_all=False))
            else:
                wall, cpu = per_call_us(fn, args.n)
                print(f"{name}: {cpu:.0f} us CPU ({wall:.0f} us wall) per call in-process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
