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

from spec.errors import BusinessError, resolve
from spec.model import AccountView, Element, Page, Profile, Retcode, Spec
from spec.protocol import Credentials

from .drivers import Driver, DriverError
from .shared import RunShared
from .target import Exchange, Target

BOOK_EVENT = "book"  # transitions.yaml: the event that makes an order
# A clock read back may be told to the second (an HTTP Date header, an admin API without fractions).
CLOCK_SLACK_SECONDS = 1.0
_PUNCT = re.compile(r"[\s\"'“”‘’。，；,.;:：…（）()、!！]|\.\.\.")


def carries(message_zh: str, retmsg: str) -> bool:
    """Whether `retmsg` is the manual's message up to its placeholder (punctuation ignored)."""
    head = re.split(r"xxxx|ex|X", message_zh)[0]
    return _PUNCT.sub("", head) in _PUNCT.sub("", retmsg)


def _leaf_trails(elements: tuple[Element, ...], trail: tuple[Element, ...] = ()) -> list[tuple[Element, ...]]:
    """Each leaf element with the elements above it, in document order."""
    found: list[tuple[Element, ...]] = []
    for el in elements:
        found += _leaf_trails(el.children, trail + (el,)) if el.children else [trail + (el,)]
    return found


def says(words: str, retmsg: str) -> bool:
    """Whether `retmsg` carries a reason's words (tables/reasons.yaml), its {value}/{param} free and
    punctuation ignored."""
    got, at = _PUNCT.sub("", retmsg), 0
    for part in re.split(r"\{\w+\}", words):
        part = _PUNCT.sub("", part)
        found = got.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


def answers(page: Page, expected: Retcode, retcode: str | None, retmsg: str) -> bool:
    """Whether an answer is `expected`: its code, and where the page gives that code to several of
    its answers (every -1 of a page), its message up to the placeholder."""
    shared = sum(r.code == expected.code for r in page.retcodes) > 1
    return retcode == expected.code and (not shared or carries(expected.message_zh, retmsg))


class Failed(AssertionError):
    """The implementation broke the check's rule."""


class NotRun(Exception):
    """The check could not run here (driver, data, or a precondition the target refused)."""


class ShortBalance(NotRun):
    """The target refused a payment for the agent's balance: the target behaving correctly on an
    agent that cannot pay, so the check that needed the payment did not run."""


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
    shared: RunShared = field(default_factory=RunShared)  # what the run's checks share (seats, choices)
    exchanges: list[Exchange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    booked: list[tuple[str, Credentials | None]] = field(default_factory=list)  # orders made, and by whom
    _mode: str = field(default="", repr=False)  # scenic or theater, once known

    # ------------------------------------------------------------ calling

    def call(self, page: Page | str, values: Mapping[str, str] | None = None, method: str = "GET", *,
             creds: Credentials | None = None, note: str = "") -> Exchange:
        ex = self.target.call(page, values, method, creds=creds, note=note)
        self.exchanges.append(ex)
        self._made(ex, creds)
        return ex

    def send(self, page: Page | str, pairs: list[tuple[str, str]], method: str = "GET", *,
             creds: Credentials | None = None, note: str = "") -> Exchange:
        page = self.spec.page(page) if isinstance(page, str) else page
        ex = self.target.send(page, pairs, method, creds=creds, note=note)
        self.exchanges.append(ex)
        self._made(ex, creds)
        return ex

    def _made(self, ex: Exchange, creds: Credentials | None) -> None:
        """Keep the order an accepted booking made (a page of the spec's `book` event): the run
        closes it after the check (conformance.cleanup)."""
        if ex.retcode != "0" or not self.spec.has_page(ex.page):
            return
        page = self.spec.page(ex.page)
        if BOOK_EVENT not in page.behaviour.events:
            return
        path = next(("/".join(e.name for e in trail) for trail in _leaf_trails(page.response)
                     if trail[-1].name.lower().replace("_", "") == "orderid"), None)
        orderid = ex.envelope.text(path) if path else ""
        if orderid and (orderid, creds) not in self.booked:
            self.booked.append((orderid, creds))

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

    def ok(self, ex: Exchange, what: str = "", *, creds: Credentials | None = None) -> Exchange:
        """A call the check relies on must succeed; if it does not, the check cannot run."""
        if ex.status != 200 or ex.envelope is None or ex.retcode != "0":
            self.balance_refusal(ex, creds=creds)
            raise NotRun(f"{what or ex.page} did not succeed (retcode {ex.retcode}, {ex.retmsg or ex.error})")
        return ex

    def refused_for(self, ex: Exchange, key: str) -> bool:
        """Whether `ex` is its page's refusal for the error `key`: the page's own retcode of that key,
        else - a page that lists none (the book-and-pay pages for a short balance) - the retcode the
        page answers for it (the profile's fallback chain) carrying the reasons table's words for it."""
        if ex.envelope is None or ex.retcode in (None, "0") or not self.spec.has_page(ex.page):
            return False
        page = self.spec.page(ex.page)
        own = page.retcode(key)
        if own is not None:
            return answers(page, own, ex.retcode, ex.retmsg)
        words = self.spec.reason(key)
        return words is not None and ex.retcode == resolve(page, BusinessError(key), self.profile).code \
            and says(words.zh, ex.retmsg)

    def short_of(self, ex: Exchange) -> AccountView | None:
        """The agent account whose balance `ex` was refused for (its `insufficient` key,
        tables/accounts.yaml); None for any other answer."""
        return next((v for v in self.spec.accounts if v.insufficient and self.refused_for(ex, v.insufficient)), None)

    def balance_refusal(self, ex: Exchange, amount: str = "", *, creds: Credentials | None = None) -> None:
        """Raise ShortBalance when `ex` is a payment refused for the agent's balance, saying what the
        balance reads and what the order costs; nothing for any other answer."""
        view = self.short_of(ex)
        if view is None:
            return
        amount = amount or next((v for k, v in ex.plain.items() if (p := self.spec.page(ex.page).param(k)) is not None
                                 and (p.name.lower() == "money" or "金额" in p.label_zh)), "")
        balance = self.call(view.balance_page, {}, creds=creds, note=f"fixture: the {view.id} balance, after the refusal")
        read = balance.envelope.text(f"Item/{view.balance}") if balance.envelope is not None and balance.retcode == "0" \
            else f"unread: {balance.page} answered {balance.retcode or balance.error}"
        cure = "top it up" + (" (the driver's top-ups did not cover it)" if "events" in self.driver.capabilities
                              else " or run with --driver admin")
        raise ShortBalance(
            f"the agent's {view.id} balance ({read} on {view.balance_page} {view.balance}, before what its paid, "
            f"undelivered orders hold) is below the order total {amount or '(not in the request)'}: {ex.page} answered "
            f"{ex.retcode} {ex.retmsg}; {cure}")

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

    def plain_product(self, qty: int = 1) -> dict[str, str]:
        """The product without real-name constraint whose order of `qty` costs least (chosen once a
        run: conformance.catalog), for bookings that need just an order."""
        from .catalog import cheapest_plain  # the catalogue builds on this module

        return self.shared.once(("plain-product", self.target.creds.user, qty), lambda: cheapest_plain(self, qty))

    def book(self, *, days_ahead: int = 4, qty: int = 1, senderid: str = "", product: Mapping[str, str] | None = None,
             creds: Credentials | None = None, latest: int | None = None) -> tuple[str, Exchange]:
        """Book `qty` tickets of a plain product for `days_ahead` (on a theater, `qty` free seats of a
        show that day or, up to `latest` days ahead where given, later); returns (orderid, exchange)."""
        product = product or self.plain_product(qty)
        if self.mode() == "theater":
            from .shows import book_seats  # shows builds on this module

            return book_seats(self, days_ahead=days_ahead, qty=qty, senderid=senderid, product=product, creds=creds,
                              latest=latest)
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
        view = self.short_of(ex)
        if view is not None and "events" in self.driver.capabilities:
            self.fund(view.id, total)
            ex = self.call("UseAccountToPayByPwd.aspx", values, note="fixture: pay by deposit after a top-up")
        self.balance_refusal(ex, total)
        return self.ok(ex, "UseAccountToPayByPwd.aspx")

    def event(self, name: str, **body: Any) -> Mapping[str, Any]:
        self.needs("events")
        return self.driver.event(name, body)
