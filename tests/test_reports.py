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


# ------------------------------------------------------------------ the conformance report


def _result(id_: str, verdict: str, message: str = "") -> dict:
    return {"id": id_, "category": "signature", "clause": "3.4", "claim": f"claim of {id_}", "severity": "major",
            "page": "", "needs": [], "verdict": verdict, "message": message, "duration_ms": 3, "exchanges": [],
            "notes": []}


def _doc(checks: list[dict], **summary) -> dict:
    totals = {v: sum(c["verdict"] == v for c in checks) for v in ("passed", "failed", "warning", "not_run")}
    return {"target": "http://127.0.0.1:1", "user": "demo-ota", "profile": "default", "driver": "admin",
            "started": "2026-11-21T02:00:00+00:00",
            "summary": {**totals, "total": len(checks), "ran": 0, "score": 0.5, "index": 1.0,
                        "by_category": {"signature": dict(totals)}, **summary},
            "coverage": {"pages": [], "pages_total": 1, "pages_exercised": 0, "retcodes_total": 1,
                         "retcodes_exercised": 0},
            "checks": checks}


def test_not_applicable_checks_are_listed_apart_collapsed_and_counted(tmp_path):
    from reports.conformance import write_junit, write_report

    checks = [_result("signature.valid.A", "passed"), _result("signature.valid.B", "not_run", "no driver"),
              _result("signature.valid.OrderProducts2", "not_applicable", "a theater page; scenic mode")]
    doc = _doc(checks, not_applicable=1, applicable=2)
    html = write_report(doc, tmp_path).read_text(encoding="utf-8")
    main_list, apart = html.split('<details id="not-applicable">')
    assert "signature.valid.OrderProducts2" not in main_list and "signature.valid.B" in main_list
    assert "signature.valid.OrderProducts2" in apart and "Not applicable (1)" in apart
    assert "passed of the 2 checks that apply" in html
    junit = write_junit(doc, tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert '<skipped message="not applicable: a theater page; scenic mode"/>' in junit
    assert 'skipped="2"' in junit and 'failures="0"' in junit


def test_results_written_before_not_applicable_still_render(tmp_path):
    from reports.conformance import write_report

    html = write_report(_doc([_result("signature.valid.A", "passed")]), tmp_path).read_text(encoding="utf-8")
    assert "passed of the 1 checks that apply" in html and 'id="not-applicable"' not in html
