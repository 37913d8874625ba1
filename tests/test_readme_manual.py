"""The README's account of the tests that need the supplier's manual: it names exactly the tests
marked `needs_manual` and quotes the start of their skip reason."""

from __future__ import annotations

import ast
import re

from conftest import ROOT, needs_manual

HEADING = "### Tests that need the supplier's manual\n"


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(HEADING) == 1
    return text.split(HEADING, 1)[1].split("\n#", 1)[0]


def _marked() -> set[str]:
    names = set()
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(d, ast.Name) and d.id == "needs_manual" for d in node.decorator_list):
                names.add(node.name)
    return names


def test_the_readme_lists_every_test_that_needs_the_manual():
    listed = set(re.findall(r"^- `(test_\w+)`", _section(), re.M))
    assert listed == _marked() and listed


def test_the_readme_quotes_the_skip_reason():
    reason = needs_manual.kwargs["reason"]
    quoted = re.search(r"skip reason that begins `([^`]+)`", re.sub(r"\s+", " ", _section()))
    assert quoted and reason.startswith(quoted.group(1))


def test_the_set_up_section_links_the_explanation():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("\n## Set-up\n", 1)[1].split("\n## ", 1)[0]
    assert "](#tests-that-need-the-suppliers-manual)" in setup
