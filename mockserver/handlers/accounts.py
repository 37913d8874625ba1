"""Agent accounts and agent settings (4.2.29-4.2.36, 4.2.44), the paused 4.2.12, and the
supplier's own account operations (2.15: enable/disable, top-up, deduct, inventory)."""

from __future__ import annotations

import calendar
import math
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping

from spec.errors import GENERIC_FAILURE, BusinessError, ParamError
from spec.model import Page

from .. import descriptions, ledger, machine
from ..context import Call, Mock
from ..events import EventError, supplier_event
from ..store import Store, money
from . import handles

STAMP = "%Y%m%d%H%M%S"
DAY = "%Y%m%d"
ACCOUNTS = ("deposit", "rebate")

# The manual's JYLX code for each ledger `kind`, per account.
# Deposit (4.2.30/4.2.31, lines 6211 and 6335): only 1 充值 / 2 兑换 exist; gap
# queryyfkjyreccount-jylx-values reads them as credits / debits, so refunds are 1, fees and deductions 2.
# Rebate (4.2.33/4.2.34, lines 6672-6673 and 6811-6812): 0 直接存入返款金额, 7 从账户转出,
# 9 互联网预定返款票出售 (an internet order's debit, its fee included), A 互联网预定返款票退票.
JYLX_BY_KIND = {
    "deposit": {"topup": "1", "refund": "1", "order": "2", "fee": "2", "deduct": "2"},
    "rebate": {"topup": "0", "refund": "A", "order": "9", "fee": "9", "deduct": "7"},
}
# A kind the table does not name (added by another area) is typed by its direction: (credit, debit).
JYLX_BY_SIGN = {"deposit": ("1", "2"), "rebate": ("0", "7")}
# The ledger kinds in the order the record pages' -memo gaps word them; the staff's kinds carry their remark.
MEMO_WORDS, MEMO_KINDS, STAFF_KINDS = ("-bz-words", "-jy-words"), ("order", "fee", "refund", "topup", "deduct"), \
    ("topup", "deduct")

# The events that deliver an order (2.1 取票或远程激活, 现付取票); their targets are the deal states of 4.2.35.
DELIVERY_EVENTS = ("activate", "desk_pickup", "desk_pay")


# ------------------------------------------------------------------ shared helpers

def holds_account(call: Call, account: str) -> bool:
    """An agent has an account only for a payment type the supplier lets it use (2.5, line 212)."""
    return account in call.agent.pay_types


def _unit(call: Call) -> dict[str, str]:
    a = call.agent
    return {"DWSX": a.customertype, "DWID": a.customerid, "DWMC": a.name}


def _parse(value: str, fmt: str, key: str, param: str) -> datetime:
    try:
        return datetime.strptime(value, fmt)
    except ValueError:
        raise ParamError(key, f"{param} is not a valid date", param=param) from None


def _page_index(call: Call, empty_key: str) -> int:
    """The 0-based position of the page asked for; the first page's number is the spec's (gaps
    queryyfkjyrec/queryfkjyrec/getspydrec-page-index-base)."""
    raw = call.get("Page_index").strip()
    if not raw.isdigit():
        raise ParamError("bad_format", "Page_index is not a page number", param="Page_index")
    first = call.page.param("Page_index").first_page or 0
    if int(raw) < first:
        raise BusinessError(empty_key, f"pages are numbered from {first}")
    return int(raw) - first


def _slice(rows: list[Any], position: int, size: int, empty_key: str) -> list[Any]:
    chunk = rows[position * size: (position + 1) * size]
    if not chunk:
        raise BusinessError(empty_key, f"page {position + 1} holds no records")
    return chunk


def _paging(size: int, count: int) -> dict[str, int]:
    return {"pagesize": size, "pagecount": math.ceil(count / size), "recordcount": count}


# ------------------------------------------------------------------ balances (4.2.29, 4.2.32)

@dataclass(frozen=True)
class Period:
    """One account over the current accounting year (gaps queryyfkrec-period-undefined, queryfkrec-period-vs-cumulative)."""

    year: int
    opening: Decimal
    credits: Decimal
    debits: Decimal
    closing: Decimal


def period(mock: Mock, db: sqlite3.Connection, user: str, account: str) -> Period:
    """Credits and debits since 1 January; the opening balance is derived so that opening + credits - debits = closing."""
    year = mock.now().year
    rows = db.execute("SELECT amount FROM transactions WHERE agent=? AND account=? AND at>=?",
                      (user, account, f"{year}0101000000")).fetchall()
    amounts = [money(r["amount"]) for r in rows]
    credits = sum((a for a in amounts if a > 0), Decimal("0.00"))
    debits = -sum((a for a in amounts if a < 0), Decimal("0.00"))
    closing = Store.agent(db, user).balance(account)
    return Period(year, money(closing - credits + debits), money(credits), money(debits), money(closing))


@handles("QueryYFKRec.aspx")
def query_deposit(mock: Mock, call: Call) -> dict:
    if not holds_account(call, "deposit"):
        raise BusinessError("no_deposit_account", f"{call.agent.user} may not pay by deposit")
    with mock.store.reading() as db:
        p = period(mock, db, call.agent.user, "deposit")
    return {"Item": {**_unit(call), "SQJY": p.opening, "BQDF": p.debits, "BQSQ": p.credits, "BQJY": p.closing}}


@handles("QueryFKRec.aspx")
def query_rebate(mock: Mock, call: Call) -> dict:
    if not holds_account(call, "rebate"):
        raise BusinessError("no_rebate_account", f"{call.agent.user} may not pay from the rebate balance")
    with mock.store.reading() as db:
        p = period(mock, db, call.agent.user, "rebate")
    return {"Item": {**_unit(call), "ND": p.year, "JESQJY": p.opening, "JEBQSQ": p.credits, "JEBQDF": p.debits,
                     "JEBQJY": p.closing}}


# ------------------------------------------------------------------ transaction records (4.2.30-4.2.31, 4.2.33-4.2.34)

def jylx(account: str, kind: str, amount: Decimal) -> str:
    """The manual's transaction type of one ledger record."""
    credit, debit = JYLX_BY_SIGN[account]
    return JYLX_BY_KIND[account].get(kind, credit if amount > 0 else debit)


def transactions(mock: Mock, call: Call, account: str, start: datetime, end: datetime) -> list[sqlite3.Row]:
    """The agent's records of `account` with both bounds inclusive, oldest first, of the JYLX asked for."""
    with mock.store.reading() as db:
        rows = db.execute("SELECT * FROM transactions WHERE agent=? AND account=? AND at>=? AND at<=? ORDER BY id",
                          (call.agent.user, account, start.strftime(STAMP), end.strftime(STAMP))).fetchall()
    wanted = call.get("JYLX")
    return [r for r in rows if not wanted or jylx(account, r["kind"], money(r["amount"])) == wanted]


def _bounds(call: Call, bad_key: str) -> tuple[datetime, datetime]:
    return (_parse(call.get("Start_datetime"), STAMP, bad_key, "Start_datetime"),
            _parse(call.get("End_datetime"), STAMP, bad_key, "End_datetime"))


def _document(row: sqlite3.Row) -> str:
    """The order number, or for a supplier-side movement the transaction's own number."""
    return row["orderid"] or f"JY{row['id']:08d}"


def _said(page: Page, row: sqlite3.Row) -> str:
    """BZ / JY: the staff's own remark, else the words of the record's cause (gaps queryyfkjyrec-bz-words,
    queryfkjyrec-jy-words); the system's memos are notes for the admin API, not the agent's words."""
    if row["kind"] in STAFF_KINDS and row["memo"]:
        return row["memo"]
    said = dict(zip(MEMO_KINDS, descriptions.words(page, MEMO_WORDS).split("/")))
    return said.get(row["kind"], "")


def _movement(account: str, row: sqlite3.Row, page: Page) -> dict[str, Any]:
    amount, balance = money(row["amount"]), money(row["balance"])
    return {"JYLX": jylx(account, row["kind"], amount), "opening": money(balance - amount), "amount": amount,
            "closing": balance, "DJDH": _document(row), "memo": _said(page, row), "RQSJ": row["at"]}


def deposit_record(call: Call, row: sqlite3.Row) -> dict[str, Any]:
    m = _movement("deposit", row, call.page)
    return {**_unit(call), "JYLX": m["JYLX"], "QCYE": m["opening"], "BQFS": m["amount"], "QMYE": m["closing"],
            "DJDH": m["DJDH"], "YHDLM": call.agent.user, "BZ": m["memo"], "RQSJ": m["RQSJ"]}


def rebate_record(call: Call, row: sqlite3.Row) -> dict[str, Any]:
    m = _movement("rebate", row, call.page)
    return {**_unit(call), "ND": row["at"][:4], "JYLX": m["JYLX"], "JEQCYE": m["opening"], "JEBQFS": m["amount"],
            "JEQMYE": m["closing"], "DJDH": m["DJDH"], "YHDLM": call.agent.user, "JY": m["memo"], "RQSJ": m["RQSJ"]}


@handles("QueryYFKJYRecCount.aspx")
def count_deposit_records(mock: Mock, call: Call) -> dict:
    start, end = _bounds(call, "call_failed")
    if start > end or not holds_account(call, "deposit"):
        raise BusinessError("no_page_info", "start after end or no deposit account")  # gap queryyfkjyreccount-bounds
    size = mock.world.supplier.page_size
    return {"item": _paging(size, len(transactions(mock, call, "deposit", start, end)))}


def _records(mock: Mock, call: Call, account: str, record: Callable[[Call, Any], dict]) -> dict:
    """One page of an account's transaction records (QueryYFKJYRec / QueryFKJYRec)."""
    index = _page_index(call, "no_records")
    start, end = _bounds(call, "call_failed")
    if not holds_account(call, account):
        raise BusinessError("no_records", f"no {account} account")
    rows = _slice(transactions(mock, call, account, start, end), index, mock.world.supplier.page_size, "no_records")
    return {"Items": {"Item": [record(call, r) for r in rows]}}


@handles("QueryYFKJYRec.aspx")
def deposit_records(mock: Mock, call: Call) -> dict:
    return _records(mock, call, "deposit", deposit_record)


def _six_months_after(start: datetime) -> datetime:
    """Six calendar months on, the day clamped to the month's end; that whole day is still inside
    (gap queryfkjyreccount-validation-only-on-count: end inclusive)."""
    month = start.month + 6
    year, month = start.year + (month - 1) // 12, (month - 1) % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


@handles("QueryFKJYRecCount.aspx")
def count_rebate_records(mock: Mock, call: Call) -> dict:
    start, end = _bounds(call, "bad_date_format")
    if start > end:
        raise BusinessError("start_after_end")
    if end.date() > _six_months_after(start).date():
        raise BusinessError("date_range_too_long")
    if not holds_account(call, "rebate"):
        raise BusinessError("no_page_info", "no rebate account")
    size = mock.world.supplier.page_size
    return {"item": _paging(size, len(transactions(mock, call, "rebate", start, end)))}


@handles("QueryFKJYRec.aspx")
def rebate_records(mock: Mock, call: Call) -> dict:
    return _records(mock, call, "rebate", rebate_record)


# ------------------------------------------------------------------ deal records (4.2.35, 4.2.36)

def deal_states(mock: Mock) -> frozenset[str]:
    """已交割, 已前台现付取票, 已交割(返款): where the spec's delivery events lead (3, X, D)."""
    return frozenset(t.target for t in mock.spec.transitions if t.event in DELIVERY_EVENTS)


def deal_lines(mock: Mock, call: Call) -> list[sqlite3.Row]:
    """One row per order line of the agent's delivered orders (gap getspydrec-item-granularity)."""
    start = _parse(call.get("Start_datetime"), DAY, "call_failed", "Start_datetime").date()
    end = _parse(call.get("End_datetime"), DAY, "call_failed", "End_datetime").date()
    states = sorted(deal_states(mock))
    where = [f"o.status IN ({','.join('?' * len(states))})", "o.agent=?", "substr(o.delivered_at,1,8) BETWEEN ? AND ?"]
    args: list[Any] = [*states, call.agent.user, start.strftime(DAY), end.strftime(DAY)]
    for name, column in (("Order_id", "o.orderid"), ("TicketTypeID", "i.productid")):
        if call.get(name):
            where.append(f"{column}=?")
            args.append(call.get(name))
    sql = ("SELECT o.*, i.seq, i.productid, i.productname, i.price, i.dealnum, i.dealamount, "
           "(SELECT SUM(num) FROM order_items WHERE orderid=o.orderid) AS ydnum "
           f"FROM orders o JOIN order_items i ON i.orderid=o.orderid WHERE {' AND '.join(where)} "
           "ORDER BY o.delivered_at, o.orderid, i.seq")
    with mock.store.reading() as db:
        return db.execute(sql, args).fetchall()


def deal_item(mock: Mock, call: Call, row: sqlite3.Row) -> dict[str, Any]:
    """Order fields (orderid, ydnum, summary) repeated on each line; num/Total are what was delivered."""
    product = mock.world.product(row["productid"])
    a = call.agent
    return {"orderid": row["orderid"], "ordertime": row["created_at"], "customertype": a.customertype,
            "customerid": a.customerid, "customername": a.name, "jgrqsj": row["delivered_at"] or "",
            "orderstatus": row["status"], "ydnum": row["ydnum"], "summary": row["total"],
            "productName": row["productname"], "num": row["dealnum"], "unit": product.unit if product else "",
            "price": row["price"], "Total": row["dealamount"]}


@handles("GetSPYDRecCount.aspx")
def count_deals(mock: Mock, call: Call) -> dict:
    if call.get("Start_datetime") > call.get("End_datetime"):
        raise BusinessError("no_page_info", "start after end")
    return {"item": _paging(mock.world.supplier.page_size, len(deal_lines(mock, call)))}


@handles("GetSPYDRec.aspx")
def deals(mock: Mock, call: Call) -> dict:
    index = _page_index(call, "no_page_info")
    rows = _slice(deal_lines(mock, call), index, mock.world.supplier.page_size, "no_page_info")
    return {"Item": [deal_item(mock, call, r) for r in rows]}


# ------------------------------------------------------------------ agent settings (4.2.44)

@handles("SetAgentParameters.aspx")
def set_agent_parameters(mock: Mock, call: Call) -> dict:
    """An empty responseaddr switches the agent's callbacks off (line 9077; machine.enqueue skips it)."""
    flag = call.get("sendofficiallysnotify")
    if not flag:
        raise ParamError("sendofficiallysnotify_missing", param="sendofficiallysnotify")
    with mock.store.transaction() as db:
        done = db.execute("UPDATE agents SET responseaddr=?, sendofficiallysnotify=? WHERE user=?",
                          (call.get("responseaddr").strip(), flag, call.agent.user)).rowcount
        if done != 1:
            raise BusinessError("update_failed", f"no agent row for {call.agent.user}")
    return {}


# ------------------------------------------------------------------ the paused page (4.2.12)

def paused_reason(mock: Mock) -> str:
    """The reason part of the manual's suspension message (QueryOrdersList, line 3205)."""
    template = GENERIC_FAILURE.message_zh
    prefix = template[: template.index("ex")]
    message = mock.spec.page("QueryOrdersList.aspx").retcode("version_paused").message_zh
    return message[len(prefix):] if message.startswith(prefix) else message


@handles("QueryPruductStatus.aspx")
def query_product_status(mock: Mock, call: Call) -> dict:
    """Suspended: -1 with the suspension reason (gap querypruductstatus-today)."""
    raise BusinessError("call_failed", "this version is suspended", reason=paused_reason(mock))


# ------------------------------------------------------------------ supplier events (2.15, lines 405-425)

def _field(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or str(value).strip() == "":
        raise EventError(f"{name} is required", status=400)
    return str(value).strip()


def _user(mock: Mock, body: Mapping[str, Any]) -> str:
    user = _field(body, "user")
    if mock.world.agent(user) is None:
        raise EventError(f"unknown agent {user!r}", status=404)
    return user


def _account(mock: Mock, body: Mapping[str, Any], user: str) -> str:
    account = _field(body, "account")
    if account not in ACCOUNTS:
        raise EventError(f"account must be one of {', '.join(ACCOUNTS)}", status=400)
    if account not in mock.world.agent(user).pay_types:
        raise EventError(f"{user} has no {account} account (payment type not allowed)")
    return account


def _amount(body: Mapping[str, Any]) -> Decimal:
    try:
        amount = Decimal(_field(body, "amount"))
    except InvalidOperation:
        raise EventError("amount is not a number", status=400) from None
    if not amount.is_finite() or amount <= 0 or amount != money(amount):
        raise EventError("amount must be positive with at most two decimals", status=400)
    return money(amount)


def _set_enabled(mock: Mock, body: Mapping[str, Any], enabled: bool) -> dict[str, Any]:
    user = _user(mock, body)
    with mock.store.transaction() as db:
        db.execute("UPDATE agents SET enabled=? WHERE user=?", (int(enabled), user))
    return {"user": user, "enabled": enabled}


@supplier_event("agent-enable", '{"user": "demo-ota"}', "Enable an agent account (2.15, line 413).")
def agent_enable(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return _set_enabled(mock, body, True)


@supplier_event("agent-disable", '{"user": "demo-ota"}',
                "Disable an agent account; its calls are then refused with -2202 where the page lists it (2.15, line 413).")
def agent_disable(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return _set_enabled(mock, body, False)


def _post(mock: Mock, body: Mapping[str, Any], kind: str,
          move: Callable[..., None], check: Callable[[Any, Decimal], None] | None = None) -> dict[str, Any]:
    user = _user(mock, body)
    account = _account(mock, body, user)
    amount = _amount(body)
    memo = str(body.get("memo", "")).strip()
    with mock.store.transaction() as db:
        if check:
            check(Store.agent(db, user).available(account), amount)
        move(db, user, account, amount, kind, "", machine.stamp(mock.now()), memo)
        state = Store.agent(db, user)
    return {"user": user, "account": account, "amount": str(amount), "balance": str(state.balance(account)),
            "available": str(state.available(account))}


def _covered(available: Decimal, amount: Decimal) -> None:
    if amount > available:
        raise EventError(f"deducting {amount} would leave less than the authorised holds (available {available})")


@supplier_event("top-up", '{"user": "demo-ota", "account": "deposit|rebate", "amount": "500.00", "memo": "optional"}',
                "Credit an agent's deposit or rebate account (2.15, lines 415-417); a transaction record of kind topup.")
def top_up(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return _post(mock, body, "topup", ledger.credit)


@supplier_event("deduct", '{"user": "demo-ota", "account": "deposit|rebate", "amount": "100.00", "memo": "optional"}',
                "Debit an agent's account (2.15, line 419); refused when it would exceed the available balance.")
def deduct(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    return _post(mock, body, "deduct", ledger.debit, _covered)


@supplier_event("set-inventory", '{"productid": "P1004", "date": "20261125", "sold": 20}',
                "Set how many tickets of a product are sold for a day (the stock used by GetProductsInventory and booking).")
def set_inventory(mock: Mock, body: Mapping[str, Any]) -> Mapping[str, Any]:
    product = mock.world.product(_field(body, "productid"))
    if product is None:
        raise EventError(f"unknown product {body.get('productid')!r}", status=404)
    day = _day(_field(body, "date"))
    sold = _sold(_field(body, "sold"))
    if product.daily_stock and sold > product.daily_stock:
        raise EventError(f"{product.id} has only {product.daily_stock} tickets a day")
    with mock.store.transaction() as db:
        db.execute("INSERT INTO stock(productid, day, used) VALUES(?,?,?) "
                   "ON CONFLICT(productid, day) DO UPDATE SET used=excluded.used", (product.id, day.strftime(DAY), sold))
    return {"productid": product.id, "date": day.strftime(DAY), "sold": sold}


def _day(value: str) -> date:
    try:
        return datetime.strptime(value, DAY).date()
    except ValueError:
        raise EventError("date must be yyyyMMdd", status=400) from None


def _sold(value: str) -> int:
    if not value.isdigit():
        raise EventError("sold must be a non-negative integer", status=400)
    return int(value)
