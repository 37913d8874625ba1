"""The supplier-side admin API under /_admin/ (JSON), refused without the X-Admin-Token header."""

from __future__ import annotations

import hmac
import json
from datetime import datetime, timezone
from typing import Any, Callable

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import events, journal, outbox, server, sweeper
from .context import Mock
from .faults import BY_NAME as FAULTS


def _rows(mock: Mock, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
    with mock.store.reading() as db:
        return [dict(r) for r in db.execute(sql, args).fetchall()]


def admin_routes(mock: Mock, token: str) -> list[Route]:
    """Routes of the admin API; every one checks the token in constant time."""

    def guarded(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            given = request.headers.get("x-admin-token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"error": "missing or wrong X-Admin-Token"}, status_code=401)
            try:
                return await fn(request)
            except events.EventError as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
                return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)

        return endpoint

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        data = json.loads(raw or b"{}")
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            data = await body(request)
            if "set" in data:
                when = datetime.fromisoformat(str(data["set"]))
                if when.tzinfo is None:
                    when = when.replace(tzinfo=mock.tz)
                if mock.fault("clock-ignores-offset"):
                    when = when.replace(tzinfo=timezone.utc)
                if "freeze" in data and hasattr(mock.clock, "frozen"):
                    mock.clock.set(when, bool(data["freeze"]))
                else:
                    mock.clock.set(when)
            elif "advance" in data:
                mock.clock.advance(float(data["advance"]))
            else:
                raise ValueError('give {"set": ISO-8601} or {"advance": seconds}')
            sweeper.sweep(mock)
        return JSONResponse({"now": mock.now().isoformat(), "frozen": bool(getattr(mock.clock, "frozen", False))})

    async def sms(request: Request) -> Response:
        return JSONResponse(_rows(mock, "SELECT id, agent, mobile, text, code, purpose, orderid, at FROM sms ORDER BY id"))

    async def callbacks(request: Request) -> Response:
        queue = _rows(mock, "SELECT * FROM outbox ORDER BY id")
        log = _rows(mock, "SELECT * FROM deliveries ORDER BY id")
        for item in queue:
            item["params"] = json.loads(item["params"])
            item["attempts_log"] = [d for d in log if d["outbox_id"] == item["id"]]
        return JSONResponse(queue)

    async def flush(request: Request) -> Response:
        async with httpx.AsyncClient(timeout=mock.spec.callback_policy.timeout_seconds) as client:
            made = await outbox.drain(mock, client)
        return JSONResponse({"attempts": [a.__dict__ for a in made]})

    async def reset(request: Request) -> Response:
        data = await body(request)
        unknown = sorted(set(data) - {"clock", "freeze"})
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}: give {{\"clock\": ISO-8601, \"freeze\": true|false}} or no body")
        if not isinstance(data.get("freeze", False), bool):
            raise ValueError("freeze must be true or false")
        if "freeze" in data and "clock" not in data:
            raise ValueError("freeze needs a clock to stand at")
        when = None
        if "clock" in data:
            try:
                when = datetime.fromisoformat(str(data["clock"]))
            except ValueError:
                raise ValueError(f"clock {data['clock']!r} is not an ISO 8601 date-time (2028-02-29T10:00:00+08:00)") from None
            when = when if when.tzinfo else when.replace(tzinfo=mock.tz)  # no offset: the supplier's time
        return JSONResponse(server.reset(mock, when, bool(data.get("freeze", False))))

    async def order(request: Request) -> Response:
        orderid = request.path_params["orderid"]
        found = _rows(mock, "SELECT * FROM orders WHERE orderid=?", (orderid,))
        if not found:
            return JSONResponse({"error": f"no order {orderid}"}, status_code=404)
        return JSONResponse({**found[0], "items": _rows(mock, "SELECT * FROM order_items WHERE orderid=?", (orderid,))})

    async def orders(request: Request) -> Response:
        # filters for scripts checking state after a run (a crash test's "each answered order once")
        q = request.query_params
        where, args = ["orderid > ?"], [q.get("after", "")]
        for column in ("agent", "senderid", "status"):
            if column in q:
                where.append(f"{column} = ?")
                args.append(q[column])
        try:
            limit = min(max(int(q.get("limit", "500")), 1), 5000)
        except ValueError:
            return JSONResponse({"error": "limit is not a number"}, status_code=400)
        sql = f"SELECT * FROM orders WHERE {' AND '.join(where)} ORDER BY orderid LIMIT ?"  # columns are fixed names
        return JSONResponse(_rows(mock, sql, (*args, limit)))

    async def agents(request: Request) -> Response:
        rows = _rows(mock, "SELECT user, enabled, deposit, rebate, deposit_held, rebate_held, responseaddr, "
                           "sendofficiallysnotify FROM agents ORDER BY user")
        for row in rows:  # the world's opening balances: balance = opening + the sum of the transactions
            seed = mock.world.agent(row["user"])
            row["opening_deposit"] = f"{seed.deposit:.2f}" if seed else None
            row["opening_rebate"] = f"{seed.rebate:.2f}" if seed else None
        return JSONResponse(rows)

    async def transactions(request: Request) -> Response:
        return JSONResponse(_rows(mock, "SELECT * FROM transactions ORDER BY id"))

    async def list_events(request: Request) -> Response:
        return JSONResponse([{"name": e.name, "params": e.params, "description": e.description}
                             for e in events.EVENTS.values()])

    async def run_event(request: Request) -> Response:
        result = events.run(mock, request.path_params["name"], await body(request))
        return JSONResponse(dict(result))

    async def info(request: Request) -> Response:
        seeded = mock.seeded.seed_instant()
        return JSONResponse({"now": mock.now().isoformat(), "world": mock.world.source, "profile": mock.profile.name,
                             "faults": sorted(mock.faults), "known_faults": sorted(FAULTS),
                             "seeded_at": seeded.isoformat() if seeded else None})

    table = [
        ("/_admin", info, ["GET"]), ("/_admin/clock", clock, ["GET", "POST"]), ("/_admin/sms", sms, ["GET"]),
        ("/_admin/callbacks", callbacks, ["GET"]), ("/_admin/callbacks/flush", flush, ["POST"]),
        ("/_admin/reset", reset, ["POST"]), ("/_admin/orders", orders, ["GET"]), ("/_admin/orders/{orderid}", order, ["GET"]),
        ("/_admin/agents", agents, ["GET"]), ("/_admin/transactions", transactions, ["GET"]),
        ("/_admin/events", list_events, ["GET"]), ("/_admin/events/{name}", run_event, ["POST"]),
        ("/_admin/journal", lambda request: journal.admin(mock, request), ["GET", "DELETE"]),
    ]
    return [Route(path, guarded(fn), methods=methods) for path, fn, methods in table]
