"""Everything a handler may use, passed explicitly: spec, profile, world, store, clock, faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from spec.clock import Clock
from spec.model import Page, Profile, Spec

from .seeding import SeededWorld
from .store import Store
from .world import AgentSeed, World, load_world


@dataclass
class Mock:
    spec: Spec
    profile: Profile  # as bent by the active faults
    template: World  # as loaded: relative dates are resolved against the store's seed day (`world`)
    store: Store
    clock: Clock
    faults: frozenset[str] = field(default_factory=frozenset)
    seeded: SeededWorld = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.seeded = SeededWorld(self.template, self.store, self.reload_world)

    @property
    def world(self) -> World:
        """The world as seeded: every date concrete (the days of the last seeding, first start or reset)."""
        return self.seeded.world(self.tz, self.clock)

    @world.setter
    def world(self, world: World) -> None:
        """Serve another world from now on (tests change a setting this way); the state stays as seeded."""
        self.template = world
        self.seeded = SeededWorld(world, self.store, self.reload_world)

    def reload_world(self) -> World:
        """The world file as it is now (edited since the start, say); `WorldError` lists its problems."""
        return load_world(Path(self.template.source), spec=self.spec, profile=self.profile,
                          mode=self.template.supplier.mode)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.profile.fee_bands.timezone)

    def now(self) -> datetime:
        """The mock's time, in the supplier's time zone."""
        return self.clock.now().astimezone(self.tz)

    def fault(self, name: str) -> bool:
        return name in self.faults


@dataclass(frozen=True)
class Reply:
    """Handler result with a non-empty retmsg on success (data keyed by element names)."""

    data: Mapping[str, Any]
    retmsg: str = ""


@dataclass(frozen=True)
class Call:
    """A decoded, authenticated request: plain values keyed by the spec's parameter names."""

    page: Page
    method: str
    agent: AgentSeed
    values: dict[str, str]
    raw: tuple[tuple[str, str], ...]
    base_url: str = ""  # where this mock is reached, for URLs it hands out

    def get(self, name: str, default: str = "") -> str:
        """A value by spec name, case-insensitively."""
        param = self.page.param(name)
        if param is None:
            raise KeyError(f"{self.page.page} has no parameter {name!r}")
        return self.values.get(param.name, default)
