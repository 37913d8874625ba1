"""Assemble a running mock: spec + world + store + clock + faults -> `Mock` and its ASGI app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from spec import crypto
from spec.clock import Clock, SystemClock
from spec.loader import load_spec
from spec.model import Spec

from . import faults as fault_registry
from .context import Mock
from .handlers import load_all
from .store import SEED_INSTANT, Store
from .world import WORLDS_DIR, World, load_world

DEFAULT_THEATER_WORLD = WORLDS_DIR / "theater.yaml"


class StoreClock:
    """Wall-clock time plus an offset kept in the database, so that every worker process and
    every restart sees the same moved clock. Frozen, it stands at one instant until moved."""

    def __init__(self, store: Store, base: Clock | None = None):
        self._store = store
        self._base = base or SystemClock()
        self._cached: tuple[tuple[int, int], str, float] | None = None

    @property
    def offset(self) -> timedelta:
        return timedelta(seconds=float(self._store.meta("clock_offset", "0") or 0))

    @property
    def frozen(self) -> bool:
        return bool(self._store.meta("clock_frozen"))

    def now(self) -> datetime:
        # read before every request: the settings are re-read only when another connection committed
        # or this store wrote settings (taken first, so a change in between only causes one more read)
        generation = self._store.generation()[0], self._store.meta_version
        if self._cached is None or self._cached[0] != generation:
            with self._store.reading() as db:
                state = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('clock_frozen', 'clock_offset')"))
            self._cached = (generation, state.get("clock_frozen", ""), float(state.get("clock_offset") or 0))
        _, frozen, offset = self._cached
        if frozen:
            return datetime.fromisoformat(frozen)
        return self._base.now() + timedelta(seconds=offset)

    @property
    def store(self) -> Store:
        """The database the clock's settings live in (the scenic supplier's; the theater shares it)."""
        return self._store

    def base_now(self) -> datetime:
        """What the clock reads once its settings are gone (a reset without a clock): wall time."""
        return self._base.now()

    def settings(self, when: datetime, freeze: bool) -> dict[str, str]:
        """The meta settings that put the clock at `when` (running from there, or frozen)."""
        return {"clock_offset": repr((when - self._base.now()).total_seconds()),
                "clock_frozen": when.isoformat() if freeze else ""}

    def _save(self, when: datetime, freeze: bool) -> None:
        with self._store.transaction() as db:
            for key, value in self.settings(when, freeze).items():
                self._store.set_meta(db, key, value)

    def set(self, when: datetime, freeze: bool | None = None) -> None:
        if when.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._save(when, self.frozen if freeze is None else freeze)

    def advance(self, seconds: float) -> None:
        self._save(self.now() + timedelta(seconds=seconds), self.frozen)


@dataclass(frozen=True)
class Settings:
    db: str = "ybx-mock.db"
    world: Path | None = None
    profile: str = "default"
    faults: tuple[str, ...] = ()
    admin_token: str = "demo-admin"
    theater_world: Path | None = DEFAULT_THEATER_WORLD  # None: no theater supplier under /theater/
    certify: bool = False  # journal and judge every interface request (mockserver.journal)
    memo: bool = True  # reuse read-only answers while state and clock second stay (mockserver.memo)
    clock: datetime | None = None  # the clock's instant when a new database is seeded (ybx-mock serve --clock)


def seed(store: Store, world: World, *, at: datetime, clock: dict[str, str] | None = None,
         only_if_empty: bool = False) -> bool:
    """Seed `store` with `world`, its relative dates counting from `at` (the clock's instant), the
    `clock` settings (`StoreClock.settings`) in the same transaction; see `Store.seed`."""
    return store.seed(world, {a.user: crypto.md5_upper(a.pay_password) for a in world.agents},
                      at=at.isoformat(), settings=clock, only_if_empty=only_if_empty)


def build_mock(settings: Settings, spec: Spec | None = None, clock: Clock | None = None) -> Mock:
    """A `Mock` on the settings' database; the world is seeded only into an empty database (with the
    clock at `settings.clock` when given, unless a `clock` is passed in)."""
    spec = spec or load_spec()
    load_all()  # handler modules register their pages, tables and supplier events
    active = fault_registry.validate(list(settings.faults))
    profile = spec.profile(settings.profile)
    world = load_world(settings.world, spec=spec, profile=profile)
    store = Store(settings.db)
    tz = ZoneInfo(profile.fee_bands.timezone)
    if clock is None:
        clock = store_clock = StoreClock(store)
        start = settings.clock or store_clock.now()  # a new database's StoreClock reads the wall time
        seed(store, world, at=start.astimezone(tz), only_if_empty=True,
             clock=store_clock.settings(start, False) if settings.clock else None)
    else:
        seed(store, world, at=clock.now().astimezone(tz), only_if_empty=True)
    return Mock(spec=spec, profile=fault_registry.apply_to_profile(profile, active), template=world, store=store,
                clock=clock, faults=active)


def clock_on_seeded(settings: Settings, tz: ZoneInfo) -> str:
    """`ybx-mock serve --clock` on a database already seeded: the clock is moved there and the
    world's days stay as seeded. Returns the line saying so; "" when the database is new (its
    workers seed it with the clock at `settings.clock`)."""
    if settings.clock is None or settings.db == ":memory:" or not Path(settings.db).exists():
        return ""
    load_all()  # the handlers' tables, as a worker creates them
    store = Store(settings.db)
    try:
        if not store.meta("seeded"):
            return ""
        StoreClock(store).set(settings.clock, freeze=False)
        seeded = store.meta(SEED_INSTANT)
    finally:
        store.close()
    days = f"stay as seeded on {datetime.fromisoformat(seeded).astimezone(tz).date()}" if seeded else "stay as seeded"
    return (f"--clock: {settings.db} is already seeded: the clock is moved to {settings.clock.isoformat()}, the "
            f"world's days {days} (POST /_admin/reset {{\"clock\": …}} seeds them again from there)")


def theater_db(db: str) -> str:
    """The theater supplier's database beside the scenic one: ybx-mock.db -> ybx-mock.theater.db."""
    if db == ":memory:":
        return db
    path = Path(db)
    return str(path.with_name(f"{path.stem}.theater{path.suffix}"))


def build_theater_mock(settings: Settings, scenic: Mock) -> Mock | None:
    """The theater supplier served beside `scenic`: its own world and database, the same spec,
    profile, faults and clock (moving the scenic clock moves both)."""
    if settings.theater_world is None:
        return None
    world = load_world(settings.theater_world, spec=scenic.spec, profile=scenic.spec.profile(settings.profile),
                       mode="theater")
    store = Store(theater_db(settings.db))
    seed(store, world, at=scenic.now(), only_if_empty=True)
    return Mock(spec=scenic.spec, profile=scenic.profile, template=world, store=store, clock=scenic.clock,
                faults=scenic.faults)


def reset(mock: Mock, when: datetime | None = None, freeze: bool = False) -> dict[str, Any]:
    """`POST /_admin/reset`: the world's initial state again, its relative dates counting from the
    clock's instant. With `when`, the clock is set there first (running, or frozen with `freeze`);
    without, a supplier that keeps the clock (the scenic one) puts it back to wall time, and one that
    shares another's (the theater) leaves it where it is. The world file is read again first (an
    edited world takes effect; one with problems refuses the reset, `WorldError`, and changes
    nothing). Returns what the admin API answers."""
    if mock.template.source:
        mock.world = mock.reload_world()
    clock = mock.clock
    if isinstance(clock, StoreClock) and clock.store is mock.store:  # the clock's settings go with the seeding
        at = (when or clock.base_now()).astimezone(mock.tz)
        seed(mock.store, mock.template, at=at, clock=clock.settings(when, freeze) if when else None)
    else:
        if when is not None:
            if isinstance(clock, StoreClock):
                clock.set(when, freeze)
            elif hasattr(clock, "set"):  # a test's FrozenClock: frozen anyway
                clock.set(when)
            else:
                raise ValueError("this mock's clock cannot be set")
        at = (when or clock.now()).astimezone(mock.tz)
        seed(mock.store, mock.template, at=at)
    return {"reset": True, "world": mock.template.source, "now": mock.now().isoformat(),
            "frozen": bool(getattr(clock, "frozen", False)), "seed_day": at.astimezone(mock.tz).date().isoformat()}
