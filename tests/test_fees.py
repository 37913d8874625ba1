"""Fee band rule (h), on the manual's example (2.6 line 230) and percentage items."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from spec.fees import item_fee, matching_item, quote, scenic_reference
from spec.model import FeeItem

SH = ZoneInfo("Asia/Shanghai")
PRICE = Decimal("100.00")


@pytest.fixture
def items(spec):
    return spec.fee_model.example_items


@pytest.mark.parametrize(
    "hours_before, fee",
    [
        (72, "0.00"), (48, "0.00"), (47.999, "10.00"), (36, "10.00"), (24.001, "10.00"), (24, "10.00"), (23.999, "20.00"),
        (1, "20.00"), (0.001, "20.00"), (0, "50.00"), (-5, "50.00"), (-72, "50.00"),
    ],
)
def test_manual_example_bands(spec, items, hours_before, fee):
    bands = spec.profile().fee_bands
    ref = scenic_reference(date(2026, 12, 1), bands)
    assert ref == datetime(2026, 12, 1, tzinfo=SH)
    at = ref - timedelta(hours=hours_before)
    assert quote(items, PRICE, ref, at, bands).per_ticket == Decimal(fee)


def test_no_items_no_fee(spec):
    bands = spec.profile().fee_bands
    assert matching_item((), 10, bands) is None


@pytest.mark.parametrize(
    "value, price, fee",
    [("10", "100.00", "10.00"), ("12.5", "33.33", "4.17"), ("33.333", "0.15", "0.05"), ("150", "80.00", "80.00"),
     ("0.5", "0.01", "0.00"), ("1.5", "0.35", "0.01")],
)
def test_percentage_rounds_half_up_and_caps(spec, value, price, fee):
    bands = spec.profile().fee_bands
    item = FeeItem("D", 1, "A", Decimal(value))
    assert item_fee(item, Decimal(price), bands) == Decimal(fee)


def test_fixed_fee_never_above_price(spec):
    bands = spec.profile().fee_bands
    assert item_fee(FeeItem("D", 0, "B", Decimal("50")), Decimal("30.00"), bands) == Decimal("30.00")


def test_hour_units_for_theaters(spec):
    bands = spec.profile().fee_bands
    start = datetime(2026, 12, 1, 19, 30, tzinfo=SH)
    hourly = (FeeItem("H", 4, "B", Decimal("30")), FeeItem("H", 24, "B", Decimal("10")))
    assert quote(hourly, PRICE, start, start - timedelta(hours=25), bands).per_ticket == Decimal("0.00")
    assert quote(hourly, PRICE, start, start - timedelta(hours=23), bands).per_ticket == Decimal("10.00")
    assert quote(hourly, PRICE, start, start - timedelta(hours=3), bands).per_ticket == Decimal("30.00")


def test_alternative_band_reading_is_data(spec, items):
    bands = spec.profile().fee_bands
    inclusive = replace(bands, match="advance-at-most-count")
    ref = scenic_reference(date(2026, 12, 1), bands)
    at = ref - timedelta(hours=48)
    assert quote(items, PRICE, ref, at, bands).per_ticket == Decimal("0.00")
    assert quote(items, PRICE, ref, at, inclusive).per_ticket == Decimal("10.00")
