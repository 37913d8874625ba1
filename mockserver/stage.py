"""The theater side of a world (演艺剧场, 4.1.3): theaters, their scenes (场次), seat areas, rows and
seats. A seat layout is generated from a compact description (seats per row) in the world file;
seats form the manual's linked list per row (FirstSeat / NextSeatID, 4.2.20)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from spec.model import Spec

from .worldfile import WorldText

# The seat state codes (4.2.21 座位状态说明) are the spec's (tables/seat_status.yaml roles): a world
# names only the states the supplier's staff set on a seat, checked against the spec by `stage_problems`
# when the world is loaded; booking moves a free seat to the booking and sold states and back (seats.py).
SEAT_SIZE = 30  # view units of the standard seat view (gap queryrowsandseatslist-geometry-types)
AREA_GAP = 2  # empty rows between two areas in the standard view

@dataclass(frozen=True)
class Seat:
    id: str
    num: str
    area: str
    row: str  # row number as shown (SeatRowNum)
    next_id: str  # NextSeatID: "" at the end of the row
    fixed: str  # "" (free), or the state the supplier set (a spec state of role fixed), which booking never changes


@dataclass(frozen=True)
class SeatRow:
    id: str
    num: str
    x: int
    y: int
    width: int
    height: int
    seat_width: int
    seat_height: int
    align: str
    seats: tuple[Seat, ...]

    @property
    def first_seat(self) -> str:
        return self.seats[0].id if self.seats else ""


@dataclass(frozen=True)
class SeatArea:
    id: str
    name: str
    color: str
    product: str
    theater: str
    rows: tuple[SeatRow, ...]

    @property
    def seats(self) -> tuple[Seat, ...]:
        return tuple(s for r in self.rows for s in r.seats)


@dataclass(frozen=True)
class Scene:
    id: str
    name: str
    theater: str
    start: time
    end: time
    sell_end: time  # SellEndingTime: on the ticket date, internet sales stop here
    check_start: time
    check_end: time
    weekdays: tuple[int, ...]  # ISO weekdays the scene is performed (1 Monday .. 7 Sunday)
    enabled: bool = True

    def runs_on(self, day: date) -> bool:
        return day.isoweekday() in self.weekdays

    def starts_at(self, day: date, tz: ZoneInfo) -> datetime:
        return datetime.combine(day, self.start, tzinfo=tz)

    def sales_close(self, day: date, tz: ZoneInfo) -> datetime:
        return datetime.combine(day, self.sell_end, tzinfo=tz)


@dataclass(frozen=True)
class Theater:
    id: str
    name: str
    areas: tuple[SeatArea, ...]
    scenes: tuple[Scene, ...]

    @property
    def products(self) -> tuple[str, ...]:
        """The products sold in this theater (one per seat area, several areas may share one)."""
        return tuple(dict.fromkeys(a.product for a in self.areas))


@dataclass(frozen=True)
class Stage:
    theaters: tuple[Theater, ...]
    seat_pay_minutes: int  # pay limit after a seat reservation (BeginToPay -2008, line 2519)
    _index: dict[str, Any] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, Any] = {}
        for t in self.theaters:
            index[f"t:{t.id}"] = t
            for s in t.scenes:
                index[f"c:{s.id}"] = s
            for a in t.areas:
                index[f"a:{a.id}"] = a
                for seat in a.seats:
                    index[f"s:{seat.id}"] = seat
        object.__setattr__(self, "_index", index)

    def theater(self, theater_id: str) -> Theater | None:
        return self._index.get(f"t:{theater_id}")

    def scene(self, scene_id: str) -> Scene | None:
        return self._index.get(f"c:{scene_id}")

    def area(self, area_id: str) -> SeatArea | None:
        return self._index.get(f"a:{area_id}")

    def seat(self, seat_id: str) -> Seat | None:
        return self._index.get(f"s:{seat_id}")


def hhmm(t: time) -> str:
    """A time as the theater pages print it (HHmm, gap querytheatersencelist-time-format)."""
    return t.strftime("%H%M")


def _time(value: str) -> time:
    hours, minutes = str(value).split(":")
    return time(int(hours), int(minutes))


def _area(raw: dict[str, Any], theater: str, top: int, width: int, fixed: dict[str, str]) -> SeatArea:
    area_id = str(raw["id"])
    rows = []
    for r, count in enumerate((int(n) for n in raw["rows"]), 1):
        ids = [f"{area_id}-{r}-{n}" for n in range(1, count + 1)]
        seats = tuple(Seat(sid, str(n), area_id, str(r), ids[n] if n < count else "", fixed.get(sid, ""))
                      for n, sid in enumerate(ids, 1))
        x = (width - count) * SEAT_SIZE // 2  # rows are centred (SeatAlig M)
        rows.append(SeatRow(f"{area_id}-{r}", str(r), x, (top + r - 1) * SEAT_SIZE, count * SEAT_SIZE, SEAT_SIZE,
                            SEAT_SIZE, SEAT_SIZE, "M", seats))
    return SeatArea(area_id, str(raw["name"]), str(raw.get("color", "")), str(raw["product"]), theater, tuple(rows))


def _theater(raw: dict[str, Any]) -> Theater:
    theater_id = str(raw["id"])
    fixed = {str(s): str(state) for state, seat_ids in (raw.get("seat_states") or {}).items() for s in seat_ids}
    width = max((int(n) for a in raw["areas"] for n in a["rows"]), default=0)
    areas, top = [], 0
    for a in raw["areas"]:
        area = _area(a, theater_id, top, width, fixed)
        areas.append(area)
        top += len(area.rows) + AREA_GAP
    scenes = tuple(Scene(str(s["id"]), str(s["name"]), theater_id, _time(s["start"]), _time(s["end"]),
                         _time(s["sell_end"]), _time(s["check_start"]), _time(s["check_end"]),
                         tuple(int(d) for d in s.get("weekdays", range(1, 8))), bool(s.get("enabled", True)))
                   for s in raw.get("scenes", ()))
    return Theater(theater_id, str(raw["name"]), tuple(areas), scenes)


def load_stage(data: dict[str, Any]) -> Stage | None:
    """The `stage` section of a world file that passed `stage_problems` (None when it has none)."""
    raw = data.get("stage")
    if raw is None:
        return None
    return Stage(tuple(_theater(t) for t in raw.get("theaters") or ()), int(raw.get("seat_pay_minutes", 15)))


def _entries(data: Any, key: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(key) if isinstance(data, dict) else None
    return [(i, x) for i, x in enumerate(items if isinstance(items, list) else ()) if isinstance(x, dict)]


def stage_problems(text: WorldText, products: set[str], spec: Spec | None = None) -> None:
    """Add what the world schema cannot say about the stage: ids given twice, an area selling an
    unknown product, seat_states naming seats the areas do not have, or (with `spec`) a state that
    is not one the spec gives the supplier's staff to set (role fixed, tables/seat_status.yaml)."""
    stage = text.data.get("stage") if isinstance(text.data, dict) else None
    first: dict[str, tuple[str | int, ...]] = {}

    def once(kind: str, path: tuple[str | int, ...], value: Any) -> None:
        if not isinstance(value, str):
            return
        if f"{kind} {value}" in first:
            line = text.position(first[f"{kind} {value}"])[0]
            text.add(path, f"duplicate {kind} id {value!r} (first on line {line})")
        else:
            first[f"{kind} {value}"] = path

    allowed = spec.seat_codes("fixed") if spec is not None else ()
    for t, theater in _entries(stage, "theaters"):
        where: tuple[str | int, ...] = ("stage", "theaters", t)
        once("theater", (*where, "id"), theater.get("id"))
        for c, scene in _entries(theater, "scenes"):
            once("scene", (*where, "scenes", c, "id"), scene.get("id"))
        seats: set[str] = set()
        for a, area in _entries(theater, "areas"):
            once("area", (*where, "areas", a, "id"), area.get("id"))
            product = area.get("product")
            if isinstance(product, str) and product not in products:
                text.add((*where, "areas", a, "product"), f"unknown product {product!r} (the world's products: "
                                                          f"{', '.join(sorted(products)) or 'none'})")
            rows = area.get("rows") if isinstance(area.get("rows"), list) else []
            seats |= {f"{area.get('id')}-{r}-{n}" for r, count in enumerate(rows, 1)
                      if isinstance(count, int) and not isinstance(count, bool) for n in range(1, count + 1)}
        states = theater.get("seat_states")
        named: dict[str, str] = {}
        for state, seat_ids in (states.items() if isinstance(states, dict) else ()):
            path = (*where, "seat_states", str(state))
            if allowed and str(state) and str(state) not in allowed:
                text.add(path, f"seat state {str(state)!r} is not one the supplier sets: {', '.join(allowed)} "
                               "(tables/seat_status.yaml, role fixed)", key=True)
            for i, seat in enumerate(seat_ids if isinstance(seat_ids, list) else ()):
                if not isinstance(seat, str):
                    continue
                if seat not in seats:
                    text.add((*path, i), f"unknown seat {seat!r} (seat IDs are <area>-<row>-<seat>)")
                elif seat in named:
                    text.add((*path, i), f"seat {seat!r} is already in state {named[seat]!r}")
                named.setdefault(seat, str(state))
