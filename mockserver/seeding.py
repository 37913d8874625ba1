"""The world as seeded: a world file's relative dates resolved against the day its store was
seeded on (the seed instant the store keeps), re-read only when the database may have changed."""

from __future__ import annotations

import threading
from datetime import date, datetime
from typing import Callable
from zoneinfo import ZoneInfo

from spec.clock import Clock

from .store import SEED_INSTANT, WORLD_DIGEST, Store
from .world import World

_KEEP = 16  # resolved worlds kept per store: one per seed day a test or a user resets to


class SeededWorld:
    """The concrete world of one store. Asked for by every handler, so it costs a lookup while the
    store's generation stands (as `StoreClock` does); a reset by this or another connection (worker)
    moves the generation, and the seed instant is read again."""

    def __init__(self, template: World, store: Store, reload: Callable[[], World] | None = None):
        self.template = template
        # another worker's reset may have seeded an edited world file: this one then reads it too
        self._reload = reload
        self._relative = template.relative  # asked once per template
        self._store = store
        self._lock = threading.Lock()
        self._current: tuple[tuple[int, int], World] | None = None
        self._by_day: dict[date, World] = {}

    def seed_instant(self) -> datetime | None:
        """When the store was seeded (None: a database seeded before the seed instant was kept)."""
        value = self._store.meta(SEED_INSTANT)
        return datetime.fromisoformat(value) if value else None

    def _seeding(self) -> tuple[datetime | None, str]:
        """The seed instant and the world file's digest the store was seeded with, in one read."""
        with self._store.reading() as db:
            found = dict(db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", (SEED_INSTANT, WORLD_DIGEST)))
        instant = found.get(SEED_INSTANT)
        return (datetime.fromisoformat(instant) if instant else None), found.get(WORLD_DIGEST, "")

    def world(self, tz: ZoneInfo, clock: Clock) -> World:
        """The world with every relative date resolved against the seed day, in the supplier's zone `tz`."""
        generation = self._store.generation()[0], self._store.meta_version
        current = self._current  # one read: another thread may replace it meanwhile
        if current is not None and current[0] == generation:
            return current[1]
        instant, digest = self._seeding()
        self._follow_the_file(digest)
        if not self._relative:
            self._current = (generation, self.template)
            return self.template
        day = (instant or clock.now()).astimezone(tz).date()
        with self._lock:
            world = self._by_day.get(day)
            if world is None:
                if len(self._by_day) >= _KEEP:
                    self._by_day.clear()
                world = self._by_day[day] = self.template.on(day)
            self._current = (generation, world)
        return world

    def _follow_the_file(self, seeded: str) -> None:
        """Take the world file's version the database was seeded from (`seeded`, its digest), when
        another worker's reset seeded an edited file."""
        if self._reload is None or not seeded or not self.template.digest or seeded == self.template.digest:
            return
        with self._lock:
            fresh = self._reload()
            if fresh.digest == seeded:  # else the file changed again since: keep what this worker has
                self.template, self._relative, self._by_day = fresh, fresh.relative, {}
