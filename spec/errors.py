"""Errors are values the spec knows: each carries a retcode key that a page resolves
to its own retcode and message (`resolve`). The mock maps them to a response in one place."""

from __future__ import annotations

import re

from .model import Page, Profile, Retcode


class YbxError(Exception):
    """A failure the manual names. `key` is a retcode key of the page, or a profile fallback class."""

    fallback = "internal"

    def __init__(self, key: str | None = None, detail: str = "", *, param: str | None = None, fill: str | None = None):
        self.key = key or self.fallback
        self.detail = detail
        self.param = param
        self.fill = fill
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


PLACEHOLDERS = ("xxxx", "ex", "X")
_BRACKETED = re.compile(r"\[[A-Z]+\]")  # e.g. [ZJHM]: the manual names the field it will print


def render_message(retcode: Retcode, detail: str, fill: str | None = None) -> str:
    """The retmsg: the manual's message, its placeholder (`xxxx`, `ex`, `X`) replaced by `fill`;
    without `fill`, an `ex` (the manual's exception text) is replaced by the detail."""
    msg = retcode.message_zh
    if fill is not None:
        if _BRACKETED.search(msg):
            return _BRACKETED.sub(fill.replace("\\", "\\\\"), msg, count=1)
        for token in PLACEHOLDERS:
            if token in msg:
                return msg.replace(token, fill, 1)
        return msg
    if detail and "ex" in msg:
        return msg.replace("ex", detail, 1)
    return msg
