"""Scale: QueryOrder and QueryOrdersList latency with 10^3 ... 10^6 orders stored.

Orders are seeded straight into the store's tables (one transaction, executemany): a year of
history before today, spread over ten agents (the world's three and seven more), one to three
items each, in the closed statuses an old order ends in (delivered, closed, paid at the desk,
refunded), so that the clock sweeper has nothing to move. Then the mock serves that database and
one connection (wrk -c 1) asks, round-robin, for 500 random orders of the demo agent (QueryOrder)
and for pages 0-4 of its order list, newest first (QueryOrdersList: 20 full orders a page)."""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import load, throughput
from bench.common import CACHE, DEMO, signed_url

AGENTS = ["demo-ota", "other-ota", "disabled-ota", *(f"bench-ota-{i}" for i in range(1, 8))]
# (status, pay_type) of orders a year of history leaves behind; none has a clock-driven transition
HISTORY = [("3", "deposit")] * 10 + [("4", "deposit")] * 5 + [("X", "desk")] * 2 + [("D", "rebate")] * 2 + \
          [("B", "instant")]
PRODUCTS = [("P1001", "成人票", "100.00"), ("P1002", "儿童票", "50.00"), ("P1006", "讲解服务", "30.00")]
TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class Size:
    orders: int
    seed_seconds: float = 0.0
    db_bytes: int = 0
    bytes_per_order: float = 0.0
    items: int = 0
    latency: dict[str, load.Measurement] = field(default_factory=dict)


def sizes_from_env(default: str) -> list[int]:
    """BENCH_SCALE=1e3,1e5 -> [1000, 100000]."""
    return [int(float(x)) for x in os.environ.get("BENCH_SCALE", default).split(",") if x.strip()]


def _fresh_db(path: Path) -> None:
    """The schema and the world's agents, as the mock creates them on first start (now, by the wall clock
    the benchmarked mock also runs on)."""
    from mockserver.handlers import load_all
    from mockserver.server import seed
    from mockserver.store import Store
    from mockserver.world import load_world

    load_all()  # handler modules register their own tables
    store = Store(path)
    seed(store, load_world(throughput.bench_world()), at=datetime.now(TZ))
    store.close()


def _ids(n: int, today: datetime):
    """(i, orderid, created) for n orders spread evenly over the year before today."""
    start = today - timedelta(days=365)
    span = (today - start).total_seconds() - 1
    per_day: dict[str, int] = {}
    for i in range(n):
        created = start + timedelta(seconds=span * i / n)
        day = created.strftime("%Y%m%d")
        per_day[day] = per_day.get(day, 0) + 1
        yield i, f"{day}{per_day[day]:08d}", created


def _lines(i: int, orderid: str, status: str):
    for seq in range(1, 2 + i % 3):
        pid, name, price = PRODUCTS[(i + seq) % len(PRODUCTS)]
        num = 1 + (i * seq) % 4
        amount = f"{int(price.split('.')[0]) * num}.00"
        dealnum = num if status in ("3", "X", "D") else 0
        yield (orderid, seq, pid, name, num, price, amount, dealnum, amount if dealnum else "0.00")


def _orders(n: int, today: datetime, demo: list[str]):
    rnd = random.Random(7)
    for i, orderid, created in _ids(n, today):
        agent = AGENTS[i % len(AGENTS)]
        status, pay_type = HISTORY[i % len(HISTORY)]
        effect = (created + timedelta(days=rnd.randrange(0, 30))).strftime("%Y%m%d")
        stamp = created.strftime("%Y%m%d%H%M%S")
        total = sum(int(line[5].split(".")[0]) * line[4] for line in _lines(i, orderid, status))
        paid = f"{total}.00" if status != "4" else "0.00"
        if agent == "demo-ota":
            demo.append(orderid)
        yield (orderid, agent, status, pay_type, effect, f"138{i % 100000000:08d}", f"11010119900307{i % 10000:04d}",
               "01", f"{total}.00", paid, stamp, stamp if status in ("3", "X", "D") else None,
               stamp if status in ("4", "B") else None, "OrderProducts.aspx")


def _items(n: int, today: datetime):
    for i, orderid, _ in _ids(n, today):
        yield from _lines(i, orderid, HISTORY[i % len(HISTORY)][0])


def seed_orders(path: Path, n: int) -> tuple[float, list[str]]:
    """Insert n orders in one transaction (rows generated as they are inserted); (seconds, demo-agent order ids)."""
    today = datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    demo: list[str] = []
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO orders(orderid, agent, status, pay_type, effect_date, mobile, idcard, service_code, total, paid, "
        "created_at, delivered_at, closed_at, page) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", _orders(n, today, demo))
    conn.executemany(
        "INSERT INTO order_items(orderid, seq, productid, productname, num, price, amount, dealnum, dealamount) "
        "VALUES(?,?,?,?,?,?,?,?,?)", _items(n, today))
    counters: dict[str, int] = {}
    for _, orderid, _ in _ids(n, today):
        counters[orderid[:8]] = int(orderid[8:])
    conn.executemany("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                     [(f"order_seq:{day}", str(count)) for day, count in counters.items()])
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started, demo


def _db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def run(sizes: list[int], seconds: float, log_dir: Path) -> list[Size]:
    out = []
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        empty = Path(tmp) / "empty.db"
        _fresh_db(empty)
        empty_bytes = _db_bytes(empty)
        for n in sizes:
            db = Path(tmp) / f"scale-{n}.db"
            _fresh_db(db)
            size = Size(n)
            size.seed_seconds, demo = seed_orders(db, n)
            size.db_bytes = _db_bytes(db)
            size.bytes_per_order = (size.db_bytes - empty_bytes) / n
            print(f"  {n} orders seeded in {size.seed_seconds:.1f} s, {size.bytes_per_order:.0f} bytes/order",
                  flush=True)
            rnd = random.Random(n)
            # without the answer memo: 500 requests round-robin come back within one second at this
            # rate and would mostly be answered from it, measuring the memo instead of the lookups
            with throughput.mock(throughput.BASELINE, db, log_dir / "mock-scale.log", memo=False) as srv:
                queries = [signed_url(srv.base, "QueryOrder.aspx", {"order_id": o})
                           for o in rnd.sample(demo, min(500, len(demo)))]
                # pages 0-4 of the agent's whole list: full pages (20 orders) at every size, so that the
                # figure grows with the stored orders only, not with how full a page is
                lists = [signed_url(srv.base, "QueryOrdersList.aspx", {"Page_index": str(rnd.randrange(0, 5))})
                         for _ in range(500)]
                for name, urls in (("QueryOrder", queries), ("QueryOrdersList", lists)):
                    _check(urls[0], name)
                    size.latency[name] = load.measure(urls, connections=1, seconds=seconds, warmup=1, runs=1,
                                                      cpu=srv.cpu_seconds)
                    m = size.latency[name]
                    print(f"    {name}: p50 {m.p50_ms:.2f} ms, p99 {m.p99_ms:.2f} ms", flush=True)
            for p in db.parent.glob(db.name + "*"):
                p.unlink()
            out.append(size)
    return out


def _check(url: str, name: str) -> None:
    import httpx

    from bench.common import retcode

    body = httpx.get(url, timeout=30).content
    if retcode(body) != "0":
        raise RuntimeError(f"{name} against the seeded database did not answer retcode 0: {body[:300]!r}")
