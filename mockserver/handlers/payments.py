"""Deposit (预订金) and rebate (返款余额) payment authorisation: by SMS code (4.2.13, 4.2.14,
4.2.23, 4.2.24), by pay password (4.2.27, 4.2.50), booked and paid in one call (4.2.37,
4.2.46), and the pay password itself (4.2.25, 4.2.26)."""

from __future__ import annotations

import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable

from spec.errors import BusinessError, ParamError, StateError

from .. import booking, delivery, ledger, machine
from ..context import Call, Mock
from ..store import Store, money
from . import handles

DAY = "%Y%m%d"
# 4.2.23 (line 5043) gives the rebate code 600 s where 4.2.13 gives the deposit code 6 minutes;
# the password-change code borrows the rebate values (gap getverificationcode-validity-unstated).
REBATE_CODE_TTL_SECONDS = 600
PAY_PASSWORD_CODE = "pay_password_code"
# smsModel (4.2.27 line 5767): 0 pickup notice (the 2.17 支付成功 notice), 1 voucher MMS, 2 both, A nothing.
# The MMS shares ReMakeTicket's purpose so that its 5-minute resend interval counts from it.
NOTICES = {"0": ("paid",), "1": ("voucher_mms",), "2": ("paid", "voucher_mms"), "A": ()}


@dataclass(frozen=True)
class Account:
    name: str  # ledger account and payment type
    event: str  # transitions.yaml event of the authorisation
    code_purpose: str  # sms.purpose of its verification codes
    not_allowed: tuple[str, ...]  # retcode keys of a missing payment permission, preferred first
    sibling: str  # the pay-password page whose retcodes word this account's refusals
    label_zh: str


DEPOSIT = Account("deposit", "pay_deposit", "pay_deposit_code", ("deposit_pay_not_allowed", "deposit_not_enabled"),
                  "UseAccountToPayByPwd.aspx", "预订金支付授权")
REBATE = Account("rebate", "pay_rebate", "pay_rebate_code", ("rebate_pay_not_allowed", "fk_pay_not_enabled"),
                 "UseAccountToPayByFKWithPwd.aspx", "返款余额支付授权")


@dataclass(frozen=True)
class CodePolicy:
    purpose: str
    ttl: int
    resend: int
    strictly_after: bool  # 4.2.23 "需大于60秒" versus 4.2.13 "间隔是一分钟"
    max_resends: int


def deposit_codes(mock: Mock) -> CodePolicy:
    s = mock.world.supplier
    return CodePolicy(DEPOSIT.code_purpose, s.sms_code_ttl_seconds, s.sms_code_resend_seconds, False,
                      s.sms_code_max_resends)


def rebate_codes(mock: Mock, purpose: str = REBATE.code_purpose) -> CodePolicy:
    s = mock.world.supplier
    return CodePolicy(purpose, REBATE_CODE_TTL_SECONDS, s.sms_code_resend_seconds, True, s.sms_code_max_resends)


# ------------------------------------------------------------------ refusals


def refuse(mock: Mock, call: Call, account: Account | None, *keys: str, detail: str = "") -> BusinessError:
    """A refusal under the first of `keys` the page lists. The one-step pages list none of the
    payment refusals (gaps orderandpaywithydj-no-payment-retcodes, orderandpaywithfk-no-auth-retcodes):
    they answer call_failed, worded as the account's pay-password page words that refusal."""
    for key in keys:
        if call.page.retcode(key):
            return BusinessError(key, detail)
    sibling = mock.spec.page(account.sibling).retcode(keys[0]) if account else None
    if sibling is not None:
        return BusinessError("call_failed", detail, reason=sibling.message_zh.rstrip("。.；;"))
    return BusinessError(keys[0], detail)  # the page's fallback, worded by the spec's reasons table


def _opt(call: Call, name: str) -> str:
    """A parameter some of the pages sharing a handler do not have."""
    return call.get(name) if call.page.param(name) else ""


def check_permission(mock: Mock, call: Call, account: Account) -> None:
    if account.name not in call.agent.pay_types:
        raise refuse(mock, call, account, *account.not_allowed,
                     detail=f"{call.agent.user} may not pay by {account.name}")


def check_amount(mock: Mock, call: Call, account: Account, order: sqlite3.Row) -> None:
    """money must equal the order total, compared as decimals (gap useaccounttopay-money-format)."""
    try:
        given = Decimal(call.get("money").strip())
    except InvalidOperation:
        given = None
    if given is None or not given.is_finite() or given != money(order["total"]):
        raise refuse(mock, call, account, "wrong_amount", detail=f"money {call.get('money')!r} != {order['total']}")


def payable(mock: Mock, order: sqlite3.Row | None, account: Account) -> bool:
    return order is not None and bool(mock.spec.transitions_from(order["status"], account.event, account.name))


def payable_order(mock: Mock, db: sqlite3.Connection, call: Call, account: Account) -> sqlite3.Row:
    order = machine.load(db, call.get("Order_id"), call.agent.user)
    if not payable(mock, order, account):
        raise StateError("order_not_found_or_not_booking", call.get("Order_id"))
    return order


def check_tickettype(call: Call) -> None:
    """tickettype must come with activate, even activate=0 (gap useaccounttopay-activate-values)."""
    if _opt(call, "activate") and not _opt(call, "tickettype"):
        raise ParamError("bad_params", "tickettype is required with activate", param="tickettype")


def check_pay_password(mock: Mock, db: sqlite3.Connection, call: Call, account: Account, given: str) -> None:
    """`given` arrives as UPPER(MD5(pay password)), decrypted by the pipeline."""
    stored = Store.agent(db, call.agent.user).pay_password_md5
    if not stored:
        raise refuse(mock, call, account, "pay_password_not_set")
    if not hmac.compare_digest(given.upper().encode(), stored.upper().encode()):
        raise refuse(mock, call, account, "bad_pay_password", detail="pay password does not match")


# ------------------------------------------------------------------ verification codes


def _latest_code(db: sqlite3.Connection, agent: str, purpose: str, orderid: str | None) -> sqlite3.Row | None:
    sql, args = "SELECT * FROM sms WHERE agent=? AND purpose=?", [agent, purpose]
    if orderid is not None:
        sql, args = sql + " AND orderid=?", [*args, orderid]
    return db.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()


def _age(mock: Mock, row: sqlite3.Row) -> float:
    return (mock.now() - machine.parse_stamp(row["at"], mock)).total_seconds()


def agent_mobile(mock: Mock, call: Call) -> str:
    """The registered mobile NumIndex selects (0 mobile 1, 1 mobile 2); either may receive codes
    (gaps readytopay-numindex-vs-phone1, getverificationcode-mobile1-only)."""
    index = int(_opt(call, "NumIndex") or "0")
    mobiles = call.agent.mobiles
    if index >= len(mobiles) or not mobiles[index]:
        raise refuse(mock, call, None, "agent_mobile_empty", detail=f"no mobile {index + 1} registered")
    return mobiles[index]


def send_code(mock: Mock, db: sqlite3.Connection, call: Call, policy: CodePolicy, mobile: str, orderid: str | None,
              what: str) -> str:
    """Send a code, or a new code for the same purpose (a resend); returns the sms row's orderid.
    A password-change code (orderid None) gets a new document number as its orderid."""
    last = _latest_code(db, call.agent.user, policy.purpose, orderid)
    if last is not None:
        age = _age(mock, last)
        if age < policy.resend or (policy.strictly_after and age <= policy.resend):
            raise refuse(mock, call, None, "resend_too_frequent", detail=f"last code {int(age)} s ago")
    code = f"{secrets.randbelow(10 ** 6):06d}"
    now = mock.now()
    minutes = policy.ttl // 60
    if last is not None and not last["used"]:
        if last["sends"] > policy.max_resends:
            raise refuse(mock, call, None, "too_many_resends", "resend_too_many",
                         detail=f"{last['sends'] - 1} resends already")
        text = _code_text(mock, code, what, last["orderid"], minutes)
        db.execute("UPDATE sms SET code=?, text=?, mobile=?, at=?, sends=sends+1 WHERE id=?",
                   (code, text, mobile, machine.stamp(now), last["id"]))
        return last["orderid"]
    cur = db.execute("INSERT INTO sms(agent, mobile, text, code, purpose, orderid, at) VALUES(?,?,?,?,?,?,?)",
                     (call.agent.user, mobile, "", code, policy.purpose, orderid or "", machine.stamp(now)))
    orderid = orderid or f"{now.strftime(DAY)}{cur.lastrowid:08d}"  # ZFDH is String(20) (4.2.26)
    db.execute("UPDATE sms SET orderid=?, text=? WHERE id=?",
               (orderid, _code_text(mock, code, what, orderid, minutes), cur.lastrowid))
    return orderid


def _code_text(mock: Mock, code: str, what: str, orderid: str, minutes: int) -> str:
    return f"【{mock.world.supplier.providername}】验证码{code}，用于{what}（单号{orderid}），{minutes}分钟内有效。"


def use_code(mock: Mock, db: sqlite3.Connection, call: Call, account: Account | None, policy: CodePolicy,
             orderid: str, given: str, *, wrong: str, expired: str) -> None:
    """Consume the latest unused code of `orderid`; a wrong one is checked before its age."""
    row = db.execute("SELECT * FROM sms WHERE agent=? AND purpose=? AND orderid=? AND used=0 "
                     "ORDER BY id DESC LIMIT 1", (call.agent.user, policy.purpose, orderid)).fetchone()
    if row is None or not hmac.compare_digest(row["code"].encode(), given.strip().encode()):
        raise refuse(mock, call, account, wrong, detail="verification code does not match")
    if _age(mock, row) > policy.ttl:
        raise refuse(mock, call, account, expired, detail=f"code older than {policy.ttl} s")
    db.execute("UPDATE sms SET used=1 WHERE id=?", (row["id"],))


# ------------------------------------------------------------------ authorisation


def wants_activation(mock: Mock, call: Call) -> bool:
    """Direct activation: payandactive, forced (activateable 2) or asked for
    (gap orderandpaywithydj-activation-default)."""
    s = mock.world.supplier
    return s.payandactive or s.activateable == "2" or _opt(call, "activate") == "1"


def _all_id_cards(db: sqlite3.Connection, order: sqlite3.Row) -> bool:
    rows = db.execute("SELECT i.num, (SELECT COUNT(*) FROM realnames r WHERE r.orderid=i.orderid AND r.item_seq=i.seq "
                      "AND r.idtype='1') AS named FROM order_items i WHERE i.orderid=?", (order["orderid"],)).fetchall()
    return all(r["named"] >= r["num"] for r in rows)


def activation_medium(mock: Mock, db: sqlite3.Connection, call: Call, order: sqlite3.Row) -> str:
    """The medium of a direct activation, or a refusal that fails the whole authorisation (4.2.14 line 3805)."""
    s = mock.world.supplier
    if s.activateable == "0" and not s.payandactive:
        raise refuse(mock, call, None, "remote_activation_disabled", detail="remote activation is not allowed (activateable 0)")
    named = _all_id_cards(db, order)
    # Without tickettype the provider's own setting decides (gap orderandpaywithydj-tickettype-values).
    wanted = _opt(call, "tickettype") or {"1": "1", "2": "2"}.get(s.tickettype) or ("1" if named else "2")
    if s.tickettype in ("1", "2") and wanted != s.tickettype:
        raise refuse(mock, call, None, "activation_mode_not_allowed", detail=f"the supplier does not issue tickettype {wanted}")
    if wanted == "1" and not named:  # 2.18 line 545
        raise refuse(mock, call, None, "idcard_gate_incomplete", detail="ID-card gate entry needs an ID card for every ticket")
    return "idcard" if wanted == "1" else "barcode"


def _reload(db: sqlite3.Connection, order: sqlite3.Row) -> sqlite3.Row:
    return db.execute("SELECT * FROM orders WHERE orderid=?", (order["orderid"],)).fetchone()


def authorise(mock: Mock, db: sqlite3.Connection, call: Call, account: Account, order: sqlite3.Row,
              activate: bool) -> sqlite3.Row:
    """Hold the total, move the order to 2 / C, activate at once when asked (3 / D), notify the guest."""
    total = money(order["total"])
    try:
        ledger.hold(db, order["agent"], account.name, total)
    except BusinessError as exc:
        raise refuse(mock, call, account, exc.key, detail=exc.detail) from None
    db.execute("UPDATE orders SET held=? WHERE orderid=?", (str(total), order["orderid"]))
    machine.fire(mock, db, order, account.event, page=call.page, pay_type=account.name)
    order = _reload(db, order)
    if activate:
        medium = activation_medium(mock, db, call, order)
        delivery.deliver(mock, db, order, "activate", pay_type=account.name, medium=medium, page=call.page)
        order = _reload(db, order)
    notify_guest(mock, db, call, order, account)
    return order


def notify_guest(mock: Mock, db: sqlite3.Connection, call: Call, order: sqlite3.Row, account: Account) -> None:
    """The official notices (2.17) unless the agent (SetAgentParameters) or the call
    (sendnotification 0) declines them."""
    agent = Store.agent(db, order["agent"])
    if agent.sendofficiallysnotify != "1" or _opt(call, "sendnotification") == "0":
        return
    head = f"【{mock.world.supplier.providername}】"
    what = f"订单{order['orderid']}，生效日期{order['effect_date']}"
    texts = {"paid": f"{head}{what}，已{account.label_zh}，请凭证件取票。", "voucher_mms": f"{head}取票凭证：{what}。"}
    at = machine.stamp(mock.now())
    for purpose in NOTICES.get(_opt(call, "smsModel") or "0", ()):
        db.execute("INSERT INTO sms(agent, mobile, text, purpose, orderid, at) VALUES(?,?,?,?,?,?)",
                   (order["agent"], order["mobile"], texts[purpose], purpose, order["orderid"], at))


# ------------------------------------------------------------------ two-step pages


def _ready(mock: Mock, call: Call, account: Account, policy: CodePolicy) -> dict:
    check_permission(mock, call, account)
    mobile = agent_mobile(mock, call)
    with mock.store.transaction() as db:
        order = machine.load(db, call.get("Order_id"), call.agent.user)
        if order is None:
            raise refuse(mock, call, None, "order_not_found", detail=f"order {call.get('Order_id')} not found")
        if not payable(mock, order, account):
            raise refuse(mock, call, None, "order_not_booked", "order_not_booking", detail=order["status"])
        send_code(mock, db, call, policy, mobile, order["orderid"], account.label_zh)
    return {}


@handles("ReadyToPay.aspx")
def ready_to_pay(mock: Mock, call: Call) -> dict:
    return _ready(mock, call, DEPOSIT, deposit_codes(mock))


@handles("ReadyToPayByFK.aspx")
def ready_to_pay_by_fk(mock: Mock, call: Call) -> dict:
    return _ready(mock, call, REBATE, rebate_codes(mock))


def _pay(mock: Mock, call: Call, account: Account, policy: CodePolicy | None) -> dict:
    """Checks in the order permission, order and state, amount, code or password, balance."""
    check_tickettype(call)
    check_permission(mock, call, account)
    with mock.store.transaction() as db:
        order = payable_order(mock, db, call, account)
        check_amount(mock, call, account, order)
        if policy is None:
            check_pay_password(mock, db, call, account, call.get("SmsCode"))
        else:
            use_code(mock, db, call, account, policy, order["orderid"], call.get("SmsCode"),
                     wrong="sms_code_wrong", expired="sms_code_expired")
        authorise(mock, db, call, account, order, wants_activation(mock, call))
    return {}


@handles("UseAccountToPay.aspx")
def use_account_to_pay(mock: Mock, call: Call) -> dict:
    return _pay(mock, call, DEPOSIT, deposit_codes(mock))


@handles("UseAccountToPayByPwd.aspx")
def use_account_to_pay_by_pwd(mock: Mock, call: Call) -> dict:
    return _pay(mock, call, DEPOSIT, None)


@handles("UseAccountToPayByFK.aspx")
def use_account_to_pay_by_fk(mock: Mock, call: Call) -> dict:
    return _pay(mock, call, REBATE, rebate_codes(mock))


@handles("UseAccountToPayByFKWithPwd.aspx")
def use_account_to_pay_by_fk_with_pwd(mock: Mock, call: Call) -> dict:
    return _pay(mock, call, REBATE, None)


# ------------------------------------------------------------------ one-step pages


def book_and_pay(mock: Mock, call: Call, account: Account, request: booking.Booking, activate: bool,
                 book: Callable[..., tuple[sqlite3.Row, bool]] = booking.book) -> sqlite3.Row:
    """Book (with `book`, e.g. a theater booking taking seats) and authorise atomically; a repeated
    XCDDH/senderid returns its order, paying it only if it is still unpaid (gaps
    orderandpaywithydj-duplicate-xcddh, orderandpaywithfk-duplicate-senderid)."""
    check_tickettype(call)
    check_permission(mock, call, account)
    with mock.store.transaction() as db:
        check_pay_password(mock, db, call, account, call.get("SmsCode"))
        order, _ = book(mock, db, call, request)
        if not payable(mock, order, account):
            return order
        check_amount(mock, call, account, order)
        return authorise(mock, db, call, account, order, activate)


@handles("OrderAndPayWithYDJ.aspx")
def order_and_pay_with_ydj(mock: Mock, call: Call) -> dict:
    request = booking.Booking(
        order_list=call.get("Order_list"), mobile=call.get("mobile"), idcard=call.get("ID"),
        effect_date=call.get("SXRQ"), senderid=call.get("XCDDH"), memo=call.get("Memo"), idcount=call.get("IDCount"),
        need_invoice=call.get("NeedInvoice") or "0", invoice_title=call.get("InvoiceTitle"),
        service_code=call.get("ServiceCode"), timespanindex=call.get("timespanindex"),
    )
    order = book_and_pay(mock, call, DEPOSIT, request, wants_activation(mock, call))
    return {"Item": {"Order_id": order["orderid"], "XCDDH": order["senderid"], "status": order["status"]}}


@handles("OrderAndPayWithFK.aspx")
def order_and_pay_with_fk(mock: Mock, call: Call) -> dict:
    request = booking.Booking(
        order_list=call.get("order_list"), mobile=call.get("mobile"), idcard=call.get("id"),
        effect_date=call.get("sxrq"), senderid=call.get("senderid"), memo=call.get("memo"), idcount=call.get("idcount"),
    )
    # V4.0 activates every rebate payment at once with the default gate mode (gap orderandpaywithfk-no-gate-mode).
    order = book_and_pay(mock, call, REBATE, request, True)
    return {"Item": {"order_id": order["orderid"], "senderid": order["senderid"], "status": order["status"]}}


# ------------------------------------------------------------------ pay password


@handles("GetVerificationCode.aspx")
def get_verification_code(mock: Mock, call: Call) -> dict:
    agent = call.agent
    if not {"deposit", "rebate"} & set(agent.pay_types):
        raise BusinessError("prepay_not_enabled", agent.user)
    if call.get("DWSX") != agent.customertype or call.get("DWID").lower() != agent.customerid.lower():
        raise BusinessError("bad_unit", "DWSX/DWID do not match the agent's unit")
    mobile = agent_mobile(mock, call)
    with mock.store.transaction() as db:
        zfdh = send_code(mock, db, call, rebate_codes(mock, PAY_PASSWORD_CODE), mobile, None, "修改支付密码")
    return {"item": {"order_id": zfdh, "status": "0"}}


@handles("ChangePayPwd.aspx")
def change_pay_pwd(mock: Mock, call: Call) -> dict:
    new, again = call.get("NewPwd").upper(), call.get("NewPwd2").upper()
    with mock.store.transaction() as db:
        use_code(mock, db, call, None, rebate_codes(mock, PAY_PASSWORD_CODE), call.get("ZFDH"), call.get("YZM"),
                 wrong="sms_code_wrong", expired="code_expired_or_invalid")
        if not new or not hmac.compare_digest(new.encode(), again.encode()):
            raise BusinessError("bad_new_password", "NewPwd and NewPwd2 differ")
        db.execute("UPDATE agents SET pay_password_md5=? WHERE user=?", (new, call.agent.user))
    return {}
