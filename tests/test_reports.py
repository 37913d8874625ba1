"""The spec reference renders from plain data and shows what the spec holds."""

from __future__ import annotations

import subprocess
import sys

from spec.dump import dump

from reports.spec_reference import write_reference


def test_reference_is_self_contained_and_complete(spec, tmp_path):
    page = write_reference(dump(spec), tmp_path)
    html = page.read_text(encoding="utf-8")
    assert "http://" not in html.split("<main>")[0] and "<script src" not in html and "<link" not in html
    for p in spec.pages:
        assert p.page in html
    assert "签名不正确，不能完成操作；" in html and "sign-recipe-undefined" in html


def test_text_from_the_spec_is_escaped(spec, tmp_path):
    data = dump(spec)
    data["gaps"].append({"id": "x", "clause": "0", "line": None, "issue_en": "<script>alert(1)</script>",
                         "choice_en": "a & b", "where": "test"})
    html = write_reference(data, tmp_path).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_cli_writes_reference_openapi_and_xsds(tmp_path):
    out = subprocess.run([sys.executable, "-m", "reports", "spec-reference", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("spec.html")
    assert (tmp_path / "openapi.json").exists() and len(list((tmp_path / "xsd").glob("*.xsd"))) >= 58
