"""Scale: QueryOrder and QueryOrdersList latency with 10^3 ... 10^6 orders stored.

Orders are seeded straight into the store's tables (one transaction, executemany): a year of
history before today, spread over ten agents (the world's three and seven more), one to three
items each, in the closed statuses an old order ends in (delivered, closed, paid at the desk,
refunded), so that the clock sweeper has nothing to move. Then the mock serves that database and
one connection (wrk -c 1) asks, round-robin, for 500 random orders of the demo agent (QueryOrder)
and for page 0 of its orders in 500 random 31-day windows (QueryOrdersList)."""

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
    """The schema and the world's agents, as the mock creates them on first start."""
    from mockserver.handlers import load_all
    from mockserver.server import seed
    from mockserver.store import Store
    from mockserver.world import load_world

    load_all()  # handler modules register their own tables
    store = Store(path)
    seed(store, load_world(throughput.bench_world()))
    store.close()


def _rows(n: int, today: datetime):
    """(orders, items, per-day counters, demo-agent order ids) for n orders over the year before today."""
    start = today - timedelta(days=365)
    span = (today - start).total_seconds() - 1
    per_day: dict[str, int] = {}
    orders, items, demo = [], [], []
    rnd = random.Random(7)
    for i in range(n):
        created = start + timedelta(seconds=span * i / n)
        day = created.strftime("%Y%m%d")
        per_day[day] = per_day.get(day, 0) + 1
        orderid = f"{day}{per_day[day]:08d}"
        agent = AGENTS[i % len(AGENTS)]
        status, pay_type = HISTORY[i % len(HISTORY)]
        effect = (created + timedelta(days=rnd.randrange(0, 30))).strftime("%Y%m%d")
        stamp = created.strftime("%Y%m%d%H%M%S")
        total = 0
        for seq in range(1, 1 + 1 + i % 3):
            pid, name, price = PRODUCTS[(i + seq) % len(PRODUCTS)]
            num = 1 + (i * seq) % 4
            amount = f"{int(price.split('.')[0]) * num}.00"
            total += int(price.split(".")[0]) * num
            dealnum = num if status in ("3", "X", "D") else 0
            items.append((orderid, seq, pid, name, num, price, amount, dealnum, amount if dealnum else "0.00"))
        paid = f"{total}.00" if status != "4" else "0.00"
        orders.append((orderid, agent, status, pay_type, effect, f"138{i % 100000000:08d}",
                       f"11010119900307{i % 10000:04d}", "01", f"{total}.00", paid, stamp,
                       stamp if status in ("3", "X", "D") else None, stamp if status in ("4", "B") else None,
                       "OrderProducts.aspx"))
        if agent == "demo-ota":
            demo.append(orderid)
    return orders, items, per_day, demo


def seed_orders(path: Path, n: int) -> tuple[float, list[str]]:
    """Insert n orders in one transaction; (seconds, demo-agent order ids)."""
    today = datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    orders, items, per_day, demo = _rows(n, today)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO orders(orderid, agent, status, pay_type, effect_date, mobile, idcard, service_code, total, paid, "
        "created_at, delivered_at, closed_at, page) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", orders)
    conn.executemany(
        "INSERT INTO order_items(orderid, seq, productid, productname, num, price, amount, dealnum, dealamount) "
        "VALUES(?,?,?,?,?,?,?,?,?)", items)
    conn.executemany("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                     [(f"order_seq:{day}", str(count)) for day, count in per_day.items()])
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
            with throughput.mock(throughput.BASELINE, db, log_dir / "mock-scale.log") as srv:
                queries = [signed_url(srv.base, "QueryOrder.aspx", {"order_id": o})
                           for o in rnd.sample(demo, min(500, len(demo)))]
                first, last = datetime.strptime(demo[0][:8], "%Y%m%d"), datetime.strptime(demo[-1][:8], "%Y%m%d")
                lists = []
                for _ in range(500):
                    begin = first + timedelta(days=rnd.randrange(0, max(1, (last - first).days - 31)))
                    lists.append(signed_url(srv.base, "QueryOrdersList.aspx", {
                        "Query_model": "1", "Start_datetime": begin.strftime("%Y%m%d"),
                        "End_datetime": (begin + timedelta(days=31)).strftime("%Y%m%d"), "Page_index": "0"}))
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
