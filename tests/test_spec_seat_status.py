"""The seat-state table (tables/seat_status.yaml): every line it cites is the manual's legend entry
for that state, the states are those QuerySeatsState.aspx answers, and the order statuses that hold
seats are the ones gap queryseatsstate-s-vs-order-states names."""

from __future__ import annotations

import pytest

from spec import citations


def test_each_state_cites_its_legend_line(spec):
    # the manual's line as the spec's excerpt records it (tests/test_seed_citations.py)
    lines = citations.stored()[citations.MANUAL]
    assert spec.seat_statuses
    for status in spec.seat_statuses:
        assert lines[status.line].strip().rstrip("；。") == f"‘{status.code}’{status.name_zh}", status


def test_states_are_the_seat_view_values(spec):
    element = next(c for top in spec.page("QuerySeatsState.aspx").response for c in top.children if c.name == "SeatState")
    assert {s.code for s in spec.seat_statuses} == set(element.values)
    assert [s.code for s in spec.seat_statuses if s.free] == ["1"]


def test_holding_statuses_follow_the_gap(spec):
    gap = next(g for g in spec.gaps if g.id == "queryseatsstate-s-vs-order-states")
    held = {s.code: s.held_by for s in spec.seat_statuses if s.held_by}
    assert set(held) == {"S", "B"}
    assert held["S"] == (spec.order_status("0").code,)
    for code in held["B"]:
        assert code in gap.choice_en
    # an order ends without delivery (closed, refunded): its seats are free again
    assert not {"4", "B"} & {c for codes in held.values() for c in codes}


def test_roles_follow_the_manual_names(spec):
    # ‘1’空闲 is booked from, ‘S’预定中 held by a booked order, ‘B’已售出 by a paid one; P, R, F set by staff
    assert (spec.seat_code("free"), spec.seat_code("booking"), spec.seat_code("sold")) == ("1", "S", "B")
    assert set(spec.seat_codes("fixed")) == {"P", "R", "F"}
    booked = {t.target for t in spec.transitions if t.event == "book"}
    assert set(next(s for s in spec.seat_statuses if s.role == "booking").held_by) == booked
    with pytest.raises(KeyError, match="not by exactly one state"):
        spec.seat_code("fixed")
