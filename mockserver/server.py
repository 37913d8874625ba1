"""Assemble a running mock: spec + world + store + clock + faults -> `Mock` and its ASGI app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from spec import crypto
from spec.clock import Clock, SystemClock
from spec.loader import load_spec
from spec.model import Spec

from . import faults as fault_registry
from .context import Mock
from .handlers import load_all
from .stage import check_seat_states
from .store import Store
from .world import WORLDS_DIR, World, WorldError, load_world

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

    def _save(self, when: datetime, freeze: bool) -> None:
        with self._store.transaction() as db:
            self._store.set_meta(db, "clock_offset", repr((when - self._base.now()).total_seconds()))
            self._store.set_meta(db, "clock_frozen", when.isoformat() if freeze else "")

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


def seed(store: Store, world: World, *, only_if_empty: bool = False) -> bool:
    return store.seed(world, {a.user: crypto.md5_upper(a.pay_password) for a in world.agents}, only_if_empty=only_if_empty)


def build_mock(settings: Settings, spec: Spec | None = None, clock: Clock | None = None) -> Mock:
    """A `Mock` on the settings' database; the world is seeded only into an empty database."""
    spec = spec or load_spec()
    load_all()  # handler modules register their pages, tables and supplier events
    active = fault_registry.validate(list(settings.faults))
    world = load_world(settings.world)
    check_seat_states(world.stage, spec, str(settings.world or "the shipped world"))  # a theater world served at /
    store = Store(settings.db)
    seed(store, world, only_if_empty=True)
    if clock is None:
        clock = StoreClock(store)
    profile = fault_registry.apply_to_profile(spec.profile(settings.profile), active)
    return Mock(spec=spec, profile=profile, world=world, store=store, clock=clock, faults=active)


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
    world = load_world(settings.theater_world)
    if world.supplier.mode != "theater":
        raise WorldError(f"{settings.theater_world}: the theater world must have supplier.mode theater")
    check_seat_states(world.stage, scenic.spec, str(settings.theater_world))  # the spec's seat states only
    store = Store(theater_db(settings.db))
    seed(store, world, only_if_empty=True)
    return Mock(spec=scenic.spec, profile=scenic.profile, world=world, store=store, clock=scenic.clock,
                faults=scenic.faults)
