"""Request and response signatures as the profile's sign rules define them (rules d, e, f)."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Iterable, Mapping
from urllib.parse import quote_plus

from .model import ResponseProfile, SignProfile

Pairs = Iterable[tuple[str, str]]

_SIGN_ELEMENT = re.compile(rb"<sign>[^<]*</sign>")


def _pairs(params: Mapping[str, str] | Pairs) -> list[tuple[str, str]]:
    return list(params.items()) if isinstance(params, Mapping) else list(params)


def _digest(text: str, algorithm: str, hex_case: str) -> str:
    h = hashlib.new(algorithm, text.encode("utf-8")).hexdigest()
    return h.upper() if hex_case == "upper" else h


def canonical_string(params: Mapping[str, str] | Pairs, key: str, recipe: SignProfile) -> str:
    """The exact text that is hashed for a request sign."""
    excluded = {n.lower() for n in recipe.exclude}
    items = []
    for name, value in _pairs(params):
        if name.lower() in excluded or (recipe.skip_empty and value == ""):
            continue
        shown = name.lower() if recipe.name_case == "lower" else name.upper() if recipe.name_case == "upper" else name
        if recipe.value_form == "url-encoded":
            value = quote_plus(value, encoding="utf-8")
        items.append((shown, value))
    if recipe.sort == "name":
        items.sort(key=lambda kv: kv[0])
    if recipe.key_position == "param":
        items.append((recipe.key_param or "key", key))
    text = recipe.separator.join(recipe.pair_format.format(name=n, value=v) for n, v in items)
    if recipe.key_position == "append":
        text += key
    elif recipe.key_position == "prepend":
        text = key + text
    return text


def request_sign(params: Mapping[str, str] | Pairs, key: str, recipe: SignProfile) -> str:
    """The `sign` value for these request parameters (values as transmitted)."""
    return _digest(canonical_string(params, key, recipe), recipe.hash, recipe.hex_case)


def same_sign(given: str, expected: str, case_insensitive: bool) -> bool:
    """Constant-time comparison of two hex signatures."""
    if case_insensitive:
        given, expected = given.upper(), expected.upper()
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def verify_request_sign(params: Mapping[str, str] | Pairs, key: str, recipe: SignProfile) -> bool:
    """True when the `sign` among `params` matches the others."""
    pairs = _pairs(params)
    given = next((v for n, v in pairs if n.lower() == "sign"), "")
    if not given:
        return False
    return same_sign(given, request_sign(pairs, key, recipe), recipe.compare_case_insensitive)


def blank_sign(body: bytes) -> bytes:
    """The body with the text of its first `<sign>` element removed."""
    return _SIGN_ELEMENT.sub(b"<sign></sign>", body, count=1)


def response_sign(body: bytes, key: str, rule: ResponseProfile) -> str:
    """The sign of a response body (its own `<sign>` text is ignored)."""
    blanked = blank_sign(body)
    data = blanked + key.encode("utf-8") if rule.sign_key_position == "append" else key.encode("utf-8") + blanked
    h = hashlib.new(rule.hash, data).hexdigest()
    return h.upper() if rule.hex_case == "upper" else h


def sign_response(body: bytes, key: str | None, rule: ResponseProfile) -> bytes:
    """Fill the `<sign>` element of `body`; empty when the agent (so its KEY) is unknown."""
    value = rule.unknown_agent_sign if key is None else response_sign(body, key, rule)
    return _SIGN_ELEMENT.sub(b"<sign>" + value.encode("ascii") + b"</sign>", body, count=1)


def verify_response_sign(body: bytes, key: str, rule: ResponseProfile) -> bool:
    m = _SIGN_ELEMENT.search(body)
    if not m:
        return False
    given = m.group(0)[6:-7].decode("utf-8", "replace")
    return bool(given) and same_sign(given, response_sign(body, key, rule), True)
