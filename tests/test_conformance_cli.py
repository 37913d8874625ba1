"""`ybx-conform` as a user runs it: exit codes, results.json, the HTML report re-rendered from
it alone, JUnit XML, expected failures turned into warnings, progress on stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from livemock import live_mock
from mockkit import DEMO


def conform(live, tmp_path, *extra):
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--target", live.base_url, "--user", DEMO.user,
         "--password", DEMO.password, "--key", DEMO.key, "--pay-password", DEMO.pay_password, "--driver", "admin",
         "--admin-url", live.admin_url, "--admin-token", live.token, "--only", "signature",
         "--report", str(tmp_path / "r"), "--junit", str(tmp_path / "junit.xml"), *extra],
        capture_output=True, text=True, timeout=300)


def test_run_report_and_rerender(spec, tmp_path):
    with live_mock(spec) as live:
        ok = conform(live, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "checks, 0 failed" in ok.stderr and "0 failed" in ok.stdout
    doc = json.loads((tmp_path / "r" / "results.json").read_text(encoding="utf-8"))
    assert doc["summary"]["failed"] == 0 and doc["summary"]["passed"] > 0
    assert {c["category"] for c in doc["checks"]} == {"signature"}
    html = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "conformance score" in html and "curl -s" in html and "<script" not in html
    assert "<testsuites" in (tmp_path / "junit.xml").read_text(encoding="utf-8")
    (tmp_path / "r" / "index.html").unlink()
    again = subprocess.run([sys.executable, "-m", "conformance.cli", "report", str(tmp_path / "r")],
                           capture_output=True, text=True, check=True)
    assert again.stdout.strip().endswith("index.html") and (tmp_path / "r" / "index.html").exists()


def test_failures_exit_1_and_expected_failures_become_warnings(spec, tmp_path):
    with live_mock(spec, ("accept-bad-sign",)) as live:
        bad = conform(live, tmp_path)
        assert bad.returncode == 1
        doc = json.loads((tmp_path / "r" / "results.json").read_text(encoding="utf-8"))
        failed = [c["id"] for c in doc["checks"] if c["verdict"] == "failed"]
        assert failed and all(".missing." in i or ".wrong." in i or ".tampered." in i for i in failed)
        # every check of the broken rule is a known deviation (the first run may not reach them all)
        rule = [c["id"] for c in doc["checks"] if c["id"].split(".")[1] in ("missing", "wrong", "tampered")]
        (tmp_path / "known.yaml").write_text("\n".join(f"{i}: accepted while we migrate" for i in rule),
                                             encoding="utf-8")
        known = conform(live, tmp_path, "--expected-failures", str(tmp_path / "known.yaml"))
    assert known.returncode == 0, known.stdout
    doc = json.loads((tmp_path / "r" / "results.json").read_text(encoding="utf-8"))
    assert doc["summary"]["warning"] > 0 and doc["summary"]["failed"] == 0


def test_usage_and_connection_errors_exit_2(tmp_path):
    base = [sys.executable, "-m", "conformance.cli", "run", "--user", "u", "--password", "p", "--key", "k" * 36]
    unreachable = subprocess.run(base + ["--target", "http://127.0.0.1:9"], capture_output=True, text=True)
    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stderr
    bad_category = subprocess.run(base + ["--target", "http://127.0.0.1:9", "--only", "nonsense"],
                                  capture_output=True, text=True)
    assert bad_category.returncode == 2
    no_admin = subprocess.run(base + ["--target", "http://127.0.0.1:9", "--driver", "admin"],
                              capture_output=True, text=True)
    assert no_admin.returncode == 2


def _expected(tmp_path, text: str) -> subprocess.CompletedProcess:
    """`run` with an expected-failures file; refused before any request (the target is closed)."""
    known = tmp_path / "known.yaml"
    known.write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--target", "http://127.0.0.1:9", "--user",
                           "u", "--password", "p", "--key", "k" * 36, "--expected-failures", str(known)],
                          capture_output=True, text=True, timeout=120)


def test_an_expected_failures_file_with_a_yaml_error_is_one_line_with_its_position(tmp_path):
    bad = _expected(tmp_path, "signature.missing.QueryOrder: known\nsignature.wrong.QueryOrder: [unclosed\n")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == f"ybx-conform: {tmp_path / 'known.yaml'}:3:1: not valid YAML: " \
                                 "expected ',' or ']', but got '<stream end>'"


def test_unknown_check_ids_are_refused_with_a_did_you_mean(tmp_path):
    bad = _expected(tmp_path, "signature.missing.QueryOrder: known\n"
                              "signature.missing.QueryOrdr: a typo\n"
                              "schema.nothing-like-it: gone\n")
    assert bad.returncode == 2 and "cannot reach" not in bad.stderr
    assert bad.stderr.splitlines() == [
        f"ybx-conform: {tmp_path / 'known.yaml'}:2:1: signature.missing.QueryOrdr is not a check of the suite "
        "(did you mean signature.missing.QueryOrder?)",
        f"ybx-conform: {tmp_path / 'known.yaml'}:3:1: schema.nothing-like-it is not a check of the suite "
        "(ybx-conform's report lists every check id)"]


def test_expected_failures_files_of_other_shapes(spec, tmp_path):
    from conformance.expected import ExpectedFailuresError, load_expected_failures

    known = ("a.one", "a.two")
    path = tmp_path / "k.yaml"
    for text, want in (("- a.one\n- a.two\n", {"a.one": "known deviation", "a.two": "known deviation"}),
                       ("a.one:\n", {"a.one": "known deviation"}), ("", {}), ("# nothing yet\n", {})):
        path.write_text(text, encoding="utf-8")
        assert load_expected_failures(path, known) == want
    for text, said in (("just text\n", "1:1: the file must map check ids to reasons"),
                       ("a.one: {why: x}\n", "1:8: a.one: the reason must be a text"),
                       ("a.one: x\na.one: y\n", "2:1: a.one is given twice")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ExpectedFailuresError) as refused:
            load_expected_failures(path, known)
        assert str(refused.value).startswith(f"{path}:{said}")
    with pytest.raises(ExpectedFailuresError, match="cannot read the expected failures"):
        load_expected_failures(tmp_path / "missing.yaml", known)


def test_workers_below_one_are_refused(tmp_path):
    run = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--target", "http://127.0.0.1:9", "--user",
                          "u", "--password", "p", "--key", "k", "--workers", "0"], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.splitlines()[-1].endswith("argument --workers: 0: at least 1")


def test_driver_none_reports_event_checks_not_run(spec, tmp_path):
    from conformance.drivers import Driver
    from conformance.registry import all_checks
    from conformance.runner import RunConfig, run

    needing = [c for c in all_checks(spec) if c.needs][:10]
    assert needing
    with live_mock(spec) as live:
        doc = run(RunConfig(live.base_url, DEMO, spec, spec.profile(), Driver()), needing)
    assert {c["verdict"] for c in doc["checks"]} == {"not_run"}
    assert all("cannot" in c["message"] for c in doc["checks"])


def test_a_second_agent_needs_all_three_options(capsys):
    from conformance.cli import main

    code = main(["run", "--target", "http://127.0.0.1:9", "--user", "u", "--password", "p", "--key", "k",
                 "--other-user", "other-ota", "--other-password", "other-pass"])
    assert code == 2 and capsys.readouterr().err.strip() == (
        "ybx-conform: the second agent needs all of --other-user, --other-password, --other-key; missing: --other-key")
