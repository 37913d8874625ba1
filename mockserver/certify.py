"""The certifying judge: reads an OTA's raw request against the spec, the profile and the spec's
catalogue of integrator mistakes (tables/mistakes.yaml), and names every mistake it finds.

It works on the request as sent, independently of `pipeline.decode`, so one request can show
several mistakes (a plain-text mobile and a repeated booking without senderid). It never decides
the answer: the mock answers as usual, the judge only feeds the journal. What a mistake looks
like (the sign and cipher variants, the formats, the repeat window) is data of the catalogue;
this module only knows how to try it."""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from spec import crypto
from spec.errors import EncryptionError
from spec.model import Condition, Format, Mistake, MistakeVariant, Page, Param, Profile, Spec
from spec.signing import request_sign

from .world import AgentSeed

Pairs = tuple[tuple[str, str], ...]
MASK = "***"
SECRET = "md5-upper-3des"  # the encryption id of password-type fields (rule c)
# (agent, page, values that make two bookings the same, since) -> id of an earlier successful booking
History = Callable[[str, str, dict[str, str], datetime], "int | None"]
# (agent, condition) -> the value the supplier's setting has for that agent (required_when), if known
Setting = Callable[[AgentSeed, Condition], "str | None"]


@dataclass(frozen=True)
class Finding:
    mistake: str
    rule: str
    clause: str
    severity: str
    param: str | None
    message: str
    hint: str

    def as_json(self) -> dict[str, Any]:
        return {"mistake": self.mistake, "rule": self.rule, "clause": self.clause, "severity": self.severity,
                "param": self.param, "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class Exchange:
    """One request as it reached the mock: where it went and its parameters as sent."""

    method: str
    path: str
    page: Page | None  # None: the path names no interface page
    name: str  # the page name as written in the path
    method_ok: bool  # GET to the GET folder or POST to the POST folder (3.4)
    pairs: Pairs
    at: datetime


@dataclass(frozen=True)
class Verdict:
    agent: str | None
    values: dict[str, str] = field(hash=False)
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class _Reading:
    """One parameter as the judge read it (first occurrence of its name)."""

    param: Param
    wire: str
    plain: str | None  # None when nothing could decrypt it
    how: str  # empty | sent | decrypted | variant | plaintext | unreadable | no-key
    variant: tuple[Mistake, MistakeVariant] | None = None


@dataclass
class _Case:
    spec: Spec
    profile: Profile
    ex: Exchange
    user: str | None
    agent: AgentSeed | None
    readings: dict[str, _Reading]
    sign: tuple[str, tuple[Mistake, ...]]  # (ok | missing | variant | unmatched | n/a, matched mistakes)
    history: History
    booking_pages: frozenset[str]
    setting: Setting | None = None


class Judge:
    """Judges exchanges for one spec, profile and world."""

    def __init__(self, spec: Spec, profile: Profile, agents: tuple[AgentSeed, ...], history: History,
                 setting: Setting | None = None):
        self.spec, self.profile, self.agents, self.history, self.setting = spec, profile, agents, history, setting
        self.by_kind: dict[str, tuple[Mistake, ...]] = {}
        for m in spec.mistakes:
            self.by_kind[m.detect] = self.by_kind.get(m.detect, ()) + (m,)
        # The pages that create an order: those of the events leaving the initial status.
        events = {t.event for t in spec.transitions if t.source == spec.initial_status}
        self.booking_pages = frozenset(p for e in spec.events if e.id in events for p in e.pages)
        self.secret_names = {p.name.lower() for page in spec.pages for p in page.params if p.encryption == SECRET}

    def judge(self, ex: Exchange) -> Verdict:
        """Every mistake of the catalogue this exchange shows, and its values as the judge read them."""
        user = _first(ex.pairs, "user")
        agent = next((a for a in self.agents if a.user == user), None) if user else None
        readings = self._read(ex, agent) if ex.page else {}
        case = _Case(self.spec, self.profile, ex, user, agent, readings,
                     self._sign(ex, agent), self.history, self.booking_pages, self.setting)
        findings = [f for kind, detect in DETECTORS.items() if kind in self.by_kind
                    for f in detect(case, self.by_kind[kind])]
        values = {name: MASK if r.param.encryption == SECRET else r.plain
                  for name, r in readings.items() if r.plain is not None}
        return Verdict(user, values, tuple(findings))

    def masked(self, page: Page | None, pairs: Pairs) -> list[list[str]]:
        """The parameters as sent, password-type values replaced by a mask."""
        def secret(name: str) -> bool:
            param = page.param(name) if page else None
            return param.encryption == SECRET if param else name.lower() in self.secret_names
        return [[k, MASK if secret(k) and v else v] for k, v in pairs]

    # ------------------------------------------------------------ reading

    def _read(self, ex: Exchange, agent: AgentSeed | None) -> dict[str, _Reading]:
        out: dict[str, _Reading] = {}
        for name, wire in ex.pairs:
            param = ex.page.param(name)
            if param is None or param.name in out:
                continue
            out[param.name] = self._reading(param, wire, agent)
        return out

    def _reading(self, param: Param, wire: str, agent: AgentSeed | None) -> _Reading:
        if wire == "":
            return _Reading(param, wire, "", "empty")
        if not param.encrypted:
            return _Reading(param, wire, wire, "sent")
        if agent is None:
            return _Reading(param, wire, None, "no-key")
        try:
            return _Reading(param, wire, crypto.decrypt(wire, agent.key, self.profile.cipher), "decrypted")
        except EncryptionError:
            pass
        for mistake in self.by_kind.get("cipher-variant", ()):
            for variant in mistake.variants:
                plain = self._try_variant(param, wire, agent, variant)
                if plain is not None:
                    return _Reading(param, wire, plain, "variant", (mistake, variant))
        if _looks_plain(param, wire, self.spec, self.profile):
            return _Reading(param, wire, wire, "plaintext")
        return _Reading(param, wire, None, "unreadable")

    def _try_variant(self, param: Param, wire: str, agent: AgentSeed, variant: MistakeVariant) -> str | None:
        cipher = replace(self.profile.cipher, **dict(variant.cipher))
        secrets = [a.key for a in self.agents if a.user != agent.user] if variant.secret == "other-agent-key" else [agent.key]
        for secret in secrets:
            try:
                plain = crypto.decrypt(wire, secret, cipher)
            except (EncryptionError, ValueError):
                continue
            # A wrong key decrypts to valid padding now and then: demand a plausible value too.
            if plain.isprintable() and (not param.format or re.fullmatch(self.spec.format(param.format).pattern, plain)):
                return plain
        return None

    # ------------------------------------------------------------ sign

    def _sign(self, ex: Exchange, agent: AgentSeed | None) -> tuple[str, tuple[Mistake, ...]]:
        if ex.page is None or ex.page.param("sign") is None:
            return "n/a", ()
        given = _first(ex.pairs, "sign") or ""
        if not given:
            return "missing", ()
        if agent is None:
            return "n/a", ()
        if given == request_sign(ex.pairs, agent.key, self.profile.sign):
            return "ok", ()
        tries = [(m, dict(v.sign)) for m in self.by_kind.get("sign-variant", ()) for v in m.variants]
        for m, overrides in tries:
            if given == request_sign(ex.pairs, agent.key, replace(self.profile.sign, **overrides)):
                return "variant", (m,)
        # Sloppy clients often make two of these at once.
        for (m1, o1), (m2, o2) in itertools.combinations(tries, 2):
            if m1 is not m2 and not set(o1) & set(o2) and \
                    given == request_sign(ex.pairs, agent.key, replace(self.profile.sign, **o1, **o2)):
                return "variant", (m1, m2)
        return "unmatched", ()


# ------------------------------------------------------------ helpers

def _first(pairs: Pairs, name: str) -> str | None:
    return next((v for k, v in pairs if k.lower() == name.lower()), None)


def _ciphertext_shaped(wire: str, profile: Profile) -> bool:
    try:
        raw = base64.b64decode(wire, validate=True) if profile.cipher.output == "base64" else bytes.fromhex(wire)
    except (binascii.Error, ValueError):
        return False
    return bool(raw) and len(raw) % 8 == 0


def _looks_plain(param: Param, wire: str, spec: Spec, profile: Profile) -> bool:
    """An undecryptable value that reads as the plain value rather than as a ciphertext."""
    if param.encryption == SECRET and re.fullmatch(r"[0-9A-Fa-f]{32}", wire):
        return True  # the MD5 itself, not encrypted
    if param.format and re.fullmatch(spec.format(param.format).pattern, wire):
        return True
    return not _ciphertext_shaped(wire, profile)


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def _finding(m: Mistake, c: _Case, param: Param | str | None, **fields: str) -> Finding:
    """Fill the mistake's templates for this exchange; `param` is a row of the page or a name it lacks."""
    page = c.ex.page
    name = param if isinstance(param, str) else param.name if param else None
    line = param.line if isinstance(param, Param) else None
    known = {"section": page.section if page else "", "page": page.page if page else c.ex.name,
             "param": name or "", "line": str(line) if line else "?",
             "method": c.ex.method, "path": c.ex.path, "value": "", "variant": "", "detail": "", "example": ""}
    known.update(fields)
    return Finding(m.id, m.rule, m.clause.format_map(known), m.severity, name,
                   m.message.format_map(known), m.hint.format_map(known))


# ------------------------------------------------------------ detectors (one per `detect` kind)

Detector = Callable[[_Case, tuple[Mistake, ...]], Iterable[Finding]]


def _page_unknown(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    if c.ex.page is not None:
        return
    names = [p.page for p in c.spec.request_pages]
    if c.spec.has_page(c.ex.name) and c.spec.page(c.ex.name).direction == "request":
        close = [c.spec.page(c.ex.name).page]
    else:
        close = difflib.get_close_matches(c.ex.name, names, n=1, cutoff=0.75)
    detail = f"; did you mean {close[0]}?" if close else ""
    for m in ms:
        yield _finding(m, c, None, detail=detail)


def _method(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    if c.ex.page is None or c.ex.method_ok:
        return
    if c.ex.method == "POST":
        detail = f"POST sent to the GET path; POST requests go to /POST/{c.ex.page.page}"
    else:
        detail = f"GET sent to the POST folder; GET requests go to /{c.ex.page.page}"
    for m in ms:
        yield _finding(m, c, None, detail=detail)


def _agent_unknown(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    param = c.ex.page.param("user") if c.ex.page else None
    if param is not None and c.user and c.agent is None:
        for m in ms:
            yield _finding(m, c, param, value=c.user)


def _sign_param(c: _Case) -> Param | None:
    return c.ex.page.param("sign") if c.ex.page else None


def _sign_missing(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    if c.sign[0] == "missing":
        for m in ms:
            yield _finding(m, c, _sign_param(c))


def _sign_variant(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    if c.sign[0] == "variant":
        for m in c.sign[1]:
            yield _finding(m, c, _sign_param(c))


def _sign_wrong(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    if c.sign[0] == "unmatched":
        for m in ms:
            yield _finding(m, c, _sign_param(c))


def _cipher_plaintext(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    for r in c.readings.values():
        if r.how == "plaintext":
            for m in ms:
                yield _finding(m, c, r.param, value=MASK if r.param.encryption == SECRET else _short(r.wire))


def _cipher_variant(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    for r in c.readings.values():
        if r.variant and r.variant[0] in ms:
            yield _finding(r.variant[0], c, r.param, variant=r.variant[1].label)


def _cipher_wrong(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    for r in c.readings.values():
        if r.how == "unreadable":
            for m in ms:
                yield _finding(m, c, r.param)


def _digest(secret: str, recipe: dict[str, str]) -> str:
    if recipe.get("digest") == "none":
        return secret
    text = hashlib.md5(secret.encode("utf-8")).hexdigest()
    return text.upper() if recipe.get("hex_case", "upper") == "upper" else text


def _shape_of(recipe: dict[str, str], plain: str) -> bool:
    """Without the secret, whether `plain` has the shape `recipe` produces."""
    if recipe.get("digest") == "none":
        return not re.fullmatch(r"[0-9A-Fa-f]{32}", plain)
    return bool(re.fullmatch(r"[0-9a-f]{32}" if recipe.get("hex_case") == "lower" else r"[0-9A-F]{32}", plain))


def _secrets(c: _Case) -> Iterator[tuple[_Reading, str | None]]:
    """Password-type fields that could be read, with the secret behind them where the judge knows it."""
    login = c.ex.page.param("password") if c.ex.page else None
    for r in c.readings.values():
        if r.param.encryption == SECRET and r.plain and r.how in ("decrypted", "variant"):
            yield r, (c.agent.password if c.agent and r.param is login else None)


def _password_variant(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    for r, secret in _secrets(c):
        if (secret is not None and r.plain == crypto.md5_upper(secret)) or \
                (secret is None and re.fullmatch(r"[0-9A-F]{32}", r.plain or "")):
            continue
        match = next(((m, v) for m in ms for v in m.variants
                      if (r.plain == _digest(secret, dict(v.password)) if secret is not None
                          else _shape_of(dict(v.password), r.plain or ""))), None)
        if match:
            yield _finding(match[0], c, r.param, variant=match[1].label)


def _password_wrong(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    variants = [dict(v.password) for m in c.spec.mistakes if m.detect == "password-variant" for v in m.variants]
    for r, secret in _secrets(c):
        if secret is None or r.plain == crypto.md5_upper(secret) or any(r.plain == _digest(secret, v) for v in variants):
            continue
        for m in ms:
            yield _finding(m, c, r.param)


def _param_required(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    if c.ex.page is None:
        return
    for p in c.ex.page.params:
        if not p.required or p.name == "sign" or p.default is not None or p.location != "query":
            continue
        r = c.readings.get(p.name)
        if r is None or (r.wire == "" and not p.allow_empty):
            for m in ms:
                yield _finding(m, c, p)


def _param_required_when(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    """A parameter left out while the supplier's setting requires it (timespanindex in timed entry):
    the setting as the supplier answers it to this agent."""
    if c.ex.page is None or c.agent is None or c.setting is None:
        return
    for p in c.ex.page.params:
        cond = p.required_when
        r = c.readings.get(p.name)
        if cond is None or p.location != "query" or (r is not None and r.wire != ""):
            continue
        if c.setting(c.agent, cond) == cond.value:
            for m in ms:
                yield _finding(m, c, p, detail=f"{cond.page} answers {cond.element.rsplit('/', 1)[-1]} {cond.value}",
                               example=cond.page)


def _param_unknown(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    if c.ex.page is None:
        return
    for name in dict.fromkeys(k for k, _ in c.ex.pairs if c.ex.page.param(k) is None):
        for m in ms:
            yield _finding(m, c, name)


def _param_repeated(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    if c.ex.page is None:
        return
    names = [c.ex.page.param(k).name for k, _ in c.ex.pairs if c.ex.page.param(k) is not None]
    for name in dict.fromkeys(n for n in names if names.count(n) > 1):
        for m in ms:
            yield _finding(m, c, c.ex.page.param(name))


def _checked(c: _Case) -> Iterator[_Reading]:
    """Readings with a plain value to check against the parameter row."""
    for r in c.readings.values():
        if r.plain and r.param.encryption != SECRET:
            yield r


def _format_of(c: _Case, param: Param) -> Format | None:
    fmt_id = param.format or ("int" if param.base_type == "int" else None)
    return c.spec.format(fmt_id) if fmt_id else None


def _well_formed(c: _Case, r: _Reading) -> bool:
    fmt = _format_of(c, r.param)
    return fmt is None or re.fullmatch(fmt.pattern, r.plain or "") is not None


def _param_format(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    for r in _checked(c):
        fmt = _format_of(c, r.param)
        if fmt is None or _well_formed(c, r):
            continue
        fmt_id = fmt.id
        for m in ms:
            if fmt_id in m.formats:
                yield _finding(m, c, r.param, value=_short(r.plain or ""), detail=f"{fmt.id} ({fmt.description_en})",
                               example=fmt.example)


def _param_values(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    for r in _checked(c):
        if r.param.values and r.plain not in r.param.values:
            for m in ms:
                yield _finding(m, c, r.param, value=_short(r.plain or ""), detail=", ".join(r.param.values))


def _param_length(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    for r in _checked(c):
        # a malformed value is named as such; its length follows from that
        if r.param.max_length and len(r.plain or "") > r.param.max_length and _well_formed(c, r):
            for m in ms:
                yield _finding(m, c, r.param, detail=str(len(r.plain or "")), example=str(r.param.max_length))


def _booking_repeat(c: _Case, ms: tuple[Mistake, ...]) -> Iterator[Finding]:
    page = c.ex.page
    if page is None or page.page not in c.booking_pages or c.agent is None:
        return
    for m in ms:
        rule = m.repeat
        key = next((page.param(n) for n in rule.key_params if page.param(n)), None)
        if key is None or (c.readings.get(key.name) and c.readings[key.name].wire):
            continue
        same = {p.name: c.readings[p.name].plain for p in (page.param(n) for n in rule.same_params)
                if p is not None and p.name in c.readings and c.readings[p.name].plain is not None}
        if not same:
            continue
        earlier = c.history(c.agent.user, page.page, same, c.ex.at - timedelta(seconds=rule.window_seconds))
        if earlier is not None:
            yield _finding(m, c, key, detail=str(earlier), example=f"{rule.window_seconds // 60} minutes")


# Run in this order, so that a journal entry reads from the path down to the business rules.
DETECTORS: dict[str, Detector] = {
    "page-unknown": _page_unknown, "method": _method, "agent-unknown": _agent_unknown,
    "sign-missing": _sign_missing, "sign-variant": _sign_variant, "sign-wrong": _sign_wrong,
    "cipher-plaintext": _cipher_plaintext, "cipher-variant": _cipher_variant, "cipher-wrong": _cipher_wrong,
    "password-variant": _password_variant, "password-wrong": _password_wrong,
    "param-required": _param_required, "param-required-when": _param_required_when,
    "param-unknown": _param_unknown, "param-repeated": _param_repeated,
    "param-format": _param_format, "param-values": _param_values, "param-length": _param_length,
    "booking-repeat": _booking_repeat,
}
