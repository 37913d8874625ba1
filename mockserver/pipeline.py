"""Turn wire parameters into a `Call`, refusing what the spec and profile refuse.

Order of checks: user known, sign, account enabled, password, encrypted fields,
required parameters, lengths, formats and value sets. Each refusal is a `YbxError`
carrying a retcode key that `responses.error` resolves against the page."""

from __future__ import annotations

import hmac
import re

from spec import crypto
from spec.errors import AuthError, EncryptionError, ParamError, SignatureError
from spec.model import Page
from spec.signing import verify_request_sign

from . import conditions
from .context import Call, Mock


class UnknownAgent(AuthError):
    fallback = "unknown_agent"


class AgentDisabled(AuthError):
    fallback = "account_disabled"


def _match_names(page: Page, raw: list[tuple[str, str]], case_insensitive: bool) -> dict[str, str]:
    """Wire values keyed by the spec's spelling; the first occurrence of a name wins."""
    out: dict[str, str] = {}
    for name, value in raw:
        if case_insensitive:
            param = page.param(name)
        else:
            param = next((p for p in page.params if p.name == name), None)
        if param is not None and param.name not in out:
            out[param.name] = value
    return out


def decode(mock: Mock, page: Page, method: str, raw: list[tuple[str, str]], base_url: str = "") -> Call:
    """Authenticate and decode a request for `page`."""
    profile = mock.profile
    wire = _match_names(page, raw, not mock.fault("case-sensitive-names") and profile.transport.names_case_insensitive)
    user_param = page.param("user")
    user = wire.get(user_param.name, "") if user_param else ""
    if not user:
        raise ParamError("missing_param", "user is required", param=user_param.name if user_param else "user")
    agent = mock.world.agent(user)
    if agent is None:
        raise UnknownAgent(None, f"unknown user {user!r}")

    if page.param("sign") and not mock.fault("accept-bad-sign"):
        if not verify_request_sign(raw, agent.key, profile.sign):
            raise SignatureError(None, "sign missing or wrong")

    with mock.store.reading() as db:
        state = mock.store.agent(db, agent.user)
    if state is None or not state.enabled:
        raise AgentDisabled(None, f"agent {user} is disabled")

    values: dict[str, str] = {}
    for name, value in wire.items():
        param = page.param(name)
        if param.encrypted and value != "":
            try:
                value = crypto.decrypt(value, agent.key, profile.cipher)
            except EncryptionError:
                if not mock.fault("accept-plaintext") or param.encryption == "md5-upper-3des":
                    raise EncryptionError(None, f"{param.name} is not TripleDes(…, KEY)", param=param.name) from None
        values[param.name] = value

    password_param = page.param("password")
    if password_param is not None:
        given = values.get(password_param.name, "")
        if not given:
            raise ParamError("missing_param", "password is required", param=password_param.name)
        if not hmac.compare_digest(given.upper().encode(), crypto.md5_upper(agent.password).encode()):
            raise AuthError(None, "password does not match", param=password_param.name)

    if not mock.fault("ignore-required"):
        for param in page.params:
            if not param.required or param.name == "sign":
                continue
            present = param.name in values
            if not present and param.default is not None:
                values[param.name] = param.default  # the manual's default stands for an absent value
                continue
            if not present or (values[param.name] == "" and not param.allow_empty):
                # a page may name its own message for this parameter (e.g. sendofficiallysnotify_missing)
                raise ParamError(f"{param.name.lower()}_missing", f"{param.name} is required", param=param.name)

    if not mock.fault("ignore-required-when"):
        for param in page.params:
            cond = param.required_when
            if cond and values.get(param.name, "") == "" and conditions.requires(mock, agent, param):
                gap = page.gap(cond.gap)  # names the refusal (orderproducts-timeslot-when: -1501 bad_params)
                raise ParamError(gap.value if gap else None, f"{param.name} is required while {cond.page} "
                                 f"{cond.element} is {cond.value}", param=param.name)

    for name, value in values.items():
        param = page.param(name)
        if value == "" or param.encryption == "md5-upper-3des":
            continue
        if param.max_length and len(value) > param.max_length:
            raise ParamError("too_long", f"{name} is longer than {param.max_length}", param=name)
        if param.format:
            fmt = mock.spec.format(param.format)
            if not re.fullmatch(fmt.pattern, value):
                raise ParamError("bad_format", f"{name} is not {fmt.id}", param=name)
        if param.values and value not in param.values and param.name.lower() not in ("sign_type", "input_charset"):
            raise ParamError("bad_format", f"{name} must be one of {', '.join(param.values)}", param=name)
        if param.base_type == "int" and not param.format and not re.fullmatch(r"-?\d+", value):
            raise ParamError("bad_format", f"{name} is not an integer", param=name)
    return Call(page, method, agent, values, tuple(raw), base_url)
