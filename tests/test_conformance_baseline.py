"""Baseline requests read what they need from the target's own pages, as the spec says where a
value comes from: ticket codes after delivery, pay channels, the agent's unit, SMS codes (paced by
the target's clock where a code is agent-wide); list pages get what they list first; pages that pay
get the money first. The checks that run this way fail when the target breaks their rule."""

from __future__ import annotations

import re

import pytest
from livemock import live_mock
from mockkit import DEMO, OTHER

from conformance import baseline as bl
from conformance.drivers import AdminDriver, Driver
from conformance.registry import all_checks
from conformance.runner import RunConfig, run
from spec.errors import ParamError, resolve

# Pages whose protocol checks could not run before their values were read from the target.
PAGES = ("ActivateTicket.aspx", "ApplyRefund.aspx", "BeginToPay.aspx", "ChangePayPwd.aspx", "GetSPYDRec.aspx",
         "GetTicketContext.aspx", "GetVerificationCode.aspx", "OrderRefundDeal.aspx", "QueryFKJYRec.aspx",
         "QueryTicketCheckList.aspx", "QueryYFKJYRec.aspx", "RefundTicket.aspx", "RevokeOrder.aspx",
         "UseAccountToPayByFK.aspx", "UseAccountToPayByFKWithPwd.aspx", "OrderAndPayWithFK.aspx")
CATEGORIES = ("signature", "encryption", "parameters", "schema")
# Optional parameters the encryption checks add with a sample value that cannot be correct: a
# real-name list for an order booked without one; a product filter naming no product delivered.
STILL_NOT_RUN = {"encryption.plain.ActivateTicket.memo", "encryption.wrong-key.ActivateTicket.memo",
                 "encryption.plain.GetSPYDRec.TicketTypeID", "encryption.wrong-key.GetSPYDRec.TicketTypeID"}
# The mock's handlers refuse these emptied values themselves, with the page's own message, whatever
# the ignore-required switch turns off in its pipeline: the checks pass there, rightly.
HANDLER_ENFORCED = {"parameters.missing.ActivateTicket.activateall", "parameters.missing.ActivateTicket.tickettype",
                    "parameters.missing.BeginToPay.Order_id", "parameters.missing.OrderAndPayWithFK.order_list",
                    "parameters.missing.OrderAndPayWithFK.sxrq", "parameters.missing.OrderRefundDeal.orderid",
                    "parameters.missing.RevokeOrder.total_fee"}
FAULTS = {
    "accept-bad-sign": ("signature.missing.", "signature.wrong.", "signature.tampered."),
    "wrong-response-sign": ("signature.valid.",),
    "accept-plaintext": ("encryption.plain.",),
    "case-sensitive-names": ("parameters.case-insensitive.",),
    "ignore-required": ("parameters.missing.",),
}


def _checks(spec, prefixes=None):
    found = [c for c in all_checks(spec) if c.page in PAGES and c.category in CATEGORIES
             and not c.id.startswith("schema.mode.")]
    return [c for c in found if prefixes is None or c.id.startswith(prefixes)]


def _run(spec, checks, faults=(), driver=None) -> dict[str, dict]:
    with live_mock(spec, faults) as live:
        config = RunConfig(live.base_url, DEMO, spec, spec.profile(),
                           driver or AdminDriver(live.admin_url, live.token), OTHER, workers=4)
        return {r["id"]: r for r in run(config, checks)["checks"]}


@pytest.fixture(scope="module")
def healthy(spec) -> dict[str, dict]:
    return _run(spec, _checks(spec))


# ------------------------------------------------------------------ where values come from (the spec alone)


def test_sources_are_read_from_the_spec(spec):
    def first(page, param):
        s = bl.sources(spec, spec.page(page), spec.page(page).param(param))[0]
        return s.page.page, s.element

    assert first("BeginToPay.aspx", "Paychannelid") == ("GetPayChannel.aspx", "paychannelid")  # named in its note
    assert first("ChangePayPwd.aspx", "ZFDH") == ("GetVerificationCode.aspx", "order_id")  # page and element noted
    assert first("ChangePayPwd.aspx", "YZM") == ("GetVerificationCode.aspx", None)  # an SMS that page sends
    assert first("UseAccountToPay.aspx", "SmsCode") == ("ReadyToPay.aspx", None)  # obtained_from
    assert first("GetVerificationCode.aspx", "DWID") == ("QueryYFKRec.aspx", "DWID")  # read-only, asks least
    for page in ("GetTicketContext.aspx", "QueryTicketCheckList.aspx", "RefundTicket.aspx"):
        assert first(page, "ticketcode") == ("GetTicketList.aspx", "ticketcode")  # not a page needing a code itself


def test_only_pages_calling_an_agent_wide_code_page_are_paced(spec):
    assert {p.page for p in spec.request_pages if bl.paced(spec, p)} == {"GetVerificationCode.aspx",
                                                                          "ChangePayPwd.aspx"}
    # ReadyToPay refuses resends too, but per order: its pages run side by side
    assert not bl.paced(spec, spec.page("UseAccountToPay.aspx"))


def test_windows_run_from_today_and_a_new_id_number_is_valid(spec):
    assert bl._bound("起始日期时间") == "start" and bl._bound("交割截止日期") == "end" and bl._bound("生效日期") == ""
    ids = {bl.fresh_ids("110101199003071234^张三^13800138000^1^1").split("^")[0] for _ in range(20)}
    assert len(ids) > 15
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    for n in ids:
        check = "10X98765432"[sum(int(d) * w for d, w in zip(n, weights)) % 11]
        assert re.fullmatch(r"\d{17}[\dX]", n) and n[-1] == check


# ------------------------------------------------------------------ against the mock


def test_the_pages_checks_run_and_pass(spec, healthy):
    failed = {i: r["message"][:200] for i, r in healthy.items() if r["verdict"] == "failed"}
    assert not failed, failed
    not_run = {i: r["message"][:200] for i, r in healthy.items() if r["verdict"] != "passed" and i not in STILL_NOT_RUN}
    assert not not_run, not_run
    pages = [[e["page"] for e in healthy[f"signature.valid.{p[:-5]}"]["exchanges"]] for p in PAGES]
    assert all(pages)


def test_values_come_from_the_targets_own_pages(healthy):
    def pages(check_id):
        return [e["page"] for e in healthy[check_id]["exchanges"]]

    assert "GetTicketList.aspx" in pages("signature.valid.GetTicketContext")  # a ticket of a delivered order
    assert "ActivateTicket.aspx" in pages("signature.valid.RefundTicket")  # delivered first
    assert "GetPayChannel.aspx" in pages("signature.valid.BeginToPay")
    assert "QueryYFKRec.aspx" in pages("signature.valid.GetVerificationCode")
    change = healthy["signature.valid.ChangePayPwd"]
    assert "GetVerificationCode.aspx" in pages("signature.valid.ChangePayPwd")
    assert any("clock moved" in n for n in change["notes"])
    refund = healthy["signature.valid.OrderRefundDeal"]  # brought to a refund application through the driver
    assert any("apply-refund" in n for n in refund["notes"]), refund["notes"]


def _sharp(spec, chk) -> bool:
    """Whether the fault can show through the check: a 3DES field (the fault leaves passwords alone);
    a missing parameter whose answer is not the generic 调用失败，失败原因：ex, which any later refusal
    of the emptied value also carries."""
    if chk.id.startswith("encryption.plain."):
        return spec.page(chk.page).param(chk.id.rsplit(".", 1)[1]).encryption == "3des"
    if chk.id.startswith("parameters.missing."):
        name = chk.id.rsplit(".", 1)[1]
        return resolve(spec.page(chk.page), ParamError(f"{name.lower()}_missing", param=name), spec.profile()).key \
            != "call_failed"
    return True


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_check_fails_under_the_fault_of_its_rule(spec, healthy, fault):
    chosen = [c for c in _checks(spec, FAULTS[fault]) if healthy[c.id]["verdict"] == "passed" and _sharp(spec, c)
              and c.id not in HANDLER_ENFORCED]
    assert len({c.page for c in chosen}) >= 3, chosen
    results = _run(spec, chosen, (fault,))
    missed = {c.id: results[c.id]["message"][:160] for c in chosen if results[c.id]["verdict"] != "failed"}
    assert not missed, missed


def test_without_a_clock_the_paced_pages_say_why(spec):
    chosen = [c for c in _checks(spec, ("signature.valid.",)) if c.page in ("ChangePayPwd.aspx",
                                                                             "GetVerificationCode.aspx")]
    results = _run(spec, chosen, driver=Driver())
    assert {r["verdict"] for r in results.values()} == {"not_run"}
    assert all("driver 'none' cannot" in r["message"] for r in results.values()), results
