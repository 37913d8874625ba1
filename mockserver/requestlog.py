"""One log line per request the mock answers: the time by the mock's clock, what kind of route it
was (an interface page, the admin API, a notify page of the payment platform, the REST page, the home
page, other), the agent, method, path, page, retcode, HTTP status and milliseconds; as text or as one
JSON object.

A request only formats its line and appends it to a bounded buffer, which the event loop writes to
stderr a few times a second, and only as much as stderr takes without waiting: a slow terminal or a
full pipe never holds a request. (The logging module's per-record work cost more than the rest of a
remembered QueryOrder, and a writer thread cost a tenth of a QueryOrder's CPU over HTTP.) When the
buffer holds `BUFFER_LINES`, lines are dropped and a line says how many."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import sys
from collections import deque
from datetime import datetime
from typing import IO, Callable, Iterable
from urllib.parse import unquote_plus

from spec.model import Spec

FORMATS = ("text", "json")
BUFFER_LINES = 10_000
WRITE_EVERY = 0.1  # seconds between the writer's rounds
_RETCODE = re.compile(rb"<retcode>([^<]{0,16})</retcode>")  # the envelope's element (spec.wire)


class RequestLog:
    """Formats one line per request and hands it to `sink` (a `LineWriter`'s put, or a list's append).
    `user_params` are the spec's names of the parameter carrying the agent (read case-insensitively,
    as the pages read it)."""

    def __init__(self, sink: Callable[[str], None], fmt: str = "text", user_params: Iterable[str] = ("user",)):
        if fmt not in FORMATS:
            raise ValueError(f"log format {fmt!r}: one of {', '.join(FORMATS)}")
        self.sink, self.json = sink, fmt == "json"
        names = b"|".join(re.escape(n.encode()) for n in sorted({n.lower() for n in user_params}))
        self._user = re.compile(rb"(?:^|&)(?:" + names + rb")=([^&]*)", re.IGNORECASE)
        self._second: tuple[int, str, str] = (0, "", "")  # (second, date-time, offset) of the last stamp

    @classmethod
    def for_spec(cls, sink: Callable[[str], None], fmt: str, spec: Spec) -> "RequestLog":
        """A log reading the agent from every spelling the spec's pages give the user parameter."""
        return cls(sink, fmt, {p.param("user").name for p in spec.request_pages if p.param("user")})

    def agent(self, *raw: bytes) -> str | None:
        """The agent named by a query string or form body, as sent (None when none is)."""
        for data in raw:
            found = self._user.search(data) if data else None
            if found:
                return unquote_plus(found.group(1).decode("utf-8", "replace"))
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
        when = self._stamp(at)
        if self.json:
            self.sink(json.dumps({"at": when, "kind": kind, "agent": agent, "method": method, "path": path,
                                  "page": page, "retcode": retcode, "status": status, "ms": round(ms, 2)},
                                 ensure_ascii=False))
        else:
            self.sink(f"{when} {kind} {agent or '-'} {method} {path}"
                      + (f" retcode={retcode}" if retcode is not None else "") + f" status={status} {ms:.1f}ms")


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
