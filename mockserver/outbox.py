"""Callback delivery (2.13, 4.2.45): per order strictly in event order; a failed delivery holds
back that order's later callbacks only; retries with backoff until the retry window (24 h
after the event, by the clock) closes, then the event is given up and the next one goes.
Every attempt is recorded in `deliveries`."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from spec import wire
from spec.clock import Clock, SystemClock
from spec.protocol import Credentials, callback_url, encode_request
from spec.signing import verify_response_sign

from . import machine
from .context import Mock
from .store import Store

# A lease says "a live sender is delivering this row". It runs on the wall clock, never on the
# mock's movable clock: moving or freezing the mock's time must neither hand an in-flight callback
# to a second sender (a duplicate, out of order) nor keep a dead sender's row leased for ever.
# Three callback timeouts: a live sender records its attempt well within that.
LEASE_TIMEOUTS = 3

# Who holds a lease: this process (pid) in this incarnation (a pid comes back after a restart, in a
# container often as 1). A lease whose holder is gone returns to the queue one callback timeout after
# it was taken instead of when it ends, so a restart after kill -9 resumes delivery sooner. Not at
# once: the dead sender's last request may still be on its way (written to the socket before the
# kill) and must not arrive after the resend and the order's next event; after one timeout the
# sender itself would have counted that attempt as failed.
PROCESS = f"{os.getpid()}:{uuid.uuid4().hex[:12]}"


def holder_gone(owner: str, me: str = PROCESS) -> bool:
    """Is the process that took this lease gone? Asked on this host and in this pid namespace: the
    workers sharing a SQLite database run side by side (not across hosts or containers)."""
    pid_text, _, incarnation = owner.partition(":")
    if not pid_text.isdigit():
        return False  # a lease from before holders were recorded: it ends with its time
    pid = int(pid_text)
    my_pid, _, my_incarnation = me.partition(":")
    if pid == int(my_pid):
        return incarnation != my_incarnation
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


# Callbacks one sender has on the wire at once. An OTA's callback page is often a small server: a
# burst of hundreds of connections overflows its listen queue, and a request that waited there can
# reach it after its retry and the order's next event (seen with a listen backlog of 5).
ON_THE_WIRE = 4


def timeout_seconds(mock: Mock) -> float:
    return mock.spec.callback_policy.timeout_seconds


def lease_seconds(mock: Mock) -> float:
    return LEASE_TIMEOUTS * timeout_seconds(mock)


@dataclass(frozen=True)
class Attempt:
    outbox_id: int
    url: str
    ok: bool
    http_status: int | None
    retcode: str
    error: str
    duration_ms: int


def _request(mock: Mock, row: Any) -> tuple[str, list[tuple[str, str]]] | None:
    """The callback URL and signed parameters (rule f), or None when callbacks are off."""
    with mock.store.reading() as db:
        agent = Store.agent(db, row["agent"])
    seed = mock.world.agent(row["agent"])
    if agent is None or seed is None or not agent.responseaddr:
        return None
    page = mock.spec.page(row["page"])
    values = {(page.param(k).name if page.param(k) else k): str(v) for k, v in json.loads(row["params"]).items()}
    pairs = encode_request(page, values, Credentials(seed.user, seed.password, seed.key), mock.profile)
    return callback_url(mock.profile, agent.responseaddr, page), pairs


def _choose(mock: Mock, rows: list[Any]) -> list[Any]:
    """Which rows to try now: the head of each order's queue (faults bend this). `rows` holds the
    leased rows too: a head another sender holds (a second worker, the admin flush, a process killed
    mid-send) blocks its order until it is delivered or its lease ends, so no later event overtakes it."""
    by_order: dict[str, list[Any]] = {}
    for row in rows:
        by_order.setdefault(row["orderid"], []).append(row)
    chosen = []
    for queue in by_order.values():
        if mock.fault("continue-after-failure"):
            chosen.extend(queue)
        elif mock.fault("callbacks-out-of-order"):
            chosen.append(queue[-1])
        else:
            chosen.append(queue[0])
    return chosen


def _claim(mock: Mock, row_id: int, wall: datetime) -> bool:
    """Lease a pending row (its next_at becomes the lease's end, wall time) or say someone else has it."""
    with mock.store.transaction() as db:
        cur = db.execute("UPDATE outbox SET state='sending', next_at=?, lease_owner=? WHERE id=? AND state='pending'",
                         (machine.stamp(wall + timedelta(seconds=lease_seconds(mock))), PROCESS, row_id))
        return cur.rowcount == 1


async def _send(mock: Mock, client: httpx.AsyncClient, row: Any) -> Attempt:
    target = _request(mock, row)
    if target is None:
        return Attempt(row["id"], "", False, None, "", "callbacks are off (no responseaddr)", 0)
    url, pairs = target
    started = time.monotonic()
    try:
        response = await client.get(url, params=pairs)
    except httpx.HTTPError as exc:
        return Attempt(row["id"], url, False, None, "", f"{type(exc).__name__}: {exc}"[:300],
                       int((time.monotonic() - started) * 1000))
    elapsed = int((time.monotonic() - started) * 1000)
    if response.status_code != 200:
        return Attempt(row["id"], url, False, response.status_code, "", "HTTP status is not 200", elapsed)
    try:
        env = wire.parse(response.content, mock.profile.response)
    except wire.MalformedResponse as exc:
        return Attempt(row["id"], url, False, 200, "", f"unparsable answer: {exc}"[:300], elapsed)
    seed = mock.world.agent(row["agent"])
    note = "" if verify_response_sign(response.content, seed.key, mock.profile.response) else "answer sign does not verify"
    return Attempt(row["id"], url, env.retcode == "0", 200, env.retcode, note if env.retcode == "0" else
                   f"retcode {env.retcode}", elapsed)


def _record(mock: Mock, row: Any, attempt: Attempt, now: datetime) -> None:
    with mock.store.transaction() as db:
        db.execute("INSERT INTO deliveries(outbox_id, at, url, http_status, retcode, error, duration_ms) "
                   "VALUES(?,?,?,?,?,?,?)", (row["id"], machine.stamp(now), attempt.url, attempt.http_status,
                                            attempt.retcode, attempt.error, attempt.duration_ms))
        attempts = row["attempts"] + 1
        if attempt.ok:
            db.execute("UPDATE outbox SET state='delivered', attempts=?, last_error='' WHERE id=?", (attempts, row["id"]))
            return
        backoff = mock.spec.callback_policy.backoff_seconds
        delay = backoff[min(attempts - 1, len(backoff) - 1)]
        db.execute("UPDATE outbox SET state='pending', attempts=?, next_at=?, last_error=? WHERE id=?",
                   (attempts, machine.stamp(now + timedelta(seconds=delay)), attempt.error, row["id"]))


def _expire_and_reclaim(mock: Mock, now: datetime, wall: datetime) -> None:
    window = timedelta(seconds=mock.spec.callback_policy.retry_window_seconds)
    cutoff = machine.stamp(now - window)
    with mock.store.transaction() as db:
        db.execute("UPDATE outbox SET state='given_up' WHERE state IN ('pending','sending') AND event_at<?", (cutoff,))
        # a lease left by a crashed sender returns to the queue, due at once by the mock's clock: when
        # it ends, or once its holder is seen gone and a callback timeout has passed since it was taken
        db.execute("UPDATE outbox SET state='pending', next_at=? WHERE state='sending' AND next_at<=?",
                   (machine.stamp(now), machine.stamp(wall)))
        owners = [r["lease_owner"] for r in db.execute("SELECT DISTINCT lease_owner FROM outbox WHERE state='sending'")]
        taken_a_timeout_ago = machine.stamp(wall + timedelta(seconds=lease_seconds(mock) - timeout_seconds(mock)))
        for owner in filter(holder_gone, owners):
            db.execute("UPDATE outbox SET state='pending', next_at=? WHERE state='sending' AND lease_owner=? "
                       "AND next_at<=?", (machine.stamp(now), owner, taken_a_timeout_ago))


async def deliver_due(mock: Mock, client: httpx.AsyncClient, wall: Clock | None = None) -> list[Attempt]:
    """One round: try every order's next due callback; returns the attempts made.
    `wall` times the leases (default: the system clock)."""
    now = mock.now()
    lease_now = (wall or SystemClock()).now().astimezone(mock.tz)
    _expire_and_reclaim(mock, now, lease_now)
    with mock.store.reading() as db:
        rows = db.execute("SELECT * FROM outbox WHERE state IN ('pending','sending') ORDER BY orderid, id").fetchall()
    stamp = machine.stamp(now)
    heads = [r for r in _choose(mock, rows) if r["state"] == "pending" and r["next_at"] <= stamp]
    on_the_wire = asyncio.Semaphore(ON_THE_WIRE)

    async def deliver(row: Any) -> Attempt | None:
        async with on_the_wire:
            # leased only when its turn comes: a lease must not run out while the row waits here
            if not _claim(mock, row["id"], (wall or SystemClock()).now().astimezone(mock.tz)):
                return None  # another sender has it
            attempt = await _send(mock, client, row)
            if mock.fault("duplicate-callback") and attempt.ok:
                await _send(mock, client, row)
            _record(mock, row, attempt, mock.now())
            return attempt

    return [a for a in await asyncio.gather(*(deliver(r) for r in heads)) if a is not None]


async def drain(mock: Mock, client: httpx.AsyncClient, rounds: int = 50, wall: Clock | None = None) -> list[Attempt]:
    """Deliver until nothing more is due now (tests and the admin flush)."""
    made: list[Attempt] = []
    for _ in range(rounds):
        batch = await deliver_due(mock, client, wall)
        if not batch:
            break
        made.extend(batch)
    return made
