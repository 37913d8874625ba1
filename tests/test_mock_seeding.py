"""The day a world is seeded on: kept in the database with the seeding, so restarts and every
worker resolve the world's relative dates alike; `POST /_admin/reset {"clock": …}` and
`ybx-mock serve --clock` choose it. Expected days are computed from the clock set, never from today."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from mockkit import make_ota
from starlette.testclient import TestClient

from mockserver.app import create_app
from mockserver.server import Settings, build_mock, build_theater_mock
from mockserver.store import Store

TOKEN = {"X-Admin-Token": "demo-admin"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
LEAP = datetime(2028, 2, 29, 10, 0, tzinfo=SHANGHAI)
YEAR_END = datetime(2029, 12, 31, 23, 30, tzinfo=SHANGHAI)
SOLD_OUT = 34  # scenic.yaml: P1004 sold out on "+34d"


def _sold_out(mock) -> tuple[date, ...]:
    return mock.world.product("P1004").sold_out


def _inventory(ota, day: date) -> str:
    env = ota.call("GetProductsInventory.aspx", {"ProductID": "P1004", "StartDate": f"{day:%Y%m%d}",
                                                 "EndDate": f"{day:%Y%m%d}"})
    assert env.retcode == "0", env.retmsg
    return env.text("Item/quantity")


@pytest.fixture
def served(spec, tmp_path):
    """Both suppliers on a file database and the mock's own clock (a StoreClock), as `serve` runs them."""
    settings = Settings(db=str(tmp_path / "m.db"), admin_token=TOKEN["X-Admin-Token"])
    scenic = build_mock(settings, spec=spec)
    theater = build_theater_mock(settings, scenic)
    client = TestClient(create_app(scenic, admin_token=TOKEN["X-Admin-Token"], theater=theater))
    yield scenic, theater, client
    scenic.store.close()
    theater.store.close()


def test_a_frozen_clock_seeds_the_world_on_its_day(spec):
    ota = make_ota(spec, now=LEAP)
    assert _sold_out(ota.mock) == (date(2028, 4, 3),)
    assert ota.mock.world.year_cards[0].ordertime == datetime(2028, 2, 9, 9, 30, 15)  # "-20d 09:30:15"
    assert _inventory(ota, date(2028, 4, 3)) == "-1"
    assert _inventory(ota, date(2028, 4, 2)) != "-1"


@pytest.mark.parametrize("clock", [LEAP, YEAR_END, datetime(2026, 11, 30, 12, 0, tzinfo=SHANGHAI),
                                   datetime(2029, 12, 7, 9, 0, tzinfo=SHANGHAI)])
def test_reset_with_a_clock_seeds_the_world_there(served, clock):
    scenic, _, client = served
    r = client.post("/_admin/reset", json={"clock": clock.isoformat()}, headers=TOKEN)
    assert r.status_code == 200, r.text
    day = clock.date()
    assert r.json()["seed_day"] == day.isoformat() and r.json()["frozen"] is False
    now = datetime.fromisoformat(client.get("/_admin/clock", headers=TOKEN).json()["now"])
    assert timedelta(0) <= now - clock < timedelta(minutes=1)  # running from there
    assert _sold_out(scenic) == (day + timedelta(days=SOLD_OUT),)
    assert datetime.fromisoformat(client.get("/_admin", headers=TOKEN).json()["seeded_at"]) == clock
    cards = {c.orderid: c for c in scenic.world.year_cards}
    assert cards["YK202611150002"].effectdate == day + timedelta(days=10)  # the booked one is ahead
    assert cards["YK202611010001"].deliverytime.date() == day - timedelta(days=20)  # the picked-up ones behind


def test_reset_without_a_clock_takes_the_clock_back_to_wall_time(served):
    scenic, _, client = served
    client.post("/_admin/reset", json={"clock": LEAP.isoformat(), "freeze": True}, headers=TOKEN)
    assert client.get("/_admin/clock", headers=TOKEN).json() == {"now": LEAP.isoformat(), "frozen": True}
    assert client.post("/_admin/reset", headers=TOKEN).status_code == 200
    # the wall clock is what this reset is about: read it to check the clock went back to it
    wall = datetime.now(timezone.utc)
    seeded = scenic.seeded.seed_instant()
    assert abs(scenic.clock.now() - wall) < timedelta(minutes=1) and not scenic.clock.frozen
    assert abs(seeded - wall) < timedelta(minutes=1)
    assert _sold_out(scenic) == (seeded.astimezone(scenic.tz).date() + timedelta(days=SOLD_OUT),)


@pytest.mark.parametrize("body, message", [
    ({"clock": "yesterday"}, "clock 'yesterday' is not an ISO 8601 date-time"),
    ({"clock": "2028-02-30T10:00:00+08:00"}, "is not an ISO 8601 date-time"),
    ({"clock": LEAP.isoformat(), "freeze": "no"}, "freeze must be true or false"),
    ({"freeze": True}, "freeze needs a clock"),
    ({"clok": LEAP.isoformat()}, "unknown field 'clok'"),
    ([LEAP.isoformat()], "the body must be a JSON object"),
])
def test_a_bad_reset_body_is_400_and_changes_nothing(served, body, message):
    scenic, _, client = served
    before = scenic.store.meta("seed_instant")
    r = client.post("/_admin/reset", json=body, headers=TOKEN)
    assert r.status_code == 400 and message in r.json()["error"]
    assert scenic.store.meta("seed_instant") == before


def test_a_naive_reset_clock_is_the_suppliers_time(served):
    scenic, _, client = served
    r = client.post("/_admin/reset", json={"clock": "2027-12-31T23:30:00", "freeze": True}, headers=TOKEN)
    assert r.json()["now"] == "2027-12-31T23:30:00+08:00" and r.json()["seed_day"] == "2027-12-31"


def test_the_theater_reset_moves_the_shared_clock_and_seeds_only_the_theater(served):
    scenic, theater, client = served
    scenic_seeded = scenic.store.meta("seed_instant")
    r = client.post("/theater/_admin/reset", json={"clock": YEAR_END.isoformat(), "freeze": True}, headers=TOKEN)
    assert r.status_code == 200 and r.json()["seed_day"] == "2029-12-31"
    assert client.get("/_admin/clock", headers=TOKEN).json()["now"] == YEAR_END.isoformat()  # one clock for both
    assert datetime.fromisoformat(theater.store.meta("seed_instant")) == YEAR_END
    assert scenic.store.meta("seed_instant") == scenic_seeded  # the scenic world keeps its days
    # without a body the theater leaves the shared clock where it is, and seeds its world there
    client.post("/_admin/clock", json={"set": LEAP.isoformat(), "freeze": True}, headers=TOKEN)
    assert client.post("/theater/_admin/reset", headers=TOKEN).json()["now"] == LEAP.isoformat()
    assert datetime.fromisoformat(theater.store.meta("seed_instant")) == LEAP
    # the scenic reset with a clock moves the theater's clock too, and seeds only the scenic world
    client.post("/_admin/reset", json={"clock": YEAR_END.isoformat(), "freeze": True}, headers=TOKEN)
    assert client.get("/theater/_admin/clock", headers=TOKEN).json()["now"] == YEAR_END.isoformat()
    assert datetime.fromisoformat(theater.store.meta("seed_instant")) == LEAP


def test_reset_with_a_clock_on_a_frozen_test_clock(spec):
    ota = make_ota(spec)
    r = ota.client.post("/_admin/reset", json={"clock": LEAP.isoformat()}, headers=TOKEN)
    assert r.status_code == 200 and ota.mock.clock.now() == LEAP
    assert _sold_out(ota.mock) == (date(2028, 4, 3),)


def test_the_seed_day_survives_a_restart_and_a_moved_clock(spec, tmp_path):
    db = str(tmp_path / "restart.db")
    first = build_mock(Settings(db=db, clock=LEAP), spec=spec)
    assert first.clock.now() - LEAP < timedelta(minutes=1)
    assert _sold_out(first) == (date(2028, 4, 3),)
    first.clock.set(LEAP + timedelta(days=40))  # the clock moves on; the world's days do not
    first.store.close()  # as a kill -9 leaves it: every commit is in the database
    again = build_mock(Settings(db=db), spec=spec)
    try:
        assert again.clock.now() - (LEAP + timedelta(days=40)) < timedelta(minutes=1)
        assert _sold_out(again) == (date(2028, 4, 3),)
        assert datetime.fromisoformat(again.store.meta("seed_instant")) == LEAP
    finally:
        again.store.close()


def test_a_database_seeded_before_the_seed_instant_was_kept_gets_one_at_start(spec, tmp_path):
    db = str(tmp_path / "old.db")
    build_mock(Settings(db=db, clock=LEAP), spec=spec).store.close()
    old = Store(db)
    with old.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE key='seed_instant'")
    old.close()
    mock = build_mock(Settings(db=db), spec=spec)
    try:
        seeded = mock.seeded.seed_instant()  # the clock's instant at this start
        assert seeded is not None and seeded - LEAP < timedelta(minutes=1)
        assert _sold_out(mock) == (seeded.astimezone(mock.tz).date() + timedelta(days=SOLD_OUT),)
    finally:
        mock.store.close()


def test_a_reset_by_one_worker_is_seen_by_another(spec, tmp_path):
    """Two workers: two Mocks, each with its own connection to one database file."""
    db = str(tmp_path / "workers.db")
    one, two = build_mock(Settings(db=db, clock=LEAP), spec=spec), build_mock(Settings(db=db), spec=spec)
    try:
        assert _sold_out(two) == _sold_out(one) == (date(2028, 4, 3),)
        client = TestClient(create_app(one, admin_token=TOKEN["X-Admin-Token"]))
        client.post("/_admin/reset", json={"clock": YEAR_END.isoformat(), "freeze": True}, headers=TOKEN)
        assert _sold_out(two) == (date(2030, 2, 3),)
        assert two.clock.now() == YEAR_END
        with two.store.pinned():  # inside a request, another worker's reset shows from the next request on
            seen = _sold_out(two)
            client.post("/_admin/reset", json={"clock": LEAP.isoformat()}, headers=TOKEN)
            assert _sold_out(two) == seen
        assert _sold_out(two) == (date(2028, 4, 3),)
    finally:
        one.store.close()
        two.store.close()


def test_the_seeded_world_is_a_cached_lookup(spec, tmp_path):
    mock = build_mock(Settings(db=str(tmp_path / "c.db"), clock=LEAP), spec=spec)
    try:
        world = mock.world
        reads: list[str] = []
        mock.store._conn.set_trace_callback(reads.append)
        with mock.store.pinned():
            for _ in range(50):
                assert mock.world is world
        with mock.store.transaction() as conn:  # an order written: not a reason to read the seed instant again
            conn.execute("INSERT INTO stock(productid, day, used) VALUES('P1004', '20280301', 1)")
        assert mock.world is world
        assert not [r for r in reads if "meta" in r]
    finally:
        mock.store.close()


def test_a_world_without_relative_dates_is_never_looked_up(spec):
    ota = make_ota(spec)
    theater = build_theater_mock(Settings(db=":memory:"), ota.mock)
    assert theater.world is theater.template and not theater.template.relative


def _edited_world(tmp_path, price: str):
    from mockserver.world import DEFAULT_WORLD

    path = tmp_path / "world.yaml"
    path.write_text(DEFAULT_WORLD.read_text(encoding="utf-8").replace('price: "100.00"', f'price: "{price}"', 1),
                    encoding="utf-8")
    return path


def test_reset_reads_the_edited_world_file(spec, tmp_path):
    """As the README says, a reset goes back to the world file: an edit made since the start takes
    effect; a file with problems refuses the reset with them and changes nothing."""
    path = _edited_world(tmp_path, "100.00")
    mock = build_mock(Settings(db=str(tmp_path / "e.db"), world=path, clock=LEAP), spec=spec)
    client = TestClient(create_app(mock, admin_token=TOKEN["X-Admin-Token"]))
    try:
        assert mock.world.product("P1001").price == 100
        _edited_world(tmp_path, "123.45")
        assert client.post("/_admin/reset", headers=TOKEN).status_code == 200
        assert str(mock.world.product("P1001").price) == "123.45"
        with mock.store.transaction() as db:
            db.execute("UPDATE agents SET deposit='1.00' WHERE user='demo-ota'")
        path.write_text(path.read_text(encoding="utf-8").replace('price: "123.45"', 'price: "abc"'), encoding="utf-8")
        r = client.post("/_admin/reset", headers=TOKEN)
        assert r.status_code == 400 and f"{path}:" in r.text and "price" in r.text
        assert str(mock.world.product("P1001").price) == "123.45"
        with mock.store.reading() as db:
            assert db.execute("SELECT deposit FROM agents WHERE user='demo-ota'").fetchone()[0] == "1.00"
    finally:
        mock.store.close()


def test_another_worker_follows_a_reset_to_the_edited_world_file(spec, tmp_path):
    path = _edited_world(tmp_path, "100.00")
    db = str(tmp_path / "w.db")
    one, two = (build_mock(Settings(db=db, world=path, clock=LEAP), spec=spec) for _ in range(2))
    try:
        _edited_world(tmp_path, "88.00")
        TestClient(create_app(one, admin_token=TOKEN["X-Admin-Token"])).post("/_admin/reset", headers=TOKEN)
        assert str(two.world.product("P1001").price) == "88.00"
    finally:
        one.store.close()
        two.store.close()
