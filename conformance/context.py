"""What a check gets: the target, the spec, a driver for supplier-side events, and
fixtures that create the data a check needs through the target's own pages."""

from __future__ import annotations

import re
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from spec.model import Page, Profile, Retcode, Spec
from spec.protocol import Credentials

from .drivers import Driver, DriverError
from .target import Exchange, Target

# A clock read back may be told to the second (an HTTP Date header, an admin API without fractions).
CLOCK_SLACK_SECONDS = 1.0
_PUNCT = re.compile(r"[\s\"'“”‘’。，；,.;:：…（）()、!！]|\.\.\.")


def carries(message_zh: str, retmsg: str) -> bool:
    """Whether `retmsg` is the manual's message up to its placeholder (punctuation ignored)."""
    head = re.split(r"xxxx|ex|X", message_zh)[0]
    return _PUNCT.sub("", head) in _PUNCT.sub("", retmsg)


def answers(page: Page, expected: Retcode, retcode: str | None, retmsg: str) -> bool:
    """Whether an answer is `expected`: its code, and where the page gives that code to several of
    its answers (every -1 of a page), its message up to the placeholder."""
    shared = sum(r.code == expected.code for r in page.retcodes) > 1
    return retcode == expected.code and (not shared or carries(expected.message_zh, retmsg))


class Failed(AssertionError):
    """The implementation broke the check's rule."""


class NotRun(Exception):
    """The check could not run here (driver, data, or a precondition the target refused)."""


class NotApplicable(NotRun):
    """The check's rule does not concern this target: a page or feature of the other supplier mode.
    A NotRun, so that code falling back on a check that cannot run treats it alike."""


class Warned(Exception):
    """The target answered, but in a way the report should point out (not a rule break)."""


def verdict_of(exc: Exception, *, trace: bool = False) -> tuple[str, str]:
    """The verdict and message of a check that raised `exc`. Any other exception is a broken check,
    which must not look like a passing target: failed, with the last frames when `trace`."""
    if isinstance(exc, Failed):
        return "failed", str(exc)
    if isinstance(exc, Warned):
        return "warning", str(exc)
    if isinstance(exc, NotApplicable):
        return "not_applicable", str(exc)
    if isinstance(exc, NotRun):
        return "not_run", str(exc)
    if isinstance(exc, DriverError):
        return "not_run", f"driver: {exc}"
    message = f"check error: {type(exc).__name__}: {exc}"
    return "failed", message + "\n" + "".join(traceback.format_exception(exc, limit=3)) if trace else message


@dataclass
class CheckContext:
    spec: Spec
    profile: Profile
    target: Target
    driver: Driver
    other: Credentials | None = None  # a second agent, for isolation checks
    exchanges: list[Exchange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _mode: str = field(default="", repr=False)  # scenic or theater, once known

    # ------------------------------------------------------------ calling

    def call(self, page: Page | str, values: Mapping[str, str] | None = None, method: str = "GET", *,
             creds: Credentials | None = None, note: str = "") -> Exchange:
        ex = self.target.call(page, values, method, creds=creds, note=note)
        self.exchanges.append(ex)
        return ex

    def send(self, page: Page | str, pairs: list[tuple[str, str]], method: str = "GET", *,
             creds: Credentials | None = None, note: str = "") -> Exchange:
        page = self.spec.page(page) if isinstance(page, str) else page
        ex = self.target.send(page, pairs, method, creds=creds, note=note)
        self.exchanges.append(ex)
        return ex

    # ------------------------------------------------------------ verdict helpers

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise Failed(message)

    def envelope(self, ex: Exchange) -> None:
        """The answer must be HTTP 200 with a well-formed envelope (rule e)."""
        if ex.error and ex.status is None:
            raise NotRun(f"no answer from the target: {ex.error}")
        self.expect(ex.status == 200, f"{ex.page}: HTTP {ex.status}, expected 200")
        self.expect(ex.envelope is not None, f"{ex.page}: not a response envelope ({ex.error})")

    def ok(self, ex: Exchange, what: str = "") -> Exchange:
        """A call the check relies on must succeed; if it does not, the check cannot run."""
        if ex.status != 200 or ex.envelope is None or ex.retcode != "0":
            raise NotRun(f"{what or ex.page} did not succeed (retcode {ex.retcode}, {ex.retmsg or ex.error})")
        return ex

    def retcode_of(self, page: Page | str, key: str) -> str:
        page = self.spec.page(page) if isinstance(page, str) else page
        found = page.retcode(key)
        if found is None:
            raise NotRun(f"{page.page} lists no retcode {key!r}")
        return found.code

    def needs(self, capability: str) -> None:
        if capability not in self.driver.capabilities:
            raise NotRun(f"driver '{self.driver.name}' cannot {capability}")

    # ------------------------------------------------------------ fixtures through the target's pages

    def now(self) -> datetime:
        """The target's time (through the driver), in the profile's zone: dates the suite writes
        (effect dates, activation days) are the target's days, never this machine's."""
        return self.driver.now().astimezone(ZoneInfo(self.profile.fee_bands.timezone))

    def today(self) -> datetime:
        return self.now()

    def set_clock(self, when: datetime) -> float:
        """Set the target's clock through the driver and read it back; the seconds it has run since.
        A clock that reads back earlier than `when`, or later by more than the time the two calls
        took, does not keep the time it is given (a clock in another zone, say): the target's fault."""
        started = time.monotonic()
        self.driver.set_clock(when)
        back = self.now()
        took = time.monotonic() - started
        gap = (back - when).total_seconds()
        if gap < -CLOCK_SLACK_SECONDS or gap > took + CLOCK_SLACK_SECONDS:
            raise Failed(f"the target's clock was set to {when.isoformat()} and reads {back.isoformat()} "
                         f"{took:.3f} s later: {gap:+.3f} s off, beyond its own progress; it does not keep the "
                         "time it is set to (another time zone, or a clock that ignores the offset?)")
        return max(gap, 0.0)

    def mode(self) -> str:
        """scenic or theater, from the target's own GetProviderConfig (type 1 scenic, 2 theater)."""
        if not self._mode:
            ex = self.ok(self.call("GetProviderConfig.aspx", note="fixture: supplier type"), "GetProviderConfig.aspx")
            self._mode = "theater" if ex.envelope.text("Item/type") == "2" else "scenic"
        return self._mode

    def serves(self, page: Page | str) -> Page:
        """`page`, if the target's mode serves it; NotApplicable for a page of the other mode."""
        page = self.spec.page(page) if isinstance(page, str) else page
        if page.mode not in ("both", self.mode()):
            raise NotApplicable(f"{page.page} is a {page.mode} page; the target runs in {self.mode()} mode")
        return page

    def products(self) -> list[dict[str, str]]:
        """GetProducts (scenic) or, on a theater, GetProducts2 (one record per product and show)."""
        if self._mode != "theater":
            ex = self.call("GetProducts.aspx", note="fixture: products")
            if ex.retcode == "0" or self.mode() != "theater":
                self._mode = "scenic"
                self.ok(ex, "GetProducts.aspx")
                return [{c.tag: (c.text or "") for c in item} for item in ex.envelope.items()]
        ex = self.ok(self.call("GetProducts2.aspx", note="fixture: products of the shows"), "GetProducts2.aspx")
        return [{c.tag: (c.text or "") for c in item} for item in ex.envelope.items()]

    def plain_product(self) -> dict[str, str]:
        """A product without real-name constraint, for simple bookings."""
        for p in self.products():
            if p.get("needname", "0") != "1":
                return p
        raise NotRun("the target sells no product without real-name constraint")

    def book(self, *, days_ahead: int = 4, qty: int = 1, senderid: str = "", product: Mapping[str, str] | None = None,
             creds: Credentials | None = None) -> tuple[str, Exchange]:
        """Book `qty` tickets of a plain product (on a theater, `qty` free seats of a show); returns
        (orderid, exchange)."""
        product = product or self.plain_product()
        if self.mode() == "theater":
            from .shows import book_seats  # shows builds on this module

            return book_seats(self, days_ahead=days_ahead, qty=qty, senderid=senderid, product=product, creds=creds)
        day = (self.today() + timedelta(days=days_ahead)).strftime("%Y%m%d")
        values = {"Order_list": f"{product['productid']}|{qty}", "Mobile": "13800138000",
                  "ID": "110101199003071234", "SXRQ": day, "timespanindex": "-1"}
        if senderid:
            values["senderid"] = senderid
        ex = self.ok(self.call("OrderProducts.aspx", values, creds=creds, note="fixture: book"), "OrderProducts.aspx")
        return ex.envelope.text("Item/orderid"), ex

    def order_status(self, orderid: str, creds: Credentials | None = None) -> str:
        ex = self.ok(self.call("QueryOrder.aspx", {"order_id": orderid}, creds=creds, note="fixture: status"),
                     "QueryOrder.aspx")
        return ex.envelope.text("Item/orderstatus")

    def order_total(self, orderid: str) -> str:
        ex = self.ok(self.call("QueryOrder.aspx", {"order_id": orderid}, note="fixture: total"), "QueryOrder.aspx")
        return ex.envelope.text("Item/summary")

    def fund(self, account: str, amount: str) -> None:
        """Top the agent's `account` up by `amount` where the driver can (2.15, lines 415-417): a run
        pays for hundreds of orders, more than a test agent's balance covers."""
        if "events" in self.driver.capabilities and amount:
            self.event("top-up", user=self.target.creds.user, account=account, amount=amount, memo="ybx-conform")

    def pay_deposit(self, orderid: str, activate: bool = False) -> Exchange:
        if not self.target.creds.pay_password:
            raise NotRun("no pay password given (--pay-password)")
        total = self.order_total(orderid)
        values = {"Order_id": orderid, "money": total, "Smscode": self.target.creds.pay_password,
                  "smsModel": "0"}
        if activate:
            values.update({"activate": "1", "tickettype": "2"})
        ex = self.call("UseAccountToPayByPwd.aspx", values, note="fixture: pay by deposit")
        short = self.spec.page("UseAccountToPayByPwd.aspx").retcode("insufficient_deposit")
        if short is not None and ex.retcode == short.code:
            self.fund("deposit", total)
            ex = self.call("UseAccountToPayByPwd.aspx", values, note="fixture: pay by deposit after a top-up")
        return self.ok(ex, "UseAccountToPayByPwd.aspx")

    def event(self, name: str, **body: Any) -> Mapping[str, Any]:
        self.needs("events")
        return self.driver.event(name, body)
