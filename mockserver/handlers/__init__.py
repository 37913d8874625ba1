"""Page handlers, one module per area. A handler takes the `Mock` and a decoded `Call`
and returns the response data keyed by the spec's element names (or raises `YbxError`)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..context import Call, Mock

Handler = Callable[[Mock, Call], Mapping[str, Any]]
HANDLERS: dict[str, Handler] = {}


def handles(*pages: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for page in pages:
            if page in HANDLERS:
                raise ValueError(f"two handlers for {page}")
            HANDLERS[page] = fn
        return fn

    return register


def load_all() -> dict[str, Handler]:
    """Import every handler module so that it registers its pages."""
    from . import accounts, catalog, instant, orders, payments, theater, tickets  # noqa: F401

    return HANDLERS
