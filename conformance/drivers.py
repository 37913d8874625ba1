"""Drivers make supplier-side things happen (desk pickup, gate check, finance, the clock):
`admin` through the mock's admin API, `manual` by asking a person, `none` not at all."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, Mapping

import httpx

from .target_clock import TargetClock


class DriverError(RuntimeError):
    pass


class TokenRefused(DriverError):
    """The admin API answered, and refused the token."""


class NoAdminApi(DriverError):
    """Nothing at the admin URL answers as the admin API."""


class Driver:
    name = "none"
    capabilities: frozenset[str] = frozenset()

    def __init__(self, clock: TargetClock | None = None):
        # the target's time as its answers' Date headers tell it (the runner's targets feed it)
        self.clock = clock or TargetClock()

    def now(self) -> datetime:
        """The target's time: read from its answers here; drivers that can ask the target do."""
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        raise DriverError(f"driver '{self.name}' cannot move the clock")

    def set_clock(self, when: datetime) -> None:
        raise DriverError(f"driver '{self.name}' cannot move the clock")

    def release_clock(self) -> None:
        """Let the target's clock run on from where the checks left it (no-op where it cannot be moved)."""

    def event(self, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        raise DriverError(f"driver '{self.name}' cannot cause supplier events")

    def flush_callbacks(self) -> None:
        """Ask the target to deliver due callbacks now (no-op where it cannot be asked)."""

    def sms(self) -> list[Mapping[str, Any]]:
        """The SMS the target has sent (verification codes among them), oldest first."""
        raise DriverError(f"driver '{self.name}' cannot read the SMS the target sends")

    def setting_for(self, transition: str) -> str:
        """How to configure the target so that it takes the spec's `transition` where a supplier
        setting guards it; "" when this driver does not know."""
        return ""

    def check(self) -> None:
        """Raise DriverError when this driver cannot reach what it drives (before a run, not in its middle)."""


# The mock's world settings behind the spec's settings-guarded transitions; its admin API has no event
# that switches them, so a run reaches the other side only against a mock started so.
MOCK_WORLD_SETTINGS = {
    "pay-instant-success-audit": "payment_approval: true",
    "pay-instant-success": "payment_approval: false",
}


class AdminDriver(Driver):
    name = "admin"
    capabilities = frozenset({"clock", "events", "flush", "sms"})

    def __init__(self, admin_url: str, token: str, timeout: float = 10.0):
        super().__init__()
        self.base = admin_url.rstrip("/")
        if not self.base.endswith("/_admin"):
            self.base += "/_admin"
        self._client = httpx.Client(timeout=timeout, headers={"X-Admin-Token": token})

    def check(self) -> None:
        """One `GET {base}`: TokenRefused on 401, NoAdminApi when nothing answers there as the admin API."""
        try:
            r = self._client.get(self.base)
        except httpx.HTTPError as exc:
            raise NoAdminApi(f"no admin API answers at {self.base}: {type(exc).__name__}: {exc}") from None
        if r.status_code == 401:
            raise TokenRefused(f"the admin token was refused by {self.base} (HTTP 401)")
        try:
            info = r.json() if r.status_code == 200 else None
        except ValueError:
            info = None
        if not isinstance(info, dict) or "now" not in info:
            raise NoAdminApi(f"{self.base} is not the mock's admin API (HTTP {r.status_code}, "
                             f"{r.headers.get('content-type', 'no content type')})")

    def _post(self, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        r = self._client.post(self.base + path, json=dict(body))
        if r.status_code != 200:
            raise DriverError(f"admin {path}: HTTP {r.status_code} {r.text[:200]}")
        return r.json()

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an admin resource (`/journal`, `/callbacks`, `/orders/{id}`, ...) as JSON."""
        r = self._client.get(self.base + path, params=dict(params or {}))
        if r.status_code != 200:
            raise DriverError(f"admin {path}: HTTP {r.status_code} {r.text[:200]}")
        return r.json()

    def now(self) -> datetime:
        r = self._client.get(self.base + "/clock")
        if r.status_code != 200:
            raise DriverError(f"admin clock: HTTP {r.status_code}")
        return datetime.fromisoformat(r.json()["now"])

    def advance(self, seconds: float) -> None:
        self._post("/clock", {"advance": seconds})

    def set_clock(self, when: datetime, freeze: bool = True) -> None:
        # frozen, the target's clock stands at the instant a check needs (band edges to the second)
        self._post("/clock", {"set": when.isoformat(), "freeze": freeze})

    def release_clock(self) -> None:
        # forward only: setting it back would put the orders of the run in the target's future
        self.set_clock(self.now(), freeze=False)

    def event(self, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        return self._post(f"/events/{name}", body)

    def flush_callbacks(self) -> None:
        self._post("/callbacks/flush", {})

    def setting_for(self, transition: str) -> str:
        setting = MOCK_WORLD_SETTINGS.get(transition)
        return (f"on the mock, `{setting}` under `supplier:` in the world file (ybx-mock serve --world FILE); "
                "no admin event switches it") if setting else ""

    def sms(self) -> list[Mapping[str, Any]]:
        r = self._client.get(self.base + "/sms")
        if r.status_code != 200:
            raise DriverError(f"admin sms: HTTP {r.status_code}")
        return r.json()


class ManualDriver(Driver):
    """Prints what the supplier's staff must do and waits for the person to confirm."""

    name = "manual"
    capabilities = frozenset({"events"})

    def event(self, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        print(f"\n>>> On the supplier side, perform: {name} {dict(body)}\n    Press Enter when done.",
              file=sys.stderr, flush=True)
        sys.stdin.readline()
        return {}


def make_driver(kind: str, admin_url: str | None = None, token: str | None = None) -> Driver:
    if kind == "admin":
        if not admin_url or not token:
            raise DriverError("--driver admin needs --admin-url and --admin-token")
        return AdminDriver(admin_url, token)
    if kind == "manual":
        return ManualDriver()
    if kind == "none":
        return Driver()
    raise DriverError(f"unknown driver {kind!r}")
