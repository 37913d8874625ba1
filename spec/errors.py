"""Errors are values the spec knows: each carries a retcode key that a page resolves
to its own retcode and message (`resolve`). The mock maps them to a response in one place."""

from __future__ import annotations

import re

from .model import Page, Profile, Retcode, Spec


class YbxError(Exception):
    """A failure the manual names. `key` is a retcode key of the page, or a profile fallback class.
    `detail` is English for developers and never part of a retmsg; `fill` is the value of the
    message's own placeholder (xxxx, X, [ZJHM]); `reason` words an `ex` placeholder where the caller
    takes the words from spec data, else the spec's reasons table words it (`reason_for`)."""

    fallback = "internal"

    def __init__(self, key: str | None = None, detail: str = "", *, param: str | None = None, fill: str | None = None,
                 reason: str | None = None):
        self.key = key or self.fallback
        self.detail = detail
        self.param = param
        self.fill = fill
        self.reason = reason
        super().__init__(f"{self.key}: {detail}" if detail else self.key)


class SignatureError(YbxError):
    fallback = "bad_sign"


class AuthError(YbxError):
    fallback = "bad_password"


class EncryptionError(YbxError):
    fallback = "bad_encryption"


class ParamError(YbxError):
    fallback = "missing_param"


class StateError(YbxError):
    """A forbidden transition or a page called on an order in the wrong state."""

    fallback = "internal"


class BusinessError(YbxError):
    """Any other refusal the page's retcode list names (stock, limits, balance, ...)."""


GENERIC_FAILURE = Retcode("-1", "call_failed", "调用失败，失败原因：ex", "The call failed, reason: ex", None)


def resolve(page: Page, error: YbxError, profile: Profile) -> Retcode:
    """The retcode `page` answers for `error`: its own key, else the profile's fallback chain."""
    found = page.retcode(error.key)
    if found:
        return found
    for cls in (error.key, error.fallback):
        for key in profile.error_fallbacks.get(cls, ()):
            found = page.retcode(key)
            if found:
                return found
    for key in profile.error_fallbacks.get("internal", ()):
        found = page.retcode(key)
        if found:
            return found
    return GENERIC_FAILURE


# A message's placeholders: a value the page names (the ID number, the state, [ZJHM]) and the
# reason (`ex`, once written as the C# `" + ex.Message`).
VALUE_PLACEHOLDER = re.compile(r"\[[A-Z]+\]|xxxx|(?<![A-Za-z0-9_])X(?![A-Za-z0-9_])")
REASON_PLACEHOLDER = re.compile(r'" \+ ex\.Message|(?<![A-Za-z])ex(?![A-Za-z])')
PLACEHOLDER = re.compile(f"{VALUE_PLACEHOLDER.pattern}|{REASON_PLACEHOLDER.pattern}")


def render_message(retcode: Retcode, *, fill: str | None = None, reason: str | None = None) -> str:
    """The retmsg: the manual's message with its first value placeholder replaced by `fill` and its
    first reason placeholder (`ex`) by `reason`; a placeholder without its text is left as written."""
    done: set[str] = set()

    def put(match: re.Match[str]) -> str:
        kind = "value" if VALUE_PLACEHOLDER.fullmatch(match.group()) else "reason"
        text = fill if kind == "value" else reason
        if text is None or kind in done:
            return match.group()
        done.add(kind)
        return text

    return PLACEHOLDER.sub(put, retcode.message_zh)


def reason_for(spec: Spec, error: YbxError) -> str:
    """The Chinese reason of `error`: its own, else the reasons table's entry for its key, its
    fallback class or `internal` (the loader makes sure that one exists)."""
    if error.reason is not None:
        return error.reason
    for key in (error.key, error.fallback, "internal"):
        found = spec.reason(key)
        if found is not None:
            return found.render(param=error.param, value=error.fill)
    return ""


def message_for(spec: Spec, retcode: Retcode, error: YbxError) -> str:
    """The retmsg `retcode` answers for `error`: the page's message with the value and the reason filled in."""
    return render_message(retcode, fill=error.fill, reason=reason_for(spec, error))
