"""The mock's request log: one line per request (the mock's clock, kind, agent, method, path, page,
retcode, status, milliseconds), as text or JSON; one line for a theater request, none with --quiet;
a writer that falls behind drops lines instead of blocking the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta

import httpx
import pytest
from mockkit import DEMO, START, Ota, make_mock
from receiver import free_port
from starlette.testclient import TestClient

from mockserver.app import create_app
from mockserver.requestlog import LineWriter, RequestLog, escaped, route_notes
from mockserver.server import Settings, build_theater_mock
from spec.protocol import Credentials, encode_request


def logged_app(spec, fmt: str, theater: bool = False):
    mock = make_mock(spec)
    stage = build_theater_mock(Settings(db=":memory:"), mock) if theater else None
    lines: list[str] = []
    app = create_app(mock, theater=stage, request_log=RequestLog.for_spec(lines.append, fmt, spec))
    return mock, TestClient(app), lines


def test_json_lines_carry_the_mocks_clock_agent_page_and_retcode(spec):
    mock, client, lines = logged_app(spec, "json")
    ota = Ota(mock, client)
    ota.call("GetProviderConfig.aspx")
    ota.call("GetProviderConfig.aspx", post=True)
    client.post("/_admin/clock", json={"advance": 3600}, headers={"X-Admin-Token": "demo-admin"})
    ota.as_(Credentials(DEMO.user, DEMO.password, "0" * 36)).raw("GetProviderConfig.aspx", {})
    client.get("/NoSuchPage.aspx")
    client.get("/no/such/path")
    client.get("/")
    got = [json.loads(line) for line in lines]
    assert [(g["kind"], g["method"], g["path"], g["status"]) for g in got] == [
        ("page", "GET", "/GetProviderConfig.aspx", 200), ("page", "POST", "/POST/GetProviderConfig.aspx", 200),
        ("admin", "POST", "/_admin/clock", 200), ("page", "GET", "/GetProviderConfig.aspx", 200),
        ("other", "GET", "/NoSuchPage.aspx", 404), ("other", "GET", "/no/such/path", 404),
        ("home", "GET", "/", 200)]
    first, posted, admin, refused = got[:4]
    assert first["agent"] == posted["agent"] == refused["agent"] == DEMO.user and admin["agent"] is None
    assert first["page"] == "GetProviderConfig.aspx" and first["retcode"] == "0" and posted["retcode"] == "0"
    assert refused["retcode"] == "-1" and admin["retcode"] is None and admin["page"] is None
    start = START.astimezone(mock.tz)
    assert datetime.fromisoformat(first["at"]) == start  # the mock's frozen clock, not the wall
    assert datetime.fromisoformat(refused["at"]) == start + timedelta(hours=1)  # and moved by the admin API
    assert first["at"].endswith("+08:00") and all(isinstance(g["ms"], float) and g["ms"] >= 0 for g in got)


def test_text_lines_and_the_theater_logged_once(spec):
    mock, client, lines = logged_app(spec, "text", theater=True)
    ota = Ota(mock, client)
    page = spec.page("GetProviderConfig.aspx")
    client.get(f"/theater/{page.page}", params=encode_request(page, {}, DEMO, spec.profile()))
    client.get("/theater/_admin", headers={"X-Admin-Token": "demo-admin"})
    ota.call("GetProviderConfig.aspx")
    assert len(lines) == 3, lines
    pattern = (r"(\S+) (\w+) (\S+) (GET|POST) (\S+)(?: retcode=(\S+))? status=(\d+) (\d+\.\d)ms")
    parsed = [re.fullmatch(pattern, line) for line in lines]
    assert all(parsed), lines
    assert [(m[2], m[5], m[7]) for m in parsed] == [("page", "/theater/GetProviderConfig.aspx", "200"),
                                                     ("admin", "/theater/_admin", "200"),
                                                     ("page", "/GetProviderConfig.aspx", "200")]
    assert parsed[2][3] == DEMO.user and parsed[2][6] == "0"
    assert datetime.fromisoformat(parsed[0][1]) == START.astimezone(mock.tz)


TEXT_LINE = re.compile(r"(\S+) (\w+) (\S+) (GET|POST) (\S+)(?: retcode=(\S+))? status=(\d+) (\d+\.\d)ms")
FORGED = "evil\n2030-01-01T00:00:00.000+08:00 page demo-ota GET /Forged.aspx retcode=0 status=200 0.1ms"


def test_an_agent_or_path_cannot_forge_a_line_split_a_field_or_reach_the_terminal(spec):
    mock, client, lines = logged_app(spec, "text")
    for agent in (FORGED, "two words", "\x1b[2J\x1b[31mred", "100%", "演示\u202eota\u2028"):
        client.get("/GetProviderConfig.aspx", params={"user": agent})
    client.get("/a%0Ab%20c%1B[0m/x%25y")
    assert len(lines) == 6 and all(line.isprintable() for line in lines), lines
    parsed = [TEXT_LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    assert [m[3] for m in parsed[:5]] == [
        "evil%0A2030-01-01T00:00:00.000+08:00%20page%20demo-ota%20GET%20/Forged.aspx%20retcode=0%20status=200%200.1ms",
        "two%20words", "%1B[2J%1B[31mred", "100%25", "演示%E2%80%AEota%E2%80%A8"]
    assert parsed[5][2] == "other" and parsed[5][5] == "/a%0Ab%20c%1B[0m/x%25y"
    assert escaped("plain-ota") == "plain-ota"


def test_json_lines_keep_the_agent_exactly_and_stay_one_printable_line(spec):
    mock, client, lines = logged_app(spec, "json")
    for agent in (FORGED, "\x1b[31m\x7f\x9b\u2028\u202e"):
        client.get("/GetProviderConfig.aspx", params={"user": agent})
    assert len(lines) == 2 and all(line.isprintable() and "\n" not in line for line in lines)
    assert [json.loads(line)["agent"] for line in lines] == [FORGED, "\x1b[31m\x7f\x9b\u2028\u202e"]


def test_favicon_and_other_paths_are_other_only_spec_pages_are_page(spec):
    mock, client, lines = logged_app(spec, "json", theater=True)
    for path in ("/favicon.ico", "/theater/favicon.ico", "/robots.txt", "/post/NoSuchPage.aspx"):
        client.get(path)
    client.put("/GetProviderConfig.aspx")  # a spec page, wrong method: still a request for a page
    assert [(json.loads(line)["kind"], json.loads(line)["path"]) for line in lines] == [
        ("other", "/favicon.ico"), ("other", "/theater/favicon.ico"), ("other", "/robots.txt"),
        ("other", "/post/NoSuchPage.aspx"), ("page", "/GetProviderConfig.aspx")]


def test_rest_lines_carry_the_hawk_id_as_agent(spec):
    mock, client, lines = logged_app(spec, "json")
    client.get("/api/WebInterface/Order/YearCard/Query/Main?dwlx=2&dwid=x&orderid=y",
               headers={"Authorization": 'Hawk id="demo-ota", ts="1", nonce="n", mac="bad"'})
    client.get("/api/WebInterface/Order/YearCard/Query/Main?orderid=y")
    got = [json.loads(line) for line in lines]
    assert [(g["kind"], g["agent"], g["status"]) for g in got] == [("rest", "demo-ota", 401), ("rest", None, 401)]


@pytest.fixture
def notes_restored():
    """The loggers route_notes configures, as they were before the test."""
    saved = {name: (lg.handlers[:], lg.level, lg.propagate) for name in ("ybx", "uvicorn.error")
             for lg in [logging.getLogger(name)]}
    yield
    for name, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers, lg.level, lg.propagate = handlers, level, propagate


def test_the_mocks_own_notes_are_lines_of_the_log_in_its_format(notes_restored):
    at = datetime.fromisoformat("2029-03-01T08:30:00+08:00")
    text, js = [], []
    route_notes(RequestLog(text.append, "text"), lambda: at)
    logging.getLogger("ybx.mock.instant").warning("Alipay notice refused: %s", "bad\nline 50%")
    route_notes(RequestLog(js.append, "json"), lambda: at)
    logging.getLogger("ybx.mock.instant").warning("Alipay notice refused: %s", "bad\nline")
    logging.getLogger("ybx.mock.instant").info("not a note")
    assert text == ["2029-03-01T08:30:00.000+08:00 log warning ybx.mock.instant Alipay notice refused: bad%0Aline 50%"]
    assert [json.loads(line) for line in js] == [{"at": "2029-03-01T08:30:00.000+08:00", "kind": "log",
                                                  "level": "warning", "logger": "ybx.mock.instant",
                                                  "message": "Alipay notice refused: bad\nline"}]


def test_quiet_drops_the_notes_but_not_the_errors(notes_restored, caplog):
    route_notes(None, datetime.now)  # no log: the errors go on to stderr (Python's last resort, here caplog)
    logging.getLogger("ybx.mock.instant").warning("Alipay notice refused: x")
    logging.getLogger("ybx.mock").error("internal error on X")
    assert [r.getMessage() for r in caplog.records] == ["internal error on X"]


def _full_pipe() -> tuple[int, int]:
    """A pipe nobody reads, filled to the brim."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write, b"x" * 4096)
    os.set_blocking(write, True)
    return read, write


def _drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    out = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            out += chunk
    return out


def test_a_full_pipe_never_blocks_and_lines_beyond_the_buffer_are_dropped_and_counted():
    read, write = _full_pipe()
    with os.fdopen(write, "w") as stream:
        writer = LineWriter(stream, lines=5)
        started = time.perf_counter()
        for i in range(50):
            writer.put(f"line {i}")  # no running loop: each put tries to write at once
        assert time.perf_counter() - started < 0.5  # never waited for the pipe
        assert _drain(read).strip(b"x") == b""  # nothing got in
        writer.put("after")
        written = _drain(read).decode()
    os.close(read)
    assert written == "line 0\nline 1\nline 2\nline 3\nline 4\nline 5\n" \
        "(44 log lines dropped: the log was written slower than requests came)\nafter\n"


def test_lines_are_written_by_the_event_loop_in_rounds():
    read, write = os.pipe()

    async def serve() -> bytes:
        writer = LineWriter(os.fdopen(write, "w", closefd=False), every=0.05)
        writer.put("one")
        writer.put("two")
        before = _drain(read)  # the loop has not had a round yet
        await asyncio.sleep(0.2)
        return before + b"|" + _drain(read)

    try:
        assert asyncio.run(serve()) == b"|one\ntwo\n"
    finally:
        os.close(read)
        os.close(write)


def _serve(tmp_path, *extra: str):
    port = free_port()
    err = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port), "--db", ":memory:",
                             "--no-theater", "--admin-token", "t", *extra], stdout=subprocess.DEVNULL, stderr=err)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/_admin", headers={"X-Admin-Token": "t"}, timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError((tmp_path / "stderr.log").read_text())


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_ybx_mock_serve_logs_json_lines_by_its_clock_and_quiet_turns_them_off(spec, tmp_path):
    page = spec.page("GetProviderConfig.aspx")
    proc, base = _serve(tmp_path, "--log-format", "json")
    try:
        httpx.post(f"{base}/_admin/clock", json={"set": "2029-03-01T08:30:00+08:00", "freeze": True},
                   headers={"X-Admin-Token": "t"})
        httpx.get(f"{base}/{page.page}", params=encode_request(page, {}, DEMO, spec.profile()))
        log = tmp_path / "stderr.log"
        deadline = time.monotonic() + 10
        while page.page not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        _stop(proc)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    pages = [line for line in lines if line["kind"] == "page"]
    assert pages and pages[-1]["at"] == "2029-03-01T08:30:00.000+08:00" and pages[-1]["agent"] == DEMO.user
    assert pages[-1]["retcode"] == "0" and pages[-1]["page"] == page.page
    assert any(line["kind"] == "admin" and line["path"] == "/_admin/clock" for line in lines)
    proc, base = _serve(tmp_path, "--quiet")
    try:
        httpx.get(f"{base}/{page.page}", params=encode_request(page, {}, DEMO, spec.profile()))
        httpx.get(f"{base}/notify_Payback_url.aspx?NETDH=nonsense")
    finally:
        _stop(proc)
    assert page.page not in (tmp_path / "stderr.log").read_text()
    assert "Alipay notice refused" not in (tmp_path / "stderr.log").read_text()


def test_a_refused_payment_notice_is_a_json_line_of_the_log(tmp_path):
    proc, base = _serve(tmp_path, "--log-format", "json")
    try:
        assert httpx.get(f"{base}/notify_Payback_url.aspx?NETDH=nonsense").text == "fail"
        log = tmp_path / "stderr.log"
        deadline = time.monotonic() + 10
        while "notify_Payback_url" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        _stop(proc)
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # every line is JSON
    notes = [line for line in lines if line["kind"] == "log"]
    assert len(notes) == 1 and notes[0]["message"].startswith("Alipay notice refused: ")
    assert notes[0]["level"] == "warning" and notes[0]["logger"] == "ybx.mock.instant"
    assert any(line["kind"] == "notify" and line["path"] == "/notify_Payback_url.aspx" for line in lines)
