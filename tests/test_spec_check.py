"""`python -m spec check` catches each kind of broken spec: one fixture per kind, each
with the message it must produce."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spec import loader

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "broken").glob("*.yaml"))


def apply(fixture: dict, root: Path) -> None:
    for edit in fixture["edits"]:
        if "remove" in edit:
            (root / edit["remove"]).unlink()
            continue
        target = root / edit["file"]
        if "copy_from" in edit:
            shutil.copy(root / edit["copy_from"], target)
            continue
        old, new = edit["replace"]
        text = target.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"fixture edit must match exactly once in {edit['file']}: {old!r}"
        target.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(loader.DATA_DIR, root)
    return root


def test_fixture_folder_is_not_empty():
    assert len(FIXTURES) >= 20


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_check_reports_the_expected_problem(path: Path, spec_copy: Path):
    fixture = yaml.safe_load(path.read_text(encoding="utf-8"))
    apply(fixture, spec_copy)
    problems = [str(p) for p in loader.check(spec_copy)]
    assert any(fixture["expect"] in p for p in problems), problems
    with pytest.raises(loader.SpecInvalid):
        loader.load_spec(spec_copy)


def test_cli_exits_1_and_lists_problems(spec_copy: Path):
    apply(yaml.safe_load((FIXTURES[0].parent / "xref-unknown-status.yaml").read_text()), spec_copy)
    out = subprocess.run([sys.executable, "-m", "spec", "--root", str(spec_copy), "check"], capture_output=True, text=True)
    assert out.returncode == 1
    assert "tables/transitions.yaml:transitions[32].to: unknown order status 'Z'" in out.stdout


def test_pristine_copy_is_clean(spec_copy: Path):
    assert loader.check(spec_copy) == []
