"""A callback receiver for tests: records every Notify_* request and answers as the profile's
envelope (retcode 0 by default, or whatever `answers` says for the next calls)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from spec import wire
from spec.model import Profile


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Receiver:
    profile: Profile
    key: str
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # retcodes to answer next ("500" = HTTP 500)
    port: int = 0
    delay: float = 0.0  # seconds each answer takes
    most_at_once: int = 0  # the most requests it was answering at one time

    def __enter__(self) -> "Receiver":
        receiver, lock, busy = self, threading.Lock(), [0]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                with lock:
                    receiver.received.append((parts.path.rsplit("/", 1)[-1], dict(parse_qsl(parts.query))))
                    busy[0] += 1
                    receiver.most_at_once = max(receiver.most_at_once, busy[0])
                try:
                    time.sleep(receiver.delay)
                    self._answer()
                finally:
                    with lock:
                        busy[0] -= 1

            def _answer(self) -> None:
                answer = receiver.answers.pop(0) if receiver.answers else "0"
                if answer == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                body = wire.render(receiver.profile.response, answer, "", (), receiver.key)
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"
