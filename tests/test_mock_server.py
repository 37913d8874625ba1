"""`ybx-mock serve` as a user runs it: prints where it is, binds 127.0.0.1, admin API behind
a token, movable clock, state kept across a kill -9 and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from mockkit import DEMO
from receiver import free_port
from spec import wire
from spec.protocol import encode_request

TOKEN = "test-token"
WHEN = datetime(2026, 11, 21, 10, 0, tzinfo=timezone(timedelta(hours=8)))


@contextmanager
def serve(db: str, *extra: str):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port), "--db", db,
                             "--admin-token", TOKEN, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/_admin", headers={"X-Admin-Token": TOKEN}, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            proc.kill()
            raise AssertionError(proc.stdout.read())
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def call(spec, base, page, values):
    p = spec.page(page)
    pairs = encode_request(p, values, DEMO, spec.profile())
    r = httpx.get(f"{base}/{p.page}", params=pairs, timeout=10)
    assert r.status_code == 200
    env = wire.parse(r.content, spec.profile().response)
    assert env.verify(DEMO.key, spec.profile().response)
    return env


def test_serve_admin_clock_and_restart_after_kill(spec, tmp_path):
    db = str(tmp_path / "mock.db")
    with serve(db) as (base, proc):
        assert httpx.get(f"{base}/_admin/clock").status_code == 401
        assert httpx.get(f"{base}/_admin/clock", headers={"X-Admin-Token": "wrong"}).status_code == 401
        set_to = httpx.post(f"{base}/_admin/clock", json={"set": "2026-11-21T10:00:00+08:00"},
                            headers={"X-Admin-Token": TOKEN}).json()["now"]
        assert set_to.startswith("2026-11-21T10:00")
        env = call(spec, base, "OrderProducts.aspx", {"Order_list": "P1001|2", "Mobile": "13800138000",
                                                        "ID": "110101199003071234", "SXRQ": "20261125",
                                                        "timespanindex": "-1"})
        assert env.retcode == "0"
        orderid = env.text("Item/orderid")
        moved = httpx.post(f"{base}/_admin/clock", json={"advance": 3600}, headers={"X-Admin-Token": TOKEN}).json()
        assert moved["now"].startswith("2026-11-21T11:00")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with serve(db) as (base, proc):
        assert call(spec, base, "QueryOrder.aspx", {"order_id": orderid}).text("Item/orderstatus") == "0"
        now = httpx.get(f"{base}/_admin/clock", headers={"X-Admin-Token": TOKEN}).json()["now"]
        assert now.startswith("2026-11-21T11:0")  # the moved clock survived the restart
        assert httpx.post(f"{base}/_admin/reset", headers={"X-Admin-Token": TOKEN}).status_code == 200
        assert call(spec, base, "QueryOrder.aspx", {"order_id": orderid}).retcode != "0"


def test_serve_prints_credentials_and_refuses_unknown_faults(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mockserver.cli", "serve", "--fault", "no-such-fault",
                          "--db", str(tmp_path / "x.db")], capture_output=True, text=True)
    assert out.returncode == 2 and "no-such-fault" in out.stderr
    listing = subprocess.run([sys.executable, "-m", "mockserver.cli", "faults"], capture_output=True, text=True, check=True)
    assert len(listing.stdout.strip().splitlines()) >= 12


@pytest.mark.parametrize("workers", ["1", "2"])
def test_concurrent_bookings_of_the_last_tickets_one_wins(spec, tmp_path, workers):
    from concurrent.futures import ThreadPoolExecutor

    values = {"Order_list": "P1004|20", "Mobile": "13800138000", "ID": "110101199003071234", "SXRQ": "20261201",
              "timespanindex": "-1"}
    with serve(str(tmp_path / "race.db"), "--workers", workers) as (base, _):
        httpx.post(f"{base}/_admin/clock", json={"set": "2026-11-21T10:00:00+08:00"}, headers={"X-Admin-Token": TOKEN})
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: call(spec, base, "OrderProducts.aspx", values).retcode, range(8)))
        assert codes.count("0") == 1, codes
        assert set(codes) - {"0"} == {"-10362"}
        agents = httpx.get(f"{base}/_admin/agents", headers={"X-Admin-Token": TOKEN}).json()
        assert agents  # the server is still healthy after the race


def test_wait_command(tmp_path):
    with serve(str(tmp_path / "w.db")) as (base, _):
        up = subprocess.run([sys.executable, "-m", "mockserver.cli", "wait", "--url", base, "--admin-token", TOKEN,
                             "--timeout", "5"], capture_output=True, text=True)
        assert up.returncode == 0
    down = subprocess.run([sys.executable, "-m", "mockserver.cli", "wait", "--url", "http://127.0.0.1:9",
                           "--timeout", "0.5"], capture_output=True, text=True)
    assert down.returncode == 1 and "no mock answered" in down.stderr


def test_a_second_worker_does_not_reseed_a_database_the_first_one_seeded(tmp_path):
    from mockserver.server import seed
    from mockserver.store import Store
    from mockserver.world import load_world

    world = load_world(None)
    db = str(tmp_path / "w.db")
    first, second = Store(db), Store(db)
    try:
        assert seed(first, world, at=WHEN, only_if_empty=True) is True
        with first.transaction() as conn:
            conn.execute("UPDATE agents SET deposit='1.00' WHERE user=?", (world.agents[0].user,))
        assert seed(second, world, at=WHEN, only_if_empty=True) is False
        with second.reading() as conn:
            assert conn.execute("SELECT deposit FROM agents WHERE user=?", (world.agents[0].user,)).fetchone()[0] == "1.00"
        assert seed(second, world, at=WHEN) is True  # reset still replaces everything
    finally:
        first.close()
        second.close()


def test_serve_on_a_taken_port_fails_before_printing_its_banner(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port), "--db",
                              str(tmp_path / "m.db")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip() == f"ybx-mock: cannot listen on 127.0.0.1:{port}: Address already in use (another " \
                                 "mock, or another server? choose another --port)"
    assert "YBX mock supplier" not in run.stdout

def test_serve_clock_seeds_a_new_database_there_and_moves_the_clock_of_a_seeded_one(tmp_path):
    db = str(tmp_path / "clock.db")
    admin = {"X-Admin-Token": TOKEN}
    with serve(db, "--clock", "2028-02-29T10:00:00+08:00", "--workers", "2") as (base, _):
        info = httpx.get(f"{base}/_admin", headers=admin).json()
        assert info["seeded_at"] == "2028-02-29T10:00:00+08:00"  # seeded once, by one of the two workers
        assert datetime.fromisoformat(info["now"]) - datetime.fromisoformat(info["seeded_at"]) < timedelta(minutes=1)
        assert httpx.get(f"{base}/theater/_admin", headers=admin).json()["seeded_at"].startswith("2028-02-29T10:00")
    with serve(db, "--clock", "2029-12-31T23:00:00") as (base, proc):
        banner = [proc.stdout.readline()]
        while "theater supplier" not in banner[-1]:  # the banner's last line
            banner.append(proc.stdout.readline())
        said = [line.strip() for line in banner if "--clock" in line]
        assert said == [f"--clock: {db} is already seeded: the clock is moved to 2029-12-31T23:00:00+08:00, the "
                        "world's days stay as seeded on 2028-02-29 (POST /_admin/reset {\"clock\": …} seeds them "
                        "again from there)"]
        info = httpx.get(f"{base}/_admin", headers=admin).json()
        assert info["seeded_at"] == "2028-02-29T10:00:00+08:00"
        assert info["now"].startswith("2029-12-31T23:0")
