"""ASP.NET Web API's media type formatters, as the REST page's answers need them: content
negotiation by `Accept` (DefaultContentNegotiator), and a record rendered from the spec's
element tree as JSON (Json.NET), XML (DataContractSerializer) or BSON (Json.NET's BSON writer).
The page's `rest` block (spec) says which media types exist, the XML root and namespaces."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from spec import bson
from spec.model import Element, RestInfo

TEXT_CHARSET = "utf-8"
# .NET custom date format tokens -> strftime, longest first (the spec writes yyyyMMddHHmmss, yyyyMMdd).
_DOTNET_DATE = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))


class UnknownField(KeyError):
    """A record names a field the spec's element tree does not have (a programming error)."""


# ---------------------------------------------------------------- negotiation

@dataclass(frozen=True)
class _Range:
    type: str
    subtype: str
    q: float

    @property
    def specificity(self) -> int:  # literal before type/* before */* at equal q
        return 2 if self.type == "*" else 1 if self.subtype == "*" else 0

    def covers(self, media_type: str) -> int | None:
        """0 literal, 1 subtype range, 2 all range; None when `media_type` is outside this range."""
        t, _, s = media_type.partition("/")
        if self.type == "*":
            return 2
        if self.type != t:
            return None
        if self.subtype == "*":
            return 1
        return 0 if self.subtype == s else None


def _parse_accept(header: str) -> list[_Range]:
    ranges = []
    for part in header.split(","):
        media, *params = [x.strip() for x in part.split(";")]
        t, slash, s = media.lower().partition("/")
        if not slash or not t or not s or (t == "*" and s != "*"):
            continue  # an unparsable value is dropped, as HttpRequestHeaders.Accept does
        q = 1.0
        try:
            for p in params:
                name, _, value = p.partition("=")
                if name.strip().lower() == "q":
                    q = float(value.strip())
        except ValueError:
            continue
        if 0.0 <= q <= 1.0:
            ranges.append(_Range(t, s, q))
    # sorted by q, then specificity; stable, so header order breaks the remaining ties
    return sorted(ranges, key=lambda r: (-r.q, r.specificity))


def family(media_type: str) -> str:
    """json, xml or bson: which formatter writes a media type."""
    subtype = media_type.partition("/")[2].split("+")[-1]
    return subtype if subtype in ("json", "xml", "bson") else ""


def negotiate(accept: str | None, media_types: Sequence[str]) -> str:
    """The media type of the answer, chosen as ASP.NET Web API's DefaultContentNegotiator does
    with one formatter per family, in the order of `media_types`."""
    formatters: list[list[str]] = []
    for mt in media_types:
        if formatters and family(formatters[-1][0]) == family(mt):
            formatters[-1].append(mt)
        else:
            formatters.append([mt])
    ranges = _parse_accept(accept or "")
    best: dict[int, tuple[float, str]] = {}  # per match kind: the first formatter with the highest q
    for supported in formatters:
        match = next(((r, kind, mt) for r in ranges if r.q > 0 for mt in supported
                      if (kind := r.covers(mt)) is not None), None)
        if match:
            r, kind, mt = match
            if kind not in best or r.q > best[kind][0]:
                best[kind] = (r.q, mt)
    chosen: tuple[float, str] | None = None
    for kind in (0, 1, 2):  # a later kind replaces only with a strictly higher q
        if kind in best and (chosen is None or best[kind][0] > chosen[0]):
            chosen = best[kind]
    # nothing acceptable: the first formatter that can write the type, never 406
    return chosen[1] if chosen else media_types[0]


def content_type(media_type: str) -> str:
    return media_type if family(media_type) == "bson" else f"{media_type}; charset={TEXT_CHARSET}"


# ---------------------------------------------------------------- shaping

def _date_text(value: date, fmt: str) -> str:
    for token, code in _DOTNET_DATE:
        fmt = fmt.replace(token, code)
    return value.strftime(fmt)


def _scalar(el: Element, value: Any) -> Any:
    if value is None:
        return None
    if el.type == "int":
        return int(value)
    if el.type == "decimal":
        return Decimal(str(value))
    if isinstance(value, (date, datetime)):
        if not el.format:
            raise ValueError(f"{el.name}: a date needs the element's format")
        return _date_text(value, el.format)
    return str(value)


def _item(el: Element) -> Element:
    """The repeated element of a collection wrapper (feeitem -> YearCardOrderFeeItem)."""
    return el.children[0]


def is_collection(el: Element) -> bool:
    return len(el.children) == 1 and el.children[0].repeated


def shape(elements: Sequence[Element], record: Mapping[str, Any]) -> dict[str, Any]:
    """The record in the spec's declaration order with the spec's types; absent fields are null,
    collections lists of shaped items."""
    unknown = set(record) - {e.name for e in elements}
    if unknown:
        raise UnknownField(f"no elements {sorted(unknown)}")
    out: dict[str, Any] = {}
    for el in elements:
        value = record.get(el.name)
        if is_collection(el):
            out[el.name] = None if value is None else [shape(_item(el).children, v) for v in value]
        elif el.children:
            out[el.name] = None if value is None else shape(el.children, value)
        else:
            out[el.name] = _scalar(el, value)
    return out


# ---------------------------------------------------------------- writers

def _json_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text if "." in text else text + ".0"  # Json.NET always writes a decimal point
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_json_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _xml_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _xml_members(elements: Sequence[Element], data: Mapping[str, Any], nil: str, ordinal: bool) -> str:
    parts = []
    # DataContractSerializer writes members in ordinal order of their names
    for el in sorted(elements, key=lambda e: e.name) if ordinal else elements:
        value = data.get(el.name)
        if value is None:
            parts.append(f'<{el.name} {nil}:nil="true" />')
        elif is_collection(el):
            item = _item(el)
            inner = "".join(f"<{item.name}>{_xml_members(item.children, v, nil, ordinal)}</{item.name}>"
                            for v in value)
            parts.append(f"<{el.name}>{inner}</{el.name}>" if inner else f"<{el.name} />")
        elif el.children:
            parts.append(f"<{el.name}>{_xml_members(el.children, value, nil, ordinal)}</{el.name}>")
        else:
            parts.append(f"<{el.name}>{_xml_text(value)}</{el.name}>")
    return "".join(parts)


def write(media_type: str, rest: RestInfo, elements: Sequence[Element], shaped: Mapping[str, Any], *,
          xml_ordinal: bool = True) -> bytes:
    """A shaped record as the body of `media_type` (`xml_ordinal=False` only for a fault switch)."""
    kind = family(media_type)
    if kind == "json":
        return _json_value(shaped).encode(TEXT_CHARSET)
    if kind == "bson":
        return bson.encode(shaped)
    nil = "i"
    head = f'<{rest.xml_root} xmlns:{nil}="{rest.xml_instance_namespace}" xmlns="{rest.xml_namespace}">'
    return (head + _xml_members(elements, shaped, nil, xml_ordinal) + f"</{rest.xml_root}>").encode(TEXT_CHARSET)


def write_error(media_type: str, rest: RestInfo, fields: Mapping[str, str]) -> bytes:
    """An ASP.NET HttpError ({"Message": …[, "MessageDetail": …]}) as the body of `media_type`."""
    kind = family(media_type)
    if kind == "json":
        return _json_value(dict(fields)).encode(TEXT_CHARSET)
    if kind == "bson":
        return bson.encode(dict(fields))
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    return f"<{rest.error_root}>{inner}</{rest.error_root}>".encode(TEXT_CHARSET)
