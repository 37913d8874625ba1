"""The per-request reads that are reused while the database is unchanged (StoreClock, sweeper.due)
must see every change: made through the same connection, or by another worker's connection."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mockserver import sweeper
from mockserver.server import Settings, StoreClock, build_mock, seed
from mockserver.store import Store

WHEN = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)


def _unpaid_order(store: Store, orderid: str, deadline: str) -> None:
    with store.transaction() as db:
        db.execute("INSERT INTO orders(orderid, agent, status, effect_date, mobile, idcard, total, created_at, "
                   "pay_deadline, page) VALUES(?, 'other-ota', '0', '20261125', '1', '1', '1.00', '20261121100000', "
                   "?, 'OrderProducts.aspx')", (orderid, deadline))


@pytest.fixture
def two_workers(spec, tmp_path):
    """One mock and a second connection to its database, as a second worker has."""
    db = str(tmp_path / "memo.db")
    mock = build_mock(Settings(db=db), spec=spec)
    other = Store(db)
    yield mock, other
    other.close()
    mock.store.close()


def test_clock_sees_a_move_by_another_worker(two_workers):
    mock, other = two_workers
    clock, theirs = StoreClock(mock.store), StoreClock(other)
    clock.set(WHEN, freeze=True)
    assert clock.now() == WHEN  # read and remembered
    theirs.set(WHEN + timedelta(hours=5), freeze=True)
    assert clock.now() == WHEN + timedelta(hours=5)


def test_clock_sees_a_move_through_its_own_connection(two_workers):
    mock, _ = two_workers
    clock, again = StoreClock(mock.store), StoreClock(mock.store)
    clock.set(WHEN, freeze=True)
    assert again.now() == WHEN
    clock.advance(60)
    assert again.now() == WHEN + timedelta(seconds=60)


@pytest.mark.parametrize("through", ["same connection", "another worker"])
def test_sweeper_sees_a_due_order_in_the_same_clock_second(two_workers, through):
    mock, other = two_workers
    mock.clock.set(WHEN, freeze=True)
    assert not sweeper.due(mock)  # nothing due: remembered for this second and generation
    _unpaid_order(mock.store if through == "same connection" else other, "2026112100000099", "20261121090000")
    assert sweeper.due(mock)


def test_a_memo_without_the_generation_would_miss_it(two_workers, monkeypatch):
    """The check above can fail: with a generation that never changes, the order is missed."""
    mock, other = two_workers
    mock.clock.set(WHEN, freeze=True)
    monkeypatch.setattr(Store, "generation", lambda self: (0, 0))
    assert not sweeper.due(mock)
    _unpaid_order(other, "2026112100000098", "20261121090000")
    assert not sweeper.due(mock)


def test_clock_sees_a_reset_through_its_own_store(two_workers):
    mock, _ = two_workers
    clock = StoreClock(mock.store)
    clock.set(WHEN, freeze=True)
    assert clock.now() == WHEN
    seed(mock.store, mock.template, at=WHEN)  # the admin reset: settings gone, the clock runs on the system clock again
    # the wall clock is what a reset goes back to: read it to check that
    assert abs(clock.now() - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_an_order_written_does_not_make_the_clock_read_its_settings_again(two_workers):
    mock, _ = two_workers
    clock = StoreClock(mock.store)
    clock.set(WHEN, freeze=True)
    clock.now()
    reads = []
    mock.store._conn.set_trace_callback(reads.append)
    _unpaid_order(mock.store, "2026112100000098", "20261121090000")
    reads.clear()
    assert clock.now() == WHEN
    assert not [r for r in reads if "FROM meta" in r]


def test_a_pinned_request_sees_its_own_writes_and_later_requests_see_the_other_workers(two_workers):
    mock, other = two_workers
    with mock.store.pinned():
        before = mock.store.generation()
        _unpaid_order(other, "2026112100000097", "20261121090000")
        assert mock.store.generation() == before  # another worker's commit: from the next request on
        _unpaid_order(mock.store, "2026112100000096", "20261121090000")
        assert mock.store.generation() != before  # its own write: at once
        during = mock.store.generation()
    assert mock.store.generation()[0] != during[0]
