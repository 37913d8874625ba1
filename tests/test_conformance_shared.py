"""conformance.shared: what the checks of one run share. Seats are handed to one check only, however
many threads ask at once; a run-wide choice is made once."""

from __future__ import annotations

import threading

from conformance.shared import RunShared, SeatClaims

SEATS = [f"A1-{row}-{seat}" for row in range(1, 5) for seat in range(1, 11)]  # 40 seats


def test_a_seat_is_handed_out_once_whatever_the_threads():
    claims = SeatClaims()
    handed: list[list[str]] = []
    start = threading.Barrier(8)

    def take() -> None:
        start.wait()
        while (got := claims.claim("S101", "20261125", "A1", SEATS, 3)) is not None:
            handed.append(got)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seats = [s for got in handed for s in got]
    assert len(seats) == len(set(seats)) == 39  # 13 claims of 3; the last seat is too few for one
    assert claims.claim("S101", "20261125", "A1", SEATS, 1) == [SEATS[-1]]


def test_claims_are_per_show_and_remember_the_area():
    claims = SeatClaims()
    assert claims.claim("S101", "20261125", "A1", SEATS, 2) == SEATS[:2]
    assert claims.claim("S101", "20261126", "A1", SEATS, 2) == SEATS[:2]  # another day, another show
    assert claims.unclaimed("S101", "20261125", "A1", SEATS[:3]) == (SEATS[2],)
    assert claims.area_of("S101", "20261125", SEATS[0]) == "A1" and claims.area_of("S101", "20261125", SEATS[5]) == ""
    assert not claims.spent("S101", "20261125", "A1")
    assert claims.unclaimed("S101", "20261125", "A1", SEATS[:2]) == ()
    assert claims.spent("S101", "20261125", "A1")  # nothing left to hand out: not looked at again
    assert claims.claim("S101", "20261125", "A1", SEATS[:3], 2) is None and len(claims) == 4


def test_once_makes_a_value_once_and_keeps_no_error():
    shared, made = RunShared(), []

    def make() -> str:
        made.append(1)
        return "P1006"

    assert [shared.once("product", make) for _ in range(3)] == ["P1006"] * 3 and len(made) == 1

    def fail() -> str:
        raise LookupError("no product")

    for _ in range(2):
        try:
            shared.once("other", fail)
        except LookupError:
            pass
    assert shared.once("other", make) == "P1006"
