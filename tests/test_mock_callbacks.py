"""Callbacks: fired by the spec's transitions, delivered per order in order, a failure holds
back only that order, retries with backoff, given up after 24 h; faults break each rule."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
import pytest

from mockkit import DEMO, make_ota
from mockserver import outbox
from receiver import Receiver
from spec.signing import verify_request_sign


def drain(ota):
    async def run():
        async with httpx.AsyncClient(timeout=5) as client:
            return await outbox.drain(ota.mock, client)
    return asyncio.run(run())


def setup(ota, receiver):
    env = ota.call("SetAgentParameters.aspx", {"responseaddr": receiver.url, "sendofficiallysnotify": "1"})
    if env.retcode != "0":  # SetAgentParameters may not be served yet: set the address directly
        with ota.mock.store.transaction() as db:
            db.execute("UPDATE agents SET responseaddr=? WHERE user=?", (receiver.url, ota.creds.user))


@pytest.fixture
def receiver(profile):
    with Receiver(profile, DEMO.key) as r:
        yield r


def test_booking_and_cancel_callbacks_arrive_signed_in_order(spec, receiver):
    ota = make_ota(spec)
    setup(ota, receiver)
    orderid = ota.book(senderid="S-1")
    ota.call("CancelOrder.aspx", {"Order_id": orderid})
    drain(ota)
    drain(ota)
    assert [(p, q["status"]) for p, q in receiver.received] == [("Notify_OrderChanged.aspx", "0"),
                                                                 ("Notify_OrderChanged.aspx", "4")]
    for _, params in receiver.received:
        assert params["orderid"] == orderid and params["senderid"] == "S-1"
        assert verify_request_sign(list(params.items()), DEMO.key, spec.profile().sign)


def test_no_senderid_no_callback(spec, receiver):
    ota = make_ota(spec)
    setup(ota, receiver)
    ota.book()
    drain(ota)
    assert receiver.received == []


def test_a_failure_holds_back_the_next_callback(spec, receiver):
    ota = make_ota(spec)
    setup(ota, receiver)
    receiver.answers = ["500"] * 10
    orderid = ota.book(senderid="A")
    ota.call("CancelOrder.aspx", {"Order_id": orderid})
    drain(ota)
    assert [q["status"] for _, q in receiver.received] == ["0"]


def test_failure_blocks_only_that_order_then_retries(spec, receiver):
    ota = make_ota(spec)
    setup(ota, receiver)
    receiver.answers = ["500"]
    first = ota.book(senderid="A")
    drain(ota)  # the only pending callback fails
    ota.call("CancelOrder.aspx", {"Order_id": first})
    second = ota.book(senderid="B")
    drain(ota)
    got = [(q["orderid"], q["status"]) for _, q in receiver.received]
    assert (second, "0") in got and (first, "4") not in got
    ota.advance(20)  # past the first backoff step
    drain(ota)
    drain(ota)
    got = [(q["orderid"], q["status"]) for _, q in receiver.received]
    assert got.index((first, "0"), 1) < got.index((first, "4"))


def test_given_up_after_the_retry_window(spec, receiver):
    ota = make_ota(spec)
    setup(ota, receiver)
    receiver.answers = ["1"] * 100
    ota.book(senderid="A")
    drain(ota)
    ota.advance(spec.callback_policy.retry_window_seconds + 60)
    drain(ota)
    with ota.mock.store.reading() as db:
        assert db.execute("SELECT state FROM outbox").fetchone()["state"] == "given_up"


@pytest.mark.parametrize("fault", ["continue-after-failure", "callbacks-out-of-order", "duplicate-callback"])
def test_callback_faults_break_their_rule(spec, receiver, fault):
    ota = make_ota(spec, faults=(fault,))
    setup(ota, receiver)
    if fault == "continue-after-failure":
        receiver.answers = ["500"] * 10
    orderid = ota.book(senderid="A")
    ota.call("CancelOrder.aspx", {"Order_id": orderid})
    drain(ota)
    statuses = [q["status"] for _, q in receiver.received]
    if fault == "continue-after-failure":
        assert set(statuses) == {"0", "4"}  # the cancel went out although "0" was never delivered
    elif fault == "callbacks-out-of-order":
        assert statuses[:2] == ["4", "0"]
    else:
        assert statuses.count("0") == 2


def test_the_sender_hears_of_a_queued_callback_once_it_commits(spec, receiver):
    ota = make_ota(spec)
    setup(ota, receiver)
    heard = []
    stop = ota.mock.store.listen_outbox(lambda: heard.append(ota.mock.store.generation()))
    ota.book()  # no senderid: no callback queued
    assert heard == []
    ota.book(senderid="S-wake")
    assert len(heard) == 1
    with ota.mock.store.reading() as db:  # heard after the commit: the row is there for the sender
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    with pytest.raises(RuntimeError):  # a transaction that queued a callback and rolled back: nothing to hear
        with ota.mock.store.transaction() as db:
            ota.mock.store.enqueue_callback(db, DEMO.user, "x", "Notify_OrderChanged.aspx", {}, "20261121000000")
            raise RuntimeError("rolled back")
    ota.book()
    assert len(heard) == 1
    stop()
    ota.book(senderid="S-wake-2")
    assert len(heard) == 1


def test_a_database_of_an_earlier_version_gets_the_lease_holder_column(tmp_path):
    from mockserver.store import Store

    path = tmp_path / "old.db"
    Store(path).close()
    with sqlite3.connect(path) as old:
        old.execute("ALTER TABLE outbox DROP COLUMN lease_owner")  # as databases made before it was added
        old.execute("INSERT INTO outbox(agent, orderid, page, params, event_at, next_at) "
                    "VALUES('demo-ota', '1', 'Notify_OrderChanged.aspx', '{}', '20261121000000', '20261121000000')")
    store = Store(path)
    with store.reading() as db:
        assert [tuple(r) for r in db.execute("SELECT orderid, lease_owner FROM outbox")] == [("1", "")]
    Store(path).close()  # opened again (another worker): nothing to add, no error
    store.close()


def test_a_sender_has_at_most_a_few_callbacks_on_the_wire(spec, profile):
    """A burst of callbacks (one per order) goes out a few at a time: a small OTA server's listen
    queue must not overflow (a request that waited there can arrive after its own retry)."""
    ota = make_ota(spec)
    with Receiver(profile, DEMO.key, delay=0.05) as receiver:
        setup(ota, receiver)
        orders = {ota.book(senderid=f"burst-{i}") for i in range(3 * outbox.ON_THE_WIRE)}
        drain(ota)
        assert {q["orderid"] for _, q in receiver.received} == orders
        assert receiver.most_at_once == outbox.ON_THE_WIRE
