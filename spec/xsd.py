"""Generate one XSD per response from the spec (never hand-edited)."""

from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .model import Element, Format, Page, Profile, Spec

XS = "http://www.w3.org/2001/XMLSchema"

# Outside a character class, XSD escapes only these characters (plus \d \D); Python's \s, \S, \w and
# \W name other sets than XSD's, and ^ $ are anchors in Python but plain characters in XSD.
_XSD_ESCAPES = set("nrt\\|.?*+(){}-[]^") | {"d", "D"}
_QUANTIFIER = re.compile(r"\{\d+(,\d*)?\}")


class Inexpressible(ValueError):
    """A format's pattern means something else, or nothing, as an XSD pattern facet."""


def xsd_pattern(pattern: str) -> str:
    """`pattern` (a Python regular expression of tables/formats.yaml, matched against the whole
    value) as an XSD pattern facet with the same meaning; `Inexpressible` when the two dialects
    differ on it. The subset both read alike is written the same, so the text is kept."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise Inexpressible(f"not a regular expression: {exc}") from None
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        nxt = pattern[i + 1] if i + 1 < n else ""
        if c == "\\":
            if nxt not in _XSD_ESCAPES:
                raise Inexpressible(f"escape \\{nxt} at {i} (XSD knows \\d \\D and escaped metacharacters only)")
            i += 2
            continue
        if in_class:
            if c == "[":
                raise Inexpressible(f"'[' inside a character class at {i}")
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1 + (nxt == "^")
            if pattern[i:i + 1] == "]":
                raise Inexpressible(f"']' first in a character class at {i}")
            continue
        elif c in "^$":
            raise Inexpressible(f"anchor {c!r} at {i} (an XSD pattern always matches the whole value)")
        elif c == "(" and nxt == "?":
            raise Inexpressible(f"'(?' group at {i} (XSD has plain groups only)")
        elif c == "{":
            m = _QUANTIFIER.match(pattern, i)
            if m is None:
                raise Inexpressible(f"quantifier at {i} is not {{n}}, {{n,}} or {{n,m}}")
            i, c, nxt = m.end() - 1, "}", pattern[m.end():m.end() + 1]
        if not in_class and c in "*+?}" and nxt and nxt in "?+":
            raise Inexpressible(f"lazy or possessive quantifier {c}{nxt} at {i}")
        i += 1
    if in_class:
        raise Inexpressible("unclosed character class")
    return pattern


def _occurs(el: Element) -> str:
    lo = "0" if el.optional else "1"
    hi = "unbounded" if el.repeated else "1"
    out = "" if lo == "1" else f' minOccurs="{lo}"'
    return out + ("" if hi == "1" else f' maxOccurs="{hi}"')


def _doc(el: Element, pad: str, fmt: Format | None = None) -> list[str]:
    text = " / ".join(t for t in (el.label_zh, el.en) if t)
    if fmt is not None and not el.values:
        text += f" [format {fmt.id}: {fmt.description_en}, e.g. {fmt.example}]" if fmt.example else f" [format {fmt.id}]"
    if el.max_length:
        text += f" [at most {el.max_length} characters]"
    if not text:
        return []
    return [f"{pad}<xs:annotation><xs:documentation>{escape(text)}</xs:documentation></xs:annotation>"]


def _facets(el: Element, fmt: Format | None) -> list[str]:
    """The restriction of a leaf's text: its listed values, else its format's pattern; its length;
    the empty text only where the spec says an empty answer means something (gap response-empty-values),
    so a leaf with neither format nor values still refuses it."""
    if el.values is not None:
        out = [f"<xs:enumeration value={quoteattr(v)}/>" for v in el.values]
        if el.allow_empty and "" not in el.values:
            out.append('<xs:enumeration value=""/>')
    elif fmt is not None:
        out = [f"<xs:pattern value={quoteattr(xsd_pattern(fmt.pattern))}/>"]
        if el.allow_empty:
            out.append('<xs:pattern value=""/>')  # patterns of one restriction are alternatives
    else:
        out = []
    if not el.allow_empty and "" not in (el.values or ()):
        out.append('<xs:minLength value="1"/>')  # a pattern like base64's would match the empty text
    if el.max_length:
        out.append(f'<xs:maxLength value="{el.max_length}"/>')
    return out


def _element(el: Element, pad: str, spec: Spec, typed: bool) -> list[str]:
    if not el.children:
        fmt = spec.format_for(el) if typed else None
        facets = _facets(el, fmt) if typed else []
        if not facets:
            return [f'{pad}<xs:element name="{el.name}" type="xs:string"{_occurs(el)}>', *_doc(el, pad + "  "),
                    f"{pad}</xs:element>"]
        return [f'{pad}<xs:element name="{el.name}"{_occurs(el)}>', *_doc(el, pad + "  ", fmt),
                f'{pad}  <xs:simpleType><xs:restriction base="xs:string">',
                *(f"{pad}    {f}" for f in facets),
                f"{pad}  </xs:restriction></xs:simpleType>", f"{pad}</xs:element>"]
    lines = [f'{pad}<xs:element name="{el.name}"{_occurs(el)}>', *_doc(el, pad + "  "),
             f"{pad}  <xs:complexType>", f"{pad}    <xs:sequence>"]
    for child in el.children:
        lines += _element(child, pad + "      ", spec, typed)
    lines += [f"{pad}    </xs:sequence>", f"{pad}  </xs:complexType>", f"{pad}</xs:element>"]
    return lines


def page_xsd(page: Page, profile: Profile, spec: Spec, typed: bool = True) -> str:
    """The XSD of `page`'s response. `typed=False` keeps structure only (for the manual's samples,
    whose values are Chinese placeholders)."""
    codes = sorted({r.code for r in page.retcodes})
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<xs:schema xmlns:xs="{XS}" elementFormDefault="qualified">',
             f"  <!-- Generated by `python -m spec xsd` from spec/data/pages/{page.stem}.yaml; do not edit. -->",
             f'  <xs:element name="{profile.response.root}">',
             f"    <xs:annotation><xs:documentation>{page.page} {page.section} {page.title_zh}</xs:documentation></xs:annotation>",
             "    <xs:complexType>", "      <xs:sequence>"]
    for name in profile.response.envelope:
        if name == "retcode" and typed and codes and page.direction == "request":
            lines.append('        <xs:element name="retcode"><xs:simpleType><xs:restriction base="xs:string">')
            lines += [f"          <xs:enumeration value={quoteattr(c)}/>" for c in codes]
            lines.append("        </xs:restriction></xs:simpleType></xs:element>")
        else:
            lines.append(f'        <xs:element name="{name}" type="xs:string"/>')
    if page.response:
        # a refusal carries the envelope only; an answer with data carries all of it
        lines.append('        <xs:sequence minOccurs="0">')
        for el in page.response:
            lines += _element(el, "          ", spec, typed)
        lines.append("        </xs:sequence>")
    lines += ["      </xs:sequence>", "    </xs:complexType>", "  </xs:element>", "</xs:schema>", ""]
    return "\n".join(lines)


def response_pages(spec: Spec) -> tuple[Page, ...]:
    """Pages whose answer is the XML envelope (every page but the REST one)."""
    return tuple(p for p in spec.pages if p.direction != "rest")


def write_all(spec: Spec, out_dir: Path, profile: Profile | None = None, typed: bool = True) -> list[Path]:
    """Write `<stem>.xsd` for every response page into `out_dir`."""
    profile = profile or spec.profile()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for page in response_pages(spec):
        path = out_dir / f"{page.stem}.xsd"
        path.write_text(page_xsd(page, profile, spec, typed), encoding="utf-8")
        written.append(path)
    return written
