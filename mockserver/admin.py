"""The supplier-side admin API under /_admin/ (JSON), refused without the X-Admin-Token header."""

from __future__ import annotations

import hmac
import json
import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import events, journal, outbox, server, sweeper
from .context import Mock
from .faults import BY_NAME as FAULTS

# Where the clock may be set or moved (years, the supplier's time). Far outside it an answer cannot
# be written (year 10000 has no yyyyMMdd), a world's relative dates or a retry schedule overflow, and
# nothing of the manual's interface means anything; a script that moves the clock there is wrong.
CLOCK_YEARS = (2000, 2199)
ORDERS_LIMIT = (1, 5000)
BODY_MAX = 1 << 16  # bytes: the largest event body is a few hundred


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=True)[:80]


def _in_range(mock: Mock, when: datetime, name: str) -> datetime:
    """`when`, if the clock may stand there (CLOCK_YEARS); ValueError saying where it may."""
    try:
        year = when.astimezone(mock.tz).year
    except (OverflowError, ValueError):
        year = 0
    if not CLOCK_YEARS[0] <= year <= CLOCK_YEARS[1]:
        raise ValueError(f"{name} {when.isoformat()} is outside the clock's range: the years {CLOCK_YEARS[0]} to "
                         f"{CLOCK_YEARS[1]} (the supplier's time)")
    return when


def _instant(mock: Mock, value: Any, name: str) -> datetime:
    """A body's ISO 8601 date-time (no offset: the supplier's time), within the clock's range."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 date-time text (2028-02-29T10:00:00+08:00), not {_json(value)}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not an ISO 8601 date-time (2028-02-29T10:00:00+08:00)") from None
    return _in_range(mock, when if when.tzinfo else when.replace(tzinfo=mock.tz), name)


def _advanced(mock: Mock, value: Any) -> datetime:
    """Where `{"advance": seconds}` puts the clock; ValueError for a non-number or beyond its range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"advance must be a finite number of seconds (negative goes back), not {_json(value)}")
    try:
        return _in_range(mock, mock.now() + timedelta(seconds=value), f"advance {value:g} s: the clock at")
    except OverflowError:
        raise ValueError(f"advance {value:g} s goes beyond the clock's range: the years {CLOCK_YEARS[0]} to "
                         f"{CLOCK_YEARS[1]}") from None


# The fields supplier events take (`ybx-mock events`), checked at the API's edge whichever event
# reads them, so that no value of a wrong type or size reaches a handler, the ledger or SQLite:
# each event still says which it requires and what they must name.
TEXT_FIELDS = ("orderid", "ticketid", "user", "productid", "account", "mode", "stationname", "gatenumber", "memo")
TEXT_MAX = 256
MAX_AMOUNT = Decimal("100000000.00")  # yuan in one top-up or deduction
MAX_COUNT = 1_000_000  # tickets sold of a product a day, or taken of an order line


def _count(value: Any, name: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"{name} must be a whole number from 0 to {MAX_COUNT}, not {_json(value)}")
    return value


def _event_body(data: dict[str, Any]) -> None:
    """Refuse a field of a supplier event's body whose value no event could use (ValueError)."""
    for name in TEXT_FIELDS:
        value = data.get(name)
        if name in data and (isinstance(value, bool) or not isinstance(value, (str, int))):
            raise ValueError(f"{name} must be a text, not {_json(value)}")
        if isinstance(value, str) and len(value) > TEXT_MAX:
            raise ValueError(f"{name} is {len(value)} characters long; at most {TEXT_MAX}")
    if "amount" in data:
        value = data["amount"]
        try:
            amount = Decimal(str(value)) if not isinstance(value, bool) and isinstance(value, (str, int, float)) \
                else None
        except ArithmeticError:
            amount = None
        if amount is None or not amount.is_finite() or not 0 < amount <= MAX_AMOUNT:
            raise ValueError(f"amount must be yuan above 0 and at most {MAX_AMOUNT} (\"500.00\"), not {_json(value)}")
    if "sold" in data:
        _count(data["sold"], "sold")
    if "taken" in data and data["taken"] is not None:
        taken = data["taken"]
        if not isinstance(taken, dict):
            raise ValueError(f"taken must map item seq to a number of tickets ({{\"1\": 2}}), not {_json(taken)}")
        for seq, n in taken.items():
            if not seq.strip().isdigit():
                raise ValueError(f"taken: {seq!r} is not an item seq (1, 2, …)")
            _count(n, f"taken[{seq}]")
    for name in ("date", "ticketdate"):
        value = data.get(name)
        if value is None and name == "ticketdate":
            continue  # the effect date
        try:
            ok = isinstance(value, str) and CLOCK_YEARS[0] <= datetime.strptime(value, "%Y%m%d").year <= CLOCK_YEARS[1]
        except ValueError:
            ok = False
        if name in data and not ok:
            raise ValueError(f"{name} must be a day yyyyMMdd of the years {CLOCK_YEARS[0]} to {CLOCK_YEARS[1]}, "
                             f"not {_json(value)}")


def _fields(data: dict[str, Any], known: tuple[str, ...], usage: str) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}: give {usage}")


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
            except ArithmeticError as exc:  # a number no field can hold (an amount of 1e400, an overflow)
                return JSONResponse({"error": f"bad request: a number out of range ({type(exc).__name__})"},
                                    status_code=400)

        return endpoint

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > BODY_MAX:
            raise ValueError(f"the body is {len(raw)} bytes; an admin call takes at most {BODY_MAX}")
        try:
            data = json.loads(raw or b"{}")
        except RecursionError:
            raise ValueError("the body is nested too deep") from None
        except ValueError as exc:
            raise ValueError(f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            data = await body(request)
            usage = '{"set": ISO-8601, "freeze"?: true|false} or {"advance": seconds}'
            _fields(data, ("set", "advance", "freeze"), usage)
            if ("set" in data) == ("advance" in data):
                raise ValueError(f"give {usage}")
            if "freeze" in data and not isinstance(data["freeze"], bool):
                raise ValueError(f"freeze must be true or false, not {_json(data['freeze'])}")
            if "set" in data:
                when = _instant(mock, data["set"], "set")
                if mock.fault("clock-ignores-offset"):
                    when = when.replace(tzinfo=timezone.utc)
                if "freeze" in data and hasattr(mock.clock, "frozen"):
                    mock.clock.set(when, data["freeze"])
                else:
                    mock.clock.set(when)
            else:
                if "freeze" in data:
                    raise ValueError("freeze goes with set (advance keeps a frozen clock frozen)")
                _advanced(mock, data["advance"])
                mock.clock.advance(float(data["advance"]))
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
        _fields(data, ("clock", "freeze"), '{"clock": ISO-8601, "freeze": true|false} or no body')
        if not isinstance(data.get("freeze", False), bool):
            raise ValueError("freeze must be true or false")
        if "freeze" in data and "clock" not in data:
            raise ValueError("freeze needs a clock to stand at")
        when = _instant(mock, data["clock"], "clock") if "clock" in data else None
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
        limit = journal.whole_number(q.get("limit", "500"), "limit", *ORDERS_LIMIT)
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
        data = await body(request)
        _event_body(data)
        result = events.run(mock, request.path_params["name"], data)
        return JSONResponse(dict(result))

    async def info(request: Request) -> Response:
        seeded = mock.seeded.seed_instant()
        supplier = mock.world.supplier
        return JSONResponse({"now": mock.now().isoformat(), "world": mock.world.source, "profile": mock.profile.name,
                             "supplier": {"mode": supplier.mode, "providerid": supplier.providerid,
                                          "providername": supplier.providername},
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
