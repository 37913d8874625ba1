"""`--expected-failures FILE`: known deviations of a target (`check-id: reason`, or a list of ids),
whose failures a run reports as warnings. Every id must name a check of the suite: a misspelt id
would leave the real failure it meant to excuse failing, or worse, excuse nothing while the file
reads as if it did."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable

import yaml

DEFAULT_REASON = "known deviation"


class ExpectedFailuresError(ValueError):
    """The file cannot be used; the message has one line per problem, each with FILE:LINE:COLUMN."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _where(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _entries(path: Path, root: yaml.Node | None) -> list[tuple[yaml.Node, str]]:
    """(id node, reason) of each entry; refuses a document of another shape."""
    if root is None:
        return []
    if isinstance(root, yaml.SequenceNode):
        pairs = [(item, None) for item in root.value]
    elif isinstance(root, yaml.MappingNode):
        pairs = list(root.value)
    else:
        raise ExpectedFailuresError([f"{_where(path, root)}: the file must map check ids to reasons "
                                     f"('signature.missing.QueryOrder: accepted while we migrate') or list ids"])
    problems, found = [], []
    for key, value in pairs:
        if not isinstance(key, yaml.ScalarNode) or not key.value:
            problems.append(f"{_where(path, key)}: a check id must be a plain text")
            continue
        if value is not None and not isinstance(value, yaml.ScalarNode):
            problems.append(f"{_where(path, value)}: {key.value}: the reason must be a text")
            continue
        found.append((key, (value.value if value is not None else "") or DEFAULT_REASON))
    if problems:
        raise ExpectedFailuresError(problems)
    return found


def load_expected_failures(path: Path | None, known: Iterable[str]) -> dict[str, str]:
    """`{check id: reason}` from `path` (None: no file, no entries). Raises `ExpectedFailuresError` for
    a file that cannot be read, is not YAML, has another shape, names an id twice or an id that is not
    in `known` (the suite's check ids), with a did-you-mean."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExpectedFailuresError([f"{path}: cannot read the expected failures: "
                                     f"{getattr(exc, 'strerror', None) or exc}"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ExpectedFailuresError([f"{where}: not valid YAML: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise ExpectedFailuresError([f"{path}: not valid YAML: {exc}"]) from None
    ids = set(known)
    problems, result = [], {}
    for node, reason in _entries(Path(path), root):
        check_id = node.value
        if check_id in result:
            problems.append(f"{_where(Path(path), node)}: {check_id} is given twice")
        elif check_id not in ids:
            close = difflib.get_close_matches(check_id, ids, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else " (ybx-conform's report lists every check id)"
            problems.append(f"{_where(Path(path), node)}: {check_id} is not a check of the suite{hint}")
        result[check_id] = reason
    if problems:
        raise ExpectedFailuresError(problems)
    return result
