"""The suite passes against the mock's scenic supplier at any date (issue 12): the mock seeded with
its clock at each of selftest.DATES, and nothing the suite could run at one date left unrun at
another. A check that depends on this machine's date, or a world date that rots, shows up here.
(The other supplier's twin module runs beside this one under pytest-xdist.)"""

from __future__ import annotations

import pytest
from selftest import DATES, failures, not_run, self_test

SUPPLIER = "scenic"


@pytest.mark.parametrize("date", sorted(DATES))
def test_the_suite_passes_at_the_date(date):
    doc = self_test(SUPPLIER, DATES[date])
    assert doc["summary"]["ran"] > 800, doc["summary"]
    assert not failures(doc), "\n".join(failures(doc))


def test_what_runs_does_not_depend_on_the_date():
    runs = {date: not_run(self_test(SUPPLIER, when)) for date, when in DATES.items()}
    first, *others = sorted(runs)
    for date in others:
        differ = runs[first].keys() ^ runs[date].keys()
        assert not differ, {i: (runs[first].get(i), runs[date].get(i)) for i in sorted(differ)}
