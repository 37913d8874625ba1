"""The admin API's view of stored state, as a script checking a run (a crash test) reads it:
the orders list with its filters, and the agents' opening balances beside their current ones."""

from __future__ import annotations

from decimal import Decimal

from mockkit import OTHER, make_ota

HEADERS = {"X-Admin-Token": "demo-admin"}


def test_orders_are_listed_with_filters_and_pages(spec):
    ota = make_ota(spec)
    mine = [ota.book(senderid=f"s-{i}") for i in range(3)]
    theirs = ota.as_(OTHER).book()
    cancelled = ota.book()
    assert ota.call("CancelOrder.aspx", {"order_id": cancelled}).retcode == "0"
    get = lambda **q: ota.client.get("/_admin/orders", params=q, headers=HEADERS)  # noqa: E731
    assert [o["orderid"] for o in get().json()] == sorted([*mine, theirs, cancelled])
    assert [o["orderid"] for o in get(agent=OTHER.user).json()] == [theirs]
    assert [o["orderid"] for o in get(senderid="s-1").json()] == [mine[1]]
    assert [o["orderid"] for o in get(status="4").json()] == [cancelled]
    first = get(limit="2").json()
    rest = get(after=first[-1]["orderid"]).json()
    assert [o["orderid"] for o in first + rest] == sorted([*mine, theirs, cancelled])
    assert get(limit="x").status_code == 400
    assert ota.client.get("/_admin/orders").status_code == 401


def test_agents_show_their_opening_balances(spec):
    ota = make_ota(spec)
    ota.client.post("/_admin/events/top-up", json={"user": ota.creds.user, "account": "deposit", "amount": "5"},
                    headers=HEADERS)
    agents = {a["user"]: a for a in ota.client.get("/_admin/agents", headers=HEADERS).json()}
    demo, seed = agents[ota.creds.user], ota.mock.world.agent(ota.creds.user)
    assert Decimal(demo["opening_deposit"]) == seed.deposit and Decimal(demo["opening_rebate"]) == seed.rebate
    moved = sum(Decimal(t["amount"]) for t in ota.client.get("/_admin/transactions", headers=HEADERS).json()
                if t["agent"] == ota.creds.user and t["account"] == "deposit")
    assert moved == Decimal("5")
    assert Decimal(demo["deposit"]) == Decimal(demo["opening_deposit"]) + moved
