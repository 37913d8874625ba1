"""The implementation under test, reached over HTTP as an integrator reaches it."""

from __future__ import annotations

import shlex
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlencode

import httpx

from spec import crypto, wire
from spec.errors import EncryptionError
from spec.model import Page, Profile, Spec
from spec.protocol import Credentials, encode_request

from .target_clock import TargetClock


# one TLS context for every session: building one costs tens of milliseconds per check
_TLS = ssl.create_default_context()


@dataclass
class Exchange:
    """One request and its answer, kept as evidence."""

    page: str
    method: str
    url: str
    params: list[tuple[str, str]]
    plain: dict[str, str]
    status: int | None = None
    body: bytes = b""
    envelope: wire.Envelope | None = None
    error: str = ""
    elapsed_ms: int = 0
    note: str = ""

    @property
    def retcode(self) -> str | None:
        return self.envelope.retcode if self.envelope else None

    @property
    def retmsg(self) -> str:
        return self.envelope.retmsg if self.envelope else ""

    def curl(self) -> str:
        if self.method == "POST":
            return f"curl -s -X POST {shlex.quote(self.url)} --data {shlex.quote(urlencode(self.params))}"
        return f"curl -s {shlex.quote(self.url + '?' + urlencode(self.params))}"

    def as_dict(self) -> dict[str, Any]:
        return {"page": self.page, "method": self.method, "url": self.url, "params": self.params,
                "plain": self.plain, "status": self.status, "body": self.body.decode("utf-8", "replace"),
                "retcode": self.retcode, "retmsg": self.retmsg, "error": self.error, "elapsed_ms": self.elapsed_ms,
                "note": self.note, "curl": self.curl()}


@dataclass
class Target:
    base_url: str
    creds: Credentials
    spec: Spec
    profile: Profile
    timeout: float = 10.0
    log: list[Exchange] = field(default_factory=list)
    clock: TargetClock | None = None  # told the target's time by every answer's Date header

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._client = httpx.Client(timeout=self.timeout, verify=_TLS)

    def close(self) -> None:
        self._client.close()

    def url(self, page: Page, method: str) -> str:
        template = self.profile.transport.post_path if method == "POST" else self.profile.transport.get_path
        return template.replace("{base}", self.base_url).replace("{page}", page.page)

    def plain_view(self, page: Page, pairs: list[tuple[str, str]], creds: Credentials) -> dict[str, str]:
        """The decrypted view of a request, for the report."""
        view = {}
        for name, value in pairs:
            param = page.param(name)
            if param is not None and param.encrypted and value:
                try:
                    value = f"{crypto.decrypt(value, creds.key, self.profile.cipher)}  ⟵ {param.encryption}"
                except EncryptionError:
                    value = f"{value}  (not decryptable with KEY)"
            view[name] = value
        return view

    def send(self, page: Page, pairs: list[tuple[str, str]], method: str = "GET", *,
             creds: Credentials | None = None, note: str = "") -> Exchange:
        """Send wire parameters as they are; parse the envelope if there is one."""
        creds = creds or self.creds
        ex = Exchange(page.page, method, self.url(page, method), list(pairs), self.plain_view(page, pairs, creds),
                      note=note)
        started = time.monotonic()
        try:
            if method == "POST":
                r = self._client.post(ex.url, data=dict(pairs) if len({k for k, _ in pairs}) == len(pairs) else pairs)
            else:
                r = self._client.get(ex.url, params=pairs)
            ex.status, ex.body = r.status_code, r.content
            if self.clock is not None:
                self.clock.observe(r.headers.get_list("date"))
            try:
                ex.envelope = wire.parse(r.content, self.profile.response)
            except wire.MalformedResponse as exc:
                ex.error = str(exc)
        except httpx.HTTPError as exc:
            ex.error = f"{type(exc).__name__}: {exc}"
        ex.elapsed_ms = int((time.monotonic() - started) * 1000)
        self.log.append(ex)
        return ex

    def call(self, page: Page | str, values: Mapping[str, str] | None = None, method: str = "GET", *,
             creds: Credentials | None = None, note: str = "") -> Exchange:
        """A correct request: encrypted and signed per the profile."""
        page = self.spec.page(page) if isinstance(page, str) else page
        creds = creds or self.creds
        pairs = encode_request(page, dict(values or {}), creds, self.profile)
        return self.send(page, pairs, method, creds=creds, note=note)
