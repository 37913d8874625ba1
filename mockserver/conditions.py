"""Supplier settings a parameter depends on (the spec's `Param.required_when`): read from the
answer the mock's own page gives the agent, so that a request is judged by the very value
GetProviderConfig tells the OTA (timespanindex in timed-entry mode, sublevelmode 1)."""

from __future__ import annotations

from collections.abc import Mapping

from spec.errors import YbxError
from spec.model import Condition, Param

from .context import Call, Mock
from .world import AgentSeed


def setting(mock: Mock, agent: AgentSeed, condition: Condition) -> str | None:
    """The value the mock answers `agent` at `condition.element` of `condition.page`; None when
    that page refuses the agent or answers no such element."""
    from .handlers import load_all  # the handlers build on the modules that read settings

    page = mock.spec.page(condition.page)
    handler = load_all().get(page.page)
    if handler is None:
        return None
    try:
        found: object = handler(mock, Call(page, "GET", agent, {}, ()))
    except YbxError:
        return None
    for name in condition.element.split("/"):
        found = found.get(name) if isinstance(found, Mapping) else None
    return None if found is None or isinstance(found, (Mapping, list)) else str(found)


def requires(mock: Mock, agent: AgentSeed, param: Param) -> bool:
    """Whether the supplier's setting makes the conditionally required `param` required for `agent`."""
    cond = param.required_when
    return cond is not None and setting(mock, agent, cond) == cond.value

