"""Agent accounts (deposit 预订金, rebate 返款余额): holds, debits and credits. Accounts never go
negative and every movement of money is a transaction record (`transactions` table)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from spec.errors import BusinessError

from .store import Store, money

# The retcode key each payment page uses for "balance too low", by account.
INSUFFICIENT = {"deposit": "insufficient_deposit", "rebate": "insufficient_rebate"}


def hold(db: sqlite3.Connection, agent: str, account: str, amount: Decimal) -> None:
    """Reserve `amount` for an authorised order; refuse when the available balance is short."""
    state = Store.agent(db, agent)
    if state.available(account) < money(amount):
        raise BusinessError(INSUFFICIENT[account], f"{account} available {state.available(account)} < {amount}")
    Store.hold(db, agent, account, money(amount))


def release(db: sqlite3.Connection, agent: str, account: str, amount: Decimal) -> None:
    Store.hold(db, agent, account, -money(amount))


def debit(db: sqlite3.Connection, agent: str, account: str, amount: Decimal, kind: str, orderid: str, at: str,
          memo: str = "") -> None:
    if money(amount) == 0:
        return
    Store.post(db, agent, account, -money(amount), kind, orderid, at, memo)


def credit(db: sqlite3.Connection, agent: str, account: str, amount: Decimal, kind: str, orderid: str, at: str,
           memo: str = "") -> None:
    if money(amount) == 0:
        return
    Store.post(db, agent, account, money(amount), kind, orderid, at, memo)
