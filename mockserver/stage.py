"""The theater side of a world (演艺剧场, 4.1.3): theaters, their scenes (场次), seat areas, rows and
seats. A seat layout is generated from a compact description (seats per row) in the world file;
seats form the manual's linked list per row (FirstSeat / NextSeatID, 4.2.20)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from spec.model import Spec

# The seat state codes (4.2.21 座位状态说明) are the spec's (tables/seat_status.yaml roles): a world
# names only the states the supplier's staff set on a seat, checked by `check_seat_states` where the
# world meets the spec; booking moves a free seat to the booking and sold states and back (seats.py).
SEAT_SIZE = 30  # view units of the standard seat view (gap queryrowsandseatslist-geometry-types)
AREA_GAP = 2  # empty rows between two areas in the standard view

_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class StageError(ValueError):
    """The theater part of a world file is not usable; the message names the entry."""


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


def _time(value: Any, what: str) -> time:
    m = _TIME.fullmatch(str(value))
    if not m:
        raise StageError(f"{what}: {value!r} is not HH:MM (quote it in YAML)")
    return time(int(m.group(1)), int(m.group(2)))


def _area(raw: dict[str, Any], theater: str, top: int, width: int, fixed: dict[str, str]) -> SeatArea:
    area_id = str(raw["id"])
    counts = [int(n) for n in raw["rows"]]
    if not counts or min(counts) <= 0:
        raise StageError(f"area {area_id}: rows must list positive seat counts")
    rows = []
    for r, count in enumerate(counts, 1):
        ids = [f"{area_id}-{r}-{n}" for n in range(1, count + 1)]
        seats = tuple(Seat(sid, str(n), area_id, str(r), ids[n] if n < count else "", fixed.pop(sid, ""))
                      for n, sid in enumerate(ids, 1))
        x = (width - count) * SEAT_SIZE // 2  # rows are centred (SeatAlig M)
        rows.append(SeatRow(f"{area_id}-{r}", str(r), x, (top + r - 1) * SEAT_SIZE, count * SEAT_SIZE, SEAT_SIZE,
                            SEAT_SIZE, SEAT_SIZE, "M", seats))
    return SeatArea(area_id, str(raw["name"]), str(raw.get("color", "")), str(raw["product"]), theater, tuple(rows))


def _theater(raw: dict[str, Any], products: set[str]) -> Theater:
    theater_id = str(raw["id"])
    fixed: dict[str, str] = {}
    for state, seat_ids in (raw.get("seat_states") or {}).items():
        if not str(state):
            raise StageError(f"theater {theater_id}: an empty seat state in seat_states")
        fixed.update({str(s): str(state) for s in seat_ids})
    width = max((int(n) for a in raw["areas"] for n in a["rows"]), default=0)
    areas, top = [], 0
    for a in raw["areas"]:
        area = _area(a, theater_id, top, width, fixed)
        if area.product not in products:
            raise StageError(f"area {area.id}: unknown product {area.product!r}")
        areas.append(area)
        top += len(area.rows) + AREA_GAP
    if fixed:
        raise StageError(f"theater {theater_id}: unknown seats in seat_states: {sorted(fixed)}")
    scenes = []
    for s in raw.get("scenes", ()):
        what = f"scene {s['id']}"
        days = tuple(int(d) for d in s.get("weekdays", range(1, 8)))
        if not days or not set(days) <= set(range(1, 8)):
            raise StageError(f"{what}: weekdays must be ISO weekdays 1..7")
        scenes.append(Scene(str(s["id"]), str(s["name"]), theater_id, _time(s["start"], what), _time(s["end"], what),
                            _time(s["sell_end"], what), _time(s["check_start"], what), _time(s["check_end"], what),
                            days, bool(s.get("enabled", True))))
    return Theater(theater_id, str(raw["name"]), tuple(areas), tuple(scenes))


def load_stage(data: dict[str, Any], product_ids: Iterable[str]) -> Stage | None:
    """The `stage` section of a world file: required in theater mode, refused in scenic mode."""
    raw = data.get("stage")
    mode = data["supplier"]["mode"]
    if raw is None:
        if mode == "theater":
            raise StageError("a theater-mode world needs a stage section (theaters, scenes, seat areas)")
        return None
    if mode != "theater":
        raise StageError("only a theater-mode world has a stage section")
    products = set(product_ids)
    stage = Stage(tuple(_theater(t, products) for t in raw.get("theaters") or ()),
                  int(raw.get("seat_pay_minutes", 15)))
    ids = [f"{kind} {x.id}" for t in stage.theaters
           for kind, x in (("theater", t), *(("scene", s) for s in t.scenes), *(("area", a) for a in t.areas))]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise StageError(f"duplicate ids: {dupes}")
    if stage.seat_pay_minutes <= 0:
        raise StageError("seat_pay_minutes must be positive")
    return stage


def check_seat_states(stage: Stage | None, spec: Spec, source: str = "") -> None:
    """Refuse a stage naming a seat state the spec's seat-state table does not give the supplier's
    staff to set (role fixed, tables/seat_status.yaml); `source` names the world file."""
    if stage is None:
        return
    allowed = spec.seat_codes("fixed")
    for t in stage.theaters:
        unknown = sorted({s.fixed for a in t.areas for s in a.seats if s.fixed} - set(allowed))
        if unknown:
            where = f"{source}: " if source else ""
            raise StageError(f"{where}theater {t.id}: seat state {unknown[0]!r} in seat_states is not one the "
                             f"supplier sets: {', '.join(allowed)} (tables/seat_status.yaml, role fixed)")
