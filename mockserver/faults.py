"""Fault switches: each breaks exactly one rule, so the conformance suite can prove it
notices. Faults that change a protocol choice do so by altering the profile (data)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from spec.model import Element, Profile


@dataclass(frozen=True)
class Fault:
    name: str
    breaks: str  # the spec clause or profile rule it violates
    description: str


FAULTS: tuple[Fault, ...] = (
    Fault("accept-bad-sign", "profile rule d", "requests with a missing, wrong or tampered sign are accepted"),
    Fault("wrong-response-sign", "profile rule e", "response signs are computed with a wrong key"),
    Fault("accept-plaintext", "profile rule b", "fields the spec marks 3DES are accepted in plain text"),
    Fault("wrong-key-derivation", "profile rule b", "the 3DES key is KEY cut to 16 characters (two-key 3DES) instead of 24"),
    Fault("case-sensitive-names", "3.5", "parameter names must match the manual's spelling exactly"),
    Fault("ignore-required", "4.2.x 必填", "missing required parameters are not refused"),
    Fault("ignore-required-when", "4.2.4, 4.2.37 timespanindex (lines 1736, 7434)", "a parameter required only in a "
          "supplier setting may be left out: a booking without timespanindex in timed-entry mode gets a slot chosen "
          "silently"),
    Fault("allow-forbidden-transition", "transitions.yaml forbidden", "CancelOrder closes delivered orders"),
    Fault("wrong-fee-edge", "profile rule h", "a fee band matches at its edge (advance <= N units)"),
    Fault("percent-rounding", "profile rule h", "percentage fees are rounded down instead of half-up"),
    Fault("clock-ignores-offset", "profile rule h (R in Asia/Shanghai)", "a clock set through the admin API keeps "
          "the wall time and drops its UTC offset, so the supplier's clock runs in UTC, 8 hours off"),
    Fault("callbacks-out-of-order", "2.13", "an order's callbacks are delivered newest first"),
    Fault("duplicate-callback", "2.13", "every callback is delivered twice"),
    Fault("continue-after-failure", "2.13", "a failed callback does not hold back the order's later callbacks"),
    Fault("return-fields-frozen", "4.2.8, 4.2.9 return fields (lines 2710-2735, 2816-2837)", "QueryOrder and "
          "QueryOrdersList answer returncount 0, returntotal and returnfees 0.00 and empty return descriptions "
          "after ticket returns (the old constants)"),
    Fault("duplicate-order-on-repeat", "4.2.37 XCDDH, 4.2.4 senderid", "a repeated XCDDH/senderid makes a second order"),
    Fault("oversell", "4.2.2 inventory; 4.1.3 seats", "daily inventory is not checked when booking, nor is a chosen "
          "seat's state (a held or sold seat is booked again)"),
    Fault("seat-sold-at-booking", "4.2.21 seat states", "seats of a booked (unpaid) order show B (sold) instead of S"),
    Fault("seat-not-sold", "4.2.21 seat states", "seats of a paid order keep showing S (being booked) instead of B"),
    Fault("seat-not-released", "4.2.21 seat states", "seats stay held after their order is cancelled, expires or is "
          "refunded"),
    Fault("seat-count-unchecked", "4.2.5 seat_count_mismatch", "a booking with fewer seats than tickets is accepted"),
    Fault("mixed-seat-areas", "4.2.5 multiple_seat_areas", "one booking may take seats of two seat areas"),
    Fault("rest-no-auth", "profile rest_auth", "the REST page answers without Hawk credentials (dwlx/dwid alone name the caller)"),
    Fault("rest-xml-declaration-order", "REST XML (DataContract)", "REST XML answers list members in declaration order, not alphabetically"),
    Fault("empty-descriptions", "4.2.8, 4.2.9 tickettypedesc, dealdesc, paychannel (lines 2708, 3071, 3083, 3107)",
          "QueryOrder and QueryOrdersList answer tickettypedesc, dealdesc and paychannel empty for every order "
          "(the old constants)"),
    Fault("timestamp-with-separators", "4.2.x 返回值 yyyyMMddHHmmss", "date-time elements of the answers (ordertime, "
          "jgrqsj, datetime, ...) are written yyyy-MM-dd HH:mm:ss (2026-12-07 21:30:00) instead of yyyyMMddHHmmss"),
)

BY_NAME = {f.name: f for f in FAULTS}


class UnknownFault(ValueError):
    pass


def validate(names: list[str] | tuple[str, ...]) -> frozenset[str]:
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise UnknownFault(f"unknown fault(s): {', '.join(unknown)}; see `ybx-mock faults`")
    return frozenset(names)


def apply_to_profile(profile: Profile, faults: frozenset[str]) -> Profile:
    """The profile the faulty mock actually follows."""
    if "wrong-key-derivation" in faults:
        profile = replace(profile, cipher=replace(profile.cipher, key_length=16))
    if "wrong-fee-edge" in faults:
        profile = replace(profile, fee_bands=replace(profile.fee_bands, match="advance-at-most-count"))
    if "percent-rounding" in faults:
        profile = replace(profile, fee_bands=replace(profile.fee_bands, rounding="down"))
    return profile


# timestamp-with-separators: the one format it breaks, and how it writes such a value instead
_STAMP_FORMAT = "yyyyMMddHHmmss"


def _separated(stamp: str) -> str:
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[8:10]}:{stamp[10:12]}:{stamp[12:14]}"


def break_formats(elements: tuple[Element, ...], data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` (an answer keyed by element names) as the timestamp-with-separators fault writes it."""
    out = dict(data)
    for el in elements:
        value = data.get(el.name)
        if value is None:
            continue
        if el.children:
            out[el.name] = ([break_formats(el.children, v or {}) for v in value] if el.repeated
                            else break_formats(el.children, value))
        elif el.format == _STAMP_FORMAT and isinstance(value, str) and len(value) == 14:
            out[el.name] = _separated(value)
    return out
