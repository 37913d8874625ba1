"""The mock's view of one agent during a certification: its request journal
(`/_admin/journal`) and its callback outbox (`/_admin/callbacks`), read through the admin API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any, Mapping
from urllib.parse import quote

from .drivers import AdminDriver, DriverError
from .target import Exchange

PAGE_SIZE = 500


@dataclass(frozen=True)
class Finding:
    """One mistake the mock found in a request (the journal's judgement)."""

    mistake: str
    rule: str
    clause: str
    severity: str  # error | warning
    param: str | None
    message: str
    hint: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Finding":
        return cls(str(d["mistake"]), str(d.get("rule", "")), str(d.get("clause", "")), str(d.get("severity", "error")),
                   d.get("param"), str(d.get("message", "")), str(d.get("hint", "")))

    def as_dict(self) -> dict[str, Any]:
        return {"mistake": self.mistake, "rule": self.rule, "clause": self.clause, "severity": self.severity,
                "param": self.param, "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class Entry:
    """One request of the journal."""

    id: int
    at: str
    agent: str | None
    method: str
    path: str
    page: str | None
    http_status: int
    retcode: str | None
    retmsg: str | None
    params: tuple[tuple[str, str], ...]
    values: Mapping[str, str] = field(hash=False)
    findings: tuple[Finding, ...] = ()

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Entry":
        return cls(int(d["id"]), str(d.get("at", "")), d.get("agent"), str(d.get("method", "GET")), str(d.get("path", "")),
                   d.get("page"), int(d.get("http_status") or 0), d.get("retcode"), d.get("retmsg"),
                   tuple((str(k), str(v)) for k, v in d.get("params") or ()),
                   {str(k): "" if v is None else str(v) for k, v in (d.get("values") or {}).items()},
                   tuple(Finding.from_json(f) for f in d.get("findings") or ()))

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    def value(self, name: str) -> str | None:
        return next((v for k, v in self.values.items() if k.lower() == name.lower()), None)

    def evidence(self, base_url: str, why: str = "") -> dict[str, Any]:
        url = base_url.rstrip("/") + self.path
        curl = Exchange(self.page or self.path, self.method, url, list(self.params), {}).curl()
        out = {"entry": self.id, "at": self.at, "agent": self.agent, "method": self.method, "page": self.page, "path": self.path,
               "params": [list(p) for p in self.params], "http_status": self.http_status, "retcode": self.retcode,
               "retmsg": self.retmsg, "curl": curl, "findings": [f.as_dict() for f in self.findings]}
        if why:
            out["why"] = why
        return out


@dataclass(frozen=True)
class Delivery:
    """One callback of the mock's outbox with its delivery attempts."""

    id: int
    agent: str
    orderid: str
    page: str
    params: Mapping[str, Any] = field(hash=False)
    event_at: str = ""
    state: str = ""
    attempts: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Delivery":
        return cls(int(d["id"]), str(d.get("agent", "")), str(d.get("orderid", "")), str(d.get("page", "")),
                   dict(d.get("params") or {}), str(d.get("event_at", "")), str(d.get("state", "")),
                   tuple(dict(a) for a in d.get("attempts_log") or ()))

    def answered(self, retcode: str) -> bool:
        return any(a.get("http_status") == 200 and str(a.get("retcode")) == retcode for a in self.attempts)

    def evidence(self, why: str = "") -> dict[str, Any]:
        out = {"callback": self.id, "orderid": self.orderid, "page": self.page, "params": dict(self.params),
               "event_at": self.event_at, "state": self.state,
               "attempts": [{k: a.get(k) for k in ("at", "url", "http_status", "retcode", "error", "duration_ms")}
                            for a in self.attempts]}
        if why:
            out["why"] = why
        return out


@dataclass
class Window:
    """What the mock recorded for the agent since the run began (or since `--since`)."""

    admin: AdminDriver
    agent: str
    since: str | None = None
    local: tzinfo = timezone.utc  # the supplier's zone: outbox stamps carry no offset
    after_id: int = 0
    callbacks_after: int = 0
    entries: list[Entry] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def _page(self, after: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"agent": self.agent, "after_id": after, "limit": PAGE_SIZE}
        if self.since:
            params["since"] = self.since
        return list(self.admin.get_json("/journal", params))

    def skip_past(self) -> None:
        """Start the window now: whatever the journal and the outbox hold already is not this run's."""
        while batch := self._page(self.after_id):
            self.after_id = max(int(d["id"]) for d in batch)
            if len(batch) < PAGE_SIZE:
                break
        self.callbacks_after = max((int(d["id"]) for d in self.admin.get_json("/callbacks")), default=0)

    def strangers(self, known: set[str], start_id: int) -> list[Entry]:
        """Requests of the same period, with findings, under a user name the mock does not know: a client
        configured with the wrong user never reaches its own journal otherwise."""
        params: dict[str, Any] = {"only": "findings", "after_id": start_id, "limit": PAGE_SIZE}
        if self.since:
            params["since"] = self.since
        found = (Entry.from_json(d) for d in self.admin.get_json("/journal", params))
        return [e for e in found if e.agent not in known]

    def poll(self) -> list[Entry]:
        """Fetch the journal entries recorded since the last poll."""
        new: list[Entry] = []
        while batch := self._page(self.after_id):
            new.extend(Entry.from_json(d) for d in batch)
            self.after_id = max(int(d["id"]) for d in batch)
            if len(batch) < PAGE_SIZE:
                break
        self.entries.extend(new)
        return new

    def refresh_callbacks(self, flush: bool) -> None:
        if flush:
            self.admin.flush_callbacks()
        since = when(self.since, self.local) if self.since else None
        if since is not None:  # outbox stamps have whole seconds: keep the second `since` falls in
            since = since.replace(microsecond=0)
        items = [Delivery.from_json(d) for d in self.admin.get_json("/callbacks")]
        self.deliveries = [d for d in items if d.agent == self.agent and d.id > self.callbacks_after
                           and (since is None or (when(d.event_at, self.local) or since) >= since)]

    def order(self, orderid: str) -> Mapping[str, Any] | None:
        """The supplier's record of one of the agent's orders (another agent's is as good as none)."""
        try:
            order = dict(self.admin.get_json(f"/orders/{quote(orderid, safe='')}"))
        except DriverError:
            return None
        return order if order.get("agent", self.agent) == self.agent else None


def when(text: str, local: tzinfo = timezone.utc) -> datetime | None:
    """An ISO 8601 instant or a yyyyMMddHHmmss stamp (read in `local`), as a comparable datetime."""
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%Y%m%d%H%M%S")):
        try:
            when = parse(text)
        except ValueError:
            continue
        return when if when.tzinfo else when.replace(tzinfo=local)
    return None


# ---------------------------------------------------------------- judging
