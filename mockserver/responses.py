"""Build response bodies from the spec's element tree; map errors to retcodes in one place."""

from __future__ import annotations

from typing import Any, Mapping
from xml.sax.saxutils import escape

from starlette.responses import Response

from spec import wire
from spec.errors import YbxError, message_for, resolve
from spec.model import Element, Page

from . import faults
from .context import Mock

Data = Mapping[str, Any]
WRONG_KEY_SUFFIX = "-wrong"


class UnknownElement(KeyError):
    """A handler produced a field the spec does not define for the page (a programming error)."""


def _text(value: Any) -> str:
    text = value if type(value) is str else "" if value is None else str(value)
    return escape(text) if "&" in text or "<" in text or ">" in text else text


# Rendered straight to text (no intermediate wire.Node tree), leaves inline: this runs for every
# answer, some 50 elements for an order.
def _node(el: Element, value: Any, out: list[str]) -> None:
    if not el.children:
        out.append(f"<{el.name}>{_text(value)}</{el.name}>")
        return
    data = value or {}
    extra = data.keys() - el.child_names
    if extra:
        raise UnknownElement(f"<{el.name}> has no children {sorted(extra)}")
    out.append(f"<{el.name}>")
    for child in el.children:
        _nodes(child, data, out)
    out.append(f"</{el.name}>")


def _nodes(el: Element, data: Data, out: list[str]) -> None:
    name = el.name
    if name not in data:
        if not (el.optional or el.repeated):
            _node(el, None if not el.children else {}, out)
        return
    value = data[name]
    if el.repeated:
        for v in value:
            _node(el, v, out)
    elif not el.children:
        text = value if type(value) is str else "" if value is None else str(value)
        if "&" in text or "<" in text or ">" in text:
            text = escape(text)
        out.append(f"<{name}>{text}</{name}>")
    else:
        _node(el, value, out)


def build(page: Page, data: Data) -> str:
    """Response data elements as XML text in the spec's order; unknown names are refused."""
    extra = set(data) - {e.name for e in page.response}
    if extra:
        raise UnknownElement(f"{page.page} response has no elements {sorted(extra)}")
    out: list[str] = []
    for el in page.response:
        _nodes(el, data, out)
    return "".join(out)


def _sign_key(mock: Mock, key: str | None) -> str | None:
    if key is not None and mock.fault("wrong-response-sign"):
        return key + WRONG_KEY_SUFFIX
    return key


class XmlResponse(Response):
    """An answer with the profile's content type exactly as it names it (Starlette would add a
    charset to text/*); headers made directly, as this is built for every answer."""

    def __init__(self, body: bytes, content_type: str) -> None:
        self.status_code, self.background, self.body = 200, None, body
        self.media_type = content_type.split(";")[0].strip()
        self.raw_headers = [(b"content-type", content_type.encode("latin-1")),
                            (b"content-length", str(len(body)).encode("latin-1"))]


def xml(mock: Mock, body: bytes) -> Response:
    return XmlResponse(body, mock.profile.response.content_type)


def ok(mock: Mock, page: Page, data: Data, key: str, retmsg: str = "") -> Response:
    retcode = page.retcode("ok")
    if mock.faults and mock.fault("timestamp-with-separators"):
        data = faults.break_formats(page.response, data)
    body = wire.render_xml(mock.profile.response, retcode.code if retcode else "0", retmsg, build(page, data),
                           _sign_key(mock, key))
    return xml(mock, body)


def error(mock: Mock, page: Page, exc: YbxError, key: str | None) -> Response:
    """The one place a failure becomes a response: the page's retcode for the error's key."""
    retcode = resolve(page, exc, mock.profile)
    body = wire.render(mock.profile.response, retcode.code, message_for(mock.spec, retcode, exc), (),
                       _sign_key(mock, key))
    return xml(mock, body)
