"""`pytest --ybx-target URL ...`: the same checks as `ybx-conform run`, as pytest items, so users
can put the suite into their own CI. A failed check fails its item; a check that could not run
is skipped with the reason; a known deviation (--ybx-expected-failures) is an expected failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from spec.loader import load_spec
from spec.protocol import Credentials

from .drivers import make_driver
from .expected import ExpectedFailuresError, load_expected_failures
from .registry import Check, all_checks
from .runner import RunConfig, run_one


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ybx", "YBX conformance checks")
    group.addoption("--ybx-target", default=None, help="base URL of the implementation under test")
    group.addoption("--ybx-user", default=None)
    group.addoption("--ybx-password", default=None)
    group.addoption("--ybx-key", default=None)
    group.addoption("--ybx-pay-password", default=None)
    group.addoption("--ybx-profile", default="default")
    group.addoption("--ybx-driver", default="none", choices=("admin", "manual", "none"))
    group.addoption("--ybx-admin-url", default=None)
    group.addoption("--ybx-admin-token", default=None)
    group.addoption("--ybx-only", default="", help="comma-separated categories or check-id prefixes")
    group.addoption("--ybx-expected-failures", default=None, type=Path)


class YbxCheck(pytest.Item):
    def __init__(self, *, check: Check, config_: RunConfig, **kwargs: Any):
        super().__init__(**kwargs)
        self.check = check
        self.run_config = config_
        self.add_marker(pytest.mark.ybx)

    def runtest(self) -> None:
        result = run_one(self.run_config, self.check)
        if result["verdict"] == "failed":
            raise YbxFailure(result)
        if result["verdict"] in ("not_run", "not_applicable"):
            pytest.skip(result["message"])
        if result["verdict"] == "warning":
            pytest.xfail(result["message"])

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> str:
        if isinstance(excinfo.value, YbxFailure):
            r = excinfo.value.result
            curl = "\n".join(ex["curl"] for ex in r["exchanges"][-2:])
            return f"{r['claim']}\n[{r['clause']}]\n{r['message']}\n{curl}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[str, int, str]:
        return "ybx-conform", 0, f"{self.check.category}: {self.check.id}"


class YbxFailure(Exception):
    def __init__(self, result: dict[str, Any]):
        super().__init__(result["message"])
        self.result = result


class YbxChecks(pytest.Collector):
    def __init__(self, *, run_config: RunConfig, checks: list[Check], **kwargs: Any):
        super().__init__(**kwargs)
        self.run_config = run_config
        self.checks = checks

    def collect(self) -> Iterator[pytest.Item]:
        for chk in self.checks:
            yield YbxCheck.from_parent(self, name=chk.id, check=chk, config_=self.run_config)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ybx: a YBX conformance check")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.getoption("--ybx-target")
    if not target:
        return
    missing = [o for o in ("--ybx-user", "--ybx-password", "--ybx-key") if not config.getoption(o)]
    if missing:
        raise pytest.UsageError(f"--ybx-target needs {', '.join(missing)}")
    spec = load_spec()
    only = tuple(c for c in config.getoption("--ybx-only").split(",") if c)
    known = all_checks(spec)
    try:
        expected = load_expected_failures(config.getoption("--ybx-expected-failures"), (c.id for c in known))
    except ExpectedFailuresError as exc:
        raise pytest.UsageError(str(exc)) from None
    run_config = RunConfig(
        target, Credentials(config.getoption("--ybx-user"), config.getoption("--ybx-password"),
                            config.getoption("--ybx-key"), config.getoption("--ybx-pay-password")),
        spec, spec.profile(config.getoption("--ybx-profile")),
        make_driver(config.getoption("--ybx-driver"), config.getoption("--ybx-admin-url"),
                    config.getoption("--ybx-admin-token")),
        expected_failures=expected,
    )
    checks = [c for c in known if not only or c.category in only or c.id.startswith(only)]
    collector = YbxChecks.from_parent(session, name="ybx-conform", run_config=run_config, checks=checks)
    items.extend(collector.collect())
