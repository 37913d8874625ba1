"""The theater (seat-mode) supplier served under /theater/: its nine pages with their success
paths and reachable retcodes, seat holds that follow the order, the seat pay limit (-2008),
fees in hours before the scene start, and the THEATER_MODE refusals both ways."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from mockkit import DEMO, OTHER, START, make_mock
from starlette.testclient import TestClient

from mockserver import instant_pay
from mockserver.app import create_app
from mockserver.context import Mock
from mockserver.server import Settings, build_mock, build_theater_mock, theater_db
from mockserver.world import WorldError
from spec import loader, wire
from spec.fees import quote, scenic_reference
from spec.protocol import Credentials, encode_request

SAT, SUN, MON = "20261121", "20261122", "20261123"  # START is Saturday 2026-11-21 10:00 +08:00
BOOK = {"mobile": "13800138000", "ID": "110101199003071234"}


@dataclass
class Stage:
    """An integrator talking to the theater supplier (and, with prefix "", to the scenic one)."""

    scenic: Mock
    mock: Mock
    client: TestClient

    def call(self, page: str, values: Mapping[str, str] | None = None, creds: Credentials = DEMO,
             prefix: str = "/theater", sign: bool = True) -> wire.Envelope:
        p = self.mock.spec.page(page)
        pairs = encode_request(p, dict(values or {}), creds, self.mock.spec.profile(), sign=sign)
        r = self.client.get(f"{prefix}/{p.page}", params=pairs)
        assert r.status_code == 200, r.text
        env = wire.parse(r.content, self.mock.spec.profile().response)
        assert env.verify(creds.key, self.mock.spec.profile().response), r.text
        return env

    def book(self, scene: str = "S101", day: str = SAT, order_list: str = "TP01|2", seats: str = "",
             creds: Credentials = DEMO, **extra: str) -> wire.Envelope:
        values = {"Order_list": order_list, **BOOK, "TicketDate": day, "SenceID": scene, **extra}
        if seats:
            values["SeatInfo"] = seats
        return self.call("OrderProducts2.aspx", values, creds)

    def pay_in_one(self, page: str, scene: str, day: str, order_list: str, seats: str, money: str,
                   senderid: str, creds: Credentials = DEMO, **extra: str) -> wire.Envelope:
        values = {"Order_list": order_list, **BOOK, "TicketDate": day, "SenceID": scene, "SeatInfo": seats,
                  "smscode": creds.pay_password, "money": money, "smsModel": "0", "senderid": senderid, **extra}
        return self.call(page, values, creds)

    def states(self, area: str, scene: str = "S101", day: str = SAT) -> dict[str, str]:
        env = self.call("QuerySeatsState.aspx", {"SeatAreaID": area, "SenceID": scene, "TicketDate": day})
        assert env.retcode == "0", env.retmsg
        return {i.findtext("SeatID"): i.findtext("SeatState") for i in env.root.findall("Item")}

    def order(self, orderid: str) -> wire.Envelope:
        env = self.call("QueryOrder.aspx", {"order_id": orderid})
        assert env.retcode == "0", env.retmsg
        return env

    def admin(self, method: str, path: str, json: dict | None = None) -> dict:
        r = self.client.request(method, f"/theater/_admin{path}", json=json, headers={"X-Admin-Token": "demo-admin"})
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def stage(spec) -> Stage:
    scenic = make_mock(spec)
    theater = build_theater_mock(Settings(db=":memory:"), scenic)
    return Stage(scenic, theater, TestClient(create_app(scenic, theater=theater)))


def refused(stage: Stage, env: wire.Envelope, page: str, key: str) -> None:
    """The answer is the page's retcode `key` (code and the manual's message up to its placeholder)."""
    retcode = stage.mock.spec.page(page).retcode(key)
    assert retcode is not None, f"{page} has no retcode {key}"
    head = retcode.message_zh.split("ex")[0].split("xxxx")[0]
    assert (env.retcode, env.retmsg[:len(head)]) == (retcode.code, head), env.retmsg


def items(env: wire.Envelope, tag: str) -> list[dict[str, str]]:
    return [{c.tag: (c.text or "") for c in el} for el in env.root.findall(tag)]


# ------------------------------------------------------------------ catalogue pages


def test_theaters_and_scenes_on_sale(stage):
    env = stage.call("QueryTheaterList.aspx")
    assert env.retcode == "0"
    assert [(t["TheaterID"], t["TheaterName"]) for t in items(env, "item")] == \
        [(t.id, t.name) for t in stage.mock.world.stage.theaters]
    # Saturday 10:00: the matinee S102 closed at 09:30, S103 is disabled
    sat = items(stage.call("QueryTheaterSenceList.aspx", {"TheaterID": "T01", "TicketDate": SAT}), "item")
    assert [s["SenceID"] for s in sat] == ["S101"]
    assert sat[0] == {"TheaterID": "T01", "SenceID": "S101", "SenceName": "晚场《游宝星》", "StartTime": "1930",
                      "EndTime": "2130", "SellEndingTime": "1830", "StartCheckTime": "1845", "EndCheckTime": "1945"}
    sun = stage.call("QueryTheaterSenceList.aspx", {"TheaterID": "T01", "TicketDate": SUN})
    assert [s["SenceID"] for s in items(sun, "item")] == ["S101", "S102"]
    page = "QueryTheaterSenceList.aspx"
    refused(stage, stage.call(page, {"TheaterID": "T02", "TicketDate": SUN}), page, "no_sessions")  # no show on Sunday
    refused(stage, stage.call(page, {"TheaterID": "T09", "TicketDate": SAT}), page, "no_sessions")
    refused(stage, stage.call(page, {"TheaterID": "T01"}), page, "missing_params")
    refused(stage, stage.call(page, {"TheaterID": "T01", "TicketDate": "20261321"}), page, "bad_param_value")


def test_no_theaters_defined(spec, tmp_path):
    world = _world(tmp_path, lambda d: d["stage"].update(theaters=[]))
    scenic = make_mock(spec)
    stage = Stage(scenic, theater := build_theater_mock(Settings(db=":memory:", theater_world=world), scenic),
                  TestClient(create_app(scenic, theater=theater)))
    refused(stage, stage.call("QueryTheaterList.aspx"), "QueryTheaterList.aspx", "no_theaters")
    refused(stage, stage.call("GetProducts2.aspx"), "GetProducts2.aspx", "no_products")


def test_get_products2_per_show_with_free_counts(stage):
    env = stage.call("GetProducts2.aspx")
    assert env.retcode == "0"
    rows = items(env, "Item")
    # three days from today, only the shows on sale: Sat S101 S201; Sun S101 S102; Mon S101 S201
    shows = sorted({(r["ticketdate"], r["sceneid"]) for r in rows})
    assert shows == [(SAT, "S101"), (SAT, "S201"), (SUN, "S101"), (SUN, "S102"), (MON, "S101"), (MON, "S201")]
    tp03 = next(r for r in rows if (r["ticketdate"], r["sceneid"], r["productid"]) == (SAT, "S101", "TP03"))
    world = stage.mock.world
    seats = [s for a in world.stage.theaters[0].areas if a.product == "TP03" for s in a.seats]
    assert int(tp03["enablecount"]) == sum(1 for s in seats if not s.fixed) == 59
    assert tp03["price"] == f"{world.product('TP03').price:.2f}" and tp03["theaterid"] == "T01"
    assert tp03["scenenstarttime"] == "1930"
    one = items(stage.call("GetProducts2.aspx", {"TheaterID": "T02", "TicketDate": MON}), "Item")
    assert {(r["theaterid"], r["ticketdate"], r["productid"]) for r in one} == {("T02", MON, "TP11"), ("T02", MON, "TP12")}
    ranged = items(stage.call("GetProducts2.aspx", {"SceneID": "S102", "TicketDate": SAT, "TicketDate2": "20261129"}),
                   "Item")
    assert sorted({r["ticketdate"] for r in ranged}) == [SUN, "20261128", "20261129"]
    stage.book(seats="A3-1-1|A3-1-2", order_list="TP03|2")
    after = items(stage.call("GetProducts2.aspx", {"SceneID": "S101", "TicketDate": SAT}), "Item")
    assert int(next(r for r in after if r["productid"] == "TP03")["enablecount"]) == 57
    page = "GetProducts2.aspx"
    refused(stage, stage.call(page, {"SceneID": "S103"}), page, "no_products")  # disabled
    refused(stage, stage.call(page, {"TicketDate": "20260101"}), page, "no_products")  # not on sale any more
    refused(stage, stage.call(page, {}, sign=False), page, "bad_sign")
    refused(stage, stage.call(page, {"TicketDate": "2026112"}), page, "call_failed")


def test_encrypted_ids_are_required(stage):
    """TheaterID and the other IDs travel 3DES-encrypted; a plain ID is refused."""
    p = stage.mock.spec.page("QueryTheaterSenceList.aspx")
    pairs = encode_request(p, {"TheaterID": "T01", "TicketDate": SAT}, DEMO, stage.mock.spec.profile(), sign=False)
    pairs = [(k, "T01" if k == "TheaterID" else v) for k, v in pairs]
    from spec.signing import request_sign

    pairs.append(("sign", request_sign(pairs, DEMO.key, stage.mock.spec.profile().sign)))
    env = wire.parse(stage.client.get(f"/theater/{p.page}", params=pairs).content, stage.mock.spec.profile().response)
    refused(stage, env, p.page, "call_failed")
    assert items(stage.call(p.page, {"TheaterID": "T01", "TicketDate": SAT}), "item")


def test_seat_areas_rows_and_states(stage):
    page = "QuerySeatAreaList.aspx"
    env = stage.call(page, {"ProductID": "TP03", "SenceID": "S101", "TicketDate": SAT})
    areas = items(env, "item")
    assert [(a["SeatAreaID"], a["SeatAreaName"], a["COLOR"], a["SeatsCount"], a["FreeSeatsCount"]) for a in areas] == \
        [("A3", "楼座左区", "#2980B9", "30", "29"), ("A4", "楼座右区", "#27AE60", "30", "30")]
    refused(stage, stage.call(page, {"ProductID": "TP11", "SenceID": "S101", "TicketDate": SAT}), page, "no_seat_areas")
    refused(stage, stage.call(page, {"ProductID": "TP11", "SenceID": "S201", "TicketDate": SUN}), page, "no_seat_areas")
    refused(stage, stage.call(page, {"ProductID": "TP03", "SenceID": "S101"}), page, "missing_params")
    refused(stage, stage.call(page, {"ProductID": "TP03", "SenceID": "S101", "TicketDate": "20261321"}), page,
            "bad_param_value")

    page = "QueryRowsAndSeatsList.aspx"
    rows = stage.call(page, {"SeatAreaID": "A1"}).root.findall("item")
    assert [r.findtext("SeatRowNum") for r in rows] == ["1", "2", "3"]
    for row, count in zip(rows, (8, 8, 10)):
        seats = {s.findtext("SeatID"): s.findtext("NextSeatID") for s in row.find("Seats").findall("Item")}
        walked, at = [], row.findtext("FirstSeat")
        while at:  # the manual's linked list: FirstSeat, then NextSeatID until it is empty
            walked.append(at)
            at = seats[at]
        assert sorted(walked) == sorted(seats) and len(walked) == count
        assert row.findtext("SeatAlig") == "M" and int(row.findtext("W")) == count * int(row.findtext("SeatWidth"))
    refused(stage, stage.call(page, {"SeatAreaID": "Z9"}), page, "no_seat_view")
    refused(stage, stage.call(page, {}), page, "missing_params")

    page = "QuerySeatsState.aspx"
    fixed = {s.id: s.fixed for t in stage.mock.world.stage.theaters for a in t.areas for s in a.seats if s.fixed}
    assert set(fixed.values()) == set(stage.mock.spec.seat_codes("fixed"))  # the world seeds R, P and F seats
    shown = {**stage.states("A1"), **stage.states("A2"), **stage.states("A3")}
    assert {k: v for k, v in shown.items() if v != "1"} == {k: v for k, v in fixed.items() if k[:2] in ("A1", "A2", "A3")}
    refused(stage, stage.call(page, {"SeatAreaID": "A1", "SenceID": "S201", "TicketDate": SAT}), page, "no_seat_view")
    refused(stage, stage.call(page, {"SeatAreaID": "A1", "SenceID": "S102", "TicketDate": MON}), page, "no_seat_view")
    refused(stage, stage.call(page, {"SeatAreaID": "A1", "SenceID": "S101", "TicketDate": "x"}), page, "bad_param_value")
    refused(stage, stage.call(page, {"SeatAreaID": "A1", "SenceID": "S101"}), page, "missing_params")


def _relabelled(spec, codes: dict[str, str]):
    """The spec with seat-state codes renamed in a copy of its seat-state table."""
    return replace(spec, seat_statuses=tuple(replace(s, code=codes.get(s.code, s.code)) for s in spec.seat_statuses))


def test_seat_answers_follow_the_spec_seat_codes(spec):
    """The mock writes the codes of the spec's seat-state table (roles free, booking, sold): renamed
    there, the seat answers, free counts and holds follow."""
    scenic = make_mock(_relabelled(spec, {"1": "0", "S": "Y", "B": "Z"}))
    theater = build_theater_mock(Settings(db=":memory:"), scenic)
    stage = Stage(scenic, theater, TestClient(create_app(scenic, theater=theater)))
    assert stage.book(seats="A1-2-1|A1-2-2").retcode == "0"
    price = stage.mock.world.product("TP02").price
    env = stage.pay_in_one("OrderAndPayWithYDJ2.aspx", "S101", SAT, "TP02|1", "A2-3-3", f"{price:.2f}", "y-1")
    assert env.retcode == "0", env.retmsg
    a1, a2 = stage.states("A1"), stage.states("A2")
    assert (a1["A1-2-1"], a1["A1-2-2"], a1["A1-2-3"], a1["A1-1-4"], a2["A2-3-3"]) == ("Y", "Y", "0", "P", "Z")
    assert "1" not in {*a1.values(), *a2.values()}
    areas = items(stage.call("QuerySeatAreaList.aspx", {"SenceID": "S101", "TicketDate": SAT, "ProductID": "TP01"}),
                  "item")
    assert [a["FreeSeatsCount"] for a in areas] == [str(list(a1.values()).count("0"))]
    refused(stage, stage.book(seats="A1-2-2|A1-2-3", creds=OTHER), "OrderProducts2.aspx", "call_failed")  # Y is held


def test_a_seat_state_the_spec_does_not_give_the_supplier_is_refused(spec, tmp_path):
    """The world names the states its staff set; the theater mock is refused, naming the world file,
    when one is not a state of role fixed in the spec's seat-state table."""
    from mockserver.world import load_world

    world = _world(tmp_path, lambda d: _t01(d)["seat_states"].update(X=["A1-1-1"]))
    load_world(world)  # the world file alone knows no seat codes
    with pytest.raises(WorldError, match=re.escape(f"{world}:") + r"\d+:\d+: " + re.escape(
            "stage.theaters[0].seat_states.X: seat state 'X' is not one the supplier sets: P, R, F")):
        build_theater_mock(Settings(db=":memory:", theater_world=world), make_mock(spec))
    # the shipped world's R (under repair) is refused once the spec calls that state otherwise
    with pytest.raises(WorldError, match="seat_states.R: seat state 'R' is not one the supplier sets: P, M, F"):
        build_theater_mock(Settings(db=":memory:"), make_mock(_relabelled(spec, {"R": "M"})))
    # a theater world served at the root (--world) is checked the same way
    with pytest.raises(WorldError, match=re.escape(f"{world}:") + r"\d+:\d+: .*seat state 'X'"):
        build_mock(Settings(db=":memory:", world=world, theater_world=None), spec=spec)


# ------------------------------------------------------------------ booking


def test_order_products2_takes_the_seats(stage):
    env = stage.book(seats="A1-2-1|A1-2-2", senderid="ota-1")
    assert env.retcode == "0", env.retmsg
    orderid = env.text("Item/orderid")
    assert env.text("Item/orderstatus") == "0"
    assert env.text("Item/paytimeout") == str(stage.mock.world.stage.seat_pay_minutes)
    assert (env.text("Item/subitem/productid"), env.text("Item/subitem/num")) == ("TP01", "2")
    states = stage.states("A1")
    assert (states["A1-2-1"], states["A1-2-2"], states["A1-2-3"]) == ("S", "S", "1")
    assert stage.order(orderid).text("Item/subitem/seatlistdesc") == "贵宾池座2排1，2座"
    again = stage.book(seats="A1-2-1|A1-2-2", senderid="ota-1")  # the same senderid: the same order, no new seats
    assert (again.retcode, again.text("Item/orderid")) == ("0", orderid)


@pytest.mark.parametrize("kwargs, key", [
    ({"scene": "S999"}, "scene_not_found"),
    ({"scene": "S201", "day": SUN, "order_list": "TP11|1"}, "scene_error"),  # S201 is not performed on Sundays
    ({"scene": "S103"}, "scene_disabled"),
    ({"scene": "S102"}, "scene_booking_closed"),  # the Saturday matinee closed at 09:30
    ({"day": "20261120"}, "presale_after_effect_date"),
    ({"seats": "A1-1-1|A1-1-1"}, "seat_list_parse_failed"),
    ({"seats": "A1-1-1"}, "seat_count_mismatch"),
    ({"seats": "A1-1-1|A9-1-1"}, "seat_area_unknown"),
    ({"seats": "A1-1-1|B1-1-1"}, "seat_area_unknown"),  # a seat of the other theater
    ({"order_list": "TP03|2", "seats": "A3-1-1|A4-1-1"}, "multiple_seat_areas"),
    ({"order_list": "TP01|1", "seats": "A2-3-3"}, "product_seat_mismatch"),
    ({"order_list": "TP01|1|TP02|1", "seats": "A1-1-1|A1-1-2"}, "product_seat_mismatch"),
    ({"order_list": "TP11|1"}, "price_not_found"),  # sold in the other theater only
    ({"order_list": "P1001|1"}, "price_not_found"),
    ({"scene": "S201", "day": MON, "order_list": "TP12|1", "seats": "B2-1-1"}, "realname_info_missing"),
    ({"order_list": "TP01|2", "seats": "A1-1-1|A1-1-2",
      "Memo": "110101199003071234^甲^13800138000^1^1|110101199003071234^乙^13800138000^1^1", "IDCount": "2"},
     "duplicate_id_number"),
    ({"order_list": "TP01|1", "seats": "A1-1-1", "Memo": "110101199003071234^甲^13800138000^1^1|"
      "110101199003071235^乙^13800138000^1^1", "IDCount": "2"}, "realname_count_exceeds_tickets"),
    ({"order_list": "TP01|2", "seats": "A1-1-1|A1-1-2", "Memo": "110101199003071234^甲^13800138000^1^1",
      "IDCount": "2"}, "realname_count_mismatch"),
])
def test_order_products2_refusals(stage, kwargs, key):
    env = stage.book(**{"seats": "A1-1-1|A1-1-2", **kwargs})
    refused(stage, env, "OrderProducts2.aspx", key)
    with stage.mock.store.reading() as db:  # a refusal leaves nothing behind
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM seats WHERE orderid!=''").fetchone()[0] == 0


def test_taken_and_fixed_seats_cannot_be_booked(stage):
    assert stage.book(seats="A1-3-1|A1-3-2").retcode == "0"
    for creds, seats in ((OTHER, "A1-3-2|A1-3-3"), (DEMO, "A1-3-1|A1-3-9"), (DEMO, "A1-1-4|A1-1-6")):  # A1-1-4 is P
        env = stage.book(seats=seats, creds=creds)
        refused(stage, env, "OrderProducts2.aspx", "call_failed")
        assert "已被占用" in env.retmsg
    states = stage.states("A1")
    assert (states["A1-3-3"], states["A1-3-9"], states["A1-1-6"], states["A1-1-4"]) == ("1", "1", "1", "P")


def test_seatless_bookings_keep_to_the_free_seats(stage):
    free = sum(1 for s in stage.mock.world.stage.area("A1").seats if not s.fixed)
    for _ in range(free // 10):
        assert stage.book(order_list="TP01|10").retcode == "0"
    left = free % 10
    env = stage.book(order_list=f"TP01|{left + 1}")
    refused(stage, env, "OrderProducts2.aspx", "call_failed")
    assert stage.mock.spec.reason("daily_limit_reached").zh in env.retmsg  # the room left is in X-YBX-Detail only
    assert stage.book(order_list=f"TP01|{left}").retcode == "0"
    products = items(stage.call("GetProducts2.aspx", {"SceneID": "S101", "TicketDate": SAT}), "Item")
    assert next(r for r in products if r["productid"] == "TP01")["enablecount"] == "0"


def test_theater_choices_are_read_from_the_spec_gaps(tmp_path):
    """The words of a taken seat, the key refusing a seat-less booking without room and the page
    wording the one-step pages' seat refusals are values of the spec's gaps: changed there, the
    answers change (gaps orderproducts2-seat-taken, orderproducts2-seatless-room,
    orderandpaywithydj2-scene-seat-refusals)."""
    root = tmp_path / "data"
    shutil.copytree(loader.DATA_DIR, root)
    for name, old, new in (("OrderProducts2", 'value: "座位{seats}已被占用，不能预订"', 'value: "座位{seats}已售出，请另选"'),
                           ("OrderProducts2", "value: daily_limit_reached", "value: save_order_failed"),
                           ("OrderAndPayWithYDJ2", "value: OrderProducts2.aspx", "value: GetProducts2.aspx")):
        path = root / "pages" / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, (name, old)
        path.write_text(text.replace(old, new), encoding="utf-8")
    spec = loader.load_spec(root)
    scenic = make_mock(spec)
    theater = build_theater_mock(Settings(db=":memory:"), scenic)
    stage = Stage(scenic, theater, TestClient(create_app(scenic, theater=theater)))
    assert stage.book(seats="A1-3-1|A1-3-2").retcode == "0"
    env = stage.book(seats="A1-3-2|A1-3-3", creds=OTHER)
    refused(stage, env, "OrderProducts2.aspx", "call_failed")
    assert "座位A1-3-2已售出，请另选" in env.retmsg and "已被占用" not in env.retmsg
    env = stage.book(order_list="TP01|10", creds=OTHER)
    assert stage.book(order_list="TP01|10").retcode == "0"
    env = stage.book(order_list="TP01|10")  # 24 free seats less 2 held less 10 booked seat-less
    refused(stage, env, "OrderProducts2.aspx", "save_order_failed")
    env = stage.pay_in_one("OrderAndPayWithYDJ2.aspx", "S101", SAT, "TP02|1", "A2-2-1|A2-2-2", "380.00", "w-1")
    refused(stage, env, "OrderAndPayWithYDJ2.aspx", "call_failed")
    # GetProducts2.aspx words no seat-count refusal: the spec's reasons table does
    assert env.retmsg.endswith(spec.reason("seat_count_mismatch").zh + "；"), env.retmsg


def test_one_step_pages_pay_and_sell_the_seats(stage):
    price = stage.mock.world.product("TP02").price
    env = stage.pay_in_one("OrderAndPayWithYDJ2.aspx", "S101", SAT, "TP02|2", "A2-3-3|A2-3-4", f"{price * 2:.2f}", "y-1")
    assert env.retcode == "0", env.retmsg
    env = stage.pay_in_one("OrderAndPayWithFK2.aspx", "S101", SAT, "TP03|1", "A3-1-1", "180.00", "f-1",
                           NeedInvoice="1")
    assert env.retcode == "0", env.retmsg
    assert stage.states("A2")["A2-3-3"] == stage.states("A2")["A2-3-4"] == "B"
    assert stage.states("A3")["A3-1-1"] == "B"
    with stage.mock.store.reading() as db:
        orders = {r["senderid"]: r for r in db.execute("SELECT * FROM orders").fetchall()}
        agent = db.execute("SELECT * FROM agents WHERE user=?", (DEMO.user,)).fetchone()
    assert (orders["y-1"]["status"], orders["f-1"]["status"]) == ("2", "C")
    assert orders["f-1"]["need_invoice"] == "0"  # no invoice for rebate purchases
    assert (Decimal(agent["deposit_held"]), Decimal(agent["rebate_held"])) == (price * 2, Decimal("180.00"))
    again = stage.pay_in_one("OrderAndPayWithYDJ2.aspx", "S101", SAT, "TP02|2", "A2-3-3|A2-3-4", f"{price * 2:.2f}",
                             "y-1")
    assert again.retcode == "0"  # the same senderid: the same paid order, nothing taken twice
    with stage.mock.store.reading() as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 2
    # the optional Item of the spec (gap orderandpaywithydj2-no-response-xml) names the order created
    assert (again.text("Item/order_id"), again.text("Item/senderid"), again.text("Item/status")) == \
        (orders["y-1"]["orderid"], "y-1", "2")


@pytest.mark.parametrize("page", ["OrderAndPayWithYDJ2.aspx", "OrderAndPayWithFK2.aspx"])
def test_one_step_page_refusals(stage, page):
    def pay(scene="S101", day=SAT, order_list="TP01|1", seats="A1-2-5", money="580.00", **extra):
        return stage.pay_in_one(page, scene, day, order_list, seats, money, "r-1", **extra)

    refused(stage, pay(order_list="TP11|1"), page, "product_not_bookable")
    refused(stage, pay(day="20270201"), page, "presale_date_out_of_range")
    refused(stage, pay(day="20261120"), page, "presale_after_effect_date")
    refused(stage, pay(scene="S201", day=MON, order_list="TP12|1", seats="B2-1-1", money="160.00"), page,
            "realname_info_missing")
    # refusals this page lists no retcode for: call_failed worded as OrderProducts2.aspx words them
    sibling = stage.mock.spec.page("OrderProducts2.aspx")
    for kwargs, key in (({"scene": "S103"}, "scene_disabled"), ({"seats": "A1-2-5|A1-2-6"}, "seat_count_mismatch"),
                        ({"scene": "S102"}, "scene_booking_closed")):
        env = pay(**kwargs)
        refused(stage, env, page, "call_failed")
        assert sibling.retcode(key).message_zh.rstrip("。.") in env.retmsg
    refused(stage, pay(money="1.00"), page, "call_failed")
    env = pay(smscode="000000")
    refused(stage, env, page, "call_failed")
    with stage.mock.store.reading() as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0
    assert stage.states("A1")["A1-2-5"] == "1"


# ------------------------------------------------------------------ the seat life-cycle


def test_full_flow_list_to_seats_to_pay_to_cancel(stage):
    theater = items(stage.call("QueryTheaterList.aspx"), "item")[0]["TheaterID"]
    scene = items(stage.call("QueryTheaterSenceList.aspx", {"TheaterID": theater, "TicketDate": MON}), "item")[0]
    products = items(stage.call("GetProducts2.aspx", {"TheaterID": theater, "SceneID": scene["SenceID"],
                                                      "TicketDate": MON}), "Item")
    product = next(p for p in products if p["productid"] == "TP02")
    area = items(stage.call("QuerySeatAreaList.aspx", {"ProductID": product["productid"], "SenceID": scene["SenceID"],
                                                        "TicketDate": MON}), "item")[0]
    row = stage.call("QueryRowsAndSeatsList.aspx", {"SeatAreaID": area["SeatAreaID"]}).root.findall("item")[4]
    states = stage.states(area["SeatAreaID"], scene["SenceID"], MON)
    first = row.findtext("FirstSeat")
    chosen = [first, row.find("Seats").findall("Item")[0].findtext("NextSeatID")]
    assert all(states[s] == "1" for s in chosen)
    env = stage.book(scene["SenceID"], MON, f"{product['productid']}|2", "|".join(chosen))
    assert env.retcode == "0", env.retmsg
    orderid = env.text("Item/orderid")
    total = Decimal(product["price"]) * 2
    paid = stage.call("UseAccountToPayByPwd.aspx", {"Order_id": orderid, "money": f"{total:.2f}", "Smscode": "123456",
                                                    "smsModel": "0"})
    assert paid.retcode == "0", paid.retmsg
    assert [stage.states(area["SeatAreaID"], scene["SenceID"], MON)[s] for s in chosen] == ["B", "B"]
    assert stage.order(orderid).text("Item/orderstatus") == "2"
    assert stage.call("CancelOrder.aspx", {"Order_id": orderid}).retcode == "0"
    assert [stage.states(area["SeatAreaID"], scene["SenceID"], MON)[s] for s in chosen] == ["1", "1"]
    order = stage.order(orderid)
    assert order.text("Item/orderstatus") == "4"
    assert order.text("Item/subitem/seatlistdesc") == f"{area['SeatAreaName']}5排1，2座"  # what the order had
    assert stage.book(scene["SenceID"], MON, f"{product['productid']}|2", "|".join(chosen), creds=OTHER).retcode == "0"


def _seat_descs(stage: Stage, orderid: str) -> list[str]:
    """GetTicketContext's seatdesc of each of the order's tickets."""
    codes = [t.findtext("ticketcode") for t in stage.call("GetTicketList.aspx", {"orderid": orderid})
             .root.findall("Item/tickets/ticket")]
    return [stage.call("GetTicketContext.aspx", {"orderid": orderid, "ticketcode": c}).text("Item/seatdesc")
            for c in codes]


def test_a_tickets_seatdesc_names_its_own_seats(stage):
    group = stage.book(seats="A1-2-1|A1-2-2").text("Item/orderid")
    stage.admin("POST", "/events/desk-pay", {"orderid": group})
    assert _seat_descs(stage, group) == ["贵宾池座2排1，2座"]  # one ticket for both: the line's seats
    memo = "110101199003071234^甲^13800138000^1^1|110101199003071235^乙^13800138001^1^1"
    named = stage.book("S201", MON, "TP12|2", "B2-1-3|B2-1-4", Memo=memo, IDCount="2")
    assert named.retcode == "0", named.retmsg
    stage.admin("POST", "/events/desk-pay", {"orderid": named.text("Item/orderid")})
    assert _seat_descs(stage, named.text("Item/orderid")) == ["后区1排3座", "后区1排4座"]  # a person, a seat
    seatless = stage.book(order_list="TP01|1").text("Item/orderid")  # seats assigned later
    stage.admin("POST", "/events/desk-pay", {"orderid": seatless})
    assert _seat_descs(stage, seatless) == [""]  # allow_empty (gap getticketcontext-seatdesc-words)


def test_delivery_sells_and_instant_refund_frees(stage):
    env = stage.book(seats="A2-4-1|A2-4-2", order_list="TP02|2")
    desk = env.text("Item/orderid")
    stage.admin("POST", "/events/desk-pay", {"orderid": desk})
    assert stage.order(desk).text("Item/orderstatus") == "X"
    env = stage.book(seats="A2-4-3", order_list="TP02|1", creds=OTHER)
    instant = env.text("Item/orderid")
    begun = stage.call("BeginToPay.aspx", {"Order_id": instant, "Paychannelid": "支付宝"}, OTHER)
    assert begun.retcode == "0", begun.retmsg
    stage.admin("POST", "/events/payment-success", {"orderid": instant})
    assert stage.states("A2")["A2-4-3"] == "B"
    assert stage.call("ApplyRefund.aspx", {"Order_id": instant, "PaybackReason": "行程变更"}, OTHER).retcode == "0"
    assert stage.states("A2")["A2-4-3"] == "B"  # still held while the refund is under way
    stage.admin("POST", "/events/approve-refund", {"orderid": instant})
    stage.admin("POST", "/events/refund-paid", {"orderid": instant})
    states = stage.states("A2")
    assert (states["A2-4-1"], states["A2-4-2"], states["A2-4-3"]) == ("B", "B", "1")


@pytest.mark.parametrize("creds", [DEMO, OTHER])  # with and without desk payment: the seat limit applies to both
def test_unpaid_seats_expire_with_the_seat_pay_limit(stage, creds):
    env = stage.book(seats="A1-3-5|A1-3-6", creds=creds)
    orderid = env.text("Item/orderid")
    minutes = stage.mock.world.stage.seat_pay_minutes
    stage.mock.clock.advance(minutes * 60 - 1)
    assert stage.states("A1")["A1-3-5"] == "S"
    stage.mock.clock.advance(1)
    assert stage.states("A1")["A1-3-5"] == stage.states("A1")["A1-3-6"] == "1"
    assert stage.call("QueryOrder.aspx", {"order_id": orderid}, creds).text("Item/orderstatus") == "4"


def test_paying_after_the_seat_limit_is_2008(stage):
    orderid = stage.book(seats="A1-3-7|A1-3-8").text("Item/orderid")
    seatless = stage.book(order_list="TP01|1").text("Item/orderid")  # no seats: no seat limit for a desk agent
    stage.mock.clock.advance(stage.mock.world.stage.seat_pay_minutes * 60 + 60)
    env = stage.call("BeginToPay.aspx", {"Order_id": orderid, "Paychannelid": "支付宝"})
    refused(stage, env, "BeginToPay.aspx", "pay_time_limit_exceeded")
    assert env.retcode == "-2008"
    assert stage.states("A1")["A1-3-7"] == "1"
    env = stage.call("UseAccountToPayByPwd.aspx", {"Order_id": orderid, "money": "1160.00", "Smscode": "123456",
                                                   "smsModel": "0"})
    refused(stage, env, "UseAccountToPayByPwd.aspx", "order_not_found_or_not_booking")
    assert stage.order(seatless).text("Item/orderstatus") == "0"


def test_cancel_fee_counts_hours_before_the_scene_start(stage):
    """Cancelling 30 h and 3 h before the start costs what rule (h) gives against the scene start
    (fee_bands.theater_reference), not against the scenic reference of the effect date."""
    day, scene = "20261125", stage.mock.world.stage.scene("S101")
    start = scene.starts_at(datetime.strptime(day, "%Y%m%d").date(), stage.mock.tz)
    product = stage.mock.world.product("TP02")
    bands = stage.mock.profile.fee_bands
    fees = {}
    for n, hours in enumerate((30, 3)):
        stage.mock.clock.set(start - timedelta(hours=hours, minutes=30))
        env = stage.pay_in_one("OrderAndPayWithYDJ2.aspx", "S101", day, "TP02|2", f"A2-6-{n * 2 + 1}|A2-6-{n * 2 + 2}",
                               f"{product.price * 2:.2f}", f"fee-{hours}")
        assert env.retcode == "0", env.retmsg
        with stage.mock.store.reading() as db:
            orderid = db.execute("SELECT orderid FROM orders WHERE senderid=?", (f"fee-{hours}",)).fetchone()[0]
        at = start - timedelta(hours=hours)
        stage.mock.clock.set(at)
        assert stage.call("CancelOrder.aspx", {"Order_id": orderid}).retcode == "0"
        with stage.mock.store.reading() as db:
            charged = -sum(Decimal(r[0]) for r in db.execute(
                "SELECT amount FROM transactions WHERE orderid=? AND kind='fee'", (orderid,)).fetchall())
        oracle = quote(product.feeitems, product.price, start, at, bands).per_ticket * 2
        scenic = quote(product.feeitems, product.price, scenic_reference(start.date(), bands), at, bands).per_ticket * 2
        assert charged == oracle != scenic
        assert stage.order(orderid).text("Item/totalfees") == f"{oracle:.2f}"
        fees[hours] = charged
    assert fees[3] > fees[30] > 0



def test_refund_record_basis_is_the_feeitem_against_the_scene_start(stage):
    """The calculation basis of a theater refund record (instant_pay.fee_item) is the feeitem rule (h)
    picks against the scene start: 30 h ahead that is the 48 h item, where the scenic reference (00:00
    of the show day, 10.5 h ahead) would give the 24 h one."""
    day, scene = "20261125", stage.mock.world.stage.scene("S101")
    start = scene.starts_at(datetime.strptime(day, "%Y%m%d").date(), stage.mock.tz)
    product = stage.mock.world.product("TP02")
    bands = stage.mock.profile.fee_bands
    env = stage.book("S101", day, "TP02|1", "A2-5-1")
    assert env.retcode == "0", env.retmsg
    with stage.mock.store.reading() as db:
        order = db.execute("SELECT * FROM orders WHERE orderid=?", (env.text("Item/orderid"),)).fetchone()
    at = start - timedelta(hours=30)
    item = instant_pay.fee_item(stage.mock, "TP02", product.price, order, at)
    scenic = quote(product.feeitems, product.price, scenic_reference(start.date(), bands), at, bands).item
    assert item == quote(product.feeitems, product.price, start, at, bands).item
    assert (item.unit, item.unitcount, scenic.unitcount) == ("H", 48, 24)


# ------------------------------------------------------------------ modes, serving


def required_values(stage: Stage, page) -> dict[str, str]:
    """Well-formed values for the page's required parameters (the mode is checked after decoding)."""
    values = {}
    for p in page.params:
        if p.required and p.name.lower() not in ("sign", "user", "password"):
            values[p.name] = p.values[0] if p.values else stage.mock.spec.format(p.format).example if p.format else "1"
    return values


def test_theater_mode_refusals_both_ways(stage):
    scenic_only = [p for p in stage.mock.spec.request_pages if p.mode == "scenic"]
    theater_only = [p for p in stage.mock.spec.request_pages if p.mode == "theater"]
    assert len(scenic_only) >= 5 and len(theater_only) == 9
    for page in scenic_only:
        env = stage.call(page.page, required_values(stage, page))
        key = page.mode_refusal or ("theater_mode" if page.retcode("theater_mode") else "call_failed")
        refused(stage, env, page.page, key)
        assert key == "other_error" or "THEATER_MODE" in env.retmsg
    assert stage.call("GetProducts.aspx").retmsg.startswith("系统工作模式为 THEATER_MODE")
    for page in theater_only:
        env = stage.call(page.page, required_values(stage, page), prefix="")
        refused(stage, env, page.page, page.mode_refusal or "call_failed")
        assert page.mode_refusal or stage.mock.spec.reason("scenic_mode").zh in env.retmsg
    assert stage.call("GetProducts.aspx", prefix="").retcode == "0"


def test_shared_clock_admin_and_databases(stage, spec, tmp_path):
    moved = stage.admin("POST", "/clock", {"advance": 3600})["now"]
    assert moved.startswith("2026-11-21T11:00") and stage.scenic.now() == stage.mock.now()
    assert stage.admin("GET", "")["world"].endswith("theater.yaml")
    assert stage.client.get("/_admin", headers={"X-Admin-Token": "demo-admin"}).json()["world"].endswith("scenic.yaml")
    assert theater_db(str(tmp_path / "ybx-mock.db")) == str(tmp_path / "ybx-mock.theater.db")
    assert theater_db(":memory:") == ":memory:"
    assert build_theater_mock(Settings(db=":memory:", theater_world=None), stage.scenic) is None
    scenic = make_mock(spec, db=str(tmp_path / "m.db"), now=START)
    theater = build_theater_mock(Settings(db=str(tmp_path / "m.db")), scenic)
    assert theater.store.path == str(tmp_path / "m.theater.db") and theater.clock is scenic.clock
    bare = TestClient(create_app(scenic))
    assert bare.get("/theater/QueryTheaterList.aspx").status_code == 404


def test_post_pages_under_theater(stage):
    p = stage.mock.spec.page("QueryTheaterList.aspx")
    pairs = encode_request(p, {}, DEMO, stage.mock.spec.profile())
    r = stage.client.post(f"/theater/POST/{p.page}", data=dict(pairs))
    env = wire.parse(r.content, stage.mock.spec.profile().response)
    assert (r.status_code, env.retcode) == (200, "0") and items(env, "item")
    assert stage.client.get(f"/theater/POST/{p.page}", params=pairs).status_code == 405


def _world(tmp_path, edit) -> Path:
    import yaml

    from mockserver.server import DEFAULT_THEATER_WORLD

    data = yaml.safe_load(DEFAULT_THEATER_WORLD.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _t01(data: dict) -> dict:
    return data["stage"]["theaters"][0]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("stage"), "stage: missing: a theater-mode world needs a stage section"),
    (lambda d: d["supplier"].update(mode="scenic"), "stage: only a theater-mode world has a stage section"),
    (lambda d: _t01(d)["areas"][0].update(product="P404"), "areas[0].product: unknown product 'P404'"),
    (lambda d: _t01(d)["areas"][0].update(rows=[8, 0]), "areas[0].rows[1]: 0 is not a whole number, 1 or more"),
    (lambda d: _t01(d)["seat_states"].update(R=["A1-9-9"]), "seat_states.R[0]: unknown seat 'A1-9-9'"),
    (lambda d: _t01(d)["scenes"][0].update(start=1170), "start: 1170 is not a time HH:MM; quote it in YAML"),  # unquoted 19:30
    (lambda d: _t01(d)["scenes"][0].update(weekdays=[0]), "weekdays[0]: 0 is not an ISO weekday"),
    (lambda d: d["stage"]["theaters"][1]["areas"][0].update(id="A1"), "theaters[1].areas[0].id: duplicate area id 'A1'"),
    (lambda d: d["stage"].update(seat_pay_minutes=0), "stage.seat_pay_minutes: 0 is not a whole number, 1 or more"),
])
def test_broken_theater_worlds_are_refused(tmp_path, edit, message):
    from mockserver.world import WorldError, load_world

    with pytest.raises(WorldError, match=re.escape(message)):
        load_world(_world(tmp_path, edit))


def test_random_theater_requests_never_break_the_supplier(stage):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    world = stage.mock.world.stage
    ids = [x.id for t in world.theaters for x in (t, *t.scenes, *t.areas)] + ["A1-1-1", "A1-1-4", "A2-2-2|A2-2-3"]
    value = st.one_of(st.sampled_from(ids + [SAT, SUN, "20261120", "TP01|1", "TP02|2", "TP12|1", "580.00", "0"]),
                      st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12))
    pages = [p for p in stage.mock.spec.request_pages if p.mode == "theater"]

    def snapshot():
        with stage.mock.store.reading() as db:
            return [db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in ("orders", "seats", "agents")]

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(pages), st.lists(value, min_size=12, max_size=12))
    def run(page, values):
        names = [p.name for p in page.params if p.name.lower() not in ("sign", "user", "password", "sign_type",
                                                                        "input_charset")]
        before = snapshot()
        env = stage.call(page.page, dict(zip(names, values)))
        assert env.retcode and "internal error" not in env.retmsg, env.retmsg
        if env.retcode != "0":
            assert snapshot() == before

    run()
