"""The console summary of a run: the score first, then the counts, then, when checks did not run,
why, in words (the not-run reasons grouped, most frequent first)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

TOP_REASONS = 5
MOVED_SECONDS = 3600  # less is the run's own time and the clock steps of its checks: not worth a line
# what varies between checks stopped by one cause: page names, numbers, quoted values
_VARYING = re.compile(r"\b[\w-]+\.aspx\b|'[^']*'|\"[^\"]*\"|\d+")


def _shape(message: str) -> str:
    first = (message.splitlines() or [""])[0]
    return _VARYING.sub("…", first)[:160]


def not_run_reasons(checks: list[dict[str, Any]]) -> list[tuple[int, str, int]]:
    """(count, an example message, how many distinct messages) per cause of not-run checks, most first."""
    groups: dict[str, list[str]] = {}
    for c in checks:
        if c["verdict"] == "not_run":
            groups.setdefault(_shape(c["message"]), []).append((c["message"].splitlines() or [""])[0])
    out = []
    for messages in groups.values():
        example, _ = Counter(messages).most_common(1)[0]
        out.append((len(messages), example, len(set(messages))))
    return sorted(out, key=lambda g: (-g[0], g[1]))


def _clock_lines(clock: dict[str, str] | None) -> list[str]:
    """Where the run left the target's clock, when it moved it by more than the run's own time."""
    if not clock:
        return []
    before, after = (datetime.fromisoformat(clock[k]) for k in ("before", "after"))
    if abs((after - before).total_seconds()) < MOVED_SECONDS:
        return []
    return [f"The run moved the target's clock from {before.isoformat(timespec='seconds')} to "
            f"{after.isoformat(timespec='seconds')} and left it running there (the mock: POST …/_admin/reset "
            "starts afresh)"]


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """The lines printed after a run, from its results document."""
    s = doc["summary"]
    applicable = s.get("applicable", s["total"])
    lines = [f"score {s['score']:.1%}: {s['passed']} of {applicable} applicable checks passed "
             f"(index {s['index']:.1%}: {s['passed']} of the {s['ran']} that ran)",
             f"{s['passed']} passed, {s['failed']} failed, {s['warning']} warnings, {s['not_run']} not run"
             + (f", {s['not_applicable']} not applicable" if "not_applicable" in s else "")]
    lines += _clock_lines(doc.get("clock"))
    if not s["not_run"]:
        return lines
    if s["not_run"] * 2 > applicable:
        lines.append(f"Most checks did not run ({s['not_run']} of {applicable}): they count against the score, "
                     f"so it says little about the target until they can run. Why, most frequent first:")
    else:
        lines.append(f"{s['not_run']} checks did not run; why, most frequent first:")
    reasons = not_run_reasons(doc["checks"])
    for count, example, variants in reasons[:TOP_REASONS]:
        lines.append(f"  {count:>5}  {example}" + (f"  (and {variants - 1} like it)" if variants > 1 else ""))
    rest = sum(count for count, _, _ in reasons[TOP_REASONS:])
    if rest:
        lines.append(f"  {rest:>5}  for {len(reasons) - TOP_REASONS} other reasons (see results.json)")
    if doc.get("driver") == "none" and any("driver" in e for _, e, _ in reasons[:TOP_REASONS]):
        lines.append("  --driver admin (the mock) or --driver manual lets the checks of supplier-side events "
                     "and of the clock run")
    return lines
