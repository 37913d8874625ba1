"""Target (a): the floor of the stack — a bare Starlette app on uvicorn answering a fixed 1 KB XML body.

    uvicorn bench.bare_app:app --host 127.0.0.1 --port P"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def stub_body(size: int = 1024) -> bytes:
    """A well-formed response envelope padded to exactly `size` bytes (also served by WireMock)."""
    head = ('<?xml version="1.0" encoding="utf-8"?><root><retcode>0</retcode><retmsg></retmsg>'
            "<sign>0123456789ABCDEF0123456789ABCDEF</sign><Item><orderid>2026112100000001</orderid><memo>")
    tail = "</memo></Item></root>"
    return (head + "x" * (size - len(head) - len(tail)) + tail).encode("ascii")


BODY = stub_body()


async def stub(request: Request) -> Response:
    return Response(BODY, media_type="text/xml; charset=utf-8")


app = Starlette(routes=[Route("/{page}", stub, methods=["GET", "POST"])])
