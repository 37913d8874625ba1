"""Crash: `kill -9` a live `ybx-mock serve` (two workers) in the middle of concurrent bookings,
one-step book-and-pay calls, deposit payments with activation and cancellations, restart it on
the same database, retry what got no answer as an integrator would (same senderid / XCDDH), and
judge the stored state: every booking answered retcode 0 exists exactly once, none refused
exists, nothing unasked for exists, balances are the world's plus the transaction records,
statuses are the spec's, and the callback outbox resumes and delivers every event, per order in
order, which the callback receiver's log shows. Every judge is shown failing on a broken state."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from mockkit import DEMO, OTHER, make_ota
from procmock import MockProcess, rows, serving, start
from receiver import Receiver, free_port

from mockserver import outbox
from mockserver.world import load_world
from spec import wire
from spec.clock import FrozenClock
from spec.model import Spec
from spec.protocol import Credentials

NOW = "2026-11-21T10:00:00+08:00"
WORLD = load_world(None)
AGENTS = {c.user: c for c in (DEMO, OTHER)}
PLAIN, FINITE = "P1001", "P1004"
PLAIN_DAY, FINITE_DAY = "20261210", "20261211"
NOTIFY = "Notify_OrderChanged.aspx"
BOOKING_PAGES = ("OrderProducts.aspx", "OrderAndPayWithYDJ.aspx")


# ------------------------------------------------------------------ a callback receiver that keeps a journal

@dataclass
class Journal:
    """Records every callback in arrival order and answers retcode 0 signed with the calling agent's KEY,
    after a short pause so that deliveries are in flight when the mock is killed."""

    spec: Spec
    delay: float = 0.03
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __enter__(self) -> Journal:  # noqa: PYI034 - a dataclass, never subclassed
        journal, lock = self, threading.Lock()
        rule = self.spec.profile().response

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {k.lower(): v for k, v in parse_qsl(parts.query)}
                with lock:
                    journal.received.append((parts.path.rsplit("/", 1)[-1], params))
                time.sleep(journal.delay)
                creds = AGENTS.get(params.get("user", ""))
                body = wire.render(rule, "0", "", (), creds.key if creds else None)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the mock was killed while waiting for this answer

            def log_message(self, *args) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"


# ------------------------------------------------------------------ the plan

@dataclass
class Job:
    creds: Credentials
    page: str
    values: dict[str, str]
    outcomes: list[str] = field(default_factory=list)  # per attempt: "0", a refusal retcode, or "no answer"
    orderid: str = ""  # the order an answer named

    @property
    def key(self) -> str:
        """The integrator's own number of a booking (senderid / XCDDH)."""
        return self.values.get("senderid") or self.values.get("XCDDH", "")

    @property
    def answered(self) -> str | None:
        """The last answer's retcode, or None if no attempt was answered."""
        answers = [o for o in self.outcomes if o != "no answer"]
        return answers[-1] if answers else None


def booking(creds: Credentials, product: str, day: str, senderid: str) -> Job:
    return Job(creds, "OrderProducts.aspx", {"Order_list": f"{product}|1", "Mobile": "13800138000",
                                             "ID": "110101199003071234", "SXRQ": day, "timespanindex": "-1",
                                             "senderid": senderid})


def book_and_pay(creds: Credentials, xcddh: str) -> Job:
    return Job(creds, "OrderAndPayWithYDJ.aspx", {"Order_list": f"{PLAIN}|1", "mobile": "13800138000",
                                                  "ID": "110101199003071234", "SXRQ": PLAIN_DAY, "timespanindex": "-1",
                                                  "SmsCode": creds.pay_password or "", "money": "100.00",
                                                  "XCDDH": xcddh})


def pay_and_activate(creds: Credentials, orderid: str) -> Job:
    return Job(creds, "UseAccountToPayByPwd.aspx", {"Order_id": orderid, "money": "100.00",
                                                    "Smscode": creds.pay_password or "", "activate": "1",
                                                    "tickettype": "2"})


def cancel(creds: Credentials, orderid: str) -> Job:
    return Job(creds, "CancelOrder.aspx", {"Order_id": orderid})


def attempt(m: MockProcess, job: Job, client: httpx.Client) -> None:
    try:
        env = m.call(job.page, job.values, job.creds, client=client)
    except httpx.HTTPError:
        job.outcomes.append("no answer")
        return
    job.outcomes.append(env.retcode)
    if env.retcode == "0":
        job.orderid = env.text("Item/orderid") or env.text("Item/Order_id") or job.orderid


def storm(m: MockProcess, jobs: list[Job], kill_after: int, threads: int = 8) -> None:
    """Run `jobs` from `threads` threads; `kill -9` the mock once `kill_after` of them were answered."""
    answered = threading.Semaphore(0)
    local = threading.local()

    def run(job: Job) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=10)
        attempt(m, job, local.client)
        answered.release()

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(run, job) for job in jobs]
        deadline = time.monotonic() + 30
        for _ in range(kill_after):
            assert answered.acquire(timeout=max(deadline - time.monotonic(), 0.1)), "the mock stopped answering"
        m.kill9()
        for f in futures:
            f.result(30)


# ------------------------------------------------------------------ judges (each returns what broke)

def order_problems(jobs: list[Job], orders: list[sqlite3.Row], known: set[tuple[str, str]]) -> list[str]:
    """Bookings answered 0 exist exactly once (the order they named), refused ones not at all, unanswered
    ones at most once, and no order exists that nobody asked for (`known`: keys booked before the storm)."""
    problems = []
    by_key: dict[tuple[str, str], list[str]] = {}
    for o in orders:
        by_key.setdefault((o["agent"], o["senderid"]), []).append(o["orderid"])
    asked = set(known)
    for job in (j for j in jobs if j.page in BOOKING_PAGES):
        key = (job.creds.user, job.key)
        asked.add(key)
        stored = by_key.get(key, [])
        if job.answered == "0" and stored != [job.orderid]:
            problems.append(f"{job.page} {key} answered 0 with {job.orderid}; stored {stored}")
        elif job.answered not in (None, "0") and stored:
            problems.append(f"{job.page} {key} was refused ({job.outcomes}); stored {stored}")
        elif job.answered is None and len(stored) > 1:
            problems.append(f"{job.page} {key} never answered; stored {len(stored)} times: {stored}")
    invented = sorted(set(by_key) - asked)
    if invented:
        problems.append(f"orders nobody asked for: {invented[:5]}")
    return problems


def payment_problems(spec: Spec, jobs: list[Job], db: Path) -> list[str]:
    """A payment answered 0 left its order paid and delivered with exactly one debit; no order is debited
    twice; a refused payment on an order still unpaid moved no money."""
    problems = []
    delivered = {t.target for t in spec.transitions if t.event == "activate"}
    for job in (j for j in jobs if j.page == "UseAccountToPayByPwd.aspx"):
        orderid = job.values["Order_id"]
        found = rows(db, "SELECT status FROM orders WHERE orderid=?", (orderid,))
        if not found:
            problems.append(f"order {orderid}, paid by {job.outcomes}, is gone")
            continue
        status = found[0]["status"]
        debits = rows(db, "SELECT amount FROM transactions WHERE orderid=? AND kind='order'", (orderid,))
        if len(debits) > 1:
            problems.append(f"order {orderid} debited {len(debits)} times")
        if "0" in job.outcomes and (status not in delivered or len(debits) != 1):
            problems.append(f"payment of {orderid} answered 0; status {status}, {len(debits)} debits")
        if status not in delivered and debits:
            problems.append(f"order {orderid} is {status} yet debited")
    return problems


def balance_problems(spec: Spec, db: Path) -> list[str]:
    """Each account = the world's opening balance + the sum of its transaction records, each record's
    running balance follows from the one before, and the held deposit is what the open orders hold."""
    problems = []
    for seed in WORLD.agents:
        agent = rows(db, "SELECT * FROM agents WHERE user=?", (seed.user,))[0]
        for account, opening in (("deposit", seed.deposit), ("rebate", seed.rebate)):
            running = Decimal(str(opening))
            for t in rows(db, "SELECT * FROM transactions WHERE agent=? AND account=? ORDER BY id", (seed.user, account)):
                running += Decimal(t["amount"])
                if Decimal(t["balance"]) != running:
                    problems.append(f"{seed.user} {account} record {t['id']}: balance {t['balance']} != {running}")
            if Decimal(agent[account]) != running:
                problems.append(f"{seed.user} {account} is {agent[account]}; opening {opening} + records = {running}")
            if running < 0:
                problems.append(f"{seed.user} {account} is negative: {running}")
        held = sum((Decimal(r["held"]) for r in rows(db, "SELECT held FROM orders WHERE agent=? AND pay_type='deposit'",
                                                    (seed.user,))), Decimal("0.00"))
        if Decimal(agent["deposit_held"]) != held:
            problems.append(f"{seed.user} holds {agent['deposit_held']} of deposit; its orders hold {held}")
    return problems


def state_problems(spec: Spec, db: Path) -> list[str]:
    """Every status is one the spec knows; stock used is what the open orders take, never above the stock."""
    problems = []
    known = {s.code for s in spec.order_statuses}
    for o in rows(db, "SELECT orderid, status FROM orders"):
        if o["status"] not in known:
            problems.append(f"order {o['orderid']} has status {o['status']!r}, unknown to the spec")
    for s in rows(db, "SELECT * FROM stock"):
        taken = rows(db, "SELECT COALESCE(SUM(i.num), 0) AS n FROM order_items i JOIN orders o ON o.orderid=i.orderid "
                         "WHERE i.productid=? AND o.effect_date=? AND o.status!='4'", (s["productid"], s["day"]))[0]["n"]
        limit = WORLD.product(s["productid"]).daily_stock
        if s["used"] != taken or (limit and s["used"] > limit):
            problems.append(f"{s['productid']} on {s['day']}: stock used {s['used']}, open orders take {taken}, "
                            f"stock {limit or 'unlimited'}")
    return problems


def _collapse(seq: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A crash between sending a callback and recording it sends it again, right after: at least once."""
    return [x for i, x in enumerate(seq) if i == 0 or x != seq[i - 1]]


def outbox_problems(spec: Spec, db: Path, received: list[tuple[str, dict[str, str]]]) -> list[str]:
    """Every outbox event was delivered; per order the receiver saw exactly the outbox's events in outbox
    order (a resend right after itself allowed); the notified statuses walk the spec's transitions
    from the booking to the order's current status."""
    problems = []
    queue: dict[str, list[tuple[str, str]]] = {}
    for row in rows(db, "SELECT * FROM outbox ORDER BY id"):
        if row["state"] != "delivered":
            problems.append(f"outbox {row['id']} ({row['orderid']} {row['page']}) is {row['state']}: {row['last_error']}")
        queue.setdefault(row["orderid"], []).append((row["page"], json.loads(row["params"]).get("status", "")))
    seen: dict[str, list[tuple[str, str]]] = {}
    for page, params in received:
        seen.setdefault(params.get("orderid", ""), []).append((page, params.get("status", "")))
    for orderid in sorted(set(queue) | set(seen)):
        if _collapse(seen.get(orderid, [])) != queue.get(orderid, []):
            problems.append(f"order {orderid}: outbox {queue.get(orderid)}, receiver {seen.get(orderid)}")
    notifying = {(t.source, t.target) for t in spec.transitions if NOTIFY in t.callbacks}
    silent = {(t.source, t.target) for t in spec.transitions if NOTIFY not in t.callbacks}
    booked = {t.target for t in spec.transitions if t.source == spec.initial_status}
    for o in rows(db, "SELECT orderid, status, senderid FROM orders WHERE senderid!=''"):
        walk = [status for page, status in queue.get(o["orderid"], []) if page == NOTIFY]
        if not walk or walk[0] not in booked:
            problems.append(f"order {o['orderid']}: no booking callback, outbox {walk}")
            continue
        bad = [(a, b) for a, b in itertools.pairwise(walk) if (a, b) not in notifying]
        reach, frontier = {walk[-1]}, [walk[-1]]
        while frontier:
            here = frontier.pop()
            for a, b in silent:
                if a == here and b not in reach:
                    reach.add(b)
                    frontier.append(b)
        if bad or o["status"] not in reach:
            problems.append(f"order {o['orderid']} is {o['status']}; its callbacks say {walk}")
    return problems


def judge(spec: Spec, jobs: list[Job], db: Path, known: set[tuple[str, str]],
          received: list[tuple[str, dict[str, str]]]) -> list[str]:
    orders = rows(db, "SELECT orderid, agent, senderid FROM orders")
    return (order_problems(jobs, orders, known) + payment_problems(spec, jobs, db) + balance_problems(spec, db)
            + state_problems(spec, db) + outbox_problems(spec, db, received))


# ------------------------------------------------------------------ the crash

def _prepare(m: MockProcess, journal: Journal) -> tuple[list[Job], set[tuple[str, str]]]:
    """Callbacks on for both agents (through the interface page), orders to pay and cancel, and the plan."""
    m.admin("POST", "/clock", {"set": NOW})
    for creds in AGENTS.values():
        env = m.call("SetAgentParameters.aspx", {"responseaddr": journal.url, "sendofficiallysnotify": "1"}, creds)
        assert env.retcode == "0", env.retmsg
    pre = [booking(DEMO, PLAIN, PLAIN_DAY, f"pay-{i}") for i in range(40)]
    pre += [booking((DEMO, OTHER)[i % 2], PLAIN, PLAIN_DAY, f"cancel-{i}") for i in range(10)]
    in_threads(m, pre)
    assert all(job.outcomes == ["0"] for job in pre), [job.outcomes for job in pre]
    jobs = [booking((DEMO, OTHER)[i % 2], PLAIN, PLAIN_DAY, f"b-{i}") for i in range(60)]
    jobs += [booking((DEMO, OTHER)[i % 2], FINITE, FINITE_DAY, f"f-{i}") for i in range(30)]  # 20 in stock
    jobs += [book_and_pay(DEMO, f"y-{i}") for i in range(30)]
    jobs += [pay_and_activate(DEMO, j.orderid) for j in pre[:40]]
    jobs += [cancel(j.creds, j.orderid) for j in pre[40:]]
    random.Random(7).shuffle(jobs)
    return jobs, {(j.creds.user, j.key) for j in pre}


def in_threads(m: MockProcess, jobs: list[Job], threads: int = 8) -> None:
    local = threading.local()

    def run(job: Job) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=10)
        attempt(m, job, local.client)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, jobs))


def _drained(m: MockProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(row["state"] in ("delivered", "given_up") for row in m.admin("GET", "/callbacks")):
            return
        time.sleep(0.2)
    raise AssertionError("the outbox did not drain after the restart")


@dataclass(frozen=True)
class Run:
    db: Path
    jobs: list[Job]
    known: set[tuple[str, str]]
    received: list[tuple[str, dict[str, str]]]
    unanswered: int  # requests the kill left without an answer
    leased: int  # callbacks the killed workers were sending


@pytest.fixture(scope="module")
def crashed(spec, tmp_path_factory) -> Run:
    """Two workers killed with -9 after 2/5 of the storm was answered, restarted on the same database
    with one worker; everything unanswered repeated; the outbox drained."""
    db = Path(tmp_path_factory.mktemp("crash")) / "crash.db"
    with Journal(spec) as journal:
        m = start(spec, db, workers=2)
        try:
            jobs, known = _prepare(m, journal)
            storm(m, jobs, kill_after=len(jobs) * 2 // 5)
        finally:
            m.stop()
        unanswered = [j for j in jobs if j.answered is None]
        leased = rows(db, "SELECT COUNT(*) AS n FROM outbox WHERE state='sending'")[0]["n"]
        with serving(spec, db) as m:
            in_threads(m, unanswered)  # an integrator repeats what got no answer, with the same number
            # rows the dead workers had leased go back to the queue when their lease ends (wall time)
            # and a head whose first attempt after the restart times out waits one backoff step more
            policy = spec.callback_policy
            _drained(m, timeout=(outbox.LEASE_TIMEOUTS + 1) * policy.timeout_seconds + policy.backoff_seconds[0] + 20)
        return Run(db, jobs, known, list(journal.received), len(unanswered), leased)


def test_kill_9_mid_storm_loses_and_invents_nothing(spec, crashed):
    assert crashed.unanswered, "the kill came after every request was answered; nothing was tested"
    assert all(j.answered is not None for j in crashed.jobs)
    assert judge(spec, crashed.jobs, crashed.db, crashed.known, crashed.received) == []


# ------------------------------------------------------------------ the judges can fail

def _broken(db: Path, tmp_path: Path, sql: str) -> Path:
    copy = tmp_path / "broken.db"
    with closing(sqlite3.connect(db)) as src, closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)
        dst.executescript(sql)
    return copy


@pytest.mark.parametrize("breakage, sql", [
    ("a lost order", "DELETE FROM orders WHERE senderid='b-0'"),
    ("a duplicated order", ("CREATE TEMP TABLE copy AS SELECT * FROM orders WHERE senderid='b-1'; "
                            "UPDATE copy SET orderid='9' || substr(orderid, 2); INSERT INTO orders SELECT * FROM copy")),
    ("an invented order", "UPDATE orders SET senderid='nobody' WHERE senderid='y-0'"),
    ("money from nowhere", "UPDATE agents SET deposit='99999.00' WHERE user='demo-ota'"),
    ("a lost transaction", "DELETE FROM transactions WHERE id=(SELECT MAX(id) FROM transactions)"),
    ("a vanished hold", "UPDATE agents SET deposit_held='0.00' WHERE user='demo-ota'"),
    ("an unknown status", "UPDATE orders SET status='Z' WHERE senderid='b-1'"),
    ("stock out of step", "UPDATE stock SET used=used+1"),
    ("a callback not delivered", "UPDATE outbox SET state='pending' WHERE id=(SELECT MIN(id) FROM outbox)"),
    ("a callback never written", "DELETE FROM outbox WHERE id=(SELECT MAX(id) FROM outbox)"),
    ("a status without its callback", "UPDATE orders SET status='2' WHERE senderid='b-1'"),
])
def test_each_judge_catches_its_breakage(spec, crashed, tmp_path, breakage, sql):
    broken = _broken(crashed.db, tmp_path, sql)
    assert judge(spec, crashed.jobs, broken, crashed.known, crashed.received), breakage


def test_the_journal_judge_catches_out_of_order_missing_and_late_callbacks(spec, crashed):
    received = crashed.received
    by_order: dict[str, list[int]] = {}
    for i, (_, params) in enumerate(received):
        by_order.setdefault(params["orderid"], []).append(i)
    # an order whose callbacks carry two different statuses
    a, b = next((i, j) for indexes in by_order.values() for i in indexes for j in indexes
                if received[i][1]["status"] != received[j][1]["status"])
    swapped = list(received)
    swapped[a], swapped[b] = swapped[b], swapped[a]
    assert outbox_problems(spec, crashed.db, swapped)
    assert outbox_problems(spec, crashed.db, [r for r in received if r != received[b]])
    assert outbox_problems(spec, crashed.db, received + [received[min(a, b)]])  # a late duplicate is no resend


# ------------------------------------------------------------------ the outbox fix this found

def test_a_leased_callback_holds_back_its_order(spec, profile):
    """A row leased by another sender (a second worker, the admin flush, or a process killed mid-send)
    blocks the later callbacks of its order until it is delivered or its lease ends, by the wall
    clock: moving the mock's clock does not end a lease."""
    ota = make_ota(spec)
    with Receiver(profile, DEMO.key) as receiver:
        ota.call("SetAgentParameters.aspx", {"responseaddr": receiver.url, "sendofficiallysnotify": "1"})
        orderid = ota.book(senderid="lease-1")
        ota.call("CancelOrder.aspx", {"Order_id": orderid})
        wall = FrozenClock(datetime.now(UTC))  # leases run on the wall clock (docstring): the test stands it still
        with ota.mock.store.transaction() as db:
            first = db.execute("SELECT MIN(id) FROM outbox").fetchone()[0]
            until = (wall.now().astimezone(ota.mock.tz) + timedelta(seconds=outbox.lease_seconds(ota.mock)))
            db.execute("UPDATE outbox SET state='sending', next_at=? WHERE id=?", (until.strftime("%Y%m%d%H%M%S"), first))

        def drain():
            async def run():
                async with httpx.AsyncClient(timeout=5) as client:
                    return await outbox.drain(ota.mock, client, wall=wall)
            return asyncio.run(run())

        ota.advance(24 * 3600 - 60)  # a day of the mock's time, inside the retry window
        drain()
        assert receiver.received == []  # the cancellation must not overtake the booking
        wall.advance(outbox.lease_seconds(ota.mock) + 1)
        drain()
        assert [q["status"] for _, q in receiver.received] == ["0", "4"]


def _gone_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process now
    return child.pid


def test_a_lease_holder_is_gone_when_its_process_is(spec):
    me = outbox.PROCESS
    pid, incarnation = me.split(":")
    assert not outbox.holder_gone(me)
    assert outbox.holder_gone(f"{pid}:another-incarnation")  # this pid before a restart (pid 1 in a container)
    assert outbox.holder_gone(f"{_gone_pid()}:x")
    assert not outbox.holder_gone(f"{os.getppid()}:x")  # a live process: another worker
    assert not outbox.holder_gone("")  # a lease from before holders were recorded waits out its time


@pytest.mark.parametrize("holder, taken, delivered", [
    ("gone", "a timeout ago", ["0", "4"]),  # returned to the queue without waiting out the lease
    ("gone", "just now", []),  # its last request may still be on the way: not yet
    ("alive", "a timeout ago", []),  # another worker's: it ends with its time
])
def test_a_lease_of_a_gone_sender_returns_after_one_timeout(spec, profile, holder, taken, delivered):
    """After kill -9 and a restart, the rows the dead process was sending go back to the queue once a
    callback timeout has passed since they were leased, not when their lease ends; a live holder's
    lease (another worker) still blocks its order until it ends."""
    ota = make_ota(spec)
    with Receiver(profile, DEMO.key) as receiver:
        ota.call("SetAgentParameters.aspx", {"responseaddr": receiver.url, "sendofficiallysnotify": "1"})
        orderid = ota.book(senderid="lease-2")
        ota.call("CancelOrder.aspx", {"Order_id": orderid})
        owner = f"{_gone_pid() if holder == 'gone' else os.getppid()}:x"
        age = outbox.timeout_seconds(ota.mock) + 1 if taken == "a timeout ago" else 0
        # leases run on the wall clock by design (moving the mock's clock must not end one): read it
        until = (datetime.now(UTC).astimezone(ota.mock.tz) + timedelta(seconds=outbox.lease_seconds(ota.mock) - age))
        with ota.mock.store.transaction() as db:
            db.execute("UPDATE outbox SET state='sending', next_at=?, lease_owner=? WHERE id=(SELECT MIN(id) FROM outbox)",
                       (until.strftime("%Y%m%d%H%M%S"), owner))

        async def run():
            async with httpx.AsyncClient(timeout=5) as client:
                return await outbox.drain(ota.mock, client)
        asyncio.run(run())
        assert [q["status"] for _, q in receiver.received] == delivered
