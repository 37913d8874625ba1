"""`make bench`: every measurement of issue 7, written to bench/RESULTS.md (and the headline table
between the bench markers of README.md).

    .venv/bin/python bench/run.py            # full run (about 15 minutes on 2 cores)
    BENCH_QUICK=1 .venv/bin/python bench/run.py   # about 2 minutes: shorter runs, no server variants
    BENCH_SCALE=1e3,1e5 ...                  # the order counts of the scale test
    BENCH_NOTE="..."                         # a line added under the machine description

Absolute numbers depend on the machine; the headline figures are ratios of targets measured in
the same run, one after the other, under the same load generator settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import callbacks, load, profile_hot, scale, throughput  # noqa: E402
from bench.common import BENCH, CACHE, LOAD_CORE, ROOT, SERVER_CORE, machine  # noqa: E402

RESULTS = BENCH / "RESULTS.md"
README = ROOT / "README.md"
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass(frozen=True)
class Mode:
    name: str
    throughput: dict
    variants: tuple
    scale_default: str
    scale_seconds: float
    steady_rate: float
    steady_seconds: float
    burst: int
    conformance: bool


FULL = Mode("full", {"connections": 32, "seconds": 10, "warmup": 3, "runs": 3}, throughput.VARIANTS,
            "1e3,1e5,1e6", 10, 100, 10, 2000, True)
QUICK = Mode("quick", {"connections": 32, "seconds": 3, "warmup": 1, "runs": 3}, (), "1e3,1e4", 3, 50, 3, 300,
             False)


def _ratio(num: load.Measurement | None, den: load.Measurement | None) -> float | None:
    if num is None or den is None or not den.rps:
        return None
    return num.rps / den.rps


def _fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def headline(tp: throughput.Throughput, variant: str = throughput.BASELINE.name) -> list[tuple[str, float | None, float]]:
    a, b = tp.get("a", variant), tp.get("b")
    c, d = tp.get("c", variant), tp.get("d", variant)
    res = lambda t: t.result if t else None  # noqa: E731
    return [("c/a: signed QueryOrder vs bare Starlette", _ratio(res(c), res(a)), 0.5),
            ("c/b: signed QueryOrder vs WireMock (static stub)", _ratio(res(c), res(b)), 1.0),
            ("d/a: signed OrderProducts (write) vs bare Starlette", _ratio(res(d), res(a)), 0.25)]


def conformance_run() -> tuple[float | None, str]:
    out = subprocess.run([sys.executable, str(BENCH / "conformance_run.py")], capture_output=True, text=True,
                         cwd=ROOT, timeout=900)
    m = re.search(r"local mock: ([\d.]+) s", out.stdout)
    summary = out.stdout.strip().splitlines()[0] if out.stdout.strip() else out.stderr[-300:]
    return (float(m.group(1)) if m else None), summary


def render(mode: Mode, started: datetime, elapsed: float, info: dict, generator: str,
           tp: throughput.Throughput, sizes: list[scale.Size], cb: callbacks.Callbacks | None,
           conf: tuple[float | None, str] | None, hot: dict[str, tuple[float, float]]) -> str:
    L: list[str] = []
    w = L.append
    w("# Benchmark results")
    w("")
    w(f"Written by `make bench` ({mode.name} mode, {elapsed / 60:.1f} min) on {started:%Y-%m-%d %H:%M} UTC. "
      "Re-run it to replace this file; every number below comes from that one run.")
    w("")
    w(f"- **Machine:** {info['cores']} cores, {info['cpu']}, {info['os']}; Python {info['python']}")
    w(f"- **Load average at the start:** {info['load']}"
      + (" — **the machine was busy: absolute numbers are low and noisy; compare the ratios, which were measured "
         "in the same run**" if float(info['load'].split('/')[0]) > 1.0 else ""))
    if os.environ.get("BENCH_NOTE"):
        w(f"- **Note:** {os.environ['BENCH_NOTE']}")
    w(f"- **Load generator:** {generator}, pinned to core {LOAD_CORE}; the server under test pinned to core "
      f"{SERVER_CORE} (except `--workers 2`, which gets both cores); loopback, keep-alive, "
      f"{tp.settings['connections']} connections, {tp.settings['warmup']} s warm-up (WireMock: twice that, for "
      f"its JIT), then {tp.settings['runs']} runs of {tp.settings['seconds']} s; the figure is the median run.")
    w("")
    w("## Headline ratios")
    w("")
    w("| ratio (req/s over req/s, same run) | measured | target | met |")
    w("| --- | --- | --- | --- |")
    for label, value, target in headline(tp):
        met = "n/a" if value is None else ("yes" if value >= target else "**no**")
        w(f"| {label} | {_fmt(value)} | ≥ {target:g} | {met} |")
    w("")
    w(f"Server as shipped: `ybx-mock serve` = {throughput.BASELINE.name}. The same ratios for the other servers "
      "tried are in the variants table below.")
    w("")
    w("## Throughput and latency")
    w("")
    w("| target | server | req/s | p50 ms | p99 ms | server CPU µs/req | errors | body bytes | runs (req/s) |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for t in tp.targets:
        if t.variant != throughput.BASELINE.name:
            continue
        if t.result is None:
            w(f"| ({t.key}) {t.label} | — | {t.note} | | | | | | |")
            continue
        m = t.result
        w(f"| ({t.key}) {t.label} | {'WireMock (Java)' if t.key == 'b' else t.variant} | {m.rps:.0f} | "
          f"{m.p50_ms:.1f} | {m.p99_ms:.1f} | {_fmt(m.server_cpu_us, 0)} | {m.errors} | {t.body_bytes} | "
          f"{', '.join(f'{r.rps:.0f}' for r in m.runs)} |")
    notes = [f"({t.key}) {t.note}" for t in tp.targets
             if t.note and t.result is not None and t.variant == throughput.BASELINE.name]
    w("")
    w("- (a) `bench/bare_app.py`: one Starlette route returning a fixed 1024-byte XML envelope.")
    w("- (b) the npm package `wiremock` (its bundled standalone jar, run with `java -jar`, request journal and "
      "request logging off) with one mapping answering every GET with the same 1024-byte body.")
    w("- (c) the mock (`mockserver.asgi:app`, the app `ybx-mock serve` runs, file database in WAL mode) answering "
      "one signed `QueryOrder.aspx` URL for an order booked before the run: user looked up, sign verified, "
      "password decrypted and checked, clock sweeper check, order and items read, XML rendered and signed.")
    w("- (d) the same mock taking one signed `OrderProducts.aspx` URL (2 × P1001, no senderid, so every request "
      "books a new order: stock and time-slot use, order number, order, items, state-machine transition, SMS "
      "record, one transaction). The world is the shipped one with the time-slot capacity raised "
      "(`bench/.cache/bench-world.yaml`), so that the run measures booking, not slots running out.")
    w("- server CPU µs/req: user + system CPU time of the server's processes during a run over the requests "
      "answered; less disturbed by other load than req/s.")
    for n in notes:
        w(f"- {n}")
    w("")
    if mode.variants:
        w("## Server variants (kept: the shipped one unless a variant wins clearly)")
        w("")
        w("| server | a req/s | c req/s | d req/s | c/a | d/a | c/b | c CPU µs/req | d CPU µs/req |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        b = tp.get("b")
        for v in (throughput.BASELINE, *mode.variants):
            a, c, d = tp.get("a", v.name), tp.get("c", v.name), tp.get("d", v.name)
            if not (a and c and d and a.result and c.result and d.result):
                continue
            w(f"| {v.name} | {a.result.rps:.0f} | {c.result.rps:.0f} | {d.result.rps:.0f} | "
              f"{_fmt(_ratio(c.result, a.result))} | {_fmt(_ratio(d.result, a.result))} | "
              f"{_fmt(_ratio(c.result, b.result if b else None))} | {_fmt(c.result.server_cpu_us, 0)} | "
              f"{_fmt(d.result.server_cpu_us, 0)} |")
        w("")
        best = max((v for v in (throughput.BASELINE, *mode.variants) if tp.get("c", v.name) and tp.get("c", v.name).result),
                   key=lambda v: tp.get("c", v.name).result.rps)
        w(f"Fastest for (c) in this run: {best.name}. ")
        w("uvloop and httptools are dependencies of the project (uvicorn picks them up by itself); the h11 row "
          "runs uvicorn with `--loop asyncio --http h11`, as it runs without them. granian is installed into "
          "`bench/.cache/altsite` for its row only. `--workers 2` shares one SQLite database in WAL mode.")
        w("")
    if hot:
        w("## The mock's hot path in-process")
        w("")
        w("`bench/profile_hot.py`: `mockserver.app.handle` called directly (no HTTP), file database, system clock; "
          "median of 5 batches. `--profile` prints pyinstrument's call tree.")
        w("")
        w("| request | CPU µs per call | wall µs per call |")
        w("| --- | --- | --- |")
        for name, (wall, cpu) in hot.items():
            w(f"| {name} | {cpu:.0f} | {wall:.0f} |")
        w("")
    w("## Scale")
    w("")
    w("Orders seeded straight into the store's tables in one transaction (`bench/scale.py`): a year of history "
      "over ten agents, 1–3 items each, closed statuses. One connection (`wrk -c 1`), 500 different signed "
      "requests round-robin: QueryOrder for random orders of the demo agent (a tenth of the orders); "
      "QueryOrdersList pages 0–4 of its whole list, newest first (20 orders a page at every size). The mock "
      "runs with `--no-memo`: at this rate the same request comes back within a second and would be answered "
      "from the answer memo, measuring the memo instead of the lookups.")
    w("")
    w("| orders | seeding s | DB bytes per order | QueryOrder p50 / p99 ms | QueryOrdersList p50 / p99 ms | "
      "QueryOrder CPU µs/req | QueryOrdersList CPU µs/req |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for s in sizes:
        q, l_ = s.latency.get("QueryOrder"), s.latency.get("QueryOrdersList")
        w(f"| {s.orders:,} | {s.seed_seconds:.1f} | {s.bytes_per_order:.0f} | "
          f"{q.p50_ms:.2f} / {q.p99_ms:.2f} | {l_.p50_ms:.2f} / {l_.p99_ms:.2f} | {_fmt(q.server_cpu_us, 0)} | "
          f"{_fmt(l_.server_cpu_us, 0)} |")
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        w("")
        for name in ("QueryOrder", "QueryOrdersList"):
            growth = hi.latency[name].p50_ms / lo.latency[name].p50_ms
            target = " (target ≤ 2×: " + ("met" if growth <= 2 else "**not met**") + ")" \
                if (lo.orders, hi.orders) == (1000, 1000000) else ""
            w(f"- {name} p50 growth from {lo.orders:,} to {hi.orders:,} orders: {growth:.2f}×{target}")
    w("")
    w("## Callbacks")
    w("")
    if cb is None:
        w("Not measured in this run.")
    else:
        w("`bench/callbacks.py`: the demo agent's responseaddr points at `bench/receiver_app.py` (uvicorn, answers "
          "retcode 0 signed); each booking carries a senderid, so it fires `Notify_OrderChanged` from the same "
          "transaction. Latency = arrival at the receiver − the booking's answer (sent after the commit).")
        w("")
        w("| figure | value |")
        w("| --- | --- |")
        w(f"| steady: bookings at {cb.steady_rate:g}/s, delivered | {cb.steady_delivered} of {cb.steady_events} |")
        w(f"| steady: state change → delivery p50 / p99 | {cb.p50_ms:.0f} / {cb.p99_ms:.0f} ms |")
        w(f"| burst: bookings (8 connections), delivered | {cb.burst_delivered} of {cb.burst_events} "
          f"(booked at {cb.burst_booking_rate:.0f}/s) |")
        w(f"| burst: events delivered per second (first booking → last delivery) | {cb.delivered_per_s:.0f} |")
        w(f"| burst: last delivery after the last booking | {cb.drain_s:.1f} s |")
        w(f"| duplicate deliveries | {cb.duplicates} |")
        w("")
        w("The sender wakes when a commit queued a callback (`Store.listen_outbox`, mockserver/app.py); its "
          f"{cb.poll_interval_s} s round remains for retries and clock-driven work only. In the burst the sender shares "
          "the server's one core with the bookings.")
    w("")
    w("## Conformance run")
    w("")
    if conf is None:
        w("Not run in quick mode (`bench/conformance_run.py` alone: about a minute).")
    else:
        seconds, summary = conf
        met = "n/a" if seconds is None else ("met" if seconds <= 60 else "**not met**")
        w(f"`bench/conformance_run.py`: the whole suite (`ybx-conform run`, admin driver, every category, fuzzing "
          f"included) against `ybx-mock serve` on a throwaway database: **{_fmt(seconds, 1)} s** "
          f"(target ≤ 60 s: {met}). Suite summary: `{summary}`")
    w("")
    return "\n".join(L)


def readme_block(tp: throughput.Throughput, when: datetime, mode: Mode, busy: bool) -> str:
    rows = ["| ratio | measured | target |", "| --- | --- | --- |"]
    for label, value, target in headline(tp):
        rows.append(f"| {label} | {_fmt(value)} | ≥ {target:g} |")
    how = f"{mode.name} mode" + (", on a busy machine" if busy else "")
    return "\n".join([MARK_START, f"Measured by `make bench` on {when:%Y-%m-%d} ({how}; details, method and machine: "
                      "[bench/RESULTS.md](bench/RESULTS.md)):", "", *rows, MARK_END])


def update_readme(block: str) -> bool:
    text = README.read_text(encoding="utf-8")
    if MARK_START not in text or MARK_END not in text:
        return False
    before, rest = text.split(MARK_START, 1)
    after = rest.split(MARK_END, 1)[1]
    README.write_text(before + block + after, encoding="utf-8")
    return True


def main() -> int:
    mode = QUICK if os.environ.get("BENCH_QUICK") == "1" else FULL
    started, t0 = datetime.now(timezone.utc), time.monotonic()
    info = machine()
    log_dir = CACHE / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"bench ({mode.name}): {info['cores']} cores, load {info['load']}; logs in {log_dir}", flush=True)

    print("in-process hot path", flush=True)
    hot = profile_hot.measure(2000 if mode is FULL else 500)
    print("throughput (a, b, c, d)", flush=True)
    tp = throughput.run(mode.throughput, mode.variants, log_dir)
    print("scale", flush=True)
    sizes = scale.run(scale.sizes_from_env(mode.scale_default), mode.scale_seconds, log_dir)
    print("callbacks", flush=True)
    cb = callbacks.run(mode.steady_rate, mode.steady_seconds, mode.burst, log_dir)
    conf = None
    if mode.conformance:
        print("conformance run", flush=True)
        conf = conformance_run()

    text = render(mode, started, time.monotonic() - t0, info, load.generator_name(), tp, sizes, cb, conf, hot)
    RESULTS.write_text(text, encoding="utf-8")
    busy = float(info["load"].split("/")[0]) > 1.0
    updated = update_readme(readme_block(tp, started, mode, busy))
    print(f"wrote {RESULTS}" + (" and the README table" if updated else ""), flush=True)
    for label, value, target in headline(tp):
        print(f"  {label}: {_fmt(value)} (target >= {target:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
