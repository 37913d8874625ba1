"""Supplier-side events (2.15, 2.16): what the supplier's staff, the gate, the payment platform
or finance do. Each is a registered function the admin API exposes as
`POST /_admin/events/{name}` with a JSON body, and tests call directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .context import Mock

EventFn = Callable[[Mock, Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class SupplierEvent:
    name: str
    fn: EventFn
    params: str  # one line: the JSON fields it takes
    description: str


EVENTS: dict[str, SupplierEvent] = {}


class EventError(ValueError):
    """The event cannot happen (unknown order, wrong state, bad field); answered with HTTP 409/400."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


def supplier_event(name: str, params: str, description: str) -> Callable[[EventFn], EventFn]:
    def register(fn: EventFn) -> EventFn:
        if name in EVENTS:
            raise ValueError(f"two supplier events named {name}")
        EVENTS[name] = SupplierEvent(name, fn, params, description)
        return fn

    return register


def run(mock: Mock, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
    event = EVENTS.get(name)
    if event is None:
        raise EventError(f"unknown event {name!r}; GET /_admin/events lists them", status=404)
    return event.fn(mock, body)
