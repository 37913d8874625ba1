"""Encode a request as a client sends it, and decode it as a supplier reads it,
following a page's parameter table and a profile. Both sides of the project use these."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Iterable, Mapping

from . import crypto
from .errors import EncryptionError, ParamError
from .model import Page, Profile
from .signing import request_sign

@dataclass(frozen=True)
class Credentials:
    user: str
    password: str
    key: str
    pay_password: str | None = None


def encode_value(page: Page, name: str, value: str, creds: Credentials, profile: Profile) -> str:
    """The wire form of one parameter given in plain text (passwords as plain passwords)."""
    param = page.param(name)
    if param is None or value == "":
        return value
    if param.encryption == "3des":
        return crypto.encrypt(value, creds.key, profile.cipher)
    if param.encryption == "md5-upper-3des":
        return crypto.password_field(value, creds.key, profile.cipher)
    return value


def user_param(page: Page) -> str:
    """The page's spelling of the user-name parameter (`User` or `user`)."""
    p = page.param("user")
    return p.name if p else "user"


def encode_request(page: Page, values: Mapping[str, str], creds: Credentials, profile: Profile,
                   *, sign: bool = True) -> list[tuple[str, str]]:
    """Wire parameters for `page`: user and password added, encrypted fields encrypted, signed.

    `values` holds plain values; a pay-password field may be given as the plain pay password.
    """
    pairs: list[tuple[str, str]] = []
    given = {k.lower() for k in values}
    if page.param("user") and "user" not in given:
        pairs.append((user_param(page), creds.user))
    if page.param("password") and "password" not in given:
        pairs.append((page.param("password").name, crypto.password_field(creds.password, creds.key, profile.cipher)))
    for name, value in values.items():
        pairs.append((name, encode_value(page, name, str(value), creds, profile)))
    if sign:
        pairs.append(("sign", request_sign(pairs, creds.key, profile.sign)))
    return pairs


def callback_url(profile: Profile, responseaddr: str, page: Page) -> str:
    """Where a callback page is called (rule f): the profile's path under the agent's responseaddr.

    The parameters are `encode_request(page, values, agent credentials, profile)`, as for a request."""
    return profile.callbacks.path.replace("{responseaddr}", responseaddr.rstrip("/")).replace("{page}", page.page)


def lookup(params: Iterable[tuple[str, str]], name: str, case_insensitive: bool = True) -> str | None:
    """The first value of `name` among the wire parameters."""
    for k, v in params:
        if (k.lower() == name.lower()) if case_insensitive else (k == name):
            return v
    return None


def decode_value(page: Page, name: str, wire: str, key: str, profile: Profile) -> str:
    """The plain value of one encrypted parameter; raise `EncryptionError` naming it."""
    param = page.param(name)
    if param is None or not param.encrypted or wire == "":
        return wire
    try:
        return crypto.decrypt(wire, key, profile.cipher)
    except EncryptionError as exc:
        raise EncryptionError(exc.key, f"{param.name}: {exc.detail}", param=param.name) from None


def check_password(page: Page, wire: str | None, secret: str, key: str, profile: Profile, name: str = "password") -> bool:
    """True when a password-type field carries UPPER(MD5(secret)) under KEY."""
    if not wire:
        raise ParamError("missing_param", f"{name} is required", param=name)
    plain = decode_value(page, name, wire, key, profile)
    return hmac.compare_digest(plain.upper().encode("utf-8"), crypto.md5_upper(secret).encode("utf-8"))
