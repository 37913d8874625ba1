"""Signature, encryption and parameter checks, derived for every request page from its
parameter table and the profile (rules b-e, 3.4, 3.5)."""

from __future__ import annotations

from functools import partial
from typing import Iterable

from spec import crypto
from spec.errors import EncryptionError, ParamError, SignatureError, YbxError, resolve
from spec.model import Page, Param, Retcode, Spec
from spec.protocol import Credentials, encode_request
from spec.signing import request_sign

from ..baseline import COMMON, accepted, baseline, fresh_ids, same_show, show_value
from ..context import CheckContext, NotApplicable, NotRun, answers
from ..target import Exchange
from ..registry import Check, derive

WRONG_KEY = "00000000-0000-0000-0000-000000000000"


def _clause(page: Page, extra: str = "") -> str:
    return f"{page.section} {page.page} (lines {page.source_lines[0]}-{page.source_lines[1]}){extra}"


def _expected(ctx: CheckContext, page: Page, error: YbxError) -> Retcode:
    return resolve(page, error, ctx.profile)


def _resign(ctx: CheckContext, pairs: list[tuple[str, str]], key: str | None = None) -> list[tuple[str, str]]:
    body = [(k, v) for k, v in pairs if k != "sign"]
    return body + [("sign", request_sign(body, key or ctx.target.creds.key, ctx.profile.sign))]


def _refused(ctx: CheckContext, page: Page, pairs: list[tuple[str, str]], values: dict[str, str],
             expected: Retcode, what: str, method: str = "GET") -> None:
    ex = ctx.send(page, pairs, method, note=what)
    ctx.envelope(ex)
    ctx.expect(ex.retcode != "0", f"{page.page}: {what} was accepted (retcode 0)")
    accepted(ctx, page, values)
    # the code, and the message where the page gives that code to several answers (every -1)
    ctx.expect(answers(page, expected, ex.retcode, ex.retmsg), f"{page.page}: {what} answered retcode {ex.retcode} "
               f"({ex.retmsg}); the spec's answer is {expected.code} {expected.message_zh}")


# ------------------------------------------------------------------ signature

def _valid(page: Page, ctx: CheckContext) -> None:
    values = baseline(ctx, page)
    ex = ctx.call(page, values, note="correctly signed request")
    ctx.envelope(ex)
    bad_sign = page.retcode("bad_sign")
    signed_wrong = bad_sign and ex.retcode == bad_sign.code and ex.retmsg == bad_sign.message_zh
    # with only the common parameters nothing but the protocol itself can make the request fail
    if ex.retcode != "0" and not values:
        ctx.expect(False, f"{page.page}: a correct request with only user, password and sign was refused: "
                   f"{ex.retcode} {ex.retmsg} (check the key derivation, rule b, and the password, rule c)")
    if ex.retcode != "0" and not signed_wrong:
        ctx.balance_refusal(ex)
        raise NotRun(f"the request was refused for another reason than its sign: {ex.retcode} {ex.retmsg}")
    ctx.expect(ex.retcode == "0", f"{page.page}: a correctly signed request was refused as badly signed")
    ctx.expect(ex.envelope.verify(ctx.target.creds.key, ctx.profile.response),
               f"{page.page}: the response sign does not verify (rule e)")


def _bad_sign(page: Page, how: str, ctx: CheckContext) -> None:
    values = baseline(ctx, page)
    pairs = encode_request(page, values, ctx.target.creds, ctx.profile)
    if how == "missing":
        pairs = [(k, v) for k, v in pairs if k != "sign"]
    elif how == "wrong":
        pairs = _resign(ctx, pairs, WRONG_KEY)
    else:  # tampered: a signed-over parameter is added after signing
        version = page.param("service_version")
        if version is None:
            raise NotRun(f"{page.page} has no service_version to tamper with")
        pairs = [(k, v) for k, v in pairs if k.lower() != version.name.lower()] + [(version.name, "1.0")]
    _refused(ctx, page, pairs, values, _expected(ctx, page, SignatureError()), f"a {how} sign")


# ------------------------------------------------------------------ encryption

def _with(ctx: CheckContext, page: Page, param: Param, values: dict[str, str]) -> dict[str, str]:
    """The values with `param` present (the login password is added by encode_request itself)."""
    if param.name.lower() == "password" or param.name in values:
        return values
    same = same_show(ctx, page, param, values) if page.mode == "theater" else {}
    if same:
        return {**values, **same}
    return {**values, param.name: _sample(ctx, page, param)}


def _plaintext(page: Page, param: Param, ctx: CheckContext) -> None:
    values = _with(ctx, page, param, baseline(ctx, page))
    pairs = encode_request(page, values, ctx.target.creds, ctx.profile, sign=False)
    plain = values[param.name] if param.name != "password" else crypto.md5_upper(ctx.target.creds.password)
    if param.encryption == "md5-upper-3des" and param.name != "password":
        plain = crypto.md5_upper(values[param.name])
    pairs = _resign(ctx, [(k, plain if k == param.name else v) for k, v in pairs])
    _refused(ctx, page, pairs, values, _expected(ctx, page, EncryptionError(param=param.name)),
             f"{param.name} in plain text")


def _wrong_key(page: Page, param: Param, ctx: CheckContext) -> None:
    values = _with(ctx, page, param, baseline(ctx, page))
    other = Credentials(ctx.target.creds.user, ctx.target.creds.password, WRONG_KEY, ctx.target.creds.pay_password)
    wrong = encode_request(page, values, other, ctx.profile, sign=False)
    right = encode_request(page, values, ctx.target.creds, ctx.profile, sign=False)
    swapped = dict(wrong)
    pairs = _resign(ctx, [(k, swapped[k] if k == param.name else v) for k, v in right])
    _refused(ctx, page, pairs, values, _expected(ctx, page, EncryptionError(param=param.name)),
             f"{param.name} encrypted under a wrong key")


def _sample(ctx: CheckContext, page: Page, param: Param) -> str:
    show = show_value(ctx, param, {}) if page.mode == "theater" else None  # a theater, scene, ... on sale
    if show is not None:
        return show
    if param.format:  # a real-name record's ID books once: a new one each time
        return fresh_ids(ctx.spec.format(param.format).example)
    return "13800138000" if "手机" in param.label_zh else "x"


# ------------------------------------------------------------------ parameters

def _missing(page: Page, param: Param, ctx: CheckContext) -> None:
    values = baseline(ctx, page)
    pairs = encode_request(page, {k: v for k, v in values.items() if k != param.name}, ctx.target.creds, ctx.profile)
    expected = _expected(ctx, page, ParamError(f"{param.name.lower()}_missing", param=param.name))
    _refused(ctx, page, pairs, values, expected, f"without {param.name}")


def _missing_when(page: Page, param: Param, ctx: CheckContext) -> None:
    """Without a parameter the spec requires only in a supplier setting, while the target's own
    answer says it is in that setting (timespanindex while GetProviderConfig says sublevelmode 1)."""
    ctx.serves(page)
    cond = param.required_when
    ex = ctx.ok(ctx.call(cond.page, note=f"fixture: the supplier's setting {cond.element}"), cond.page)
    setting = ex.envelope.text(cond.element)
    if setting != cond.value:
        raise NotApplicable(f"the target's {cond.page} answers {cond.element} {setting!r}, not {cond.value!r}: "
                            f"{param.name} is not required on this target")
    values = baseline(ctx, page)
    pairs = encode_request(page, {k: v for k, v in values.items() if k != param.name}, ctx.target.creds, ctx.profile)
    gap = page.gap(cond.gap)
    expected = page.retcode(gap.value) if gap and gap.value else None
    _refused(ctx, page, pairs, values, expected or _expected(ctx, page, ParamError(param=param.name)),
             f"a request without {param.name} while {cond.page} answers {cond.element} {setting}")


def _too_long(page: Page, param: Param, ctx: CheckContext) -> None:
    values = baseline(ctx, page)
    long = ("9" if param.base_type == "int" else "x") * (param.max_length + 1)
    pairs = encode_request(page, {**values, param.name: long}, ctx.target.creds, ctx.profile)
    _refused(ctx, page, pairs, values, _expected(ctx, page, ParamError("too_long", param=param.name)),
             f"{param.name} longer than {param.max_length}")


def _bad_format(page: Page, param: Param, ctx: CheckContext) -> None:
    values = baseline(ctx, page)
    bad = ("@@not-" + param.format)[: param.max_length or None]  # within the length: one rule broken, not two
    pairs = encode_request(page, {**values, param.name: bad}, ctx.target.creds, ctx.profile)
    _refused(ctx, page, pairs, values, _expected(ctx, page, ParamError("bad_format", param=param.name)),
             f"{param.name} not in format {param.format}")


def _case(page: Page, ctx: CheckContext) -> None:
    values = baseline(ctx, page)
    pairs = encode_request(page, values, ctx.target.creds, ctx.profile, sign=False)
    pairs = _resign(ctx, [(k.upper(), v) for k, v in pairs])
    ex = ctx.send(page, pairs, note="every parameter name upper-cased")
    ctx.envelope(ex)
    if ex.retcode != "0":
        accepted(ctx, page, values)
    ctx.expect(ex.retcode == "0", f"{page.page}: names in another case were refused ({ex.retcode} {ex.retmsg}); "
               "names are case-insensitive since V3.0 (3.5)")


def _get_post(page: Page, ctx: CheckContext) -> None:
    values = baseline(ctx, page)
    get = ctx.call(page, values, "GET", note="GET form")
    post = ctx.call(page, values, "POST", note="POST form")
    ctx.envelope(get)
    ctx.envelope(post)
    for ex in (get, post):  # each form of a paying page pays: the second may find the balance spent
        ctx.balance_refusal(ex)
    if get.retcode != "0" and get.retcode == post.retcode:
        raise NotRun(f"the target refuses this request either way ({get.retcode} {get.retmsg})")
    ctx.expect(get.retcode == post.retcode == "0", f"{page.page}: GET answered {get.retcode}, POST {post.retcode}")
    if _shape(get) != _shape(post):
        # a record landing between the two calls changes a list page's answer: ask both once more
        get, post = ctx.call(page, values, "GET", note="GET form, again"), ctx.call(page, values, "POST", note="POST form, again")
        ctx.envelope(get)
        ctx.envelope(post)
    ctx.expect(_shape(get) == _shape(post), f"{page.page}: GET and POST answers differ in structure")


def _shape(ex: Exchange) -> list[str]:
    return [el.tag for el in ex.envelope.root.iter() if isinstance(el.tag, str)]


# ------------------------------------------------------------------ derivation

def _read_only(page: Page) -> bool:
    return not page.behaviour.writes and not page.behaviour.events


@derive
def protocol_checks(spec: Spec) -> Iterable[Check]:
    for page in spec.request_pages:
        stem = page.stem
        yield Check(f"signature.valid.{stem}", "signature", _clause(page, "; profile rules d, e"),
                    f"{page.page} accepts a correctly signed request and signs its answer", "critical",
                    partial(_valid, page), page=page.page)
        for how in ("missing", "wrong", "tampered"):
            yield Check(f"signature.{how}.{stem}", "signature", _clause(page, "; profile rule d"),
                        f"{page.page} refuses a {how} sign with the page's signature retcode", "critical",
                        partial(_bad_sign, page, how), page=page.page)
        for param in page.params:
            if param.location != "query" or param.encryption not in ("3des", "md5-upper-3des"):
                continue
            yield Check(f"encryption.plain.{stem}.{param.name}", "encryption",
                        _clause(page, f"; {param.name} line {param.line}"),
                        f"{page.page} refuses {param.name} sent without 3DES", "critical",
                        partial(_plaintext, page, param), page=page.page)
            yield Check(f"encryption.wrong-key.{stem}.{param.name}", "encryption",
                        _clause(page, f"; {param.name} line {param.line}"),
                        f"{page.page} refuses {param.name} encrypted under another key", "major",
                        partial(_wrong_key, page, param), page=page.page)
        for param in page.params:
            if param.location != "query" or param.name.lower() in COMMON:
                continue
            if param.required and param.default is None:  # a default stands for an absent value
                yield Check(f"parameters.missing.{stem}.{param.name}", "parameters",
                            _clause(page, f"; {param.name} 必填 line {param.line}"),
                            f"{page.page} refuses a request without {param.name}", "major",
                            partial(_missing, page, param), page=page.page)
            if param.required_when is not None:
                cond = param.required_when
                yield Check(f"parameters.missing-when.{stem}.{param.name}", "parameters",
                            _clause(page, f"; {param.name} line {param.line} (此值必须 in that mode); gap {cond.gap}"),
                            f"{page.page} refuses a request without {param.name} while {cond.page} answers "
                            f"{cond.element} {cond.value}", "major", partial(_missing_when, page, param),
                            page=page.page)
            if param.max_length and not param.encrypted and not param.values:
                yield Check(f"parameters.too-long.{stem}.{param.name}", "parameters",
                            _clause(page, f"; {param.name} {param.type_raw} line {param.line}"),
                            f"{page.page} refuses {param.name} longer than {param.max_length}", "minor",
                            partial(_too_long, page, param), page=page.page)
            if param.format in ("yyyyMMdd", "yyyyMMddHHmmss", "mobile", "pid_qty_list", "int") and param.required:
                yield Check(f"parameters.format.{stem}.{param.name}", "parameters",
                            _clause(page, f"; {param.name} format {param.format} line {param.line}"),
                            f"{page.page} refuses {param.name} not in format {param.format}", "major",
                            partial(_bad_format, page, param), page=page.page)
        yield Check(f"parameters.case-insensitive.{stem}", "parameters", "3.5 (line 790)",
                    f"{page.page} matches parameter names case-insensitively", "major", partial(_case, page),
                    page=page.page)
        if _read_only(page):
            yield Check(f"parameters.get-post.{stem}", "parameters", "3.4 (line 782)",
                        f"{page.page} answers GET and POST alike", "major", partial(_get_post, page), page=page.page)


@derive
def common_request_checks(spec: Spec) -> Iterable[Check]:
    """Pages that need nothing but the common parameters: a correct request must pass, so a refusal
    can only be the protocol's fault (key derivation, password, sign)."""
    for page in spec.request_pages:
        if page.mode != "both" or any(p.required and p.name.lower() not in COMMON for p in page.params):
            continue
        yield Check(f"encryption.common-request.{page.stem}", "encryption",
                    f"{page.section} {page.page}; profile rules b, c, d",
                    f"{page.page} accepts a request carrying only user, password (rule c) and sign", "critical",
                    partial(_common_request, page), page=page.page)


def _common_request(page: Page, ctx: CheckContext) -> None:
    ex = ctx.call(page, {}, note="only the common parameters")
    ctx.envelope(ex)
    ctx.expect(ex.retcode == "0", f"{page.page}: a correct request with only user, password and sign was refused: "
               f"{ex.retcode} {ex.retmsg} (key derivation rule b, password rule c, sign rule d)")
