"""The mock's interface-page fast path (mockserver/app.py MockApp): pages skip the router, yet every
path is answered exactly as the router would answer it."""

from __future__ import annotations

import sqlite3

import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import mockserver.app as app_module
from mockserver.app import MockApp, create_app
from mockserver.memo import AnswerMemo
from mockserver.server import Settings, build_theater_mock
from spec import wire
from spec.protocol import encode_request
from mockkit import DEMO, OTHER, Ota, make_mock


def _pairs(mock, page: str, values: dict[str, str]) -> list[tuple[str, str]]:
    return encode_request(mock.spec.page(page), values, DEMO, mock.spec.profile())


def _retcode(response, spec) -> str:
    assert response.status_code == 200, response.text
    return wire.parse(response.content, spec.profile().response).retcode


@pytest.fixture
def ota(spec) -> Ota:
    mock = make_mock(spec)
    return Ota(mock, TestClient(create_app(mock)))


class Counting:
    """Counts `Route.matches` calls: the router walking its routes."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        real = Route.matches

        def matches(route, scope):
            self.calls += 1
            return real(route, scope)

        monkeypatch.setattr(Route, "matches", matches)


def test_a_page_request_is_answered_without_walking_the_routes_again(ota, monkeypatch):
    orderid = ota.book()
    counting = Counting(monkeypatch)
    assert ota.status(orderid) == "0"  # first time: the path is checked against the routes before the pages
    first = counting.calls
    assert first > 0
    for _ in range(3):
        assert ota.status(orderid) == "0"
    assert counting.calls == first, "a known page path walked the router again"


def test_any_spelling_of_page_and_post_folder_takes_the_page(ota):
    orderid = ota.book()
    pairs = _pairs(ota.mock, "QueryOrder.aspx", {"order_id": orderid})
    for path in ("/QueryOrder.aspx", "/queryorder.ASPX"):
        assert _retcode(ota.client.get(path, params=pairs), ota.mock.spec) == "0"
    for path in ("/POST/QueryOrder.aspx", "/post/queryorder.aspx", "/Post/QUERYORDER.aspx"):
        assert _retcode(ota.client.post(path, data=dict(pairs)), ota.mock.spec) == "0"


def test_paths_the_router_refuses_are_refused_the_same_way(ota):
    get = ota.client.get
    assert get("/NoSuchPage.aspx").status_code == 404
    assert get("/other/QueryOrder.aspx").status_code == 404  # only the POST folder holds pages
    assert get("/POST/QueryOrder.aspx").status_code == 405  # the POST folder takes POST only
    assert ota.client.post("/QueryOrder.aspx").status_code == 405
    assert ota.client.put("/QueryOrder.aspx").status_code == 405  # the router's method refusal
    assert get("/a/b/QueryOrder.aspx").status_code == 404
    assert get("/_admin/agents").status_code == 401  # routes before the pages still answer


def test_a_route_listed_before_the_pages_keeps_its_path(spec):
    mock = make_mock(spec)
    shadow = Route("/QueryOrder.aspx", lambda request: PlainTextResponse("shadow"))
    client = TestClient(create_app(mock, extra_routes=[shadow]))
    assert client.get("/QueryOrder.aspx").text == "shadow"
    assert client.get("/queryorder.aspx").status_code == 200  # another spelling is not that route's: the page
    assert client.get("/queryorder.aspx").text != "shadow"


def test_theater_pages_under_their_mount_take_the_theater_supplier(spec):
    scenic = make_mock(spec)
    theater = build_theater_mock(Settings(db=":memory:"), scenic)
    client = TestClient(create_app(scenic, theater=theater))
    pairs = _pairs(scenic, "QueryOrder.aspx", {"order_id": "nope"})
    scenic_refusal = _retcode(client.get("/QueryOrder.aspx", params=pairs), spec)
    theater_refusal = _retcode(client.get("/theater/QueryOrder.aspx", params=pairs), spec)
    assert scenic_refusal != "0" and theater_refusal != "0"
    # a theater-only page: refused by the scenic supplier, answered by the theater supplier under its mount
    scene = _pairs(scenic, "QuerySeatsState.aspx", {"SeatAreaID": "A1", "SenceID": "S101", "TicketDate": "20261121"})
    assert _retcode(client.get("/QuerySeatsState.aspx", params=scene), spec) != "0"
    assert _retcode(client.get("/theater/QuerySeatsState.aspx", params=scene), spec) == "0"
    assert _retcode(client.post("/theater/post/QuerySeatsState.aspx", data=dict(scene)), spec) == "0"


def test_remembered_decisions_are_bounded(ota, monkeypatch):
    monkeypatch.setattr(MockApp, "MEMO", 8)
    app = ota.client.app
    for i in range(20):
        ota.client.get(f"/Page{i}.aspx")
    ota.client.get("/QueryOrder.aspx")
    assert len(app._memo) == 8
    assert ota.client.get("/QueryOrder.aspx").status_code == 200  # decided again, still the page


# ------------------------------------------------------------------ answers of read-only pages (mockserver/memo.py)

class Decoding:
    """Counts requests the mock decoded (a remembered answer skips decoding)."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        real = app_module.decode

        def decode(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(app_module, "decode", decode)


def test_a_repeated_read_is_answered_from_the_memo_with_the_same_bytes(ota, monkeypatch):
    orderid = ota.book()
    pairs = _pairs(ota.mock, "QueryOrder.aspx", {"order_id": orderid})
    first = ota.client.get("/QueryOrder.aspx", params=pairs)
    decoding = Decoding(monkeypatch)
    again = ota.client.get("/QueryOrder.aspx", params=pairs)
    assert decoding.calls == 0
    assert again.content == first.content and again.headers["content-type"] == first.headers["content-type"]
    ota.client.post("/POST/QueryOrder.aspx", data=dict(pairs))  # another method: another request
    assert decoding.calls == 1


def test_a_change_by_another_connection_shows_on_the_very_next_request(spec, tmp_path):
    db = str(tmp_path / "mock.db")
    mock = make_mock(spec, db=db)
    ota = Ota(mock, TestClient(create_app(mock)))
    orderid = ota.book()
    assert ota.status(orderid) == "0"
    assert ota.status(orderid) == "0"  # remembered
    other = sqlite3.connect(db, isolation_level=None)  # another worker's connection
    other.execute("UPDATE orders SET status='4' WHERE orderid=?", (orderid,))
    other.close()
    assert ota.status(orderid) == "4"


def test_a_change_through_the_mock_itself_shows_on_the_very_next_request(ota):
    orderid = ota.book()
    assert ota.status(orderid) == "0"
    assert ota.call("CancelOrder.aspx", {"order_id": orderid}).retcode == "0"
    assert ota.status(orderid) == "4"


def test_time_moving_changes_the_answer(ota):
    other = ota.as_(OTHER)  # pays online: its unpaid orders time out (demo-ota pays at the desk)
    orderid = other.book()
    minutes = ota.mock.world.supplier.paytimeout_minutes
    ota.advance(minutes * 60 - 1)
    assert other.status(orderid) == "0"
    assert other.status(orderid) == "0"  # remembered
    ota.advance(2)  # past the pay deadline: the sweeper closes the order
    assert other.status(orderid) == "4"


def test_a_moment_is_the_generation_and_the_clock_second(ota):
    memo = AnswerMemo(ota.mock.spec)
    request = ("QueryOrder.aspx", "GET", (), "")
    moment = memo.moment(ota.mock)
    memo.put(ota.mock, request, moment, b"answer")
    assert memo.get(request, memo.moment(ota.mock)) == b"answer"
    ota.advance(0.5)  # the same second (START is on a whole second): still the answer
    assert memo.get(request, memo.moment(ota.mock)) == b"answer"
    ota.advance(0.5)
    assert memo.get(request, memo.moment(ota.mock)) is None
    moment = memo.moment(ota.mock)
    memo.put(ota.mock, request, moment, b"answer")
    with ota.mock.store.transaction() as db:
        ota.mock.store.set_meta(db, "unrelated", "x")
    assert memo.get(request, memo.moment(ota.mock)) is None


def test_an_answer_made_while_the_state_moved_is_not_kept(ota):
    memo = AnswerMemo(ota.mock.spec)
    request = ("QueryOrder.aspx", "GET", (), "")
    moment = memo.moment(ota.mock)
    with ota.mock.store.transaction() as db:  # e.g. the handler wrote, or another worker committed
        ota.mock.store.set_meta(db, "unrelated", "x")
    memo.put(ota.mock, request, moment, b"stale")
    assert memo.get(request, moment) is None


def test_only_pages_that_write_nothing_are_remembered(spec):
    pages = AnswerMemo(spec).pages
    assert "QueryOrder.aspx" in pages
    for page in spec.request_pages:
        b = page.behaviour
        assert (page.page in pages) == (not (b.writes or b.events or b.callbacks)), page.page
    assert not {"OrderProducts.aspx", "CancelOrder.aspx", "BeginToPay.aspx"} & pages


@pytest.mark.parametrize("settings", [{"certify": True}, {"memo": False}], ids=["certify", "no-memo"])
def test_every_read_is_answered_afresh_in_certify_mode_and_without_the_memo(spec, monkeypatch, settings):
    mock = make_mock(spec)
    ota = Ota(mock, TestClient(create_app(mock, **settings)))
    orderid = ota.book()
    decoding = Decoding(monkeypatch)
    for _ in range(3):
        assert ota.status(orderid) == "0"
    assert decoding.calls == 3
