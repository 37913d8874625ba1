"""The whole spec as plain JSON-able data (`python -m spec dump`)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from .model import Element, Page, Spec


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.name.startswith("_")}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    return value


def _element(el: Element) -> dict[str, Any]:
    out = {"name": el.name, "occurs": el.occurs, "label_zh": el.label_zh, "en": el.en}
    if el.children:
        out["children"] = [_element(c) for c in el.children]
    else:
        out["type"] = el.type
        if el.values is not None:
            out["values"] = list(el.values)
        if el.format:
            out["format"] = el.format
    return out


def page_dict(page: Page, spec: Spec) -> dict[str, Any]:
    """One interface as `dump` prints it."""
    events = {e.id for e in spec.events if page.page in e.pages} | set(page.behaviour.events)
    return {
        "page": page.page,
        "aliases": list(page.aliases),
        "old_names": [n for n in page.names if n != page.page and n not in page.aliases],
        "section": page.section,
        "title_zh": page.title_zh,
        "title_en": page.title_en,
        "since": page.since,
        "kept_in_v4": page.kept_in_v4,
        "v4_backward_compatible": page.v4_backward_compatible,
        "direction": page.direction,
        "methods": list(page.methods),
        "mode": page.mode,
        "source": {"file": page.source_file, "lines": list(page.source_lines)},
        "old_edition": _plain(page.old_edition),
        "summary_zh": page.summary_zh,
        "summary_en": page.summary_en,
        "params": [
            {"name": p.name, "label_zh": p.label_zh, "en": p.en, "required": p.required, "type": p.type_raw,
             "base_type": p.base_type, "max_length": p.max_length, "encryption": p.encryption, "format": p.format,
             "values": list(p.values) if p.values is not None else None, "default": p.default, "note_zh": p.note_zh,
             "in": p.location, "line": p.line, "required_when": _plain(p.required_when),
             "first_page": p.first_page}
            for p in page.params
        ],
        "response": [_element(e) for e in page.response],
        "retcodes": [
            {"code": r.code, "key": r.key, "message_zh": r.message_zh, "message_en": r.message_en, "line": r.line}
            for r in page.retcodes
        ],
        "behaviour": {
            **_plain(page.behaviour),
            "events": sorted(events),
            "transitions": [t.id for t in spec.transitions if t.event in events],
        },
        "rest": _plain(page.rest),
        "gaps": [g.id for g in page.gaps],
    }


def dump(spec: Spec) -> dict[str, Any]:
    """The spec as one JSON document."""
    return {
        "interfaces": [page_dict(p, spec) for p in spec.pages],
        "order_status": _plain(spec.order_statuses),
        "ticket_status": _plain(spec.ticket_statuses),
        "payment_types": _plain(spec.payment_types),
        "events": _plain(spec.events),
        "transitions": [
            {"id": t.id, "from": t.source, "event": t.event, "to": t.target, "payment_types": list(t.payment_types),
             "guard": t.guard_en, "callbacks": list(t.callbacks), "fees": t.fees, "accounts": t.accounts_en,
             "clause": t.clause, "line": t.line}
            for t in spec.transitions
        ],
        "forbidden_transitions": [
            {"id": f.id, "event": f.event, "from": list(f.sources), "page": f.page, "retcode": f.retcode_key,
             "clause": f.clause, "note_en": f.note_en}
            for f in spec.forbidden
        ],
        "fee_model": _plain(spec.fee_model),
        "refund_modes": _plain(spec.refund_modes),
        "formats": _plain(spec.formats),
        "callbacks": _plain(spec.callback_policy),
        "errors": [
            {"code": e.code, "messages": [{"key": k, "message_zh": zh, "message_en": en} for k, zh, en in e.messages],
             "pages": list(e.pages)}
            for e in spec.errors
        ],
        "gaps": _plain(spec.gaps),
        "profiles": _plain(spec.profiles),
    }
