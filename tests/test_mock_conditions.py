"""Parameters required only in a supplier setting (the spec's `required_when`): timespanindex on the
booking pages and ActivateTicket while GetProviderConfig answers sublevelmode 1 (timed entry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockkit import make_ota
from mockserver import conditions

WORLD = Path(__file__).resolve().parent.parent / "mockserver" / "worlds" / "scenic.yaml"
DAY = "20261123"
BOOK = {"Order_list": "P1001|2", "Mobile": "13800138000", "ID": "110101199003071234", "SXRQ": DAY}
YDJ = {"Order_list": "P1001|2", "mobile": "13800138000", "ID": "110101199003071234", "SXRQ": DAY, "SmsCode": "123456",
       "money": "200.00", "smsModel": "0"}
BOOKING_PAGES = {"OrderProducts.aspx": BOOK, "OrderAndPayWithYDJ.aspx": YDJ}


def refusal(spec, page_name: str) -> tuple[str, str]:
    """The retcode the page's gap names for a request without timespanindex in timed mode."""
    page = spec.page(page_name)
    retcode = page.retcode(page.gap(page.param("timespanindex").required_when.gap).value)
    return retcode.code, retcode.message_zh


def count(ota, sql: str) -> int:
    with ota.mock.store.reading() as db:
        return db.execute(sql).fetchone()[0]


def untimed(spec, tmp_path: Path):
    """A mock of the shipped scenic world without timed entry (GetProviderConfig sublevelmode 0)."""
    text = WORLD.read_text(encoding="utf-8")
    assert text.count("timed_entry: true") == 1
    path = tmp_path / "untimed.yaml"
    path.write_text(text.replace("timed_entry: true", "timed_entry: false"), encoding="utf-8")
    return make_ota(spec, world=path)


@pytest.fixture
def ota(spec):
    return make_ota(spec)


def test_the_spec_names_the_setting_and_the_refusal(spec):
    for name in ("OrderProducts.aspx", "OrderAndPayWithYDJ.aspx", "ActivateTicket.aspx"):
        cond = spec.page(name).param("timespanindex").required_when
        assert (cond.page, cond.element, cond.value) == ("GetProviderConfig.aspx", "Item/sublevelmode", "1"), name
        assert spec.page(name).param("timespanindex").required is False
    assert refusal(spec, "OrderProducts.aspx") == ("-1501", "参数错误")
    assert refusal(spec, "OrderAndPayWithYDJ.aspx") == ("-1501", "参数错误")


def test_the_setting_is_read_from_the_mocks_own_getproviderconfig(ota, tmp_path):
    cond = ota.mock.spec.page("OrderProducts.aspx").param("timespanindex").required_when
    for kit, sublevelmode in ((ota, "1"), (untimed(ota.mock.spec, tmp_path), "0")):
        assert kit.call("GetProviderConfig.aspx").text("Item/sublevelmode") == sublevelmode
        assert conditions.setting(kit.mock, kit.mock.world.agent("demo-ota"), cond) == sublevelmode


@pytest.mark.parametrize("page", sorted(BOOKING_PAGES))
@pytest.mark.parametrize("given", [None, ""], ids=["absent", "empty"])
def test_a_booking_without_timespanindex_in_timed_mode_is_refused(ota, page, given):
    values = dict(BOOKING_PAGES[page], XCDDH="T-1") if page != "OrderProducts.aspx" else dict(BOOKING_PAGES[page])
    if given is not None:
        values["timespanindex"] = given
    env = ota.call(page, values)
    assert (env.retcode, env.retmsg) == refusal(ota.mock.spec, page)
    assert count(ota, "SELECT COUNT(*) FROM orders") == 0
    assert count(ota, "SELECT COALESCE(SUM(used), 0) FROM segment_use") == 0
    with ota.mock.store.reading() as db:
        assert str(ota.mock.store.agent(db, "demo-ota").deposit_held) == "0.00"


@pytest.mark.parametrize("page", sorted(BOOKING_PAGES))
def test_a_booking_with_a_slot_or_outside_timed_mode_is_accepted(ota, page, tmp_path):
    extra = {"XCDDH": "T-2"} if page != "OrderProducts.aspx" else {}
    assert ota.call(page, {**BOOKING_PAGES[page], **extra, "timespanindex": "-1"}).retcode == "0"
    assert untimed(ota.mock.spec, tmp_path).call(page, {**BOOKING_PAGES[page], **extra}).retcode == "0"


def test_activation_without_timespanindex_in_timed_mode_is_refused(ota):
    orderid = ota.call("OrderAndPayWithYDJ.aspx", {**YDJ, "XCDDH": "T-4", "timespanindex": "-1"}).text("Item/Order_id")
    page = ota.mock.spec.page("ActivateTicket.aspx")
    expected = page.retcode(page.gap(page.param("timespanindex").required_when.gap).value)
    env = ota.call("ActivateTicket.aspx", {"orderid": orderid, "activateall": "1", "activatedate": DAY,
                                           "tickettype": "2", "activatemode": "1"})
    assert (env.retcode, env.retmsg) == (expected.code, expected.message_zh)
    assert ota.status(orderid) == "2"


def test_the_fault_switch_chooses_a_slot_silently_as_before(spec):
    ota = make_ota(spec, faults=("ignore-required-when",))
    orderid = ota.call("OrderProducts.aspx", BOOK).text("Item/orderid")
    assert orderid
    with ota.mock.store.reading() as db:
        assert db.execute("SELECT timespanindex FROM orders WHERE orderid=?", (orderid,)).fetchone()[0] is not None


def test_the_one_step_rebate_page_has_no_slot_parameter_and_takes_the_earliest(ota):
    # gap orderandpaywithfk-timed-slot: nothing can be required that the page cannot carry
    env = ota.call("OrderAndPayWithFK.aspx", {"order_list": "P1001|2", "mobile": "13800138000",
                                              "id": "110101199003071234", "sxrq": DAY, "smscode": "123456",
                                              "money": "200.00", "smsmodel": "0", "senderid": "FK-1"})
    assert env.retcode == "0", env.retmsg
    assert count(ota, "SELECT COUNT(*) FROM orders WHERE timespanindex IS NOT NULL") == 1
