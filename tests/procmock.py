"""`ybx-mock serve` as a real process group for the reliability tests: 127.0.0.1, a free port,
a database the test chooses, every worker up before the test starts, and the whole group
killed (or `kill -9`-ed on purpose) when the test is done."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from receiver import free_port

from spec import wire
from spec.model import Spec
from spec.protocol import Credentials, encode_request

TOKEN = "reliability-token"
READY_LINE = "Application startup complete"  # uvicorn prints it once per worker at log level info


@dataclass
class MockProcess:
    """A running `ybx-mock serve` and the means to talk to it as the supplier and as an OTA."""

    spec: Spec
    proc: subprocess.Popen
    port: int
    db: Path
    log: Path
    host: str = "127.0.0.1"
    token: str = TOKEN
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin(self, method: str, path: str, json: Mapping[str, Any] | None = None, *, supplier: str = "") -> Any:
        """The admin API of the scenic supplier, or with supplier="/theater" of the theater one."""
        r = self.client.request(method, f"{self.base_url}{supplier}/_admin{path}", json=json,
                                headers={"X-Admin-Token": self.token})
        r.raise_for_status()
        return r.json()

    def call(self, page: str, values: Mapping[str, str], creds: Credentials, *, post: bool = False,
             client: httpx.Client | None = None, supplier: str = "") -> wire.Envelope:
        """One signed, encrypted request as an integrator sends it; the verified envelope back.
        `supplier="/theater"` talks to the theater supplier."""
        p = self.spec.page(page)
        pairs = encode_request(p, dict(values), creds, self.spec.profile())
        http = client or self.client
        if post:
            r = http.post(f"{self.base_url}{supplier}/POST/{p.page}", data=dict(pairs))
        else:
            r = http.get(f"{self.base_url}{supplier}/{p.page}", params=pairs)
        if r.status_code != 200:
            raise AssertionError(f"{p.page}: HTTP {r.status_code}: {r.text[:300]}")
        env = wire.parse(r.content, self.spec.profile().response)
        if not env.verify(creds.key, self.spec.profile().response):
            raise AssertionError(f"{p.page}: the answer's sign does not verify: {r.text[:300]}")
        return env

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL the whole process group (supervisor and workers) at once, as a crash does."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL it if it does not end within a few seconds."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.client.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_ready(m: MockProcess, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not m.alive():
            raise RuntimeError(f"ybx-mock serve exited with {m.proc.returncode}:\n{m.output()}")
        if m.output().count(READY_LINE) >= workers:
            try:
                if m.client.get(f"{m.base_url}/_admin", headers={"X-Admin-Token": m.token}, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"ybx-mock serve did not answer within {timeout} s:\n{m.output()}")


def start(spec: Spec, db: Path, *, workers: int = 1, faults: tuple[str, ...] = (), host: str | None = None,
          timeout: float = 30) -> MockProcess:
    """Start `ybx-mock serve` on `db` and wait until every worker has started and the admin API answers.
    `host=None` leaves the CLI's default bind address. A new database is seeded at the wall clock's
    day (restarts on the same database must not move the clock): the reliability tests set the
    mock's clock first and use neither the sold-out day nor the year cards, the world's only dates."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="ybx-mock-", suffix=".log", dir=db.parent)[1])
    argv = [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port), "--db", str(db),
            "--admin-token", TOKEN, "--workers", str(workers), "--log-level", "info"]
    for name in faults:
        argv += ["--fault", name]
    if host is not None:
        argv += ["--host", host]
    with log.open("wb") as out:
        # its own session: the process group is the supervisor and its workers, killed together
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=Path(__file__).resolve().parent.parent)
    m = MockProcess(spec, proc, port, db, log)
    try:
        _wait_ready(m, workers, timeout)
    except BaseException:
        m.stop()
        raise
    return m


@contextmanager
def serving(spec: Spec, db: Path, **kwargs: Any) -> Iterator[MockProcess]:
    """`start`, and stop the process group whatever happens."""
    m = start(spec, db, **kwargs)
    try:
        yield m
    finally:
        m.stop()


def rows(db: Path, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
    """Read the mock's database directly (read-only; WAL lets it run beside a live mock)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, args).fetchall()
