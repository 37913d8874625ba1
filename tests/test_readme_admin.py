"""The README's admin API section documents every option the admin code accepts: each route of
`mockserver/admin.py`, each JSON field or query parameter its endpoints read (found by walking the
module), the journal's filters and every supplier event with its body fields."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

from mockserver import journal
from mockserver.events import EVENTS
from mockserver.handlers import load_all

HEADING = "### Admin API (supplier side)\n"
ADMIN = ROOT / "mockserver" / "admin.py"


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(HEADING) == 1
    return text.split(HEADING, 1)[1].split("\n### ", 1)[0]


def _rows(section: str) -> list[str]:
    return [line for line in section.splitlines() if line.startswith("| ")]


def _row(section: str, path: str) -> str:
    found = [r for r in _rows(section) if re.search(rf"`(GET|POST|DELETE)? ?{re.escape(path)}(\?[^`]*)?`", r)]
    assert found, f"the README's admin table has no row for {path}"
    return " ".join(found)


def _keys_read(fn: ast.AsyncFunctionDef) -> set[str]:
    """The JSON body fields and query parameters an endpoint reads: data["k"], data.get("k"), "k" in data,
    the same on the query parameters, and the names a loop over a tuple of strings reads from them."""
    holders = {"data", "q"}
    keys: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in holders \
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            keys.add(node.slice.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in holders \
                and node.args and isinstance(node.args[0], ast.Constant):
            keys.add(node.args[0].value)
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) \
                and any(isinstance(c, ast.Name) and c.id in holders for c in node.comparators):
            keys.add(node.left.value)
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple) \
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.iter.elts):
            keys.update(e.value for e in node.iter.elts)
        elif isinstance(node, ast.Set) and all(isinstance(e, ast.Constant) for e in node.elts):
            keys.update(e.value for e in node.elts if isinstance(e.value, str))  # the fields a body may carry
    return keys


def _endpoints() -> list[tuple[str, set[str]]]:
    """(path, keys read) of every admin route, from the module's route table and its endpoint functions."""
    tree = ast.parse(ADMIN.read_text(encoding="utf-8"))
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)}
    table = next(n for n in ast.walk(tree) if isinstance(n, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "table" for t in n.targets))
    out = []
    for entry in table.value.elts:
        path, fn = entry.elts[0].value, entry.elts[1]
        out.append((path, _keys_read(functions[fn.id]) if isinstance(fn, ast.Name) else set()))
    return out


def test_every_admin_route_and_option_is_in_the_readme():
    section = _section()
    endpoints = _endpoints()
    assert len(endpoints) >= 13 and ("/_admin/clock", {"set", "freeze", "advance"}) in endpoints
    missing = []
    for path, keys in endpoints:
        row = _row(section, path)
        missing += [f"{path}: {key}" for key in sorted(keys) if not re.search(rf"\b{re.escape(key)}\b", row)]
    assert missing == []


def test_the_journal_filters_and_every_event_with_its_fields_are_in_the_readme():
    section = _section()
    journal_row = _row(section, "/_admin/journal")
    assert [f for f in journal.FILTERS if f"`{f}" not in journal_row] == []
    load_all()
    events = [r for r in _rows(section) if r.count("|") >= 4 and "`{" in r]
    for e in EVENTS.values():
        row = " ".join(r for r in events if f"`{e.name}`" in r.split("|")[1])
        assert row, f"event {e.name} is not in the README's events table"
        fields = re.findall(r'"(\w+)"\??:', e.params)
        assert fields and [f for f in fields if f'"{f}"' not in row] == [], (e.name, fields, row)
