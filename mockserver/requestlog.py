"""One log line per request the mock answers: the time by the mock's clock, what kind of route it
was (an interface page, the admin API, a notify page of the payment platform, the REST page, the home
page, other), the agent, method, path, page, retcode, HTTP status and milliseconds; as text or as one
JSON object.

The event loop only formats the line and appends it to a bounded buffer; a thread writes the buffer
to stderr a few times a second, so a request never waits on a slow terminal or a full pipe (the
logging module's per-record work cost more than the rest of a remembered QueryOrder). When the
writer falls `BUFFER_LINES` behind, lines are dropped and a line says how many."""

from __future__ import annotations

import json
import re
import sys
import threading
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
    """A bounded buffer of lines that a daemon thread writes to `stream`. `put` is for one thread
    (the event loop); it never blocks."""

    def __init__(self, stream: IO[str] | None = None, lines: int = BUFFER_LINES, every: float = WRITE_EVERY):
        self.stream = stream or sys.stderr
        self._lines: deque[str] = deque()
        self._limit, self._every, self._dropped = lines, every, 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ybx-request-log", daemon=True)
        self._thread.start()

    def put(self, line: str) -> None:
        if len(self._lines) >= self._limit:
            self._dropped += 1
            return
        if self._dropped:  # counted and said here, on the one thread that counts
            self._lines.append(f"({self._dropped} log lines dropped: the log was written slower than requests came)")
            self._dropped = 0
        self._lines.append(line)

    def _run(self) -> None:
        while not self._stopping.wait(self._every):
            self._write()
        self._write()

    def _write(self) -> None:
        batch = []
        while self._lines:
            batch.append(self._lines.popleft())
        if batch:
            try:
                self.stream.write("\n".join(batch) + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # stderr closed or gone: the mock keeps serving
                pass

    def stop(self, timeout: float = 2.0) -> None:
        """Write what is buffered and end the thread; bounded, since a writer stuck on a full pipe
        must not hold the mock's exit. Again: nothing happens."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
