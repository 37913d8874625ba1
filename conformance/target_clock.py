"""The target's clock as its own answers tell it: the HTTP `Date` header (RFC 9110 6.6.1, the
origin server's clock when it answered). A driver that cannot ask the target for its time (`none`,
`manual`) reads it here, so "today" is the target's day, not this machine's: a supplier's sandbox
whose clock was moved, or a server a few minutes off, books and activates for its own date."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from spec.clock import Clock, SystemClock

# A Date header names the second it was written in: on average half a second had passed.
_HALF_SECOND = timedelta(milliseconds=500)


def parse_http_date(values: list[str]) -> datetime | None:
    """The instant of the last well-formed `Date` header among `values` (a server may add its own
    before the application's), or None."""
    for value in reversed(values):
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            continue
        if when.tzinfo is not None:
            return when
    return None


class TargetClock:
    """This machine's clock plus the offset the target's last answer showed; this machine's clock
    alone until an answer carried a `Date` header. Shared by the threads of a run."""

    def __init__(self, wall: Clock | None = None):
        self._wall = wall or SystemClock()
        self._offset: timedelta | None = None
        self._lock = threading.Lock()

    @property
    def observed(self) -> bool:
        """Whether any answer has told the target's time yet."""
        return self._offset is not None

    def observe(self, date_headers: list[str]) -> None:
        """Take the target's time from an answer's `Date` header(s), read just now."""
        when = parse_http_date(date_headers)
        if when is not None:
            with self._lock:
                self._offset = when + _HALF_SECOND - self._wall.now()

    def now(self) -> datetime:
        """The target's time now, to about a second (UTC; the checks read it in the profile's zone)."""
        with self._lock:
            offset = self._offset or timedelta(0)
        return (self._wall.now() + offset).astimezone(timezone.utc)
