"""Typed, frozen view of the spec. Built by `spec.loader`; nothing else constructs these."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any, Iterator, Literal

Direction = str  # request | callback | payment_notify | rest

_TYPE_RE = re.compile(r"^\s*(?P<base>[A-Za-z]+)\s*(?:\(\s*(?P<len>\d+)\s*(?:,\s*\d+\s*)?\))?\s*$")
_BASE_TYPES = {"string": "string", "int": "int", "integer": "int", "decimal": "decimal", "float": "decimal", "money": "decimal"}


def parse_type(raw: str | None) -> tuple[str | None, int | None]:
    """Split a manual type such as ``String(64)`` into (``string``, 64)."""
    if raw is None:
        return None, None
    m = _TYPE_RE.match(raw)
    if not m:
        return "string", None
    base = _BASE_TYPES.get(m.group("base").lower(), "string")
    length = int(m.group("len")) if m.group("len") else None
    return base, length


@dataclass(frozen=True)
class Condition:
    """A supplier setting a parameter is required in: `element` (a path such as Item/sublevelmode)
    of `page`'s answer reads `value`. The page's gap `gap` records the choice; its value is the
    retcode key a request without the parameter answers."""

    page: str
    element: str
    value: str
    gap: str


@dataclass(frozen=True)
class Param:
    name: str
    label_zh: str
    en: str
    required: bool | None
    type_raw: str | None
    base_type: str | None
    max_length: int | None
    encryption: str
    format: str | None
    values: tuple[str, ...] | None
    default: str | None
    note_zh: str
    line: int | None
    location: str  # query | xml-body | path
    allow_empty: bool = False  # required to be present, but an empty value is meaningful
    obtained_from: str | None = None  # the page whose call delivers this value (e.g. an SMS code)
    required_when: Condition | None = None  # required only in this supplier setting (timespanindex, timed entry)
    first_page: int | None = None  # a page-number parameter: the number of the first page (0 or 1, the page's gap)

    @property
    def encrypted(self) -> bool:
        return self.encryption not in ("none", "md5-sign")


@dataclass(frozen=True)
class Element:
    name: str
    occurs: str
    type: str
    label_zh: str
    en: str
    values: tuple[str, ...] | None
    format: str | None
    children: tuple["Element", ...]
    max_length: int | None = None  # the manual's string(N), in characters
    line: int | None = None  # seed line cited for the format, length or values added to the manual's element
    allow_empty: bool = False  # an empty value is a meaningful answer (a value not yet known, a mode's n/a)
    filled_after: tuple[str, ...] = ()  # events after which an allow_empty value is known (never empty again)

    # cached: asked for every element of every rendered answer
    @cached_property
    def repeated(self) -> bool:
        return self.occurs.endswith("..n")

    @cached_property
    def optional(self) -> bool:
        return self.occurs.startswith("0")

    @cached_property
    def child_names(self) -> frozenset[str]:
        """Names of the direct children (asked for every rendered record)."""
        return frozenset(c.name for c in self.children)

    def walk(self) -> Iterator["Element"]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Retcode:
    code: str
    key: str
    message_zh: str
    message_en: str
    line: int | None

    @property
    def success(self) -> bool:
        return self.code == "0"


@dataclass(frozen=True)
class Behaviour:
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    events: tuple[str, ...]
    callbacks: tuple[str, ...]
    fees: str
    accounts: tuple[str, ...]
    notes_en: str


@dataclass(frozen=True)
class Gap:
    id: str
    clause: str
    line: int | None
    issue_en: str
    choice_en: str
    where: str  # the spec file that records it
    value: str | None = None  # the value the choice fixes, where code needs it (a message, a page, a key)


@dataclass(frozen=True)
class OldEdition:
    name: str
    lines: tuple[int, int]
    differences_en: tuple[str, ...]


@dataclass(frozen=True)
class RestError:
    """How a REST page answers one failure: HTTP status and an ASP.NET-style `Message` body."""

    key: str
    status: int
    message: str  # may hold {uri}, {method}, {param}, {value}
    detail: str | None  # MessageDetail, when ASP.NET gives one
    clause: str
    note_en: str


@dataclass(frozen=True)
class CodeName:
    code: str
    name_zh: str


@dataclass(frozen=True)
class RestInfo:
    path: str
    media_types: tuple[str, ...]
    xml_root: str
    xml_namespace: str
    extra: dict[str, Any] = field(hash=False, compare=False, default_factory=dict)
    xml_instance_namespace: str = ""  # xmlns:i, for i:nil="true"
    error_root: str = "Error"  # XML root of an error body
    empty_collections: tuple[str, ...] = ()  # collection elements this page always answers empty
    errors: tuple[RestError, ...] = ()
    customer_types: tuple[CodeName, ...] = ()  # names of customertypecode values (2.4)

    def error(self, key: str) -> RestError:
        for e in self.errors:
            if e.key == key:
                return e
        raise KeyError(f"the REST page lists no error {key!r}")


@dataclass(frozen=True)
class Page:
    page: str
    aliases: tuple[str, ...]
    section: str
    title_zh: str
    title_en: str
    since: str
    direction: Direction
    methods: tuple[str, ...]
    mode: str
    kept_in_v4: bool
    v4_backward_compatible: bool
    source_file: str
    source_lines: tuple[int, int]
    old_edition: OldEdition | None
    summary_zh: str
    summary_en: str
    params: tuple[Param, ...]
    response: tuple[Element, ...]
    retcodes: tuple[Retcode, ...]
    behaviour: Behaviour
    gaps: tuple[Gap, ...]
    rest: RestInfo | None
    file: str
    mode_refusal: str | None = None  # the retcode key a supplier of the other mode answers (gaps)

    @property
    def stem(self) -> str:
        return self.page[:-5] if self.page.lower().endswith(".aspx") else self.page

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this definition answers to: its own, aliases, the old edition's."""
        names = [self.page, *self.aliases]
        if self.old_edition and self.old_edition.name not in names:
            names.append(self.old_edition.name)
        return tuple(names)

    @cached_property
    def _params_by_name(self) -> dict[str, Param]:
        # param() runs many times per request; the first definition of a name wins
        index: dict[str, Param] = {}
        for p in self.params:
            index.setdefault(p.name.lower(), p)
        return index

    def param(self, name: str) -> Param | None:
        return self._params_by_name.get(name.lower())

    def element(self, *path: str) -> Element | None:
        """The response element at `path` (`"Item", "sxrq"`), names matched case-insensitively."""
        elements, found = self.response, None
        for name in path:
            found = next((e for e in elements if e.name.lower() == name.lower()), None)
            if found is None:
                return None
            elements = found.children
        return found

    def retcode(self, key: str) -> Retcode | None:
        for r in self.retcodes:
            if r.key == key:
                return r
        return None

    def gap(self, gap_id: str) -> Gap | None:
        return next((g for g in self.gaps if g.id == gap_id), None)

    @property
    def required_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.required)

    @property
    def encrypted_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.encrypted)


@dataclass(frozen=True)
class OrderStatus:
    code: str
    name_zh: str
    name_en: str
    since: str
    terminal: bool
    active: bool  # counts as a valid order for real-name uniqueness (4.2.4)
    note_en: str
    line: int | None


@dataclass(frozen=True)
class TicketStatus:
    code: str
    name_zh: str
    name_en: str
    since: str
    used_by: tuple[str, ...]
    note_en: str
    line: int | None


SeatRole = Literal["free", "booking", "sold", "fixed"]


@dataclass(frozen=True)
class AccountView:
    """Where an agent account is read (tables/accounts.yaml): the balance page and its Item element,
    the transaction-record page and a record's opening, closing and document elements."""

    id: str
    name_zh: str
    balance_page: str
    balance: str
    records_page: str
    opening: str
    closing: str
    document: str
    insufficient: str = ""  # the retcode key of a payment from this account refused for its balance


@dataclass(frozen=True)
class SeatStatus:
    """A SeatState value (4.2.21 座位状态说明): the part it plays and the order statuses whose seats show it."""

    code: str
    name_zh: str
    name_en: str
    held_by: tuple[str, ...]  # order statuses holding a seat in this state
    role: SeatRole  # free (bookable), booking, sold, or fixed (set by the supplier's staff)
    line: int | None

    @property
    def free(self) -> bool:
        """The state a seat can be booked from."""
        return self.role == "free"


@dataclass(frozen=True)
class PaymentType:
    id: str
    code: str
    name_zh: str
    name_en: str
    account: str | None
    fees_apply: bool
    clause: str


@dataclass(frozen=True)
class Event:
    id: str
    name_zh: str
    name_en: str
    actor: str  # integrator | supplier | payment_platform | clock
    pages: tuple[str, ...]
    clause: str


@dataclass(frozen=True)
class Transition:
    id: str
    source: str
    event: str
    target: str
    payment_types: tuple[str, ...]
    guard_en: str
    callbacks: tuple[str, ...]
    fees: str
    accounts_en: str
    clause: str
    line: int | None


@dataclass(frozen=True)
class ForbiddenTransition:
    id: str
    event: str
    sources: tuple[str, ...]
    page: str
    retcode_key: str
    clause: str
    note_en: str


@dataclass(frozen=True)
class RefundMode:
    code: str
    name_zh: str
    name_en: str
    description_en: str
    clause: str


@dataclass(frozen=True)
class Format:
    id: str
    pattern: str
    description_en: str
    example: str


@dataclass(frozen=True)
class CallbackRule:
    page: str
    fires_on: tuple[str, ...]
    requires: str
    clause: str
    note_en: str


@dataclass(frozen=True)
class CallbackPolicy:
    ordering: str
    blocking: str
    retry_window_seconds: int
    backoff_seconds: tuple[int, ...]
    success: str
    rules: tuple[CallbackRule, ...]
    clause: str
    timeout_seconds: float  # the supplier's wait for one answer (gap callback-timeout)


@dataclass(frozen=True)
class FeeSituation:
    id: str
    description_en: str
    payment_types: tuple[str, ...]
    charged_to: str
    clause: str


@dataclass(frozen=True)
class FeeModel:
    situations: tuple[FeeSituation, ...]
    desk_never_charged: bool
    example_items: tuple["FeeItem", ...]
    clause: str


@dataclass(frozen=True)
class FeeItem:
    """One `feeitems` row of GetProviderConfig."""

    unit: str  # D (day) or H (hour)
    unitcount: int
    feecalmode: str  # A percentage of price, B fixed yuan
    feevalue: Decimal


@dataclass(frozen=True)
class Rule:
    """A profile rule: the decision and the manual clause it rests on."""

    clause: str
    note_en: str


@dataclass(frozen=True)
class TransportProfile:
    get_path: str
    post_path: str
    post_content_type: str
    charset: str
    names_case_insensitive: bool
    rule: Rule


@dataclass(frozen=True)
class CipherProfile:
    algorithm: str  # 3des
    key_encoding: str
    key_pad_char: str
    key_length: int
    mode: str  # ECB | CBC
    iv: str | None
    padding: str  # PKCS7
    output: str  # base64
    rule: Rule


@dataclass(frozen=True)
class SignProfile:
    exclude: tuple[str, ...]
    skip_empty: bool
    name_case: str  # lower | upper | as-sent
    sort: str  # name | none
    pair_format: str
    separator: str
    value_form: str  # transmitted | url-encoded | decrypted
    key_position: str  # append | prepend | param
    key_param: str | None
    hash: str  # md5 | sha1 | sha256
    hex_case: str  # upper | lower
    compare_case_insensitive: bool
    rule: Rule


@dataclass(frozen=True)
class ResponseProfile:
    content_type: str
    xml_declaration: str
    root: str
    envelope: tuple[str, ...]
    sign_blanks_element: bool
    sign_key_position: str
    hash: str
    hex_case: str
    unknown_agent_sign: str
    rule: Rule


@dataclass(frozen=True)
class CallbackProfile:
    method: str
    path: str
    signed_like_requests: bool
    answer_like_responses: bool
    rule: Rule


@dataclass(frozen=True)
class KeyExportProfile:
    file_extension: str
    rule: Rule


@dataclass(frozen=True)
class FeeBandProfile:
    timezone: str
    scenic_reference: str  # effect-date-midnight
    theater_reference: str  # scene-start
    unit_seconds: dict[str, int] = field(hash=False)
    match: str = "advance-below-count"  # a < N*u; N = 0 matches a <= 0
    zero_count_match: str = "advance-not-positive"
    select: str = "smallest-count"
    per: str = "ticket"
    rounding: str = "half-up"
    cap_at_price: bool = True
    rule: Rule = Rule("", "")


@dataclass(frozen=True)
class RestAuthProfile:
    scheme: str  # hawk | none
    algorithm: str
    id_from: str
    key_recipe: str  # an expression read by spec.hawk.parse_recipe
    unauthorized_status: int
    rule: Rule
    skew_seconds: int = 60
    unauthorized_message: str = ""


@dataclass(frozen=True)
class Profile:
    name: str
    title_en: str
    description_en: str
    transport: TransportProfile
    cipher: CipherProfile
    password: Rule
    sign: SignProfile
    response: ResponseProfile
    callbacks: CallbackProfile
    key_export: KeyExportProfile
    fee_bands: FeeBandProfile
    rest_auth: RestAuthProfile
    error_fallbacks: dict[str, tuple[str, ...]] = field(hash=False)


@dataclass(frozen=True)
class ErrorEntry:
    """One retcode of the catalogue: every message it carries and the pages using it."""

    code: str
    messages: tuple[tuple[str, str, str], ...]  # (key, message_zh, message_en)
    pages: tuple[str, ...]


@dataclass(frozen=True)
class MistakeVariant:
    """One way of getting a recipe wrong: the profile fields (or password recipe) that reproduce it."""

    label: str
    secret: str = "key"  # key | other-agent-key: whose KEY the field was encrypted under
    sign: tuple[tuple[str, Any], ...] = ()  # SignProfile field overrides
    cipher: tuple[tuple[str, Any], ...] = ()  # CipherProfile field overrides
    password: tuple[tuple[str, str], ...] = ()  # digest (md5 | none), hex_case


@dataclass(frozen=True)
class RepeatRule:
    """What makes a booking a repeat: same values of `same_params` within the window, no key param."""

    key_params: tuple[str, ...]
    same_params: tuple[str, ...]
    window_seconds: int


@dataclass(frozen=True)
class Mistake:
    """An integrator mistake the certifying mock recognises (tables/mistakes.yaml)."""

    id: str
    detect: str  # which part of a request is judged (the schema's enum)
    rule: str
    clause: str  # template: {section} {page} {param} {line}
    severity: str  # error | warning
    message: str  # template: also {method} {path} {value} {variant} {detail} {example}
    hint: str
    variants: tuple[MistakeVariant, ...] = ()
    formats: tuple[str, ...] = ()
    repeat: RepeatRule | None = None


@dataclass(frozen=True)
class Reason:
    """How an error key is worded where a message leaves the reason open (`ex`): tables/reasons.yaml."""

    key: str
    zh: str  # may hold {param} and {value}
    line: int | None  # seed line of the manual's wording
    adapted_en: str = ""  # how the words differ from that line; empty when they are the manual's own

    def render(self, param: str | None = None, value: str | None = None) -> str:
        """The words with {param} and {value} put in (an absent one leaves nothing: the words read without it)."""
        return self.zh.replace("{param}", param or "").replace("{value}", value or "")


@dataclass(frozen=True)
class Spec:
    pages: tuple[Page, ...]
    order_statuses: tuple[OrderStatus, ...]
    ticket_statuses: tuple[TicketStatus, ...]
    payment_types: tuple[PaymentType, ...]
    events: tuple[Event, ...]
    transitions: tuple[Transition, ...]
    forbidden: tuple[ForbiddenTransition, ...]
    fee_model: FeeModel
    refund_modes: tuple[RefundMode, ...]
    formats: tuple[Format, ...]
    callback_policy: CallbackPolicy
    gaps: tuple[Gap, ...]
    profiles: tuple[Profile, ...]
    errors: tuple[ErrorEntry, ...]
    initial_status: str = "new"
    mistakes: tuple[Mistake, ...] = ()
    seat_statuses: tuple[SeatStatus, ...] = ()
    reasons: tuple[Reason, ...] = ()
    accounts: tuple[AccountView, ...] = ()
    type_formats: tuple[tuple[str, str], ...] = ()  # element/param type -> format id it implies
    _index: dict[str, Page] = field(hash=False, compare=False, repr=False, default_factory=dict)

    def page(self, name: str) -> Page:
        """Find a page by any of its names, case-insensitively, with or without `.aspx`."""
        key = name.lower()
        if not key.endswith(".aspx") and key + ".aspx" in self._index:
            key += ".aspx"
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"no page named {name!r} in the spec") from None

    def has_page(self, name: str) -> bool:
        try:
            self.page(name)
        except KeyError:
            return False
        return True

    def pages_by(self, direction: str) -> tuple[Page, ...]:
        return tuple(p for p in self.pages if p.direction == direction)

    @property
    def request_pages(self) -> tuple[Page, ...]:
        return self.pages_by("request")

    def profile(self, name: str = "default") -> Profile:
        for p in self.profiles:
            if p.name == name:
                return p
        raise KeyError(f"no profile named {name!r}; known: {', '.join(p.name for p in self.profiles)}")

    def account(self, account_id: str) -> AccountView | None:
        """Where an agent account (deposit, rebate) is read (tables/accounts.yaml); None for others."""
        return next((a for a in self.accounts if a.id == account_id), None)

    def seat_codes(self, role: SeatRole) -> tuple[str, ...]:
        """The SeatState codes playing `role` (tables/seat_status.yaml)."""
        return tuple(s.code for s in self.seat_statuses if s.role == role)

    def seat_code(self, role: SeatRole) -> str:
        """The one SeatState code playing `role` (free, booking or sold: the loader admits exactly one)."""
        codes = self.seat_codes(role)
        if len(codes) != 1:
            raise KeyError(f"seat role {role!r} is played by {list(codes)}, not by exactly one state")
        return codes[0]

    def order_status(self, code: str) -> OrderStatus:
        for s in self.order_statuses:
            if s.code == code:
                return s
        raise KeyError(code)

    def event(self, event_id: str) -> Event:
        for e in self.events:
            if e.id == event_id:
                return e
        raise KeyError(event_id)

    def transitions_from(self, source: str, event: str, payment_type: str | None = None) -> tuple[Transition, ...]:
        return tuple(
            t
            for t in self.transitions
            if t.source == source and t.event == event and (payment_type is None or payment_type in t.payment_types)
        )

    def mistake(self, mistake_id: str) -> Mistake:
        for x in self.mistakes:
            if x.id == mistake_id:
                return x
        raise KeyError(mistake_id)

    def reason(self, key: str) -> Reason | None:
        return next((r for r in self.reasons if r.key == key), None)

    def format(self, format_id: str) -> Format:
        for f in self.formats:
            if f.id == format_id:
                return f
        raise KeyError(format_id)

    def format_for(self, item: "Element | Param") -> Format | None:
        """The format a response element's or parameter's value must have: its own, else the one its
        type implies (tables/formats.yaml `type_formats`: int, decimal = money), else None."""
        if item.format:
            return self.format(item.format)
        implied = dict(self.type_formats).get(item.type if isinstance(item, Element) else item.base_type or "")
        return self.format(implied) if implied else None
