"""The Starlette application: one GET and one POST route per request page of the spec."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from datetime import datetime, tzinfo
from email.utils import formatdate
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence
from urllib.parse import parse_qsl

import httpx

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Message, Receive, Scope, Send

from spec.errors import ParamError, YbxError
from spec.model import Page

from . import journal, outbox, responses, sweeper
from .admin import admin_routes
from .context import Mock, Reply
from .handlers import load_all
from .home import home_routes
from .memo import AnswerMemo
from .instant_pay import notify_routes
from .rest import rest_routes
from .pipeline import decode
from .requestlog import RequestLog

log = logging.getLogger("ybx.mock")
MAX_BODY = 1 << 20
LOGGED = "ybx.logged"  # scope key: a mounted supplier's app logged the request, its parent does not


class ModeError(YbxError):
    fallback = "wrong_mode"


def _parse(raw: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise ParamError("bad_format", "parameters are not UTF-8") from None


def _pairs(query: bytes, body: bytes) -> list[tuple[str, str]]:
    return _parse(query) + _parse(body) if body else _parse(query)


def _key(mock: Mock, page: Page, raw: list[tuple[str, str]] | None) -> str | None:
    """The key a known agent's answers are signed with, even when refused (rule e)."""
    user = page.param("user")
    if raw is None or user is None:
        return None
    agent = mock.world.agent(next((v for k, v in raw if k.lower() == user.name.lower()), ""))
    return agent.key if agent else None


def handle(mock: Mock, page: Page, method: str, query: bytes, body: bytes = b"", base_url: str = "",
           memo: AnswerMemo | None = None) -> Response:
    """Decode, dispatch and answer one request (its query string and form body, as sent); every
    failure becomes the page's retcode. With a `memo`, a read-only page's answer is reused while the
    state and the clock's second stay the same: keyed by the exact bytes, it is found before parsing."""
    raw: list[tuple[str, str]] | None = None
    with mock.store.pinned():
        try:
            sweeper.sweep(mock)
            remembered = memo is not None and memo.serves(page)
            if remembered:
                request, moment = (page.page, method, query, body, base_url), memo.moment(mock)
                answer = memo.get(request, moment)
                if answer is not None:
                    return responses.xml(mock, answer)
            raw = _pairs(query, body)
            response = _answer(mock, page, method, raw, base_url, _key(mock, page, raw))
            if remembered:
                memo.put(mock, request, moment, response.body)
            return response
        except YbxError as exc:
            response = responses.error(mock, page, exc, _key(mock, page, raw))
            response.headers["X-YBX-Detail"] = _header_value(exc.detail or exc.key) or exc.key
            return response
        except Exception:  # a bug must still answer like the supplier, never with a stack trace
            log.exception("internal error on %s", page.page)
            return responses.error(mock, page, YbxError("call_failed", "internal error"), _key(mock, page, raw))


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def _header_value(text: str) -> str:
    """`text` as a legal header value: the detail may echo a request's value, control characters and
    all (an order id with a NUL made the server drop the connection), so anything but printable
    ASCII is escaped (\\xNN, \\uNNNN) and runs of white space become one space."""
    text = " ".join(text.split())
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _answer(mock: Mock, page: Page, method: str, raw: list[tuple[str, str]], base_url: str, key: str | None) -> Response:
    """The page's successful answer, or the YbxError refusing the request."""
    call = decode(mock, page, method, raw, base_url)
    if page.mode not in ("both", mock.world.supplier.mode):
        # the page's own answer where its gaps choose one (Page.mode_refusal), else the profile's chain;
        # a message with a reason gives the mode's
        mode = mock.world.supplier.mode
        words = mock.spec.reason(f"{mode}_mode")
        raise ModeError(page.mode_refusal or f"{mode}_mode", f"the supplier runs in {mode} mode",
                        reason=words.render() if words else None)
    handler = load_all().get(page.page)
    if handler is None:
        raise YbxError("call_failed", f"{page.page} is not served by this version of the mock")
    result = handler(mock, call)
    if isinstance(result, Reply):
        return responses.ok(mock, page, result.data, key, result.retmsg)
    return responses.ok(mock, page, result, key)


def _here(request: Request, known: dict[tuple[Any, ...], str]) -> str:
    """Where this supplier is reached, mount path included (…/theater for the theater supplier);
    remembered per (scheme, server, Host, mount), the only parts of the request it depends on."""
    scope = request.scope
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    server = scope.get("server")  # a list under some servers (and Starlette's TestClient)
    key = (scope.get("scheme"), server and tuple(server), host, scope.get("root_path", ""), scope.get("app_root_path", ""))
    here = known.get(key)
    if here is None:
        mount = scope.get("root_path", "")[len(scope.get("app_root_path", "")):]
        here = str(request.base_url).rstrip("/") + mount
        if len(known) < 256:  # Host is the client's to choose: a bounded cache
            known[key] = here
    return here


def _route_path(scope: Scope) -> str:
    """The path below this app's mount point, as Starlette's router matches it."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):]
    return path


class MockApp(Starlette):
    """Starlette, with interface-page requests sent straight to their endpoint: they are the hot traffic,
    and the router would first try every admin, notify and REST route (and the middleware stack) on each.
    A path goes the short way only when no route listed before the interface routes matches it, so the
    answer is the router's; the decision is remembered per (method, path)."""

    MEMO = 4096  # distinct (method, path) decisions kept; beyond that each is decided again (still right)

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]], pages: set[str],
                 before: Sequence[BaseRoute], request_log: RequestLog | None = None,
                 kinds: dict[Any, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._endpoint, self._pages, self._before = endpoint, pages, tuple(before)
        # one line per request, and what kind of route answered it (by the matched route's endpoint)
        self._log, self._kinds = request_log, kinds or {}
        self._memo: dict[tuple[str, str], dict[str, str] | None] = {}
        self._date: tuple[int, bytes] = (0, b"")  # the Date header of the clock's current second
        self._answered: datetime | None = None  # the clock when the last answer started (its Date), for the log
        self._tz: tzinfo | None = None  # the mock's zone, for the log's times

    def _page_params(self, scope: Scope) -> dict[str, str] | None:
        """The interface route's path parameters when the short way answers as the router would."""
        key = (scope["method"], _route_path(scope))
        if key in self._memo:
            return self._memo[key]
        method, path = key
        params: dict[str, str] | None = None
        parts = path[1:].split("/") if path.startswith("/") else []
        if method in ("GET", "HEAD", "POST") and 1 <= len(parts) <= 2 and all(parts) \
                and parts[-1].lower() in self._pages and (len(parts) == 1 or parts[0].lower() == "post") \
                and all(route.matches(scope)[0] is Match.NONE for route in self._before):
            params = {"page": parts[-1]} if len(parts) == 1 else {"prefix": parts[0], "page": parts[1]}
        if len(self._memo) < self.MEMO:
            self._memo[key] = params
        return params

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        send = self._dated(send)
        params = self._page_params(scope)
        if params is None:
            if self._log is None:
                await super().__call__(scope, receive, send)
            else:
                await self._routed_and_logged(scope, receive, send)
            return
        started = time.perf_counter()
        scope["app"] = self
        scope["path_params"] = {**scope.get("path_params", {}), **params}
        request = Request(scope, receive, send)
        response = await self._endpoint(request)
        await response(scope, receive, send)
        if self._log is not None:
            scope[LOGGED] = True
            # the endpoint read a form body only for a POST to the POST folder; never read one here
            body = await request.body() if "prefix" in params and scope["method"] == "POST" else b""
            self._log.line(self._answered_at(), "page", scope["method"], scope["path"], response.status_code,
                           (time.perf_counter() - started) * 1000, page=params["page"],
                           agent=self._log.agent(scope.get("query_string", b""), body),
                           retcode=self._log.retcode(getattr(response, "body", b"")))

    def _answered_at(self) -> datetime:
        """The mock's clock as the answer's Date header read it (no second clock read per request), in its zone."""
        if self._answered is None:
            return self.state.mock.now()
        if self._tz is None:
            self._tz = self.state.mock.tz
        return self._answered.astimezone(self._tz)

    async def _routed_and_logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The router's way, logged with the status it answered (admin, notify, REST and other routes)."""
        assert self._log is not None
        started, status = time.perf_counter(), 0

        async def seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await super().__call__(scope, receive, seen)
        if not scope.get(LOGGED):
            scope[LOGGED] = True
            self._log.line(self._answered_at(), self._kinds.get(scope.get("endpoint"), "other"), scope["method"],
                           scope["path"], status, (time.perf_counter() - started) * 1000,
                           agent=self._log.hawk_agent(scope))


    def _dated(self, send: Send) -> Send:
        """`send`, with a `Date` header telling the mock's clock (RFC 9110 6.6.1: the origin's clock
        when it answered), as a real supplier's tells its own: a client without the admin API learns
        the moved clock from it (conformance/target_clock.py). The server's own Date is turned off
        (`date_header=False`); an answer that already has one (a mounted supplier's) keeps it."""
        clock = self.state.mock.clock

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"date" for name, _ in headers):
                    headers.append((b"date", self._http_date(clock.now())))
                    message = {**message, "headers": headers}
            await send(message)

        return dated

    def _http_date(self, when: datetime) -> bytes:
        self._answered = when
        second = int(when.timestamp())
        if self._date[0] != second:  # formatted once per second, as the servers' own Date headers are
            self._date = (second, formatdate(second, usegmt=True).encode("ascii"))
        return self._date[1]


def create_app(mock: Mock, *, admin_token: str = "demo-admin", background: bool = False,
               extra_routes: Sequence[BaseRoute] = (), theater: Mock | None = None, certify: bool = False,
               memo: bool = True, request_log: RequestLog | None = None) -> Starlette:
    """The mock's ASGI app: admin API, the payment platform's pages, extra routes, the `theater`
    supplier's own app under /theater/, then the interface pages.
    With `background`, the clock sweeper and callback delivery run every half second (for both suppliers),
    and at once when a commit queued a callback.
    Without `memo` (and always with `certify`) every read is answered afresh.
    With a `request_log`, every request is logged in one line (both suppliers)."""
    pages = {p.page.lower(): p for p in mock.spec.request_pages}
    # --certify judges every exchange as it is answered: no answer is reused there
    answers = AnswerMemo(mock.spec) if memo and not certify else None
    places: dict[tuple[Any, ...], str] = {}  # _here's answers

    async def endpoint(request: Request) -> Response:
        page = pages.get(request.path_params["page"].lower())
        if page is None:
            return PlainTextResponse("404 page not found", status_code=404)
        prefix = request.path_params.get("prefix")
        if prefix is not None and prefix.lower() != "post":
            return PlainTextResponse("404 page not found", status_code=404)
        posted = prefix is not None
        if posted != (request.method == "POST"):
            return PlainTextResponse("405 method not allowed", status_code=405)
        body = await request.body() if posted else b""
        query = request.scope.get("query_string", b"")
        if len(body) > MAX_BODY or len(query) > MAX_BODY:
            return await run_in_threadpool(
                lambda: responses.error(mock, page, ParamError("too_long", "request too large"), None))
        # answered on the event loop: each step takes the store's one lock anyway, and a thread per request
        # left threads queueing on that lock (server CPU per QueryOrder -30%, bench/profile_hot.py and RESULTS.md)
        return handle(mock, page, request.method, query, body, _here(request, places), answers)

    if certify:  # --certify: every interface request is judged and journalled after it is answered
        endpoint = journal.recording(mock, endpoint)
    # IIS matches paths case-insensitively, so /post/ and /POST/ are one folder (3.4).
    mounted = [Mount("/theater", app=create_app(theater, admin_token=admin_token, certify=certify, memo=memo,
                                                request_log=request_log))] if theater else []
    kinds = {"admin": admin_routes(mock, admin_token), "notify": notify_routes(mock), "rest": rest_routes(mock),
             "home": home_routes(mock, theater)}
    before = [*kinds["admin"], *kinds["notify"], *kinds["rest"], *kinds["home"], *extra_routes, *mounted]
    routes = [*before, Route("/{prefix}/{page}", endpoint, methods=["GET", "POST"]),
              Route("/{page}", endpoint, methods=["GET", "POST"])]
    by_endpoint = {getattr(r, "endpoint", None): kind for kind, listed in kinds.items() for r in listed}
    app = MockApp(endpoint, set(pages), before, request_log, {endpoint: "page", **by_endpoint}, routes=routes,
                  lifespan=_lifespan(mock, *([theater] if theater else [])) if background else None)
    app.state.mock = mock
    return app


def _lifespan(*mocks: Mock):
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop, wake = asyncio.Event(), asyncio.Event()
        running = asyncio.get_running_loop()

        def queued() -> None:  # from any thread that committed a callback (handlers, sweeper, admin)
            with contextlib.suppress(RuntimeError):  # the loop is closing
                running.call_soon_threadsafe(wake.set)

        unlisten = [mock.store.listen_outbox(queued) for mock in mocks]

        async def loop() -> None:
            async with httpx.AsyncClient(timeout=mocks[0].spec.callback_policy.timeout_seconds) as client:
                while not stop.is_set():
                    wake.clear()  # a callback queued from here on gets a round of its own
                    for mock in mocks:
                        try:
                            await run_in_threadpool(sweeper.sweep, mock)
                            await outbox.deliver_due(mock, client)
                        except Exception:  # keep serving; the next round retries
                            log.exception("background round failed")
                    # the next round: at once when a callback was queued, else in half a second (retries
                    # and clock-driven work); a callback waited up to 0.5 s here before (bench/RESULTS.md)
                    waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())}
                    _, pending = await asyncio.wait(waits, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                    for waiting in pending:
                        waiting.cancel()

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            stop.set()
            await task
            for stop_listening in unlisten:
                stop_listening()

    return lifespan
