"""Answers of read-only pages remembered for as long as they cannot change.

An answer of a page whose spec behaviour writes nothing, fires no event and sends no callback is a
function of the exact request (method, parameters, where the mock is reached), the stored state and
the clock. The state is named by the database generation (PRAGMA data_version + total_changes, which
every commit by any connection or worker moves) and the clock by its second (stamps have seconds), so
an answer is reused only while both stay the same: the next request after any change, or in the next
second, is answered afresh. Only successful answers are kept; the certification journal's mode never
uses a memo (mockserver/app.py)."""

from __future__ import annotations

from collections.abc import Hashable

from spec.model import Page, Spec

from . import machine
from .context import Mock

Moment = tuple[tuple[int, int], str]


class AnswerMemo:
    """Signed answer bodies of read-only pages for the current (generation, clock second)."""

    SIZE = 1024  # distinct requests kept within one moment; more are answered without the memo

    def __init__(self, spec: Spec) -> None:
        self.pages = frozenset(p.page for p in spec.request_pages
                               if not (p.behaviour.writes or p.behaviour.events or p.behaviour.callbacks))
        self._moment: Moment | None = None
        self._answers: dict[Hashable, bytes] = {}

    def serves(self, page: Page) -> bool:
        return page.page in self.pages

    @staticmethod
    def moment(mock: Mock) -> Moment:
        """The state and the second an answer depends on (the generation first: a change in
        between only makes the answer look older than it is, never newer)."""
        generation = mock.store.generation()
        return generation, machine.stamp(mock.now())

    def get(self, request: Hashable, moment: Moment) -> bytes | None:
        return self._answers.get(request) if moment == self._moment else None

    def put(self, mock: Mock, request: Hashable, moment: Moment, body: bytes) -> None:
        """Keep `body` if nothing moved while it was made (a write by the handler itself, another
        worker's commit, the clock's second): otherwise it may mix two states."""
        if self.moment(mock) != moment:
            return
        if moment != self._moment:
            self._moment, self._answers = moment, {}
        if len(self._answers) < self.SIZE:
            self._answers[request] = body
