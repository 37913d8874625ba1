"""Every line the spec cites holds what the spec says it holds. Needs the seeds beside
the repository (../shared/seeds, as in CI); skipped elsewhere."""

from __future__ import annotations

import re

import pytest

from spec import samples

from conftest import SEEDS

pytestmark = pytest.mark.skipif(not (SEEDS / "000_99959f91876fab7c.txt").exists(), reason="seeds not beside the repo")


def _norm(text: str) -> str:
    return re.sub(r"[\s\"'“”‘’。，；,.;:：…（）()]", "", text)


@pytest.fixture(scope="module")
def seed_lines(spec):
    return {f: (SEEDS / f).read_text(encoding="utf-8").splitlines() for f in {p.source_file for p in spec.pages}}


def test_param_lines_name_the_parameter(spec, seed_lines):
    wrong = []
    for page in spec.pages:
        lines = seed_lines[page.source_file]
        for p in page.params:
            if p.line and p.name not in lines[p.line - 1]:
                wrong.append(f"{page.page} {p.name} line {p.line}: {lines[p.line - 1]!r}")
    assert not wrong, wrong[:10]


def test_retcode_lines_hold_the_message(spec, seed_lines):
    wrong = []
    for page in spec.pages:
        lines = seed_lines[page.source_file]
        for r in page.retcodes:
            if not r.line:
                continue
            window = _norm("".join(lines[r.line - 1:r.line + 1]))
            if _norm(r.message_zh)[:12] not in window:
                wrong.append(f"{page.page} {r.code} {r.key} line {r.line}")
    assert not wrong, wrong[:10]


def test_source_ranges_start_at_the_section(spec, seed_lines):
    for page in spec.pages:
        if page.direction == "rest":
            continue
        first = seed_lines[page.source_file][page.source_lines[0] - 1]
        assert page.section in first or page.title_zh in first, (page.page, first)


def test_stored_samples_match_the_seeds(spec, seed_lines):
    expected = {}
    for page in spec.pages:
        if page.direction != "rest":
            for s in samples.extract(page, [l + "\n" for l in seed_lines[page.source_file]]):
                expected[s.name] = s.text
    stored = {p.name: p.read_text(encoding="utf-8") for p in samples.stored()}
    assert stored == expected
