"""No seat is sold twice: agents racing for the same seats through a live `ybx-mock serve`
(theater supplier under /theater/, 1 and 2 workers) get exactly one winner; the judge is shown
to fail against the oversell fault. Also what `serve` prints and `--no-theater`."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from mockkit import DEMO, OTHER
from procmock import MockProcess, rows, serving
from test_mock_server import TOKEN, serve

from spec import wire
from spec.protocol import Credentials, encode_request

SEATS = "A1-2-3|A1-2-4"
RACERS = 8


def theater_call(m: MockProcess, page: str, values: dict[str, str], creds: Credentials) -> wire.Envelope:
    p = m.spec.page(page)
    pairs = encode_request(p, values, creds, m.spec.profile())
    with httpx.Client(timeout=30) as client:  # one connection per racer
        r = client.get(f"{m.base_url}/theater/{p.page}", params=pairs)
    assert r.status_code == 200, r.text
    env = wire.parse(r.content, m.spec.profile().response)
    assert env.verify(creds.key, m.spec.profile().response)
    return env


def race(m: MockProcess) -> list[wire.Envelope]:
    m.admin("POST", "/clock", {"set": "2026-11-21T10:00:00+08:00"})
    values = {"Order_list": "TP01|2", "mobile": "13800138000", "ID": "110101199003071234", "TicketDate": "20261128",
              "SenceID": "S101", "SeatInfo": SEATS}
    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(lambda i: theater_call(m, "OrderProducts2.aspx", values, (DEMO, OTHER)[i % 2]),
                             range(RACERS)))


def holders(db: Path) -> dict[str, list[str]]:
    """Seat -> the orders holding it that are not closed (what 'sold twice' would show)."""
    out: dict[str, list[str]] = {}
    for r in rows(db, "SELECT s.seat, s.orderid FROM order_seats s JOIN orders o ON o.orderid=s.orderid "
                      "WHERE o.status!='4'"):
        out.setdefault(r["seat"], []).append(r["orderid"])
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_one_winner_per_seat(spec, tmp_path, workers):
    with serving(spec, tmp_path / "race.db", workers=workers) as m:
        answers = race(m)
        won = [e for e in answers if e.retcode == "0"]
        assert len(won) == 1, [e.retmsg for e in answers]
        taken = spec.page("OrderProducts2.aspx").retcode("call_failed")
        assert all(e.retcode == taken.code and "已被占用" in e.retmsg for e in answers if e.retcode != "0")
        db = tmp_path / "race.theater.db"
        winner = won[0].text("Item/orderid")
        assert holders(db) == {s: [winner] for s in SEATS.split("|")}
        table = rows(db, "SELECT seat, state, orderid FROM seats WHERE scene='S101' AND day='20261128'")
        assert {(r["seat"], r["state"], r["orderid"]) for r in table} == {(s, "S", winner) for s in SEATS.split("|")}
        state = theater_call(m, "QuerySeatsState.aspx", {"SeatAreaID": "A1", "SenceID": "S101",
                                                         "TicketDate": "20261128"}, OTHER)
        shown = {i.findtext("SeatID"): i.findtext("SeatState") for i in state.root.findall("Item")}
        assert [shown[s] for s in SEATS.split("|")] == ["S", "S"]
        assert not rows(tmp_path / "race.db", "SELECT 1 FROM orders")  # the scenic supplier saw nothing


def test_the_judge_fails_when_seats_are_oversold(spec, tmp_path):
    with serving(spec, tmp_path / "over.db", faults=("oversell",)) as m:
        answers = race(m)
        assert sum(e.retcode == "0" for e in answers) > 1
        assert any(len(orders) > 1 for orders in holders(tmp_path / "over.theater.db").values())


def test_serve_prints_the_theater_supplier_and_can_leave_it_out(spec, tmp_path):
    with serving(spec, tmp_path / "p.db") as m:
        assert f"{m.base_url}/theater/{{Page}}.aspx" in m.output()
        assert "p.theater.db" in m.output()
        assert httpx.get(f"{m.base_url}/theater/_admin", headers={"X-Admin-Token": m.token}).status_code == 200
    with serve(str(tmp_path / "n.db"), "--no-theater") as (base, _):
        assert httpx.get(f"{base}/theater/_admin", headers={"X-Admin-Token": TOKEN}).status_code == 404
    assert not (tmp_path / "n.theater.db").exists()
    bad = subprocess.run([sys.executable, "-m", "mockserver.cli", "serve", "--db", str(tmp_path / "x.db"),
                          "--theater-world", str(Path(__file__).parent.parent / "mockserver/worlds/scenic.yaml")],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "supplier.mode" in bad.stderr and "world of mode theater" in bad.stderr
