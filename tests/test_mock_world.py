"""World files: every problem of a broken one reported at once as FILE:LINE:COLUMN: path: what
(tests/fixtures/worlds/, each file with its expected lines), never a traceback; relative dates
resolved against the seed day; `ybx-mock check-world` and `serve` refusing a bad world with exit 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver import days
from mockserver.server import DEFAULT_THEATER_WORLD
from mockserver.world import DEFAULT_WORLD, SHIPPED_WORLDS, WorldError, check_world, load_world
from mockserver.worldcheck import SCHEMA_FILE

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "worlds").glob("*.yaml"))


def expected(path: Path) -> list[str]:
    return [f"{path}:{line.removeprefix('# expect: ')}" for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("# expect: ")]


def test_the_fixture_folder_holds_the_newcomers_mistakes():
    names = {p.stem for p in FIXTURES}
    assert {"yaml-syntax", "price-abc", "no-mode", "product-no-id", "several-problems", "relative-dates"} <= names
    assert len(expected(FIXTURES[0].parent / "several-problems.yaml")) >= 5


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_each_broken_world_reports_exactly_its_expected_problems(spec, path):
    world, problems = check_world(path, spec=spec)
    assert [str(p) for p in problems] == expected(path)
    if problems:
        assert world is None
        with pytest.raises(WorldError) as caught:
            load_world(path, spec=spec)
        assert str(caught.value).splitlines() == expected(path)
    else:
        assert world is not None and world.source == str(path)


def test_a_file_that_cannot_be_read_is_one_line(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert [str(p) for p in check_world(missing)[1]] == [f"{missing}: no such file"]
    assert [str(p) for p in check_world(tmp_path)[1]] == [f"{tmp_path}: is a directory, not a world file"]
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"supplier:\n  providername: caf\xe9\n")
    assert [str(p) for p in check_world(latin)[1]] == [f"{latin}:2:20: not UTF-8 text"]


def test_the_theater_supplier_needs_a_theater_world(spec):
    _, problems = check_world(DEFAULT_WORLD, spec=spec, mode="theater")
    assert [p.message for p in problems] == ["'scenic': the theater supplier needs a world of mode theater"]
    assert problems[0].path == "supplier.mode" and problems[0].line > 1


@pytest.mark.parametrize("path", SHIPPED_WORLDS, ids=lambda p: p.stem)
def test_the_shipped_worlds_are_valid(spec, path):
    world, problems = check_world(path, spec=spec)
    assert problems == () and world is not None
    assert world.relative == (world.supplier.mode == "scenic")  # the scenic ones carry relative dates


def test_the_schema_is_shipped_and_spells_the_date_syntax_of_the_parser():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$defs"]["date"]["pattern"] == days.DAY_PATTERN
    assert schema["$defs"]["datetime"]["pattern"] == days.MOMENT_PATTERN
    assert schema["$defs"]["optional_datetime"]["pattern"] == days.MOMENT_PATTERN
    assert schema["$defs"]["money"]["pattern"] == r"^\d+(\.\d{1,2})?$"
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert "worlds/world.schema.json" in pyproject


@pytest.mark.parametrize("text, value", [
    ("2026-12-25", date(2026, 12, 25)), ("today", days.RelativeDay(0)), ("+18d", days.RelativeDay(18)),
    ("-30d", days.RelativeDay(-30)), ("+0d", days.RelativeDay(0)), ("2028-02-29", date(2028, 2, 29)),
])
def test_a_date_is_absolute_or_relative(text, value):
    assert days.parse_day(text) == value


@pytest.mark.parametrize("text, value", [
    ("2026-11-01 09:30:15", datetime(2026, 11, 1, 9, 30, 15)), ("2026-11-01T09:30", datetime(2026, 11, 1, 9, 30)),
    ("-30d 09:30", days.RelativeMoment(days.RelativeDay(-30), time(9, 30))),
    ("today 08:00:15", days.RelativeMoment(days.RelativeDay(0), time(8, 0, 15))),
])
def test_a_date_time_is_absolute_or_relative(text, value):
    assert days.parse_moment(text) == value


@pytest.mark.parametrize("text", ["18d", "+18", "+18 d", "+18days", "tomorrow", "Today", "+12345d", "2026-2-1",
                                  "2026-02-30", "2027-02-29", "2026-12-25 10:00"])
def test_other_dates_are_refused(text):
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        days.parse_day(text)


@pytest.mark.parametrize("text", ["today", "-30d", "-30d9:30", "-30dT09:30", "-30d 9:30", "-30d 24:00", "+1d 09:30:60",
                                  "2026-11-01", "2026-11-01 09:30+08:00", "today  08:00"])
def test_other_date_times_are_refused(text):
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        days.parse_moment(text)


def _world_with_dates(tmp_path: Path, sold_out: list[str], ordertime: str, deliverytime: str) -> Path:
    data = yaml.safe_load(DEFAULT_WORLD.read_text(encoding="utf-8"))
    data["products"][3]["sold_out"] = sold_out
    data["year_cards"][0].update(ordertime=ordertime, deliverytime=deliverytime, effectdate="-1d")
    path = tmp_path / "dates.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("seed_day, sold_out, ordered, effect", [
    # a leap day: the day after is 1 March, a year later is 1 March too
    (date(2028, 2, 29), [date(2028, 2, 29), date(2028, 3, 1), date(2029, 3, 1), date(2026, 12, 25)],
     datetime(2028, 1, 30, 9, 30), date(2028, 2, 28)),
    # a year end: the next day is in the next year
    (date(2027, 12, 31), [date(2027, 12, 31), date(2028, 1, 1), date(2028, 12, 31), date(2026, 12, 25)],
     datetime(2027, 12, 1, 9, 30), date(2027, 12, 30)),
])
def test_relative_dates_resolve_against_the_seed_day(tmp_path, seed_day, sold_out, ordered, effect):
    template = load_world(_world_with_dates(tmp_path, ["today", "+1d", "+366d", "2026-12-25"], "-30d 09:30",
                                            "today 23:59:59"))
    assert template.relative and template.seed_day is None
    world = template.on(seed_day)
    assert world.seed_day == seed_day and not world.relative
    assert world.product("P1004").sold_out == tuple(sold_out)
    card = world.year_cards[0]
    assert (card.ordertime, card.effectdate) == (ordered, effect)
    assert card.deliverytime == datetime.combine(seed_day, time(23, 59, 59))
    assert world.year_cards[1].effectdate == seed_day + timedelta(days=10)  # the shipped "+10d"


# ---------------------------------------------------------------- never a traceback

def _mutations():
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3000), st.floats(allow_nan=False, width=16),
                     st.sampled_from(["", "abc", "+1d", "-2d 09:30", "2026-02-30", "19:30", "P1001", "01", "A1-1-1"]),
                     st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.sampled_from(["id", "x"]), st.just(1)))
    return st.lists(st.tuples(st.integers(0, 10**6), leaf, st.booleans()), min_size=1, max_size=4)


def _paths(data, path=()):
    yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, (*path, i))


BASES = {p: yaml.safe_load(p.read_text(encoding="utf-8")) for p in (DEFAULT_WORLD, DEFAULT_THEATER_WORLD)}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.sampled_from(sorted(BASES)), edits=_mutations())
def test_any_edit_of_a_world_gives_problems_or_a_world_never_an_exception(spec, tmp_path, base, edits):
    data = json.loads(json.dumps(BASES[base]))
    for pick, value, delete in edits:
        paths = [p for p in _paths(data) if p]
        *parent, last = paths[pick % len(paths)]
        holder = data
        for part in parent:
            holder = holder[part]
        if delete and isinstance(holder, dict):
            del holder[last]
        else:
            holder[last] = value
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    world, problems = check_world(path, spec=spec)
    assert (world is None) == bool(problems)
    assert all(str(p).startswith(f"{path}:") for p in problems)


# ---------------------------------------------------------------- the command line

def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mockserver.cli", *args], capture_output=True, text=True, timeout=120)


def test_check_world_accepts_the_shipped_worlds_by_default():
    out = _cli("check-world")
    assert out.returncode == 0, out.stderr
    assert [line.split(": ok")[0] for line in out.stdout.splitlines()] == [str(p) for p in SHIPPED_WORLDS]


def test_check_world_lists_every_problem_of_every_file_and_exits_2(tmp_path):
    paths = [str(p) for p in FIXTURES if p.stem in ("yaml-syntax", "price-abc", "no-mode", "product-no-id",
                                                    "several-problems")] + [str(tmp_path / "missing.yaml")]
    out = _cli("check-world", *paths)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert out.stderr.splitlines() == [line for p in paths[:-1] for line in expected(Path(p))] + [
        f"{paths[-1]}: no such file"]


@pytest.mark.parametrize("option, name", [
    *(("--world", name) for name in ("missing", "yaml-syntax", "price-abc", "no-mode", "product-no-id")),
    ("--theater-world", "missing"), ("--theater-world", "price-abc"),
])
def test_serve_refuses_a_bad_world_with_its_problems_and_exit_2(tmp_path, option, name):
    path = FIXTURES[0].parent / f"{name}.yaml"
    out = _cli("serve", "--port", "9", "--db", str(tmp_path / "x.db"), option, str(path))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "YBX mock supplier" not in out.stdout
    if name == "missing":
        assert out.stderr.splitlines() == [f"{path}: no such file"]
    elif option == "--world":
        assert out.stderr.splitlines() == expected(path)
    else:  # the theater's world must be of mode theater too
        assert expected(path)[0] in out.stderr.splitlines()


def test_serve_refuses_a_scenic_world_as_the_theater_world(tmp_path):
    out = _cli("serve", "--port", "9", "--db", str(tmp_path / "x.db"), "--theater-world", str(DEFAULT_WORLD))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert re.fullmatch(re.escape(f"{DEFAULT_WORLD}:") + r"\d+:\d+: supplier\.mode: 'scenic': the theater supplier "
                        r"needs a world of mode theater", out.stderr.strip())


@pytest.mark.parametrize("clock", ["yesterday", "2028-02-30T10:00:00"])
def test_serve_refuses_a_bad_clock(tmp_path, clock):
    out = _cli("serve", "--port", "9", "--db", str(tmp_path / "x.db"), "--clock", clock)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == f"ybx-mock: --clock {clock!r} is not an ISO 8601 date-time (2028-02-29T10:00:00+08:00)"
