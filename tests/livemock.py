"""A real mock server on 127.0.0.1 (uvicorn in a thread) for conformance runs in tests."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import uvicorn

from mockserver.app import create_app
from mockserver.server import Settings, build_mock, build_theater_mock
from receiver import free_port
from spec.model import Spec

TOKEN = "live-token"


@dataclass(frozen=True)
class Live:
    base_url: str
    admin_url: str
    token: str

    @property
    def theater(self) -> "Live":
        """The theater supplier mounted under /theater/ (live_mock(theater=True))."""
        return Live(f"{self.base_url}/theater", f"{self.base_url}/theater/_admin", self.token)


# the tests' usual moment; worlds count their relative dates from the clock at seeding
START = datetime(2026, 11, 21, 10, 0, tzinfo=timezone(timedelta(hours=8)))


@contextmanager
def live_mock(spec: Spec, faults: tuple[str, ...] = (), db: str = ":memory:", world: Path | None = None,
              certify: bool = False, theater: bool = False, at: datetime = START,
              theater_world: Path | None = None) -> Iterator[Live]:
    """A served mock (and with `theater` its theater supplier, on `theater_world` where given) seeded
    with the clock at `at`, running."""
    settings = Settings(db=db, faults=faults, admin_token=TOKEN, world=world, certify=certify, clock=at)
    if theater_world is not None:
        settings = replace(settings, theater_world=theater_world)
    mock = build_mock(settings, spec=spec)
    stage = build_theater_mock(settings, mock) if theater else None
    port = free_port()
    app = create_app(mock, admin_token=TOKEN, background=True, certify=certify, theater=stage)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", date_header=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the live mock did not start")
        time.sleep(0.02)
    try:
        yield Live(base, f"{base}/_admin", TOKEN)
    finally:
        server.should_exit = True
        thread.join(10)
        mock.store.close()
        if stage is not None:
            stage.store.close()
