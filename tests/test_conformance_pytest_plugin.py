"""`pytest --ybx-target URL ...` runs the checks as pytest items."""

from __future__ import annotations

import subprocess
import sys

from livemock import live_mock
from mockkit import DEMO


def pytest_run(live, tmp_path, only="signature.valid"):
    (tmp_path / "conftest.py").write_text("", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider", "--ybx-target", live.base_url,
         "--ybx-user", DEMO.user, "--ybx-password", DEMO.password, "--ybx-key", DEMO.key,
         "--ybx-pay-password", DEMO.pay_password, "--ybx-driver", "admin", "--ybx-admin-url", live.admin_url,
         "--ybx-admin-token", live.token, "--ybx-only", only],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_checks_run_as_pytest_items(spec, tmp_path):
    with live_mock(spec) as live:
        ok = pytest_run(live, tmp_path)
    assert ok.returncode == 0, ok.stdout[-2000:]
    assert " passed" in ok.stdout and "failed" not in ok.stdout.splitlines()[-1]


def test_a_broken_rule_fails_the_pytest_run(spec, tmp_path):
    with live_mock(spec, ("case-sensitive-names",)) as live:
        bad = pytest_run(live, tmp_path, only="parameters.case-insensitive")
    assert bad.returncode == 1
    assert "parameters.case-insensitive." in bad.stdout and "3.5" in bad.stdout
