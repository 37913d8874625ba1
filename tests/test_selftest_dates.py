"""The suite passes against both mock suppliers at any date (issue 12): the mock seeded with its
clock at each of selftest.DATES, and nothing the suite could run at one date left unrun at another.
A check that depends on this machine's date, or a world date that rots, shows up here. One class
per supplier, so that pytest-xdist (--dist loadscope) runs the two side by side."""

from __future__ import annotations

import pytest
from selftest import DATES, failures, not_run, self_test


class _AtEveryDate:
    supplier = ""

    @pytest.mark.parametrize("date", sorted(DATES))
    def test_the_suite_passes_at_the_date(self, date):
        doc = self_test(self.supplier, DATES[date])
        assert doc["summary"]["ran"] > 800, doc["summary"]
        assert not failures(doc), "\n".join(failures(doc))

    def test_what_runs_does_not_depend_on_the_date(self):
        runs = {date: not_run(self_test(self.supplier, when)) for date, when in DATES.items()}
        first, *others = sorted(runs)
        for date in others:
            differ = runs[first].keys() ^ runs[date].keys()
            assert not differ, {i: (runs[first].get(i), runs[date].get(i)) for i in sorted(differ)}


class TestScenic(_AtEveryDate):
    supplier = "scenic"


class TestTheater(_AtEveryDate):
    supplier = "theater"
