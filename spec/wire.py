"""The XML response envelope (rule e): render, sign and parse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence
from xml.sax.saxutils import escape

from lxml import etree

from .model import ResponseProfile
from .signing import sign_response, verify_response_sign


@dataclass(frozen=True)
class Node:
    """One element of response data: text or children, never both."""

    name: str
    text: str | None = None
    children: tuple["Node", ...] = field(default_factory=tuple)

    @classmethod
    def record(cls, name: str, fields: Sequence[tuple[str, object]], *children: "Node") -> "Node":
        """An element holding leaf fields (in order) followed by child elements."""
        leaves = tuple(cls(k, "" if v is None else str(v)) for k, v in fields)
        return cls(name, None, leaves + tuple(children))


def _render_node(node: Node, out: list[str]) -> None:
    if node.children:
        out.append(f"<{node.name}>")
        for child in node.children:
            _render_node(child, out)
        out.append(f"</{node.name}>")
    else:
        out.append(f"<{node.name}>{escape(node.text or '')}</{node.name}>")


def render(rule: ResponseProfile, retcode: str, retmsg: str, data: Sequence[Node] = (), key: str | None = None) -> bytes:
    """A complete, signed response body."""
    out: list[str] = []
    for node in data:
        _render_node(node, out)
    return render_xml(rule, retcode, retmsg, "".join(out), key)


def render_xml(rule: ResponseProfile, retcode: str, retmsg: str, data_xml: str, key: str | None = None) -> bytes:
    """A complete, signed response body around data elements already rendered (and escaped) as XML."""
    out = [rule.xml_declaration, f"<{rule.root}>"]
    envelope = {"retcode": retcode, "retmsg": retmsg, "sign": ""}
    for name in rule.envelope:
        out.append(f"<{name}>{escape(envelope.get(name, ''))}</{name}>")
    out.append(data_xml)
    out.append(f"</{rule.root}>")
    return sign_response("".join(out).encode("utf-8"), key, rule)


class MalformedResponse(ValueError):
    """The body is not a well-formed response envelope."""


@dataclass(frozen=True)
class Envelope:
    retcode: str
    retmsg: str
    sign: str
    root: etree._Element
    body: bytes

    def verify(self, key: str, rule: ResponseProfile) -> bool:
        return verify_response_sign(self.body, key, rule)

    def items(self, name: str = "Item") -> list[etree._Element]:
        return self.root.findall(name)

    def text(self, path: str, default: str = "") -> str:
        el = self.root.find(path)
        return default if el is None or el.text is None else el.text


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


def parse(body: bytes, rule: ResponseProfile) -> Envelope:
    """Parse a response body; raise `MalformedResponse` when it is not an envelope."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise MalformedResponse(f"not well-formed XML: {exc}") from None
    if root.tag != rule.root:
        raise MalformedResponse(f"root element is <{root.tag}>, expected <{rule.root}>")
    values = {}
    for name in ("retcode", "retmsg", "sign"):
        el = root.find(name)
        if el is None:
            raise MalformedResponse(f"<{name}> is missing")
        values[name] = el.text or ""
    return Envelope(values["retcode"].strip(), values["retmsg"], values["sign"].strip(), root, body)


def element_to_dict(el: etree._Element) -> dict[str, str]:
    """Leaf children of an element as name -> text (for reading one record)."""
    return {child.tag: (child.text or "") for child in el if len(child) == 0}
