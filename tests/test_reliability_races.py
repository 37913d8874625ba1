"""Races on a live `ybx-mock serve` (one worker, and two workers on one SQLite database): many
agents at once for the last ticket of a finite-stock product, for the last seat of a theater show
(with and without naming the seat), and many copies of one booking with the same integrator order
number (XCDDH on the book-and-pay page, senderid on OrderProducts).
Exactly one wins each race, the losers get the manual's refusal, and the stored state agrees.
The same judges, run against the mock with its `oversell` and `duplicate-order-on-repeat`
faults, report the broken rule."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from mockkit import DEMO, OTHER
from procmock import MockProcess, rows, serving

from mockserver.server import DEFAULT_THEATER_WORLD
from mockserver.world import load_world
from spec.model import Spec
from spec.protocol import Credentials

NOW = "2026-11-21T10:00:00+08:00"
WORLD = load_world(None)  # the shipped world `ybx-mock serve` runs by default
FINITE = "P1004"  # its finite-stock product
PLAIN = "P1001"
BOOK, BOOK_AND_PAY = "OrderProducts.aspx", "OrderAndPayWithYDJ.aspx"
CONTENDERS = 12  # half DEMO, half OTHER
THEATER = "/theater"  # where `ybx-mock serve` serves the theater supplier
STAGE = load_world(DEFAULT_THEATER_WORLD).stage
SHOW, SHOW_PRODUCT, BOOK_SHOW = "S101", "TP03", "OrderProducts2.aspx"


@dataclass(frozen=True)
class Answer:
    agent: str
    key: str  # the senderid / XCDDH sent
    retcode: str
    retmsg: str
    orderid: str


def race(m: MockProcess, jobs: list[tuple[Credentials, str, dict[str, str]]], supplier: str = "") -> list[Answer]:
    """Send every job at the same instant, one connection per thread; the answers in job order."""
    barrier = threading.Barrier(len(jobs))
    answers: list[Answer | None] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        creds, page, values = jobs[i]
        with httpx.Client(timeout=30) as client:
            client.get(f"{m.base_url}/_admin", headers={"X-Admin-Token": m.token})  # connect before the start line
            barrier.wait(timeout=30)
            try:
                env = m.call(page, values, creds, client=client, supplier=supplier)
            except BaseException as exc:  # noqa: BLE001 - reported below, the race itself must finish
                errors.append(exc)
                return
        orderid = env.text("Item/orderid") or env.text("Item/Order_id")
        key = values.get("senderid") or values.get("XCDDH", "")
        answers[i] = Answer(creds.user, key, env.retcode, env.retmsg, orderid)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def booking(day: str, order_list: str, senderid: str = "") -> dict[str, str]:
    values = {"Order_list": order_list, "Mobile": "13800138000", "ID": "110101199003071234", "SXRQ": day,
              "timespanindex": "-1"}
    if senderid:
        values["senderid"] = senderid
    return values


def book_and_pay(day: str, xcddh: str, creds: Credentials, amount: str) -> dict[str, str]:
    return {"Order_list": f"{PLAIN}|1", "mobile": "13800138000", "ID": "110101199003071234", "SXRQ": day,
            "timespanindex": "-1", "SmsCode": creds.pay_password or "", "money": amount, "XCDDH": xcddh}


def _agents(m: MockProcess) -> dict[str, dict[str, str]]:
    return {a["user"]: a for a in m.admin("GET", "/agents")}


# ------------------------------------------------------------------ judges (each returns what broke)

def last_ticket_problems(spec: Spec, answers: list[Answer], stored: list[dict], stock: int) -> list[str]:
    """One winner; every loser answered the page's sold-out refusal; the stored orders of the day hold
    exactly the stock, the winner's order once and no loser's order."""
    refusal = spec.page(BOOK).retcode("daily_limit_failed")
    problems = []
    winners = [a for a in answers if a.retcode == "0"]
    if len(winners) != 1:
        problems.append(f"{len(winners)} bookings won the last ticket: {[(a.agent, a.orderid) for a in winners]}")
    for a in answers:
        if a.retcode != "0" and (a.retcode, a.retmsg) != (refusal.code, refusal.message_zh):
            problems.append(f"{a.agent} lost with {a.retcode} {a.retmsg!r}, the manual says {refusal.code} "
                            f"{refusal.message_zh!r}")
    sold = sum(r["num"] for r in stored)
    if sold != stock:
        problems.append(f"the stored open orders of the day hold {sold} tickets of a stock of {stock}")
    for a in answers:
        mine = [r for r in stored if r["agent"] == a.agent and r["senderid"] == a.key]
        expected = 1 if a.retcode == "0" else 0
        if len(mine) != expected or (expected and mine[0]["orderid"] != a.orderid):
            problems.append(f"{a.agent} senderid {a.key} answered {a.retcode} {a.orderid!r}; stored: "
                            f"{[r['orderid'] for r in mine]}")
    return problems


def same_key_problems(answers: list[Answer], stored: list[dict]) -> list[str]:
    """Per agent: every copy answered retcode 0 with one and the same order, and only that order is stored
    for the key (gap orderandpaywithydj-duplicate-xcddh: a repeat answers the existing order)."""
    problems = []
    for agent in sorted({a.agent for a in answers}):
        mine = [a for a in answers if a.agent == agent]
        named = {a.orderid for a in mine if a.retcode == "0"}
        refused = [f"{a.retcode} {a.retmsg}" for a in mine if a.retcode != "0"]
        if refused:
            problems.append(f"{agent}: {len(refused)} copies refused: {sorted(set(refused))}")
        if len(named) != 1:
            problems.append(f"{agent}: the copies answered {len(named)} different orders {sorted(named)}")
        kept = [r["orderid"] for r in stored if r["agent"] == agent]
        if kept != sorted(named)[:1]:
            problems.append(f"{agent}: {len(kept)} orders stored for one key: {kept}")
    return problems


def money_problems(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]], price: Decimal,
                   agents: set[str]) -> list[str]:
    """Each agent's deposit moved (held) by exactly one order's price."""
    out = []
    for user in sorted(agents):
        held = Decimal(after[user]["deposit_held"]) - Decimal(before[user]["deposit_held"])
        if held != price or after[user]["deposit"] != before[user]["deposit"]:
            out.append(f"{user}: deposit held grew by {held} (one order is {price}); "
                       f"balance {before[user]['deposit']} -> {after[user]['deposit']}")
    return out


# ------------------------------------------------------------------ the races

def last_ticket_race(m: MockProcess, day: str) -> list[str]:
    stock = WORLD.product(FINITE).daily_stock
    first = m.call(BOOK, booking(day, f"{FINITE}|{stock - 1}"), DEMO)
    assert first.retcode == "0", first.retmsg
    tag = secrets.token_hex(3)
    jobs = [((DEMO, OTHER)[i % 2], BOOK, booking(day, f"{FINITE}|1", f"last-{tag}-{i}")) for i in range(CONTENDERS)]
    answers = race(m, jobs)
    stored = [dict(r) for r in rows(m.db, "SELECT o.orderid, o.agent, o.senderid, i.num FROM orders o JOIN order_items i "
                                    "ON i.orderid=o.orderid WHERE o.effect_date=? AND i.productid=? AND o.status!='4'",
                                    (day, FINITE))]
    return last_ticket_problems(m.spec, answers, stored, stock)


def same_xcddh_race(m: MockProcess, day: str) -> list[str]:
    xcddh = "XC-" + secrets.token_hex(6)
    price = Decimal("100.00")
    before = _agents(m)
    jobs = [((DEMO, OTHER)[i % 3 == 2], BOOK_AND_PAY, book_and_pay(day, xcddh, (DEMO, OTHER)[i % 3 == 2], str(price)))
            for i in range(CONTENDERS)]
    answers = race(m, jobs)
    stored = [dict(r) for r in rows(m.db, "SELECT orderid, agent FROM orders WHERE senderid=? ORDER BY orderid", (xcddh,))]
    return same_key_problems(answers, stored) + money_problems(before, _agents(m), price, {DEMO.user, OTHER.user})


def same_senderid_race(m: MockProcess, day: str) -> list[str]:
    senderid = "S-" + secrets.token_hex(6)
    answers = race(m, [(DEMO, BOOK, booking(day, f"{PLAIN}|2", senderid)) for _ in range(CONTENDERS)])
    stored = [dict(r) for r in rows(m.db, "SELECT orderid, agent FROM orders WHERE senderid=?", (senderid,))]
    return same_key_problems(answers, stored)


def show_seats(product: str) -> dict[str, list[str]]:
    """The seats of `product` at the show's theater that booking can take, by area."""
    theater = STAGE.theater(STAGE.scene(SHOW).theater)
    return {a.id: [s.id for s in a.seats if not s.fixed] for a in theater.areas if a.product == product}


def last_seat_problems(spec: Spec, answers: list[Answer], held: dict[str, list[str]], unseated: int,
                       seats: int) -> list[str]:
    """One winner; the losers answered refusals the page's retcodes name (no room left, the seat is
    taken); no seat held by two open orders; seated plus seat-less tickets never above the seats."""
    page = spec.page(BOOK_SHOW)
    heads = {rc.code: [] for rc in page.retcodes}
    for rc in page.retcodes:
        heads[rc.code].append(rc.message_zh.split("ex")[0].split("xxxx")[0])
    problems = []
    winners = [a for a in answers if a.retcode == "0"]
    if len(winners) != 1:
        problems.append(f"{len(winners)} bookings won the last seat: {[(a.agent, a.orderid) for a in winners]}")
    for a in answers:
        if a.retcode != "0" and not any(a.retmsg.startswith(h) for h in heads.get(a.retcode, [])):
            problems.append(f"{a.agent} lost with {a.retcode} {a.retmsg!r}, not a refusal {BOOK_SHOW} lists")
    doubled = {seat: orders for seat, orders in held.items() if len(orders) > 1}
    if doubled:
        problems.append(f"seats sold twice: {doubled}")
    if len(held) + unseated > seats:
        problems.append(f"{len(held)} seats held and {unseated} seat-less tickets for {seats} seats")
    return problems


def fill_show(m: MockProcess, day: str) -> tuple[dict[str, str], str, int]:
    """Book every seat of the show's product but one: (booking values, the last seat, seats in all)."""
    m.admin("POST", "/clock", {"set": NOW}, supplier=THEATER)
    areas = show_seats(SHOW_PRODUCT)
    last = areas[max(areas)][-1]
    base = {"mobile": "13800138000", "ID": "110101199003071234", "TicketDate": day, "SenceID": SHOW}
    for ids in areas.values():
        ids = [i for i in ids if i != last]
        for start in range(0, len(ids), 10):  # ten tickets at most per order
            chunk = ids[start:start + 10]
            env = m.call(BOOK_SHOW, {**base, "Order_list": f"{SHOW_PRODUCT}|{len(chunk)}", "SeatInfo": "|".join(chunk)},
                         DEMO, supplier=THEATER)
            assert env.retcode == "0", env.retmsg
    return base, last, sum(len(ids) for ids in areas.values())


def show_state(m: MockProcess, day: str) -> tuple[dict[str, list[str]], int]:
    """The show's seats held by open orders (seat -> orders), and its open seat-less tickets."""
    db = m.db.with_name(f"{m.db.stem}.theater{m.db.suffix}")  # the theater supplier's database beside the scenic one
    held: dict[str, list[str]] = {}
    for r in rows(db, "SELECT s.seat, s.orderid FROM order_seats s JOIN orders o ON o.orderid=s.orderid "
                      "JOIN stage_orders g ON g.orderid=o.orderid WHERE o.status!='4' AND g.scene=? AND g.day=?",
                  (SHOW, day)):
        held.setdefault(r["seat"], []).append(r["orderid"])
    unseated = rows(db, "SELECT COALESCE(SUM(i.num), 0) AS n FROM order_items i JOIN orders o ON o.orderid=i.orderid "
                        "JOIN stage_orders g ON g.orderid=o.orderid WHERE o.status!='4' AND g.scene=? AND g.day=? "
                        "AND g.seated=0", (SHOW, day))[0]["n"]
    return held, unseated


def last_seat_race(m: MockProcess, day: str) -> list[str]:
    """Every seat of the show's product but one is booked; half the contenders ask for that seat by
    its ID, half for a ticket without a seat (gap orderproducts2-seatinfo-optional)."""
    base, last, total = fill_show(m, day)
    tag = secrets.token_hex(3)
    jobs = [((DEMO, OTHER)[i % 2], BOOK_SHOW, {**base, "Order_list": f"{SHOW_PRODUCT}|1", "senderid": f"seat-{tag}-{i}",
                                               **({"SeatInfo": last} if i % 4 < 2 else {})})
            for i in range(CONTENDERS)]
    answers = race(m, jobs, THEATER)
    held, unseated = show_state(m, day)
    return last_seat_problems(m.spec, answers, held, unseated, total)


RACES: dict[str, tuple[Callable[[MockProcess, str], list[str]], str]] = {
    "last-ticket": (last_ticket_race, "20261201"),
    "last-seat": (last_seat_race, "20261124"),
    "same-xcddh": (same_xcddh_race, "20261202"),
    "same-senderid": (same_senderid_race, "20261203"),
}


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def served(request, spec, tmp_path_factory):
    db = Path(tmp_path_factory.mktemp("races")) / "mock.db"
    with serving(spec, db, workers=request.param) as m:
        m.admin("POST", "/clock", {"set": NOW})
        yield m


@pytest.mark.parametrize("name", list(RACES))
def test_exactly_one_wins(served, name):
    run, day = RACES[name]
    assert run(served, day) == []


def test_the_judges_catch_a_mock_that_oversells_and_duplicates(spec, tmp_path):
    """With the faults that break these rules, every race is reported broken."""
    with serving(spec, tmp_path / "broken.db", faults=("oversell", "duplicate-order-on-repeat")) as m:
        m.admin("POST", "/clock", {"set": NOW})
        for name, (run, day) in RACES.items():
            problems = run(m, day)
            assert problems, f"{name}: the judges found nothing wrong with a faulty mock"


def test_a_named_seat_is_not_the_room_of_a_seatless_ticket(spec, served):
    """The order the race above can take at random, made certain: a ticket without a seat takes the
    last room first, then the last seat named by ID must be refused (the mock sold it twice before)."""
    day = "20261125"
    base, last, total = fill_show(served, day)
    seatless = served.call(BOOK_SHOW, {**base, "Order_list": f"{SHOW_PRODUCT}|1"}, OTHER, supplier=THEATER)
    named = served.call(BOOK_SHOW, {**base, "Order_list": f"{SHOW_PRODUCT}|1", "SeatInfo": last}, DEMO, supplier=THEATER)
    named_answer = Answer(DEMO.user, "", named.retcode, named.retmsg, named.text("Item/orderid"))
    seatless_answer = Answer(OTHER.user, "", seatless.retcode, seatless.retmsg, seatless.text("Item/orderid"))
    held, unseated = show_state(served, day)
    assert last_seat_problems(spec, [seatless_answer, named_answer], held, unseated, total) == []
    assert seatless.retcode == "0" and (len(held), unseated) == (total - 1, 1)
