"""The demo's index.html (`make demo`: `ybx-conform index demo-out demo-out/scenic demo-out/theater`)
links both reports and the spec reference that the Makefile writes beside them, and every link
it holds resolves to a file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from conformance.cli import main as conform
from reports.conformance import SPEC_REFERENCE

HREF = re.compile(r'href="([^"#]+)"')


def _demo_recipe() -> str:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return makefile[makefile.index("\ndemo:"):].split("\n\n", 1)[0]


def _run_dir(out: Path, name: str) -> Path:
    summary = {"total": 2, "applicable": 2, "ran": 2, "passed": 2, "failed": 0, "warning": 0, "not_run": 0,
               "not_applicable": 0, "score": 1.0, "index": 1.0}
    run = out / name
    run.mkdir(parents=True)
    doc = {"target": f"http://127.0.0.1:1/{name}", "started": "2026-11-21T02:00:00+00:00", "summary": summary, "checks": []}
    (run / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    (run / "index.html").write_text("<!doctype html><title>report</title>", encoding="utf-8")
    return run


def _links(index: Path) -> dict[str, Path]:
    html = index.read_text(encoding="utf-8")
    return {href: (index.parent / href).resolve() for href in HREF.findall(html)}


def test_the_makefile_writes_the_spec_reference_where_the_index_looks():
    recipe = _demo_recipe()
    written = re.search(r"-m reports spec-reference (\S+)", recipe)
    index = re.search(r"ybx-conform index (\S+) ", recipe)
    assert written and index, recipe
    assert written.group(1) == f"{index.group(1)}/{SPEC_REFERENCE.parent.as_posix()}"
    assert recipe.index("spec-reference") < recipe.index("ybx-conform index")


def test_the_demo_index_links_both_reports_and_the_spec_reference(tmp_path):
    out = tmp_path / "demo-out"
    # the Makefile's own command, so a change of its output file name shows here
    subprocess.run([sys.executable, "-m", "reports", "spec-reference", str(out / SPEC_REFERENCE.parent)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    assert conform(["index", str(out), str(_run_dir(out, "scenic")), str(_run_dir(out, "theater"))]) == 0
    links = _links(out / "index.html")
    assert set(links) == {"scenic/index.html", "theater/index.html", SPEC_REFERENCE.as_posix()}
    assert all(path.is_file() for path in links.values()), links
    assert "<title>YBX interface spec</title>" in (out / SPEC_REFERENCE).read_text(encoding="utf-8")
    assert 'the <a href="spec/spec.html">spec reference</a>' in (out / "index.html").read_text(encoding="utf-8")


def test_an_index_without_a_spec_reference_has_no_broken_link(tmp_path):
    out = tmp_path / "runs"
    assert conform(["index", str(out), str(_run_dir(out, "scenic"))]) == 0
    links = _links(out / "index.html")
    assert set(links) == {"scenic/index.html"} and links["scenic/index.html"].is_file()


def test_the_readme_says_the_index_links_the_spec_reference():
    setup = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Set-up\n", 1)[1].split("\n## ", 1)[0]
    said = re.sub(r"\s+", " ", setup.split("```", 2)[2])
    assert "`demo-out/index.html`, which links" in said and f"`demo-out/{SPEC_REFERENCE.as_posix()}`" in said
