"""Test kit for the mock: an in-memory mock on a frozen clock, and an OTA client that signs,
encrypts and parses like an integrator following the default profile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from starlette.testclient import TestClient

from mockserver.app import create_app
from mockserver.context import Mock
from mockserver.server import Settings, build_mock
from spec import wire
from spec.clock import FrozenClock
from spec.model import Spec
from spec.protocol import Credentials, encode_request

DEMO = Credentials("demo-ota", "demo-pass", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "123456")
OTHER = Credentials("other-ota", "other-pass", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "654321")
DISABLED = Credentials("disabled-ota", "disabled-pass", "9b2f8c1e-6d3a-4f5b-8e7c-1a2b3c4d5e6f", "111111")
# 2026-11-21 10:00 in Asia/Shanghai
START = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)


def make_mock(spec: Spec, *, db: str = ":memory:", faults: tuple[str, ...] = (), world: Path | None = None,
              now: datetime = START) -> Mock:
    return build_mock(Settings(db=db, faults=faults, world=world), spec=spec, clock=FrozenClock(now))


@dataclass
class Ota:
    """An integrator: calls a page with plain values, gets the parsed, verified envelope."""

    mock: Mock
    client: TestClient
    creds: Credentials = DEMO

    def as_(self, creds: Credentials) -> "Ota":
        return Ota(self.mock, self.client, creds)

    def raw(self, page: str, values: Mapping[str, str], *, post: bool = False, sign: bool = True):
        p = self.mock.spec.page(page)
        pairs = encode_request(p, dict(values), self.creds, self.mock.spec.profile())
        if not sign:
            pairs = [(k, v) for k, v in pairs if k != "sign"]
        if post:
            return self.client.post(f"/POST/{p.page}", data=dict(pairs))
        return self.client.get(f"/{p.page}", params=pairs)

    def call(self, page: str, values: Mapping[str, str] | None = None, *, post: bool = False) -> wire.Envelope:
        response = self.raw(page, values or {}, post=post)
        assert response.status_code == 200, response.text
        env = wire.parse(response.content, self.mock.spec.profile().response)
        assert env.verify(self.creds.key, self.mock.spec.profile().response), response.text
        return env

    def book(self, order_list: str = "P1001|2", day: str = "20261125", **extra: str) -> str:
        values = {"Order_list": order_list, "Mobile": "13800138000", "ID": "110101199003071234", "SXRQ": day,
                  "timespanindex": "-1", **extra}
        env = self.call("OrderProducts.aspx", values)
        assert env.retcode == "0", env.retmsg
        return env.text("Item/orderid")

    def status(self, orderid: str) -> str:
        return self.call("QueryOrder.aspx", {"order_id": orderid}).text("Item/orderstatus")

    def advance(self, seconds: float) -> None:
        self.mock.clock.advance(seconds)


def make_ota(spec: Spec, **kwargs) -> Ota:
    mock = make_mock(spec, **kwargs)
    return Ota(mock, TestClient(create_app(mock)))
