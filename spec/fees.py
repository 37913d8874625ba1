"""The default-fee (违约手续费) band rule (h): which feeitem applies and what it costs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Sequence
from zoneinfo import ZoneInfo

from .model import FeeBandProfile, FeeItem

CENT = Decimal("0.01")
_ROUNDING = {"half-up": ROUND_HALF_UP, "half-even": ROUND_HALF_EVEN, "down": ROUND_DOWN}


@dataclass(frozen=True)
class FeeQuote:
    item: FeeItem | None
    advance_seconds: float
    per_ticket: Decimal

    def total(self, tickets: int) -> Decimal:
        return self.per_ticket * tickets


def scenic_reference(effect_date: date, bands: FeeBandProfile) -> datetime:
    """R for a scenic order: the start (or end) of its effect date in the profile's time zone."""
    tz = ZoneInfo(bands.timezone)
    start = datetime.combine(effect_date, time(0, 0), tzinfo=tz)
    return start + timedelta(days=1) if bands.scenic_reference == "effect-date-end" else start


def matching_item(items: Sequence[FeeItem], advance_seconds: float, bands: FeeBandProfile) -> FeeItem | None:
    """The feeitem that applies `advance_seconds` before the reference time, if any."""
    matches = []
    for item in items:
        unit = bands.unit_seconds[item.unit]
        if item.unitcount == 0:
            ok = advance_seconds <= 0 if bands.zero_count_match == "advance-not-positive" else advance_seconds < unit
        elif bands.match == "advance-below-count":
            ok = advance_seconds < item.unitcount * unit
        else:
            ok = advance_seconds <= item.unitcount * unit
        if ok:
            matches.append(item)
    if not matches:
        return None
    if bands.select == "smallest-count":
        return min(matches, key=lambda i: (i.unitcount * bands.unit_seconds[i.unit], i.unitcount))
    return max(matches, key=lambda i: i.feevalue)


def item_fee(item: FeeItem, price: Decimal, bands: FeeBandProfile) -> Decimal:
    """The per-ticket fee of one item for a ticket of `price` yuan."""
    if item.feecalmode == "A":
        fee = (price * item.feevalue / Decimal(100)).quantize(CENT, rounding=_ROUNDING[bands.rounding])
    else:
        fee = item.feevalue.quantize(CENT, rounding=_ROUNDING[bands.rounding])
    if bands.cap_at_price and fee > price:
        fee = price
    return max(fee, Decimal("0.00"))


def quote(items: Sequence[FeeItem], price: Decimal, reference: datetime, at: datetime, bands: FeeBandProfile) -> FeeQuote:
    """The fee per ticket for an event at `at` against reference time `reference` (rule h)."""
    advance = (reference - at).total_seconds()
    item = matching_item(items, advance, bands)
    return FeeQuote(item, advance, item_fee(item, price, bands) if item else Decimal("0.00"))
