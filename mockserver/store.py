"""SQLite state of the mock. Every state change runs in one `transaction()`; the callback
outbox is written in the same transaction as the change it reports."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .world import World

SCHEMA_VERSION = "1"
# meta key: the clock's instant when the world was seeded; its relative dates count from its day
SEED_INSTANT = "seed_instant"
WORLD_DIGEST = "world_digest"  # the version of the world file the database was seeded from

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents(
  user TEXT PRIMARY KEY, enabled INTEGER NOT NULL, deposit TEXT NOT NULL, rebate TEXT NOT NULL,
  deposit_held TEXT NOT NULL DEFAULT '0.00', rebate_held TEXT NOT NULL DEFAULT '0.00',
  pay_password_md5 TEXT NOT NULL, responseaddr TEXT NOT NULL DEFAULT '',
  sendofficiallysnotify TEXT NOT NULL DEFAULT '1');
CREATE TABLE IF NOT EXISTS orders(
  orderid TEXT PRIMARY KEY, agent TEXT NOT NULL, senderid TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
  pay_type TEXT NOT NULL DEFAULT '', effect_date TEXT NOT NULL, mobile TEXT NOT NULL, idcard TEXT NOT NULL,
  need_invoice TEXT NOT NULL DEFAULT '0', invoice_title TEXT NOT NULL DEFAULT '', service_code TEXT NOT NULL DEFAULT '',
  timespanindex INTEGER, total TEXT NOT NULL, held TEXT NOT NULL DEFAULT '0.00', paid TEXT NOT NULL DEFAULT '0.00',
  fees TEXT NOT NULL DEFAULT '0.00', refund TEXT NOT NULL DEFAULT '0.00', pay_channel TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL, pay_deadline TEXT, prev_status TEXT, delivered_at TEXT, closed_at TEXT,
  page TEXT NOT NULL, spdh TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS orders_sender ON orders(agent, senderid);
CREATE INDEX IF NOT EXISTS orders_agent_time ON orders(agent, created_at);
-- the sweeper's check before every request (sweeper.due) probes these instead of scanning orders
CREATE INDEX IF NOT EXISTS orders_status_deadline ON orders(status, pay_deadline);
CREATE INDEX IF NOT EXISTS orders_status_effect ON orders(status, effect_date);
CREATE TABLE IF NOT EXISTS order_items(
  orderid TEXT NOT NULL, seq INTEGER NOT NULL, productid TEXT NOT NULL, productname TEXT NOT NULL,
  num INTEGER NOT NULL, free_num INTEGER NOT NULL DEFAULT 0, price TEXT NOT NULL, amount TEXT NOT NULL,
  dealnum INTEGER NOT NULL DEFAULT 0, dealamount TEXT NOT NULL DEFAULT '0.00', fees TEXT NOT NULL DEFAULT '0.00',
  PRIMARY KEY(orderid, seq));
CREATE TABLE IF NOT EXISTS realnames(
  orderid TEXT NOT NULL, seq INTEGER NOT NULL, idno TEXT NOT NULL, name TEXT NOT NULL, mobile TEXT NOT NULL,
  item_seq INTEGER NOT NULL, idtype TEXT NOT NULL, PRIMARY KEY(orderid, seq));
CREATE INDEX IF NOT EXISTS realnames_idno ON realnames(idno);
CREATE TABLE IF NOT EXISTS stock(productid TEXT NOT NULL, day TEXT NOT NULL, used INTEGER NOT NULL,
  PRIMARY KEY(productid, day));
CREATE TABLE IF NOT EXISTS segment_use(service TEXT NOT NULL, day TEXT NOT NULL, idx INTEGER NOT NULL,
  used INTEGER NOT NULL, PRIMARY KEY(service, day, idx));
CREATE TABLE IF NOT EXISTS transactions(
  id INTEGER PRIMARY KEY AUTOINCREMENT, agent TEXT NOT NULL, account TEXT NOT NULL, amount TEXT NOT NULL,
  balance TEXT NOT NULL, kind TEXT NOT NULL, orderid TEXT NOT NULL DEFAULT '', at TEXT NOT NULL,
  memo TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS transactions_agent ON transactions(agent, account, at);
CREATE TABLE IF NOT EXISTS sms(
  id INTEGER PRIMARY KEY AUTOINCREMENT, agent TEXT NOT NULL DEFAULT '', mobile TEXT NOT NULL, text TEXT NOT NULL,
  code TEXT NOT NULL DEFAULT '', purpose TEXT NOT NULL, orderid TEXT NOT NULL DEFAULT '', at TEXT NOT NULL,
  used INTEGER NOT NULL DEFAULT 0, sends INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS outbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT, agent TEXT NOT NULL, orderid TEXT NOT NULL, page TEXT NOT NULL,
  params TEXT NOT NULL, event_at TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0, next_at TEXT NOT NULL, last_error TEXT NOT NULL DEFAULT '',
  lease_owner TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(state, orderid, id);
CREATE TABLE IF NOT EXISTS deliveries(
  id INTEGER PRIMARY KEY AUTOINCREMENT, outbox_id INTEGER NOT NULL, at TEXT NOT NULL, url TEXT NOT NULL,
  http_status INTEGER, retcode TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '',
  duration_ms INTEGER NOT NULL DEFAULT 0);
"""


_EXTRA_SCHEMAS: list[tuple[str, tuple[str, ...]]] = []

# (table, column, definition) added to SCHEMA after databases of an earlier version were made
_ADDED_COLUMNS = (("outbox", "lease_owner", "TEXT NOT NULL DEFAULT ''"),)


def register_schema(sql: str, tables: tuple[str, ...]) -> None:
    """Let a module add its own tables (created at start, emptied by reset)."""
    if (sql, tables) not in _EXTRA_SCHEMAS:
        _EXTRA_SCHEMAS.append((sql, tables))


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class AgentState:
    user: str
    enabled: bool
    deposit: Decimal
    rebate: Decimal
    deposit_held: Decimal
    rebate_held: Decimal
    pay_password_md5: str
    responseaddr: str
    sendofficiallysnotify: str

    def balance(self, account: str) -> Decimal:
        return self.deposit if account == "deposit" else self.rebate

    def available(self, account: str) -> Decimal:
        return self.deposit - self.deposit_held if account == "deposit" else self.rebate - self.rebate_held


class Store:
    """One SQLite database (a file, or ``:memory:``). Thread-safe; one writer at a time."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._lock = threading.RLock()
        # bumped by every settings write through this store (set_meta, seed): readers of settings
        # (the clock) re-read them on a change of it or of data_version, not after every order written
        self.meta_version = 0
        self._pin = threading.local()  # per thread: the event loop's requests and the background sweeper
        self._queued = False  # the open transaction queued a callback
        self._outbox_listeners: list[Callable[[], None]] = []
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._versions = self._conn.cursor()  # one cursor, plain tuples: asked once per request
        self._versions.row_factory = None
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit is in the WAL file before it returns, so it survives kill -9 and
            # restarts; only an OS crash or power cut can drop the last commits. FULL added an fsync
            # to every commit: 60% of a booking's time (bench/RESULTS.md).
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.executescript(SCHEMA)
        for sql, _ in _EXTRA_SCHEMAS:
            self._conn.executescript(sql)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Columns added since a database was made (CREATE TABLE IF NOT EXISTS leaves old tables
        as they are); in a write transaction, so two workers starting together add each once."""
        with self.transaction() as db:
            for table, column, definition in _ADDED_COLUMNS:
                if column not in {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: everything inside commits together or not at all."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._queued = False
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
                if self._queued:
                    self._queued = False
                    for listener in tuple(self._outbox_listeners):
                        listener()

    def listen_outbox(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after each commit that queued a callback (the sender wakes at once instead
        of at its next round); returns the function that stops it. Listeners must not block."""
        self._outbox_listeners.append(listener)
        return lambda: self._outbox_listeners.remove(listener)

    def generation(self) -> tuple[int, int]:
        """A value that changes whenever the database may have changed: a commit by another
        connection (another worker) or any change through this one. Per-request checks (the
        clock, the sweeper) reuse what they read while it stays the same. Inside `pinned()`,
        other connections' commits count as of the pin; this connection's own always count."""
        version = getattr(self._pin, "version", None)
        if version is None:
            version = self._data_version()
        return version, self._conn.total_changes

    def _data_version(self) -> int:
        with self._lock:
            return self._versions.execute("PRAGMA data_version").fetchone()[0]

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """One request's view of other connections' commits: read once at its start, since the
        clock, the sweeper and the answer memo each ask for the generation (a PRAGMA each was a
        quarter of a remembered QueryOrder's CPU, bench/RESULTS.md). A commit by another worker
        during the request shows from the next request on, as if it had come a moment later."""
        before = getattr(self._pin, "version", None)
        self._pin.version = self._data_version() if before is None else before
        try:
            yield
        finally:
            self._pin.version = before

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    # ------------------------------------------------------------ world seeding

    def seed(self, world: World, pay_password_md5: dict[str, str], *, at: str,
             settings: Mapping[str, str] | None = None, only_if_empty: bool = False) -> bool:
        """Replace all state by the world's initial state (used at first start and by reset). `at`, the
        clock's instant (ISO 8601), is kept as the seed instant the world's relative dates count from,
        and `settings` (the clock's) are written, both in the same transaction. With `only_if_empty`, a
        database already seeded is left alone (given `at` as its seed instant if it was seeded before
        the seed instant was kept); the test is inside the write transaction, so two workers starting on
        a new database cannot both seed it."""
        with self.transaction() as db:
            if only_if_empty and db.execute("SELECT 1 FROM meta WHERE key='seeded'").fetchone() is not None:
                if db.execute("SELECT 1 FROM meta WHERE key=?", (SEED_INSTANT,)).fetchone() is None:
                    self.set_meta(db, SEED_INSTANT, at)
                return False
            extra = tuple(t for _, tables in _EXTRA_SCHEMAS for t in tables)
            for table in ("agents", "orders", "order_items", "realnames", "stock", "segment_use", "transactions",
                          "sms", "outbox", "deliveries", "meta", *extra):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            for a in world.agents:
                db.execute(
                    "INSERT INTO agents(user, enabled, deposit, rebate, pay_password_md5) VALUES(?,?,?,?,?)",
                    (a.user, int(a.enabled), str(money(a.deposit)), str(money(a.rebate)), pay_password_md5[a.user]),
                )
            self.meta_version += 1
            db.execute("INSERT INTO meta VALUES('seeded', ?)", (world.source,))
            db.execute("INSERT INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
            db.execute("INSERT INTO meta VALUES(?, ?)", (SEED_INSTANT, at))
            db.execute("INSERT INTO meta VALUES(?, ?)", (WORLD_DIGEST, world.digest))
            for key, value in (settings or {}).items():
                db.execute("INSERT INTO meta VALUES(?, ?)", (key, value))
        return True

    # ------------------------------------------------------------ meta

    def meta(self, key: str, default: str = "") -> str:
        with self.reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row["value"] if row else default

    def set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        self.meta_version += 1
        db.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                   (key, value))

    # ------------------------------------------------------------ agents

    @staticmethod
    def agent(db: sqlite3.Connection, user: str) -> AgentState | None:
        row = db.execute("SELECT * FROM agents WHERE user=?", (user,)).fetchone()
        if row is None:
            return None
        return AgentState(row["user"], bool(row["enabled"]), money(row["deposit"]), money(row["rebate"]),
                          money(row["deposit_held"]), money(row["rebate_held"]), row["pay_password_md5"],
                          row["responseaddr"], row["sendofficiallysnotify"])

    @staticmethod
    def next_order_id(db: sqlite3.Connection, day: str) -> str:
        """Order numbers are String(20): yyyyMMdd + 8 digits of a per-day counter."""
        key = f"order_seq:{day}"
        row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        seq = int(row["value"]) + 1 if row else 1
        db.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                   (key, str(seq)))
        return f"{day}{seq:08d}"

    @staticmethod
    def post(db: sqlite3.Connection, agent: str, account: str, amount: Decimal, kind: str, orderid: str, at: str,
             memo: str = "") -> Decimal:
        """Move money on an agent account and record the transaction; returns the new balance."""
        column = "deposit" if account == "deposit" else "rebate"
        row = db.execute(f"SELECT {column} AS bal FROM agents WHERE user=?", (agent,)).fetchone()  # noqa: S608
        balance = money(row["bal"]) + money(amount)
        if balance < 0:
            raise ValueError(f"{agent} {account} would go negative")
        db.execute(f"UPDATE agents SET {column}=? WHERE user=?", (str(balance), agent))  # noqa: S608
        db.execute(
            "INSERT INTO transactions(agent, account, amount, balance, kind, orderid, at, memo) VALUES(?,?,?,?,?,?,?,?)",
            (agent, account, str(money(amount)), str(balance), kind, orderid, at, memo),
        )
        return balance

    @staticmethod
    def hold(db: sqlite3.Connection, agent: str, account: str, delta: Decimal) -> None:
        column = "deposit_held" if account == "deposit" else "rebate_held"
        row = db.execute(f"SELECT {column} AS held FROM agents WHERE user=?", (agent,)).fetchone()  # noqa: S608
        db.execute(f"UPDATE agents SET {column}=? WHERE user=?", (str(money(row["held"]) + money(delta)), agent))  # noqa: S608

    def enqueue_callback(self, db: sqlite3.Connection, agent: str, orderid: str, page: str, params: dict[str, str],
                         at: str) -> None:
        """Queue a callback in the transaction `db`; the outbox listeners hear of it once it commits."""
        self._queued = True
        db.execute("INSERT INTO outbox(agent, orderid, page, params, event_at, next_at) VALUES(?,?,?,?,?,?)",
                   (agent, orderid, page, json.dumps(params, ensure_ascii=False), at, at))
