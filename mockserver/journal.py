"""The certification journal (`ybx-mock serve --certify`): every request to an interface page,
with the answer it got and the judge's findings, kept in the mock's database and served at
`GET /_admin/journal`. Recording happens after the answer is made and never changes it."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spec import wire
from spec.model import Page

from . import conditions
from .certify import Exchange, Judge, Pairs
from .context import Mock
from .store import Store, register_schema

log = logging.getLogger("ybx.mock.journal")

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal(
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, ts REAL NOT NULL, agent TEXT, method TEXT NOT NULL,
  path TEXT NOT NULL, page TEXT, http_status INTEGER NOT NULL, retcode TEXT, retmsg TEXT, params TEXT NOT NULL,
  plain_values TEXT NOT NULL, findings TEXT NOT NULL, verdict TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS journal_agent_page ON journal(agent, page, ts);
CREATE INDEX IF NOT EXISTS journal_ts ON journal(ts);
"""
# No tables to empty on reset: the journal is evidence of what the OTA sent; DELETE clears it.
register_schema(SCHEMA, ())

DEFAULT_LIMIT = 500
SQLITE_MAX = 2**63 - 1  # the largest integer SQLite stores: beyond it a query parameter overflows
MAX_VALUE = 4096  # longer values are stored cut, so that a huge request cannot bloat the journal
FILTERS = ("agent", "since", "until", "page", "only", "after_id", "limit")

Endpoint = Callable[[Request], Awaitable[Response]]


def ensure_schema(store: Store) -> None:
    """Create the journal table in a database opened before this module registered it."""
    with store.transaction() as db:
        for statement in filter(str.strip, SCHEMA.split(";")):
            db.execute(statement)


def recording(mock: Mock, endpoint: Endpoint) -> Endpoint:
    """The interface endpoint, answering as before, then judging and journalling each exchange."""
    ensure_schema(mock.store)
    judge = Judge(mock.spec, mock.spec.profile(mock.profile.name), mock.world.agents, partial(_earlier, mock),
                  partial(conditions.setting, mock))
    pages = {p.page.lower(): p for p in mock.spec.request_pages}  # as app.endpoint routes them

    async def recorded(request: Request) -> Response:
        response = await endpoint(request)
        try:
            body = await request.body() if request.method == "POST" else b""
            ex = partial(exchange, pages, request.method, request.url.path, dict(request.path_params),
                         request.scope.get("query_string", b""), body)
            await run_in_threadpool(lambda: record(mock, judge, ex(mock.now()), response))
        except Exception:  # the journal must never cost the OTA its answer
            log.exception("could not journal %s %s", request.method, request.url.path)
        return response

    return recorded


def _pairs(raw: bytes) -> Pairs:
    # Lenient where the mock is strict: the journal keeps what was sent, even when it is not UTF-8.
    return tuple(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True, errors="replace"))


def exchange(pages: Mapping[str, Page], method: str, path: str, path_params: Mapping[str, str], query: bytes,
             body: bytes, at: datetime) -> Exchange:
    """The exchange the judge reads, from the route's path parameters (`prefix`, `page`)."""
    name, prefix = path_params.get("page", ""), path_params.get("prefix")
    folder_ok = prefix is None or prefix.lower() == "post"
    page = pages.get(name.lower()) if folder_ok else None
    posted = prefix is not None
    return Exchange(method, path, page, name if folder_ok else f"{prefix}/{name}", posted == (method == "POST"),
                    _pairs(query) + (_pairs(body) if method == "POST" else ()), at)


def _envelope(mock: Mock, response: Response) -> tuple[str | None, str | None]:
    if response.status_code != 200:
        return None, None
    try:
        env = wire.parse(bytes(getattr(response, "body", b"")), mock.profile.response)
    except wire.MalformedResponse:
        return None, None
    return env.retcode, env.retmsg


def _cap(value: str) -> str:
    return value if len(value) <= MAX_VALUE else value[:MAX_VALUE] + f"…({len(value)} characters)"


def record(mock: Mock, judge: Judge, ex: Exchange, response: Response) -> int:
    """Judge `ex` and store it with the answer it got; returns the entry's id."""
    retcode, retmsg = _envelope(mock, response)
    with mock.store.transaction() as db:  # judged inside, so that a concurrent repeat sees this entry
        verdict = judge.judge(ex)
        params = [[k, _cap(v)] for k, v in judge.masked(ex.page, ex.pairs)]
        cur = db.execute(
            "INSERT INTO journal(at, ts, agent, method, path, page, http_status, retcode, retmsg, params, plain_values,"
            " findings, verdict) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (ex.at.isoformat(), ex.at.timestamp(), verdict.agent, ex.method, ex.path, ex.page.page if ex.page else None,
             response.status_code, retcode, retmsg, json.dumps(params, ensure_ascii=False),
             json.dumps({k: _cap(v) for k, v in verdict.values.items()}, ensure_ascii=False),
             json.dumps([f.as_json() for f in verdict.findings], ensure_ascii=False),
             "mistakes" if verdict.findings else "clean"))
        return int(cur.lastrowid)


def _earlier(mock: Mock, agent: str, page: str, same: dict[str, str], since: datetime) -> int | None:
    """The latest booking of `page` by `agent` since `since` that succeeded with the same values."""
    ok = mock.spec.page(page).retcode("ok")
    with mock.store.reading() as db:
        rows = db.execute("SELECT id, plain_values FROM journal WHERE agent=? AND page=? AND ts>=? AND retcode=? "
                          "ORDER BY id DESC", (agent, page, since.timestamp(), ok.code if ok else "0")).fetchall()
    for row in rows:
        values = json.loads(row["plain_values"])
        if all(values.get(k) == v for k, v in same.items()):
            return int(row["id"])
    return None


# ------------------------------------------------------------ reading it back

def _when(text: str, mock: Mock, name: str) -> float:
    try:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            # An unescaped '+' of the offset arrives as a space in a query string.
            head, _, tail = text.rpartition(" ")
            when = datetime.fromisoformat(f"{head}+{tail}") if head else datetime.fromisoformat(text)
        return (when if when.tzinfo else when.replace(tzinfo=mock.tz)).timestamp()
    except (ValueError, OverflowError):
        raise ValueError(f"{name} {text!r} is not an ISO 8601 date-time (2026-11-21T10:00:00+08:00)") from None


def whole_number(text: str, name: str, low: int, high: int = SQLITE_MAX) -> int:
    """A query parameter that must be a whole number from `low` to `high`; ValueError saying so."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        bounds = f"from {low} to {high}" if high != SQLITE_MAX else f"of at least {low}"
        raise ValueError(f"{name} must be a whole number {bounds}, not {text!r}")
    return value


def entries(mock: Mock, filters: Mapping[str, str]) -> list[dict[str, Any]]:
    """Journal entries, oldest first, narrowed by the filters of `GET /_admin/journal`."""
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ValueError(f"unknown filter {', '.join(unknown)}; known: {', '.join(FILTERS)}")
    if filters.get("only", "findings") != "findings":
        raise ValueError("only= takes the value findings")
    conditions: dict[str, tuple[str, Callable[[str], list[Any]]]] = {
        "agent": ("agent = ?", lambda v: [v]),
        "since": ("ts >= ?", lambda v: [_when(v, mock, "since")]),
        "until": ("ts <= ?", lambda v: [_when(v, mock, "until")]),
        "page": ("lower(page) IN (?, ?)", lambda v: [v.lower(), v.lower() + ".aspx"]),
        "only": ("verdict = 'mistakes'", lambda v: []),
        "after_id": ("id > ?", lambda v: [whole_number(v, "after_id", 0)]),
    }
    where = [conditions[k][0] for k in conditions if k in filters]
    args = [a for k in conditions if k in filters for a in conditions[k][1](filters[k])]
    limit = whole_number(filters.get("limit", str(DEFAULT_LIMIT)), "limit", 1)
    sql = "SELECT * FROM journal" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id LIMIT ?"
    with mock.store.reading() as db:
        rows = db.execute(sql, (*args, limit)).fetchall()
    return [{"id": r["id"], "at": r["at"], "agent": r["agent"], "method": r["method"], "path": r["path"],
             "page": r["page"], "http_status": r["http_status"], "retcode": r["retcode"], "retmsg": r["retmsg"],
             "params": json.loads(r["params"]), "values": json.loads(r["plain_values"]),
             "findings": json.loads(r["findings"]), "verdict": r["verdict"]} for r in rows]


def clear(mock: Mock) -> int:
    with mock.store.transaction() as db:
        return db.execute("DELETE FROM journal").rowcount


async def admin(mock: Mock, request: Request) -> Response:
    """`GET /_admin/journal` (filters in the query string) and `DELETE /_admin/journal`."""
    if request.method == "DELETE":
        return JSONResponse({"deleted": await run_in_threadpool(clear, mock)})
    return JSONResponse(await run_in_threadpool(entries, mock, dict(request.query_params)))
