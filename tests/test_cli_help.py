"""Every option and argument of every subcommand of `ybx-mock` and `ybx-conform` has a help line,
and no help text points at an internal issue number."""

from __future__ import annotations

import argparse
import re
from typing import Callable, Iterator

import pytest

from conformance import cli as conform_cli
from mockserver import cli as mock_cli

ISSUE = re.compile(r"\bissues?\s*#?\d+|#\d+\b", re.IGNORECASE)


class _Built(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def built_parser(main: Callable[[list[str]], int], monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser `main` builds, taken at its parse_args (subcommands parse with parse_known_args)."""
    def taken(self: argparse.ArgumentParser, *args, **kwargs):
        raise _Built(self)

    with monkeypatch.context() as patched:
        patched.setattr(argparse.ArgumentParser, "parse_args", taken)
        with pytest.raises(_Built) as built:
            main([])
    return built.value.parser


def texts(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str | None]]:
    """(where, help text) of every option, argument and subcommand, through every subcommand; the
    parsers' descriptions (optional) as "… (description)"."""
    yield f"{parser.prog} (description)", parser.description
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                yield f"{parser.prog} {choice.dest}", choice.help
            for sub in action.choices.values():
                yield from texts(sub)
            continue
        yield f"{parser.prog} {'/'.join(action.option_strings) or action.dest}", action.help


@pytest.mark.parametrize("main", [conform_cli.main, mock_cli.main], ids=["ybx-conform", "ybx-mock"])
def test_every_option_has_help_and_no_issue_number(main, monkeypatch):
    found = list(texts(built_parser(main, monkeypatch)))
    assert len(found) > 10
    missing = [where for where, text in found
               if not where.endswith("(description)") and (not (text or "").strip() or text == argparse.SUPPRESS)]
    assert missing == []
    numbered = [f"{where}: {text}" for where, text in found if text and ISSUE.search(text)]
    assert numbered == []


def test_the_walk_catches_a_missing_help_and_an_issue_number(monkeypatch):
    def main(argv: list[str]) -> int:
        parser = argparse.ArgumentParser(prog="demo", description="a demo")
        sub = parser.add_subparsers(dest="cmd")
        run = sub.add_parser("run", help="run it (issue 6)")
        run.add_argument("--bare")
        run.add_argument("--named", help="fixed in #12")
        parser.parse_args(argv)
        return 0

    found = dict(texts(built_parser(main, monkeypatch)))
    assert found["demo run --bare"] is None
    assert [w for w, t in found.items() if t and ISSUE.search(t)] == ["demo run", "demo run --named"]


@pytest.mark.parametrize("main", [conform_cli.main, mock_cli.main], ids=["ybx-conform", "ybx-mock"])
def test_every_option_with_a_default_says_it(main, monkeypatch):
    """An option that takes a value when not given says which in its help ("default" with the value,
    or what leaving it out means, e.g. "default: all")."""
    parser = built_parser(main, monkeypatch)

    def options(p: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.Action]]:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from options(sub)
            elif action.option_strings and not isinstance(action, argparse._HelpAction):
                yield f"{p.prog} {'/'.join(action.option_strings)}", action

    silent = [where for where, action in options(parser)
              if action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in (action.help or "")]
    assert silent == []


def test_the_readme_gives_the_exit_codes_of_every_subcommand(monkeypatch):
    from conftest import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {f"{tool} {sub}" for line in rows for tool in ("ybx-mock", "ybx-conform")
             if line.startswith(f"| `{tool} ") for sub in re.findall(r"`?([a-z-]+)`", line.split("|")[1])}
    for main, tool in ((mock_cli.main, "ybx-mock"), (conform_cli.main, "ybx-conform")):
        parser = built_parser(main, monkeypatch)
        subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
        assert {f"{tool} {name}" for name in subs} <= named, named
    assert [int(code) for code in mock_cli.ExitCode] == [0, 1, 2] and [int(c) for c in conform_cli.ExitCode] == [0, 1, 2]
