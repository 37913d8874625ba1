"""After a check: give back what the orders it booked hold. A paid order keeps its amount held on the
agent's account until it expires (2.5, 2.10), a delivered one has it debited (2.7), a booked one keeps
its seats and stock; a run books hundreds, and without a driver that tops the account up (--driver
none) the first checks' orders leave the later checks unable to pay. An order the spec lets the agent
close is cancelled, a delivered one has its ticket returned (4.2.54), each for the fee the target's
own rules charge (2.6), where no driver tops the accounts up. Refusals are fine here. A failed
check's orders stay as they are, for a person to look at."""

from __future__ import annotations

from .baseline import _asked, _value
from .context import CheckContext, NotRun

CANCEL_EVENT, RETURN_EVENT = "cancel", "ticket_refund"  # transitions.yaml: close the order, return a ticket
NOTE = "clean-up: give back what the order holds"


def close_orders(ctx: CheckContext) -> None:
    """Cancel or return each order the check booked, as the spec's transitions allow from its status.
    Its exchanges come after the verdict and are no evidence of it: a note says what was done. A driver
    that tops the accounts up (supplier events) leaves nothing to give back for: the orders stay, and
    the run is shorter."""
    if not ctx.booked or "events" in ctx.driver.capabilities:
        return
    kept = len(ctx.exchanges)
    try:
        _close(ctx)
    finally:
        done = [f"{ex.page} {ex.retcode}" for ex in ctx.exchanges[kept:] if ex.note == NOTE]
        del ctx.exchanges[kept:]
        ctx.notes.append(f"clean-up of the {len(ctx.booked)} orders booked: " + (", ".join(done) or "none to close"))


def _close(ctx: CheckContext) -> None:
    spec = ctx.spec
    ways = {}
    for event in (RETURN_EVENT, CANCEL_EVENT):  # an order in a status both allow is closed
        page = next((spec.page(n) for n in spec.event(event).pages if spec.has_page(n)
                     and spec.page(n).direction == "request"), None)
        if page is not None:
            ways.update({t.source: page for t in spec.transitions if t.event == event})
    for orderid, creds in ctx.booked:
        if creds is not None and creds != ctx.target.creds:
            continue  # values are derived through the first agent's pages: the second's orders stay
        try:
            page = ways.get(ctx.order_status(orderid))
            if page is None:
                continue
            # the values a baseline derives for this order (a ticket code from the order's ticket list)
            values = {p.name: _value(ctx, page, p, {"orderid": orderid}) for p in page.params if _asked(p)}
        except NotRun:
            continue
        ctx.call(page, values, note=NOTE)
