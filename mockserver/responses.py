"""Build response bodies from the spec's element tree; map errors to retcodes in one place."""

from __future__ import annotations

from typing import Any, Mapping

from starlette.responses import Response

from spec import wire
from spec.errors import YbxError, render_message, resolve
from spec.model import Element, Page

from .context import Mock

Data = Mapping[str, Any]
WRONG_KEY_SUFFIX = "-wrong"


class UnknownElement(KeyError):
    """A handler produced a field the spec does not define for the page (a programming error)."""


def _node(el: Element, value: Any) -> wire.Node:
    if not el.children:
        return wire.Node(el.name, "" if value is None else str(value))
    data = value or {}
    known = {c.name for c in el.children}
    extra = set(data) - known
    if extra:
        raise UnknownElement(f"<{el.name}> has no children {sorted(extra)}")
    return wire.Node(el.name, None, tuple(n for c in el.children for n in _nodes(c, data)))


def _nodes(el: Element, data: Data) -> list[wire.Node]:
    if el.name not in data:
        return [] if el.optional or el.repeated else [_node(el, None if not el.children else {})]
    value = data[el.name]
    if el.repeated:
        return [_node(el, v) for v in value]
    return [_node(el, value)]


def build(page: Page, data: Data) -> list[wire.Node]:
    """Response data nodes in the spec's order; unknown names are refused."""
    extra = set(data) - {e.name for e in page.response}
    if extra:
        raise UnknownElement(f"{page.page} response has no elements {sorted(extra)}")
    return [n for el in page.response for n in _nodes(el, data)]


def _sign_key(mock: Mock, key: str | None) -> str | None:
    if key is not None and mock.fault("wrong-response-sign"):
        return key + WRONG_KEY_SUFFIX
    return key


def xml(mock: Mock, body: bytes) -> Response:
    return Response(body, media_type=mock.profile.response.content_type.split(";")[0].strip(),
                    headers={"content-type": mock.profile.response.content_type})


def ok(mock: Mock, page: Page, data: Data, key: str, retmsg: str = "") -> Response:
    retcode = page.retcode("ok")
    body = wire.render(mock.profile.response, retcode.code if retcode else "0", retmsg, build(page, data),
                       _sign_key(mock, key))
    return xml(mock, body)


def error(mock: Mock, page: Page, exc: YbxError, key: str | None) -> Response:
    """The one place a failure becomes a response: the page's retcode for the error's key."""
    retcode = resolve(page, exc, mock.profile)
    body = wire.render(mock.profile.response, retcode.code, render_message(retcode, exc.detail, exc.fill), (),
                       _sign_key(mock, key))
    return xml(mock, body)
