"""What the checks of one run share, handed to each explicitly (runner → CheckContext.shared):
the seats of the theater's shows given out so far, and the choices made once for the whole run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class SeatClaims:
    """Seats handed to the checks of one run, each to one check only. Checks run on several threads
    and book the free seats they were handed a moment later: two checks handed the same seat make
    one of them not run (the target refuses a taken seat), and which one depends on timing. A seat
    stays claimed after its order is cancelled, so that no check is handed a seat another check of
    the run may still be booking."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed: dict[tuple[str, str, str], str] = {}  # (scene, day, seat) -> seat area
        self._spent: set[tuple[str, str, str]] = set()  # (scene, day, area) with no free seat left to hand out

    def unclaimed(self, scene: str, day: str, area: str, seats: Sequence[str]) -> tuple[str, ...]:
        """The area's free `seats` that no check holds, in their order; the area is spent when none is."""
        with self._lock:
            free = tuple(s for s in seats if (scene, day, s) not in self._claimed)
            if not free:
                self._spent.add((scene, day, area))
            return free

    def claim(self, scene: str, day: str, area: str, seats: Sequence[str], qty: int) -> list[str] | None:
        """The first `qty` of the area's free `seats` that no check holds, now held for the caller;
        None (and nothing held) when fewer are left."""
        with self._lock:
            free = [s for s in seats if (scene, day, s) not in self._claimed]
            if len(free) < qty:
                return None
            self._claimed.update({(scene, day, s): area for s in free[:qty]})
            return free[:qty]

    def spent(self, scene: str, day: str, area: str) -> bool:
        """Whether every seat the area showed free has been handed out: the target's own count of free
        seats still includes those handed out and not booked yet, or booked and given back."""
        with self._lock:
            return (scene, day, area) in self._spent

    def area_of(self, scene: str, day: str, seat: str) -> str:
        """The seat area of a seat handed out ("" for one that was not)."""
        with self._lock:
            return self._claimed.get((scene, day, seat), "")

    def __len__(self) -> int:
        with self._lock:
            return len(self._claimed)


@dataclass
class RunShared:
    seats: SeatClaims = field(default_factory=SeatClaims)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _once: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    def once(self, key: Hashable, make: Callable[[], T]) -> T:
        """`make()` the first time `key` is asked for in the run, its value after that. An exception
        is not kept: the next check asks again. Made under the lock, so that parallel checks wait for
        one answer instead of each asking the target."""
        with self._lock:
            if key not in self._once:
                self._once[key] = make()
            return self._once[key]
