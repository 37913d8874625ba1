"""Preflight of `ybx-conform run`, `callback-pages` and `certify-ota`: a wrong credential or URL stops
the command at once with exit 2 and a sentence naming the likely cause; a right one changes nothing.
And the console summary: the score first, the not-run reasons in words."""

from __future__ import annotations

import time

import pytest
from livemock import live_mock
from mockkit import DEMO, DISABLED, OTHER
from receiver import free_port

from conformance import preflight
from conformance.cli import main
from conformance.drivers import AdminDriver, NoAdminApi, TokenRefused
from conformance.summary import summary_lines
from spec.protocol import Credentials

WRONG_KEY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def live(spec):
    with live_mock(spec) as running:
        yield running


def conform(capsys, live, tmp_path, *, user=DEMO.user, password=DEMO.password, key=DEMO.key, target=None,
            admin_url=None, token=None, extra=()):
    started = time.monotonic()
    code = main(["run", "--target", target or live.base_url, "--user", user, "--password", password, "--key", key,
                 "--driver", "admin", "--admin-url", admin_url or live.admin_url, "--admin-token", token or live.token,
                 "--only", "signature", "--report", str(tmp_path / "r"), *extra])
    return code, capsys.readouterr().err, time.monotonic() - started


def test_probe_page_is_chosen_by_its_properties(spec):
    page = preflight.probe_page(spec, spec.profile())
    assert page.page == "GetProviderConfig.aspx"
    assert page.mode == "both" and not (page.behaviour.writes or page.behaviour.events or page.behaviour.callbacks)
    assert {p.name.lower() for p in page.required_params} == {"sign", "user", "password"}


@pytest.mark.parametrize("creds, cause", [
    (Credentials(DEMO.user, DEMO.password, WRONG_KEY), "likely cause: the KEY (--key)"),
    (Credentials(DEMO.user, "not-the-password", DEMO.key), "likely cause: the login password (--password)"),
    (Credentials("no-such-ota", DEMO.password, DEMO.key), "likely cause: the user name (--user no-such-ota)"),
    (DISABLED, "the target says agent disabled-ota is disabled"),
])
def test_a_wrong_credential_stops_the_run_naming_it(capsys, live, tmp_path, creds, cause):
    code, err, seconds = conform(capsys, live, tmp_path, user=creds.user, password=creds.password, key=creds.key)
    assert code == 2 and seconds < 10, err
    assert "preflight failed, nothing was run" in err and cause in err
    assert "GetProviderConfig.aspx" in err and "retcode -" in err  # the answer's retcode and message
    assert "sign recipe (profile 'default', rule d): MD5" in err and "string signed: " in err
    assert creds.key not in err.split("string signed: ")[1].splitlines()[0]  # the KEY is never printed
    assert not (tmp_path / "r" / "results.json").exists()


def test_the_second_agent_is_checked_too(capsys, live, tmp_path):
    code, err, _ = conform(capsys, live, tmp_path, extra=("--other-user", OTHER.user, "--other-password",
                                                          OTHER.password, "--other-key", WRONG_KEY))
    assert code == 2 and "likely cause: the KEY (--other-key)" in err


def test_a_wrong_admin_token_or_url_stops_the_run(capsys, live, tmp_path):
    code, err, _ = conform(capsys, live, tmp_path, token="wrong-token")
    assert code == 2 and "the admin token was refused" in err and "(--admin-token)" in err
    code, err, _ = conform(capsys, live, tmp_path, admin_url=live.base_url + "/nowhere/_admin")
    assert code == 2 and "is not the mock's admin API (HTTP 404" in err and "the admin URL (--admin-url)" in err
    closed = f"http://127.0.0.1:{free_port()}/_admin"
    code, err, _ = conform(capsys, live, tmp_path, admin_url=closed)
    assert code == 2 and f"no admin API answers at {closed}" in err


def test_a_wrong_target_url_stops_the_run(capsys, live, tmp_path):
    code, err, _ = conform(capsys, live, tmp_path, target=live.base_url + "/wrong-folder")
    assert code == 2 and "answered HTTP 404, not a YBX answer" in err and "the URL (--target)" in err
    code, err, _ = conform(capsys, live, tmp_path, target=f"http://127.0.0.1:{free_port()}")
    assert code == 2 and "cannot reach" in err and "the URL (--target)" in err


def test_the_admin_driver_check(live):
    AdminDriver(live.admin_url, live.token).check()
    with pytest.raises(TokenRefused):
        AdminDriver(live.admin_url, "wrong").check()
    with pytest.raises(NoAdminApi):
        AdminDriver(live.base_url + "/theater/_admin", live.token).check()  # no theater in this mock


def test_a_target_signing_its_answers_wrongly_still_runs(spec):
    # the KEY is right (the target refuses a wrong request sign and took ours): the answer's sign is a
    # finding of the response-sign checks, not a reason to stop
    with live_mock(spec, ("wrong-response-sign",)) as broken:
        assert preflight.check_agent(broken.base_url, DEMO, spec, spec.profile()) == []
    with live_mock(spec, ("wrong-response-sign", "accept-bad-sign")) as worse:
        problems = preflight.check_agent(worse.base_url, DEMO, spec, spec.profile())
    assert "likely cause: the KEY (--key)" in "\n".join(problems)


def test_callback_pages_and_certify_ota_preflight(capsys, live, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/notify"
    code = main(["callback-pages", "--url", closed, "--user", DEMO.user, "--password", DEMO.password,
                 "--key", DEMO.key, "--report", str(tmp_path / "cb")])
    err = capsys.readouterr().err
    assert code == 2 and f"cannot reach the OTA's callback address {closed}/Notify_" in err
    assert "the URL (--url, the OTA's responseaddr)" in err
    code = main(["certify-ota", "--mock", live.base_url, "--admin-token", "wrong", "--agent", DEMO.user,
                 "--no-wait", "--report", str(tmp_path / "cert")])
    err = capsys.readouterr().err
    assert code == 2 and "the admin token was refused" in err and not (tmp_path / "cert").exists()
    code = main(["certify-ota", "--mock", live.base_url, "--admin-token", live.token, "--agent", DEMO.user,
                 "--no-wait", "--callback-url", closed, "--password", DEMO.password, "--key", DEMO.key,
                 "--report", str(tmp_path / "cert")])
    err = capsys.readouterr().err
    assert code == 2 and "(--callback-url, the OTA's responseaddr)" in err


def test_a_right_run_passes_the_preflight(capsys, live, tmp_path):
    code, err, _ = conform(capsys, live, tmp_path)
    assert code == 0, err
    assert "preflight" not in err and (tmp_path / "r" / "results.json").exists()


def test_a_theater_target_passes_the_preflight(spec):
    with live_mock(spec, theater=True) as both:
        assert preflight.check_agent(both.theater.base_url, DEMO, spec, spec.profile()) == []
        assert preflight.driver_problems(AdminDriver(both.theater.admin_url, both.token)) == []
        assert "the admin token was refused" in preflight.driver_problems(AdminDriver(both.theater.admin_url, "x"))[0]


def test_the_admin_api_of_the_other_supplier_is_refused_both_ways(capsys, spec, tmp_path):
    with live_mock(spec, theater=True) as both:
        for target, admin, answers, manages in ((both, both.theater, "scenic", "theater"),
                                                (both.theater, both, "theater", "scenic")):
            code, err, _ = conform(capsys, target, tmp_path, admin_url=admin.admin_url, token=both.token)
            assert code == 2 and "preflight failed, nothing was run" in err, err
            assert f"the admin API at {admin.admin_url} manages supplier" in err and f"({manages}, providerid" in err
            assert f"but the target {target.base_url} answers GetProviderConfig.aspx as supplier" in err
            assert f"({answers}, providerid" in err
            assert f"likely cause: the admin URL (--admin-url): give the admin API of the target's own supplier, " \
                   f"e.g. {target.base_url}/_admin" in err
            assert not (tmp_path / "r" / "results.json").exists()
        assert preflight.driver_manages(AdminDriver(both.theater.admin_url, both.token), both.theater.base_url, DEMO,
                                        spec, spec.profile()) == []


def test_an_admin_api_that_does_not_name_its_supplier_is_not_judged(spec, live):
    class Unnamed(AdminDriver):
        def get_json(self, path, params=None):
            return {"now": "2026-11-21T10:00:00+08:00"}

    assert preflight.driver_manages(Unnamed(live.admin_url, live.token), live.base_url, DEMO, spec, spec.profile()) == []


def test_the_second_agent_must_be_another_agent(capsys, live, tmp_path):
    code, err, _ = conform(capsys, live, tmp_path, extra=("--other-user", DEMO.user, "--other-password",
                                                          DEMO.password, "--other-key", DEMO.key))
    assert code == 2 and "preflight failed, nothing was run" in err
    assert f"--other-user {DEMO.user} is the agent of --user: the isolation checks need a second, different agent" in err
    assert not (tmp_path / "r" / "results.json").exists()


# ------------------------------------------------------------------ the console summary

def _doc(verdicts: dict[str, int], messages: list[str], driver: str = "none") -> dict:
    checks = [{"verdict": v, "message": ""} for v, n in verdicts.items() if v != "not_run" for _ in range(n)]
    checks += [{"verdict": "not_run", "message": m} for m in messages]
    counts = {v: verdicts.get(v, 0) for v in ("passed", "failed", "warning", "not_applicable")}
    counts["not_run"] = len(messages)
    applicable = len(checks) - counts["not_applicable"]
    ran = applicable - counts["not_run"]
    return {"driver": driver, "checks": checks,
            "summary": {**counts, "total": len(checks), "applicable": applicable, "ran": ran,
                        "score": counts["passed"] / applicable, "index": counts["passed"] / ran}}


def test_the_summary_leads_with_the_score_and_says_why_most_checks_did_not_run():
    messages = (["driver 'none' cannot clock"] * 40 + ["driver 'none' cannot events"] * 30
                + [f"QueryOrder.aspx did not answer for order 2026{i:04d} (-1 其他错误)" for i in range(20)]
                + ["no second agent given (--other-user)"] * 5 + ["the target offers no pay channel"] * 4
                + ["no show has 2 free seats of one area"] * 3 + ["a"] * 2 + ["b"])
    lines = summary_lines(_doc({"passed": 9, "failed": 1, "not_applicable": 3}, messages))
    assert lines[0] == "score 7.8%: 9 of 115 applicable checks passed (index 90.0%: 9 of the 10 that ran)"
    assert lines[1] == "9 passed, 1 failed, 0 warnings, 105 not run, 3 not applicable"
    assert lines[2].startswith("Most checks did not run (105 of 115)")
    assert lines[3].split() == ["40", "driver", "'none'", "cannot", "clock"]
    assert lines[4].split()[0] == "30"
    assert lines[5].split()[0] == "20" and lines[5].endswith("(and 19 like it)")
    assert [line.split()[0] for line in lines[6:8]] == ["5", "4"]
    assert lines[8].split()[:4] == ["6", "for", "3", "other"]
    assert "--driver admin" in lines[9]


def test_the_summary_of_a_run_where_everything_ran():
    lines = summary_lines(_doc({"passed": 10, "failed": 2}, []))
    assert lines == ["score 83.3%: 10 of 12 applicable checks passed (index 83.3%: 10 of the 12 that ran)",
                     "10 passed, 2 failed, 0 warnings, 0 not run, 0 not applicable"]

