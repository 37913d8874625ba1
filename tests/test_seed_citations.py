"""Every line the spec cites holds what the spec says it holds. The cited lines are read from the
excerpt the spec records (spec/data/cited_lines.yaml), so these run in any clone; the tests marked
`needs_manual` compare the excerpt and the stored samples with the manual itself and are skipped,
saying so, when it is not beside the repository."""

from __future__ import annotations

import re

import pytest

from spec import citations, samples

from conftest import SEEDS, needs_manual

REGENERATE = "run `python -m spec citations ../shared/seeds` (the manual's folder)"


def _norm(text: str) -> str:
    return re.sub(r"[\s\"'“”‘’。，；,.;:：…（）()]", "", text)


@pytest.fixture(scope="module")
def excerpt():
    return citations.stored()


def test_the_excerpt_holds_exactly_the_cited_lines(spec, excerpt):
    for name, numbers in citations.cited(spec).items():
        recorded = set(excerpt.get(name, {}))
        assert numbers - recorded == set(), f"{name}: cited but not recorded: {sorted(numbers - recorded)[:10]}; {REGENERATE}"
        assert recorded - numbers == set(), f"{name}: recorded but no longer cited: {sorted(recorded - numbers)[:10]}; {REGENERATE}"
    assert set(excerpt) == set(citations.cited(spec))


@needs_manual
def test_the_excerpt_is_the_manual(spec, excerpt):
    assert citations.extract(spec, SEEDS) == excerpt, REGENERATE


def test_param_lines_name_the_parameter(spec, excerpt):
    wrong = []
    for page in spec.pages:
        lines = excerpt[page.source_file]
        for p in page.params:
            if p.line and p.name not in lines[p.line]:
                wrong.append(f"{page.page} {p.name} line {p.line}: {lines[p.line]!r}")
    assert not wrong, wrong[:10]


def test_element_lines_hold_the_element(spec, excerpt):
    """A response element's line is its row of the manual's sample, `<name>` (stray spaces allowed),
    holding the string(N) its max_length takes."""
    wrong = []
    for page in spec.pages:
        lines = excerpt[page.source_file]
        for el in (e for root in page.response for e in root.walk() if e.line):
            line = lines[el.line].replace(" ", "")
            if f"<{el.name}>" not in line or (el.max_length and f"string({el.max_length})" not in line.lower()):
                wrong.append(f"{page.page} {el.name} line {el.line}: {lines[el.line]!r}")
    assert not wrong, wrong[:10]


def test_retcode_lines_hold_the_message(spec, excerpt):
    wrong = []
    for page in spec.pages:
        lines = excerpt[page.source_file]
        for r in page.retcodes:
            if not r.line:
                continue
            window = _norm(lines[r.line] + lines[r.line + 1])
            if _norm(r.message_zh)[:12] not in window:
                wrong.append(f"{page.page} {r.code} {r.key} line {r.line}")
    assert not wrong, wrong[:10]


def test_source_ranges_start_at_the_section(spec, excerpt):
    for page in spec.pages:
        if page.direction == "rest":
            continue
        first = excerpt[page.source_file][page.source_lines[0]]
        assert page.section in first or page.title_zh in first, (page.page, first)


@needs_manual
def test_stored_samples_match_the_seeds(spec):
    seed_lines = {f: (SEEDS / f).read_text(encoding="utf-8").splitlines() for f in {p.source_file for p in spec.pages}}
    expected = {}
    for page in spec.pages:
        if page.direction != "rest":
            for s in samples.extract(page, [line + "\n" for line in seed_lines[page.source_file]]):
                expected[s.name] = s.text
    stored = {p.name: p.read_text(encoding="utf-8") for p in samples.stored()}
    assert stored == expected
