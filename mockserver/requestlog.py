"""One log line per request the mock answers: the time by the mock's clock, what kind of route it
was (an interface page, the admin API, a notify page of the payment platform, the REST page, the home
page, other), the agent, method, path, page, retcode, HTTP status and milliseconds; as text or as one
JSON object. The mock's own notes (a payment notice refused, an internal error) are lines of kind
`log` in the same stream and format (`route_notes`).

The agent and the path are the client's words: in text lines every character that could split a
field, forge a line or reach the terminal as a command (space, control and format characters, line
and paragraph separators) is percent-encoded as UTF-8, and so is `%` itself, so a line always has
its fields and reads back unambiguously (`user=evil%0A2030-…` is logged `evil%0A2030-…`). JSON
lines escape the same characters as `\\uXXXX`, so each stays one valid JSON object a line.

A request only formats its line and appends it to a bounded buffer, which the event loop writes to
stderr a few times a second, and only as much as stderr takes without waiting: a slow terminal or a
full pipe never holds a request. (The logging module's per-record work cost more than the rest of a
remembered QueryOrder, and a writer thread cost a tenth of a QueryOrder's CPU over HTTP.) When the
buffer holds `BUFFER_LINES`, lines are dropped and a line says how many."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import select
import sys
from collections import deque
from datetime import datetime
from typing import IO, Any, Callable, Iterable
from urllib.parse import unquote_plus

from spec.model import Spec

FORMATS = ("text", "json")
BUFFER_LINES = 10_000
WRITE_EVERY = 0.1  # seconds between the writer's rounds
_RETCODE = re.compile(rb"<retcode>([^<]{0,16})</retcode>")  # the envelope's element (spec.wire)
_HAWK_ID = re.compile(rb'^\s*hawk\s.*?\bid="([^"]*)"', re.IGNORECASE)  # the REST page's Authorization (spec.hawk)
NOTES = ("ybx", "uvicorn.error")  # the loggers whose records are the mock's own notes (route_notes)


def escaped(text: str, keep: str = "") -> str:
    """`text` for a space-separated log field: '%', spaces and every character that is not printable
    (controls, format characters, separators) percent-encoded as UTF-8; printable others, Chinese
    included, as they are. Characters in `keep` stay (a note's message, the last field, keeps its spaces)."""
    if text.isprintable() and (" " in keep or " " not in text) and ("%" in keep or "%" not in text):
        return text
    return "".join(c if c.isprintable() and (c not in " %" or c in keep)
                   else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass")) for c in text)


def _json_line(data: dict[str, Any]) -> str:
    """One JSON object on one line whose every character is printable: json.dumps leaves DEL, C1
    controls, bidi overrides and line separators raw (valid JSON, but they reach the terminal or
    split a line for a reader of lines), so they are written as \\uXXXX too."""
    line = json.dumps(data, ensure_ascii=False)
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in line)


class RequestLog:
    """Formats one line per request and hands it to `sink` (a `LineWriter`'s put, or a list's append).
    `user_params` are the spec's names of the parameter carrying the agent (read case-insensitively,
    as the pages read it)."""

    def __init__(self, sink: Callable[[str], None], fmt: str = "text", user_params: Iterable[str] = ("user",),
                 pages: Iterable[str] | None = None):
        if fmt not in FORMATS:
            raise ValueError(f"log format {fmt!r}: one of {', '.join(FORMATS)}")
        self.sink, self.json = sink, fmt == "json"
        names = b"|".join(re.escape(n.encode()) for n in sorted({n.lower() for n in user_params}))
        self._user = re.compile(rb"(?:^|&)(?:" + names + rb")=([^&]*)", re.IGNORECASE)
        self._second: tuple[int, str, str] = (0, "", "")  # (second, date-time, offset) of the last stamp
        # the spec's page names: a request the page route answered is of kind page only when its path
        # names one (/favicon.ico and /NoSuchPage.aspx are other); None: every such request is a page
        self._pages = None if pages is None else frozenset(p.lower() for p in pages)

    @classmethod
    def for_spec(cls, sink: Callable[[str], None], fmt: str, spec: Spec) -> "RequestLog":
        """A log reading the agent from every spelling the spec's pages give the user parameter, and
        telling the spec's pages from other paths."""
        return cls(sink, fmt, {p.param("user").name for p in spec.request_pages if p.param("user")},
                   [name for p in spec.request_pages for name in (p.page, *p.aliases)])

    def agent(self, *raw: bytes) -> str | None:
        """The agent named by a query string or form body, as sent (None when none is)."""
        for data in raw:
            found = self._user.search(data) if data else None
            if found:
                return unquote_plus(found.group(1).decode("utf-8", "replace"))
        return None

    @staticmethod
    def hawk_agent(scope: dict[str, Any]) -> str | None:
        """The agent a request's Hawk `Authorization` names (its `id`, the user), as sent; None without."""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                found = _HAWK_ID.match(value)
                return found.group(1).decode("utf-8", "replace") if found else None
        return None

    def _stamp(self, at: datetime) -> str:
        """`at.isoformat(timespec="milliseconds")`, the part before the milliseconds formatted once a second."""
        second = int(at.timestamp())
        if self._second[0] != second:
            whole = at.replace(microsecond=0).isoformat()
            self._second = (second, whole[:19], whole[19:])
        return f"{self._second[1]}.{at.microsecond // 1000:03d}{self._second[2]}"

    @staticmethod
    def retcode(body: bytes) -> str | None:
        found = _RETCODE.search(body)
        return found.group(1).decode("ascii", "replace").strip() if found else None

    def line(self, at: datetime, kind: str, method: str, path: str, status: int, ms: float, *,
             page: str | None = None, agent: str | None = None, retcode: str | None = None) -> None:
        """Log one request (`at` by the mock's clock)."""
        if kind == "page" and page is None and self._pages is not None \
                and path.rstrip("/").rpartition("/")[2].lower() not in self._pages:
            kind = "other"
        when = self._stamp(at)
        if self.json:
            self.sink(_json_line({"at": when, "kind": kind, "agent": agent, "method": method, "path": path,
                                  "page": page, "retcode": retcode, "status": status, "ms": round(ms, 2)}))
        else:
            self.sink(f"{when} {kind} {escaped(agent) if agent else '-'} {escaped(method)} {escaped(path)}"
                      + (f" retcode={escaped(retcode)}" if retcode is not None else "")
                      + f" status={status} {ms:.1f}ms")

    def note(self, at: datetime, level: str, logger: str, message: str) -> None:
        """Log one of the mock's own notes (kind `log`): its level, the logger and the message."""
        when = self._stamp(at)
        if self.json:
            self.sink(_json_line({"at": when, "kind": "log", "level": level, "logger": logger, "message": message}))
        else:
            self.sink(f"{when} log {level} {escaped(logger)} {escaped(message, keep=' %')}")


class NoteHandler(logging.Handler):
    """The logging module's records as `RequestLog.note` lines, by the mock's clock. A record may come
    from a worker thread (a handler run in the thread pool): its line is handed to the event loop, which
    alone writes the buffer."""

    def __init__(self, log: RequestLog, now: Callable[[], datetime], level: int = logging.WARNING):
        super().__init__(level)
        self._log, self._now = log, now
        self._loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)  # one line: escaped
            at = self._now()
            args = (at, record.levelname.lower(), record.name, message)
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                if self._loop is not None and not self._loop.is_closed():
                    self._loop.call_soon_threadsafe(self._log.note, *args)
                    return
            self._log.note(*args)
        except Exception:  # a log line must never fail a request
            self.handleError(record)


def route_notes(log: RequestLog | None, now: Callable[[], datetime], loggers: Iterable[str] = NOTES) -> None:
    """Send the mock's own notes (warnings and errors of `loggers`) through the request log, in its
    format, instead of Python's last-resort handler writing free text on stderr. With no log (`--quiet`)
    warnings are not written and errors still reach stderr, as text."""
    for name in loggers:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, NoteHandler)]:
            logger.removeHandler(old)
        if log is None:
            logger.setLevel(logging.ERROR)
            continue
        if name.startswith("uvicorn") and not log.json:
            continue  # uvicorn's own text lines are readable beside ours; in JSON they would break the stream
        logger.handlers = [h for h in logger.handlers if not name.startswith("uvicorn")]
        logger.addHandler(NoteHandler(log, now))
        logger.setLevel(logging.WARNING)
        logger.propagate = False


class LineWriter:
    """A bounded buffer of lines written to `stream` from the event loop every `every` seconds, in
    pieces of at most PIPE_BUF bytes, each only when a poll says the stream takes it now: a full pipe
    or a stopped terminal never blocks the loop, the lines wait (and beyond `lines`, are dropped and
    counted). Without a running loop (tools, tests) `put` writes at once. `put` is for the loop's thread."""

    def __init__(self, stream: IO[str] | None = None, lines: int = BUFFER_LINES, every: float = WRITE_EVERY):
        self.stream = stream or sys.stderr
        self._lines: deque[str] = deque()
        self._limit, self._every, self._dropped = lines, every, 0
        self._pending = b""  # taken from the lines, not yet written
        self._scheduled = False
        try:
            self._fd: int | None = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (a test's stream): written as a stream
            self._fd = None

    def put(self, line: str) -> None:
        if len(self._lines) >= self._limit:
            self.flush()  # the stream may take some now
            if len(self._lines) >= self._limit:
                self._dropped += 1
                return
        if self._dropped:
            self._lines.append(f"({self._dropped} log lines dropped: the log was written slower than requests came)")
            self._dropped = 0
        self._lines.append(line)
        if not self._scheduled:
            try:
                asyncio.get_running_loop().call_later(self._every, self._round)
                self._scheduled = True
            except RuntimeError:
                self.flush()

    def _round(self) -> None:
        self._scheduled = False
        self.flush()
        if self._lines or self._pending:  # the stream took only part: try again next round
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_later(self._every, self._round)
                self._scheduled = True

    def flush(self) -> None:
        """Write what the stream takes now without waiting; the rest stays for the next round."""
        try:
            while True:
                if not self._pending:
                    if not self._lines:
                        return
                    self._pending = ("\n".join(self._lines) + "\n").encode("utf-8", "replace")
                    self._lines.clear()
                if self._fd is None:
                    self.stream.write(self._pending.decode("utf-8"))
                    self.stream.flush()
                    self._pending = b""
                elif _writable(self._fd):
                    self._pending = self._pending[os.write(self._fd, self._pending[:select.PIPE_BUF]):]
                else:
                    return
        except (OSError, ValueError):  # stderr closed or gone: the mock keeps serving, the lines are lost
            self._pending = b""

    def stop(self) -> None:
        """Write what the stream takes now (at exit)."""
        self.flush()


def _writable(fd: int | None) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return bool(poller.poll(0))
