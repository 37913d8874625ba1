"""Dates and date-times of a world file, absolute or relative to the day the world is seeded on.

A date is `YYYY-MM-DD`, `today`, or `+Nd` / `-Nd` (N days after / before the seed day, N up to 9999).
A date-time is `YYYY-MM-DD HH:MM[:SS]` (or with `T`), or a relative day, one space and a time:
`-30d 09:30`, `today 08:00:15`. Times are the supplier's (Asia/Shanghai); no offset is written.
The seed day is the mock clock's day, in the supplier's time zone, when the world was seeded
(first start on a new database, or `POST /_admin/reset`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

# the world schema (worlds/world.schema.json) spells the same two patterns; tests/test_mock_world.py
# holds them together
_DAY = r"today|[+-]\d{1,4}d|\d{4}-\d{2}-\d{2}"
_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
DAY_PATTERN = rf"^(?:{_DAY})$"
MOMENT_PATTERN = rf"^(?:\d{{4}}-\d{{2}}-\d{{2}}[ T]|(?:today|[+-]\d{{1,4}}d) ){_TIME}$"

DAY_SYNTAX = "a date: YYYY-MM-DD, today, +Nd or -Nd (days from the seed day)"
MOMENT_SYNTAX = ("a date-time: YYYY-MM-DD HH:MM[:SS], or today, +Nd or -Nd, a space and HH:MM[:SS] "
                 "(e.g. '-30d 09:30')")


@dataclass(frozen=True)
class RelativeDay:
    """`days` days after the seed day (before it when negative)."""

    days: int

    def __str__(self) -> str:
        return "today" if self.days == 0 else f"{self.days:+d}d"


@dataclass(frozen=True)
class RelativeMoment:
    """A time of day on a relative day."""

    day: RelativeDay
    at: time

    def __str__(self) -> str:
        return f"{self.day} {self.at.isoformat()}"


Day = date | RelativeDay
Moment = datetime | RelativeMoment


def _relative(text: str) -> RelativeDay | None:
    if text == "today":
        return RelativeDay(0)
    if re.fullmatch(r"[+-]\d{1,4}d", text):
        return RelativeDay(int(text[:-1]))
    return None


def parse_day(value: object) -> Day:
    """A world date; ValueError saying what is wrong."""
    text = str(value)
    if not re.fullmatch(DAY_PATTERN, text):
        raise ValueError(f"{text!r} is not {DAY_SYNTAX}")
    relative = _relative(text)
    if relative is not None:
        return relative
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a calendar date ({exc})") from None


def parse_moment(value: object) -> Moment:
    """A world date-time; ValueError saying what is wrong."""
    text = str(value)
    if not re.fullmatch(MOMENT_PATTERN, text):
        raise ValueError(f"{text!r} is not {MOMENT_SYNTAX}")
    day_text, _, time_text = text.replace("T", " ", 1).partition(" ")
    relative = _relative(day_text)
    if relative is not None:
        return RelativeMoment(relative, time.fromisoformat(time_text))
    try:
        return datetime.fromisoformat(f"{day_text} {time_text}")
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a calendar date ({exc})") from None


def day_on(value: Day, seed_day: date) -> date:
    """The date `value` names when the world was seeded on `seed_day`."""
    if isinstance(value, RelativeDay):
        return seed_day + timedelta(days=value.days)
    return value


def moment_on(value: Moment, seed_day: date) -> datetime:
    """The (naive, supplier-time) date-time `value` names when the world was seeded on `seed_day`."""
    if isinstance(value, RelativeMoment):
        return datetime.combine(day_on(value.day, seed_day), value.at)
    return value
