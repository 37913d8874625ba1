"""Assemble a running mock: spec + world + store + clock + faults -> `Mock` and its ASGI app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spec import crypto
from spec.clock import Clock, OffsetClock
from spec.loader import load_spec
from spec.model import Spec

from . import faults as fault_registry
from .context import Mock
from .handlers import load_all
from .store import Store
from .world import World, load_world


@dataclass(frozen=True)
class Settings:
    db: str = "ybx-mock.db"
    world: Path | None = None
    profile: str = "default"
    faults: tuple[str, ...] = ()
    admin_token: str = "demo-admin"


def seed(store: Store, world: World) -> None:
    store.seed(world, {a.user: crypto.md5_upper(a.pay_password) for a in world.agents})


def build_mock(settings: Settings, spec: Spec | None = None, clock: Clock | None = None) -> Mock:
    """A `Mock` on the settings' database; the world is seeded only into an empty database."""
    spec = spec or load_spec()
    load_all()  # handler modules register their pages, tables and supplier events
    active = fault_registry.validate(list(settings.faults))
    world = load_world(settings.world)
    store = Store(settings.db)
    if not store.is_seeded():
        seed(store, world)
    if clock is None:
        clock = OffsetClock(float(store.meta("clock_offset", "0") or 0))
    profile = fault_registry.apply_to_profile(spec.profile(settings.profile), active)
    return Mock(spec=spec, profile=profile, world=world, store=store, clock=clock, faults=active)
