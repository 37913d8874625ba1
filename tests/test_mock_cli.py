"""`ybx-mock`'s refusals of bad input: one clear line and exit 2 before the banner, never a traceback
(a port out of range, no workers, a database that cannot be one), and check-world's line per file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from receiver import free_port

from mockserver import cli
from mockserver.world import WORLDS_DIR

FIXTURES = Path(__file__).parent / "fixtures" / "worlds"


def _refused(capsys, argv: list[str]) -> str:
    """Run `ybx-mock ARGV` expecting a usage refusal; its stderr (argparse exits, our code returns)."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == cli.ExitCode.USAGE == 2, (out, err)
    assert "Traceback" not in err and "YBX mock supplier" not in out
    return err


@pytest.mark.parametrize("port, said", [("99999", "99999 is not a port number (1-65535)"),
                                        ("0", "0 is not a port number (1-65535)"),
                                        ("-5", "-5 is not a port number"), ("http", "'http' is not a port number")])
def test_a_port_out_of_range_is_refused_in_one_line(capsys, port, said):
    err = _refused(capsys, ["serve", "--port", port, "--db", ":memory:"])
    assert f"argument --port: {said}" in err.splitlines()[-1]


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_no_workers_is_refused(capsys, workers):
    err = _refused(capsys, ["serve", "--workers", workers, "--db", ":memory:"])
    assert "argument --workers" in err.splitlines()[-1]


def test_wait_refuses_a_negative_timeout(capsys):
    assert "argument --timeout" in _refused(capsys, ["wait", "--timeout", "-1"]).splitlines()[-1]


def _db_refused(capsys, db: Path | str) -> str:
    err = _refused(capsys, ["serve", "--db", str(db), "--port", str(free_port()), "--no-theater"])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ybx-mock: --db "), err
    return lines[0]


def test_a_database_in_a_missing_folder_is_refused_before_the_banner(capsys, tmp_path):
    line = _db_refused(capsys, tmp_path / "nowhere" / "x.db")
    assert line.endswith(f"the folder {tmp_path / 'nowhere'} does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_a_folder_as_database_is_refused(capsys, tmp_path):
    assert "is a folder; give a file in it" in _db_refused(capsys, tmp_path)


def test_a_file_that_is_not_sqlite_is_refused_and_left_as_it_was(capsys, tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("these are my notes, not a database\n" * 20)
    assert "is not a SQLite database" in _db_refused(capsys, notes)
    assert notes.read_text().startswith("these are my notes")


def test_the_theater_database_beside_it_is_checked_too(capsys, tmp_path):
    (tmp_path / "m.theater.db").write_text("not sqlite" * 100)
    line = _refused(capsys, ["serve", "--db", str(tmp_path / "m.db"), "--port", str(free_port())]).strip()
    assert line == f"ybx-mock: --db {tmp_path / 'm.theater.db'} is not a SQLite database (another kind of file?); " \
                   "give a new file or the mock's database"


def test_an_existing_mock_database_passes_the_check(tmp_path):
    db = tmp_path / "ok.db"
    assert cli._db_problem(str(db)) == ""  # made, with the mock's tables
    assert cli._db_problem(str(db)) == ""  # and taken again
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name='orders'").fetchone()[0] == 1
    assert cli._db_problem(":memory:") == ""


def test_check_world_says_ok_for_each_good_file_and_the_problems_of_each_bad_one(capsys):
    good, bad, theater = WORLDS_DIR / "scenic.yaml", FIXTURES / "price-abc.yaml", WORLDS_DIR / "theater.yaml"
    assert cli.main(["check-world", str(good), str(bad), str(theater)]) == 2
    out, err = capsys.readouterr()
    assert [line.split(": ok: ")[0] for line in out.splitlines()] == [str(good), str(theater)]
    assert err.startswith(f"{bad}:5:") and "products[0].price" in err and str(good) not in err


def test_check_world_of_good_files_exits_0(capsys):
    assert cli.main(["check-world"]) == 0
    out, _ = capsys.readouterr()
    assert len(out.splitlines()) == len(list(WORLDS_DIR.glob("*.yaml"))) and all(": ok: " in line for line in out.splitlines())


@pytest.mark.parametrize("clock", ["9999-12-31T00:00:00", "0001-01-01T00:00:00+14:00", "1999-12-31T23:00:00"])
def test_a_clock_outside_the_admin_apis_range_is_refused(capsys, clock):
    line = _refused(capsys, ["serve", "--clock", clock, "--db", ":memory:", "--port", str(free_port())]).strip()
    assert line == f"ybx-mock: --clock {clock}: the clock runs within the years 2000 to 2199"
