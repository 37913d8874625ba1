"""Checks are plain functions registered with an id, a category, the manual clause they
enforce, a one-line claim and a severity. Static checks are registered with `@check`;
derived checks are produced per page from the spec by `@derive` factories."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

from spec.model import Spec

if TYPE_CHECKING:
    from .context import CheckContext

CATEGORIES = ("signature", "encryption", "parameters", "schema", "state", "seats", "fees", "callbacks",
              "idempotency", "isolation", "robustness")
SEVERITIES = ("critical", "major", "minor")


@dataclass(frozen=True)
class Check:
    id: str
    category: str
    clause: str  # manual section and seed line, or profile rule
    claim: str
    severity: str
    fn: Callable[["CheckContext"], None] = field(compare=False, repr=False)
    needs: tuple[str, ...] = ()  # driver capabilities: "clock", "events"
    page: str = ""

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.id}: unknown category {self.category!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.id}: unknown severity {self.severity!r}")


_STATIC: list[Check] = []
_FACTORIES: list[Callable[[Spec], Iterable[Check]]] = []


def check(id: str, category: str, clause: str, claim: str, severity: str = "major",
          needs: tuple[str, ...] = ()) -> Callable:
    """Register a hand-written check."""

    def register(fn: Callable[["CheckContext"], None]) -> Callable:
        _STATIC.append(Check(id, category, clause, claim, severity, fn, needs))
        return fn

    return register


def derive(factory: Callable[[Spec], Iterable[Check]]) -> Callable[[Spec], Iterable[Check]]:
    """Register a factory that yields checks from the spec (one or more per page)."""
    _FACTORIES.append(factory)
    return factory


def all_checks(spec: Spec) -> list[Check]:
    """Every check, static and derived, in a stable order; ids are unique."""
    from . import checks  # noqa: F401  (registers the check modules)

    found = list(_STATIC)
    for factory in _FACTORIES:
        found.extend(factory(spec))
    ids = [c.id for c in found]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate check ids: {sorted(dupes)}")
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(found, key=lambda c: (order[c.category], c.id))
