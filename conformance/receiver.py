"""The suite's own callback receiver (2.13, 4.2.45, profile rule f).

An HTTP server on 127.0.0.1 (a free port) that stands in for the integrator's callback folder:
it records every request with its arrival time and answers as the profile's response envelope
signed with the agent's KEY (retcode 0: 通知成功). It can be told to fail the next N requests,
all of them or only those of one order (matched by a parameter, e.g. senderid), with HTTP 500
or with a non-zero retcode, so that checks can watch blocking and retries.

The target calls `{responseaddr}/{page}` (rule f); `Receiver.url` is the responseaddr to give
SetAgentParameters.aspx. One receiver per (profile, KEY) is shared by every check of a run
(`shared()`), because responseaddr is a single, agent-wide setting; checks tell their callbacks
apart by orderid / senderid."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

from spec import wire
from spec.model import Profile

FAILURES = ("500", "retcode")  # HTTP 500, or HTTP 200 with retcode 1
FAIL_RETCODE = "1"  # any value other than 0 is 通知失败 (4.2.45.1 line 9243)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Delivery:
    """One request the target made to the receiver, and how it was answered."""

    seq: int
    method: str
    path: str
    page: str  # last path segment, exactly as sent
    pairs: tuple[tuple[str, str], ...]  # query (and form) parameters, as transmitted, in order
    arrived: float  # time.monotonic()
    at: str  # wall-clock ISO time, for the report
    answer: str  # "0", "500" or the failing retcode
    ok: bool  # answered as a successful delivery

    def get(self, name: str, default: str = "") -> str:
        """A parameter by name, case-insensitively (3.5)."""
        low = name.lower()
        return next((v for k, v in self.pairs if k.lower() == low), default)

    def has(self, name: str) -> bool:
        low = name.lower()
        return any(k.lower() == low for k, _ in self.pairs)

    def brief(self) -> str:
        status = self.get("status")
        return (f"#{self.seq} {self.method} {self.page} orderid={self.get('orderid')}"
                f"{' status=' + status if status else ''} -> {'ok' if self.ok else 'failed (' + self.answer + ')'}")


@dataclass
class _Rule:
    remaining: int
    how: str
    match: dict[str, str]

    def applies(self, pairs: tuple[tuple[str, str], ...]) -> bool:
        given = {k.lower(): v for k, v in pairs}
        return all(given.get(k.lower()) == v for k, v in self.match.items())


@dataclass
class Receiver:
    profile: Profile
    key: str
    host: str = "127.0.0.1"
    folder: str = "ybx-callbacks"
    port: int = 0
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "Receiver":
        if self._server is not None:
            return self
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                pairs = parse_qsl(parts.query, keep_blank_values=True)
                if method == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                    pairs += parse_qsl(body, keep_blank_values=True)
                status, body = receiver._record(method, parts.path, tuple(pairs))
                self.send_response(status)
                if body:
                    self.send_header("Content-Type", receiver.profile.response.content_type or "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def log_message(self, *args) -> None:
                pass

        self.port = self.port or free_port(self.host)
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name=f"ybx-receiver-{self.port}").start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The callback address (responseaddr): the folder the Notify pages are called in."""
        return f"http://{self.host}:{self.port}/{self.folder}"

    # ------------------------------------------------------------ behaviour

    def fail_next(self, n: int, how: str = "500", **match: str) -> None:
        """Answer the next `n` requests (whose parameters equal `match`, if given) as failures:
        `how` = "500" (HTTP 500) or "retcode" (HTTP 200, envelope with retcode 1)."""
        if how not in FAILURES:
            raise ValueError(f"unknown failure {how!r}; one of {FAILURES}")
        with self._lock:
            self._rules.append(_Rule(n, how, dict(match)))

    def stop_failing(self, **match: str) -> None:
        """Drop the failure rules for `match` (all rules when no match is given)."""
        with self._lock:
            self._rules = [r for r in self._rules if match and r.match != match]

    def _record(self, method: str, path: str, pairs: tuple[tuple[str, str], ...]) -> tuple[int, bytes]:
        with self._lock:
            rule = next((r for r in self._rules if r.remaining > 0 and r.applies(pairs)), None)
            if rule is not None:
                rule.remaining -= 1
                self._rules = [r for r in self._rules if r.remaining > 0]
            how = rule.how if rule else ""
            if how == "500":
                status, answer, body = 500, "500", b""
            else:
                answer = FAIL_RETCODE if how == "retcode" else "0"
                status, body = 200, wire.render(self.profile.response, answer, "", (), self.key)
            self.deliveries.append(Delivery(len(self.deliveries) + 1, method, path, path.rsplit("/", 1)[-1], pairs,
                                            time.monotonic(), datetime.now(timezone.utc).isoformat(), answer,
                                            answer == "0"))
        return status, body

    # ------------------------------------------------------------ reading

    def received(self, where: Callable[[Delivery], bool] | None = None, **match: str) -> list[Delivery]:
        """Deliveries so far, in arrival order, filtered by parameters (case-insensitive names)."""
        with self._lock:
            found = list(self.deliveries)
        return [d for d in found if all(d.get(k) == v for k, v in match.items()) and (where is None or where(d))]

    def wait(self, until: Callable[[], bool], timeout: float = 5.0, flush: Callable[[], None] | None = None,
             interval: float = 0.1, flush_every: float = 0.5) -> bool:
        """Poll `until` for up to `timeout` seconds, asking the target to deliver (`flush`) now and then."""
        deadline = time.monotonic() + timeout
        next_flush = 0.0
        while True:
            if until():
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            if flush is not None and now >= next_flush:
                flush()
                next_flush = now + flush_every
                if until():
                    return True
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


_SHARED: dict[tuple[int, str, str], Receiver] = {}
_SHARED_LOCK = threading.Lock()


def shared(profile: Profile, key: str, host: str = "127.0.0.1") -> Receiver:
    """The run's receiver for this profile and KEY (started on first use, lives as long as the process)."""
    with _SHARED_LOCK:
        found = _SHARED.get((id(profile), key, host))
        if found is None or found._server is None:
            found = _SHARED[(id(profile), key, host)] = Receiver(profile, key, host).start()
        return found
