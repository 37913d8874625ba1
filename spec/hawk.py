"""Hawk 1.1 HTTP authentication, header scheme: the REST page's default authentication
(profile `rest_auth`). Used by the mock to verify requests and by clients and the
conformance suite to sign them.

A request carries `Authorization: Hawk id="…", ts="…", nonce="…"[, hash="…"][, ext="…"], mac="…"`
where mac = Base64(HMAC(key, normalized string)) and the normalized string is
`hawk.1.header\\n{ts}\\n{nonce}\\n{METHOD}\\n{path?query}\\n{host}\\n{port}\\n{hash}\\n{ext}\\n`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from .model import RestAuthProfile

SCHEME = "Hawk"
ALGORITHMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}
ATTRIBUTES = ("id", "ts", "nonce", "hash", "ext", "mac", "app", "dlg")
REQUIRED = ("id", "ts", "nonce", "mac")
# Attribute values Hawk allows inside the quotes (hawk.js `utils.parseAuthorizationHeader`).
_VALUE = re.compile(r"^[ \w!#$%&'()*+,\-./:;<=>?@\[\]^`{|}~]*$")
_ATTR = re.compile(r'(\w+)="([^"\\]*)"\s*(?:,\s*|$)')


class HawkError(Exception):
    """Authentication failed; `reason` is the Hawk error text sent back in `WWW-Authenticate`.
    An empty reason means no Hawk credentials at all (a bare challenge)."""

    def __init__(self, reason: str = "", *, stale: bool = False):
        self.reason = reason
        self.stale = stale
        super().__init__(reason or "missing authentication")


@dataclass(frozen=True)
class Credentials:
    id: str
    key: str
    algorithm: str = "sha256"


@dataclass(frozen=True)
class Artifacts:
    """Everything the request MAC covers."""

    method: str
    resource: str  # path and query exactly as sent
    host: str
    port: int
    ts: int
    nonce: str
    hash: str = ""
    ext: str = ""


@dataclass(frozen=True)
class Authorization:
    """A parsed `Authorization: Hawk …` header."""

    id: str
    ts: str
    nonce: str
    mac: str
    hash: str = ""
    ext: str = ""


def _digest(algorithm: str) -> Callable:
    try:
        return ALGORITHMS[algorithm]
    except KeyError:
        raise ValueError(f"unknown Hawk algorithm {algorithm!r}") from None


def _escape_ext(ext: str) -> str:
    return ext.replace("\\", "\\\\").replace("\n", "\\n")


def normalized(a: Artifacts) -> str:
    """The Hawk 1 header normalized string (without `app`/`dlg`: Oz is not used)."""
    return (f"hawk.1.header\n{a.ts}\n{a.nonce}\n{a.method.upper()}\n{a.resource}\n{a.host.lower()}\n{a.port}\n"
            f"{a.hash}\n{_escape_ext(a.ext)}\n")


def mac(credentials: Credentials, artifacts: Artifacts) -> str:
    """Base64(HMAC(key, normalized string)) with the credentials' algorithm."""
    raw = hmac.new(credentials.key.encode("utf-8"), normalized(artifacts).encode("utf-8"),
                   _digest(credentials.algorithm)).digest()
    return base64.b64encode(raw).decode("ascii")


def payload_hash(payload: bytes, content_type: str, algorithm: str = "sha256") -> str:
    """Base64(H("hawk.1.payload\\n{content type without parameters, lower case}\\n{payload}\\n"))."""
    media = content_type.split(";")[0].strip().lower()
    h = _digest(algorithm)()
    h.update(f"hawk.1.payload\n{media}\n".encode())
    h.update(payload)
    h.update(b"\n")
    return base64.b64encode(h.digest()).decode("ascii")


def timestamp_mac(credentials: Credentials, ts: int) -> str:
    """`tsm` of a stale-timestamp challenge: lets the client trust the server's clock."""
    raw = hmac.new(credentials.key.encode("utf-8"), f"hawk.1.ts\n{ts}\n".encode(),
                   _digest(credentials.algorithm)).digest()
    return base64.b64encode(raw).decode("ascii")


def header(credentials: Credentials, artifacts: Artifacts) -> str:
    """The `Authorization` header value for a request."""
    parts = [("id", credentials.id), ("ts", str(artifacts.ts)), ("nonce", artifacts.nonce)]
    if artifacts.hash:
        parts.append(("hash", artifacts.hash))
    if artifacts.ext:
        parts.append(("ext", artifacts.ext))
    parts.append(("mac", mac(credentials, artifacts)))
    for name, value in parts:
        if not _VALUE.match(value):
            raise ValueError(f"Hawk attribute {name} has characters a header cannot carry")
    return f"{SCHEME} " + ", ".join(f'{k}="{v}"' for k, v in parts)


def artifacts_for_url(method: str, url: str, ts: int, nonce: str, *, ext: str = "", hash: str = "") -> Artifacts:
    """Artifacts of a request to an absolute URL (port defaults to the scheme's)."""
    u = urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    resource = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return Artifacts(method, resource, u.hostname or "", port, ts, nonce, hash, ext)


def parse(value: str | None) -> Authorization:
    """Parse an `Authorization` header; HawkError('') when it is absent or not Hawk."""
    if not value:
        raise HawkError("")
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != SCHEME.lower():
        raise HawkError("")
    attrs: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _ATTR.match(rest, pos)
        if not m:
            raise HawkError("Bad header format")
        name, val = m.group(1), m.group(2)
        if name not in ATTRIBUTES:
            raise HawkError("Unknown attribute")
        if not _VALUE.match(val):
            raise HawkError("Bad attribute value")
        if name in attrs:
            raise HawkError("Duplicate attribute")
        attrs[name] = val
        pos = m.end()
    if any(not attrs.get(k) for k in REQUIRED):
        raise HawkError("Missing attributes")
    return Authorization(attrs["id"], attrs["ts"], attrs["nonce"], attrs["mac"], attrs.get("hash", ""),
                         attrs.get("ext", ""))


class NonceStore(Protocol):
    def use(self, id: str, nonce: str, ts: int, now: int, window: int) -> bool:
        """Record the nonce; False when it was already used within the window."""


class MemoryNonces:
    """Nonces in memory, kept for twice the skew window (enough: older requests are stale anyway)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()

    def use(self, id: str, nonce: str, ts: int, now: int, window: int) -> bool:
        with self._lock:
            for k in [k for k, expires in self._seen.items() if expires < now]:
                del self._seen[k]
            key = (id, nonce, ts)
            if key in self._seen:
                return False
            self._seen[key] = now + 2 * window
            return True


def verify(value: str | None, *, method: str, resource: str, host: str, port: int,
           lookup: Callable[[str], Credentials | None], now: float, skew: int, nonces: NonceStore,
           payload: bytes = b"", content_type: str = "") -> tuple[Credentials, Authorization]:
    """Authenticate one request; raises HawkError naming the failure."""
    auth = parse(value)
    credentials = lookup(auth.id)
    if credentials is None:
        raise HawkError("Unknown credentials")
    try:
        ts = int(auth.ts)
    except ValueError:
        raise HawkError("Invalid timestamp") from None
    expected = mac(credentials, Artifacts(method, resource, host, port, ts, auth.nonce, auth.hash, auth.ext))
    if not hmac.compare_digest(expected.encode(), auth.mac.encode()):
        raise HawkError("Bad mac")
    if auth.hash and not hmac.compare_digest(
            payload_hash(payload, content_type, credentials.algorithm).encode(), auth.hash.encode()):
        raise HawkError("Bad payload hash")
    # The timestamp is checked before the nonce, so that only requests inside the window
    # are remembered and the store stays small.
    if abs(int(now) - ts) > skew:
        raise HawkError("Stale timestamp", stale=True)
    if not nonces.use(auth.id, auth.nonce, ts, int(now), skew):
        raise HawkError("Invalid nonce")
    return credentials, auth


def challenge(error: HawkError, credentials: Credentials | None = None, now: float = 0) -> str:
    """The `WWW-Authenticate` value answering `error` (with the server time when it was stale)."""
    if not error.reason:
        return SCHEME
    if error.stale and credentials is not None:
        ts = int(now)
        return f'{SCHEME} ts="{ts}", tsm="{timestamp_mac(credentials, ts)}", error="{error.reason}"'
    return f'{SCHEME} error="{error.reason}"'


# ---------------------------------------------------------------- key recipe
# The profile writes how the Hawk key is made from the agent's secrets as a small
# expression, e.g. "KEY + UPPER(MD5(login password))": terms joined by "+", each a secret
# name or a function of a term.

SECRETS = ("KEY", "login password")
FUNCTIONS: dict[str, Callable[[str], str]] = {
    "MD5": lambda s: hashlib.md5(s.encode("utf-8")).hexdigest(),
    "UPPER": str.upper,
    "LOWER": str.lower,
}
Recipe = Callable[[dict[str, str]], str]


def parse_recipe(text: str) -> Recipe:
    """Compile a key recipe; ValueError naming what is not understood."""

    def term(s: str) -> Recipe:
        s = s.strip()
        if s in SECRETS:
            return lambda secrets: secrets[s]
        m = re.fullmatch(r"([A-Z0-9]+)\((.*)\)", s)
        if m and m.group(1) in FUNCTIONS:
            fn, inner = FUNCTIONS[m.group(1)], expression(m.group(2))
            return lambda secrets: fn(inner(secrets))
        raise ValueError(f"key recipe {text!r}: cannot read {s!r} (secrets: {', '.join(SECRETS)}; "
                         f"functions: {', '.join(FUNCTIONS)})")

    def expression(s: str) -> Recipe:
        parts, depth, start = [], 0, 0
        for i, ch in enumerate(s):
            depth += ch == "("
            depth -= ch == ")"
            if depth < 0:
                raise ValueError(f"key recipe {text!r}: unbalanced parentheses")
            if ch == "+" and depth == 0:
                parts.append(s[start:i])
                start = i + 1
        if depth:
            raise ValueError(f"key recipe {text!r}: unbalanced parentheses")
        parts.append(s[start:])
        terms = [term(p) for p in parts]
        return lambda secrets: "".join(t(secrets) for t in terms)

    return expression(text)


def derive_key(recipe: str, key: str, login_password: str) -> str:
    """The Hawk key of an agent under the profile's recipe."""
    return parse_recipe(recipe)({"KEY": key, "login password": login_password})


def credentials_for(profile: RestAuthProfile, user: str, key: str, login_password: str) -> Credentials:
    """An agent's Hawk credentials under the profile (id = user, key by the recipe)."""
    return Credentials(user, derive_key(profile.key_recipe, key, login_password), profile.algorithm)
