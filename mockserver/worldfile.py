"""Reading a world file with the line and column of every value, and the problems found in it.

Every problem is reported as `FILE:LINE:COLUMN: path.to.field: what is wrong`, all of them at
once (`WorldError`); a file that cannot be read or parsed is one problem."""

from __future__ import annotations

import hashlib

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based; 0 when the problem is the file itself
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class WorldError(ValueError):
    """The world file is not usable; `problems` lists every finding, each with its position."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class _Loader(yaml.SafeLoader):
    """YAML as the world is written: dates stay text (`2026-12-25` and `+18d` alike, so one parser
    reads both), everything else as PyYAML's safe loader reads it."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def dotted(path: Path_) -> str:
    """`products[3].price` for ("products", 3, "price")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class WorldText:
    """A parsed world file: its data and where each value (and each mapping key) starts."""

    file: str
    data: Any
    digest: str = ""  # SHA-256 of the file's bytes: which version of the file a database was seeded from
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def position(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Where `path` starts (its key with `key`); the nearest enclosing value when it is not in
        the file (a missing key, or one brought in by a YAML merge)."""
        if key and path in self.keys:
            return self.keys[path]
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def add(self, path: Path_, message: str, *, key: bool = False, at: Path_ | None = None) -> None:
        """Record a problem of `path`, placed at `at` (default: `path` itself)."""
        line, column = self.position(path if at is None else at, key=key)
        self.problems.append(Problem(self.file, line, column, dotted(path), message))


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _walk(node: yaml.Node, path: Path_, text: WorldText) -> None:
    text.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key, child = key_node.value, (*path, key_node.value)
            if key in seen:  # PyYAML keeps the last silently: a pasted block would override unnoticed
                text.problems.append(Problem(text.file, *_mark(key_node), dotted(child),
                                             f"given twice (first on line {seen[key]}); YAML keeps only the last"))
            seen[key] = _mark(key_node)[0]
            text.keys[child] = _mark(key_node)
            _walk(value_node, child, text)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), text)


def read_world_text(path: Path) -> WorldText:
    """Parse `path`; a file that cannot be read or parsed gives one problem and no data."""
    name = str(path)
    text = WorldText(name, None)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        text.problems.append(Problem(name, 0, 0, "", "no such file"))
        return text
    except IsADirectoryError:
        text.problems.append(Problem(name, 0, 0, "", "is a directory, not a world file"))
        return text
    except OSError as exc:
        text.problems.append(Problem(name, 0, 0, "", f"cannot read: {exc.strerror or exc}"))
        return text
    text.digest = hashlib.sha256(raw).hexdigest()
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        text.problems.append(Problem(name, line, column, "", "not UTF-8 text"))
        return text
    loader = _Loader(source)
    try:
        node = loader.get_single_node()
        if node is not None:
            _walk(node, (), text)
            text.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "cannot parse"
        if exc.context and exc.problem:
            where = f" on line {exc.context_mark.line + 1}" if exc.context_mark else ""
            what += f" ({exc.context}{where})"
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        text.problems[:] = [Problem(name, line, column, "", f"YAML syntax error: {what}")]
        text.data = None
    except yaml.YAMLError as exc:
        text.problems[:] = [Problem(name, 0, 0, "", f"YAML syntax error: {exc}".replace("\n", " "))]
        text.data = None
    finally:
        loader.dispose()
    if text.data is None and not text.problems:
        text.problems.append(Problem(name, 1, 1, "", "the file is empty: a world is a mapping (supplier, products, agents, …)"))
    return text
