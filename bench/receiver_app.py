"""The callback receiver of the callbacks benchmark: records when each Notify_* call arrives
(wall clock, with its orderid and status) and answers the profile's envelope, retcode 0, signed
with the demo agent's KEY. GET /_arrivals returns what it has recorded.

    uvicorn bench.receiver_app:app --host 127.0.0.1 --port P"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from spec import wire
from spec.loader import load_spec

KEY = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"  # the demo agent's KEY in the shipped world
RULE = load_spec().profile().response
ANSWER = wire.render(RULE, "0", "", (), KEY)
arrivals: list[tuple[float, str, str, str]] = []


async def notify(request: Request) -> Response:
    q = request.query_params
    arrivals.append((time.time(), request.path_params["page"], q.get("orderid", ""), q.get("status", "")))
    return Response(ANSWER, media_type="text/xml; charset=utf-8")


async def dump(request: Request) -> Response:
    return JSONResponse(arrivals)


app = Starlette(routes=[Route("/_arrivals", dump), Route("/notify/{page}", notify)])
