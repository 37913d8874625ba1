"""The world a mock starts from: supplier settings, products, agents (a YAML file users edit)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from spec.model import FeeItem

from .stage import Stage, load_stage

WORLDS_DIR = Path(__file__).parent / "worlds"
DEFAULT_WORLD = WORLDS_DIR / "scenic.yaml"


class WorldError(ValueError):
    """The world file is not usable; the message names the entry."""


@dataclass(frozen=True)
class Supplier:
    mode: str
    providerid: str
    providername: str
    timed_entry: bool
    feemode: bool
    activateable: str
    tickettype: str
    payandactive: bool
    activerefund: bool
    payment_approval: bool
    paytimeout_minutes: int
    presale_days: int
    voucher_resend_seconds: int
    sms_code_ttl_seconds: int
    sms_code_resend_seconds: int
    sms_code_max_resends: int
    page_size: int


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price: Decimal
    service: str
    classid: str = "0"
    unit: str = "张"
    needname: bool = False
    minimum: int = 1
    maximum: int = 100
    simple_id_max: int = 0
    daily_stock: int = 0  # 0: unlimited
    sold_out: tuple[date, ...] = ()
    free_every: int = 0  # N-free-X: every `free_every` tickets, `free_count` are free (2.12)
    free_count: int = 0
    preorder_days: int = 3  # order validity after the effect date (2.10)
    webpredays: int = 0
    feeitems: tuple[FeeItem, ...] = ()


@dataclass(frozen=True)
class ServiceItem:
    code: str
    name: str


@dataclass(frozen=True)
class TimeSegment:
    service: str
    index: int
    start: str
    end: str
    total: int
    capacity: int


@dataclass(frozen=True)
class PayChannel:
    id: str
    name: str


@dataclass(frozen=True)
class AgentSeed:
    user: str
    password: str
    key: str
    pay_password: str
    name: str
    customertype: str
    customerid: str
    mobiles: tuple[str, ...]
    deposit: Decimal
    rebate: Decimal
    pay_types: tuple[str, ...]
    daily_limit: int = 0
    enabled: bool = True


@dataclass(frozen=True)
class World:
    supplier: Supplier
    products: tuple[Product, ...]
    service_items: tuple[ServiceItem, ...]
    time_segments: tuple[TimeSegment, ...]
    pay_channels: tuple[PayChannel, ...]
    agents: tuple[AgentSeed, ...]
    year_cards: tuple[YearCard, ...] = ()  # the REST page's orders (003 help page)
    source: str = field(default="", compare=False)
    stage: Stage | None = None  # theaters, scenes and seats of a theater-mode supplier

    def product(self, product_id: str) -> Product | None:
        return next((p for p in self.products if p.id == product_id), None)

    def agent(self, user: str) -> AgentSeed | None:
        return next((a for a in self.agents if a.user == user), None)


def _fee_items(raw: list[dict]) -> tuple[FeeItem, ...]:
    return tuple(FeeItem(i["unit"], int(i["unitcount"]), i["feecalmode"], Decimal(str(i["feevalue"]))) for i in raw or ())


def _build(data: dict[str, Any], source: str) -> World:
    s = data["supplier"]
    supplier = Supplier(
        mode=s["mode"], providerid=str(s["providerid"]), providername=s["providername"],
        timed_entry=bool(s.get("timed_entry", False)), feemode=bool(s.get("feemode", True)),
        activateable=str(s.get("activateable", "1")), tickettype=str(s.get("tickettype", "3")),
        payandactive=bool(s.get("payandactive", False)), activerefund=bool(s.get("activerefund", True)),
        payment_approval=bool(s.get("payment_approval", False)),
        paytimeout_minutes=int(s.get("paytimeout_minutes", 30)), presale_days=int(s.get("presale_days", 90)),
        voucher_resend_seconds=int(s.get("voucher_resend_seconds", 300)),
        sms_code_ttl_seconds=int(s.get("sms_code_ttl_seconds", 360)),
        sms_code_resend_seconds=int(s.get("sms_code_resend_seconds", 60)),
        sms_code_max_resends=int(s.get("sms_code_max_resends", 50)),
        page_size=int(s.get("page_size", 20)),
    )
    default_fees = _fee_items(data.get("feeitems", []))
    products = []
    for p in data["products"]:
        products.append(Product(
            id=str(p["id"]), name=p["name"], price=Decimal(str(p["price"])), service=str(p.get("service", "")),
            classid=str(p.get("classid", "0")), unit=p.get("unit", "张"), needname=bool(p.get("needname", False)),
            minimum=int(p.get("minimum", 1)), maximum=int(p.get("maximum", 100)),
            simple_id_max=int(p.get("simple_id_max", 0)), daily_stock=int(p.get("daily_stock", 0)),
            sold_out=tuple(date.fromisoformat(str(d)) for d in p.get("sold_out", ())),
            free_every=int(p.get("free_every", 0)), free_count=int(p.get("free_count", 0)),
            preorder_days=int(p.get("preorder_days", 3)), webpredays=int(p.get("webpredays", 0)),
            feeitems=_fee_items(p["feeitems"]) if "feeitems" in p else default_fees,
        ))
    agents = tuple(
        AgentSeed(
            user=a["user"], password=str(a["password"]), key=a["key"], pay_password=str(a["pay_password"]),
            name=a["name"], customertype=str(a.get("customertype", "2")), customerid=str(a["customerid"]),
            mobiles=tuple(str(m) for m in a.get("mobiles", ())), deposit=Decimal(str(a.get("deposit", "0"))),
            rebate=Decimal(str(a.get("rebate", "0"))), pay_types=tuple(a.get("pay_types", ())),
            daily_limit=int(a.get("daily_limit", 0)), enabled=bool(a.get("enabled", True)),
        )
        for a in data["agents"]
    )
    world = World(
        supplier=supplier, products=tuple(products),
        service_items=tuple(ServiceItem(str(x["code"]), x["name"]) for x in data.get("service_items", ())),
        time_segments=tuple(
            TimeSegment(str(t["service"]), int(t["index"]), t["start"], t["end"], int(t["total"]), int(t["capacity"]))
            for t in data.get("time_segments", ())
        ),
        pay_channels=tuple(PayChannel(str(c["id"]), c["name"]) for c in data.get("pay_channels", ())),
        agents=agents, source=source, stage=load_stage(data, (p.id for p in products)),
    )
    _validate(world)
    return world


def _validate(world: World) -> None:
    if world.supplier.mode not in ("scenic", "theater"):
        raise WorldError(f"supplier.mode must be scenic or theater, not {world.supplier.mode!r}")
    for kind, items in (("product", [p.id for p in world.products]), ("agent", [a.user for a in world.agents])):
        dupes = {x for x in items if items.count(x) > 1}
        if dupes:
            raise WorldError(f"duplicate {kind} ids: {sorted(dupes)}")
    services = {s.code for s in world.service_items}
    for p in world.products:
        if p.service and services and p.service not in services:
            raise WorldError(f"product {p.id}: unknown service item {p.service!r}")
    for a in world.agents:
        if len(a.key) < 24:
            raise WorldError(f"agent {a.user}: KEY must have at least 24 characters")
        unknown = set(a.pay_types) - {"desk", "deposit", "instant", "rebate"}
        if unknown:
            raise WorldError(f"agent {a.user}: unknown payment types {sorted(unknown)}")


def load_world(path: Path | None = None) -> World:
    """Load and check a world file (default: the shipped scenic world)."""
    path = Path(path) if path else DEFAULT_WORLD
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        world = _build(data, str(path))
        return replace(world, year_cards=_year_cards(data.get("year_cards") or (), world))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, WorldError):
            raise
        raise WorldError(f"{path}: {exc!r}") from None


@dataclass(frozen=True)
class YearCard:
    """An order's main record as the REST page (003 help page) answers it: a year-card order of the
    world, or an order booked through the classic pages. None: a value the order does not have (yet)."""

    orderid: str
    agent: str  # user of the agent that booked it
    senderid: str | None
    personalid: int  # the member who acted through the official channel; 0: the agent itself
    productid: str
    productname: str
    amount: int
    price: Decimal
    status: str  # ticket status 1-4 of the help page
    ordertime: datetime  # Asia/Shanghai, as every world time
    effectdate: date
    statuscode: str  # order status (2.2)
    paymenttype: str | None = None  # payment type id (2.5)
    paytimeout: int | None = None  # minutes
    ticketinnernumber: str | None = None
    needinvoice: str = "0"
    invoicecode: str | None = None
    invoicetitle: str | None = None
    sellbillid: str | None = None
    deliverytime: datetime | None = None
    fullname: str | None = None
    identificationtype: str | None = None
    identificationnumber: str | None = None
    mobile: str | None = None


def _opt(raw: dict[str, Any], key: str) -> str | None:
    return None if raw.get(key) is None else str(raw[key])


def _year_cards(raw: list[dict[str, Any]], world: World) -> tuple[YearCard, ...]:
    cards = []
    for c in raw:
        card = YearCard(
            orderid=str(c["orderid"]), agent=str(c["agent"]), senderid=_opt(c, "senderid"),
            personalid=int(c.get("personalid", 0)), productid=str(c["productid"]), productname=str(c["productname"]),
            amount=int(c["amount"]), price=Decimal(str(c["price"])), status=str(c.get("status", "1")),
            ordertime=datetime.fromisoformat(str(c["ordertime"])), effectdate=date.fromisoformat(str(c["effectdate"])),
            statuscode=str(c["statuscode"]), paymenttype=_opt(c, "paymenttype"),
            paytimeout=None if c.get("paytimeout") is None else int(c["paytimeout"]),
            ticketinnernumber=_opt(c, "ticketinnernumber"), needinvoice=str(c.get("needinvoice", "0")),
            invoicecode=_opt(c, "invoicecode"), invoicetitle=_opt(c, "invoicetitle"), sellbillid=_opt(c, "sellbillid"),
            deliverytime=datetime.fromisoformat(str(c["deliverytime"])) if c.get("deliverytime") else None,
            fullname=_opt(c, "fullname"), identificationtype=_opt(c, "identificationtype"),
            identificationnumber=_opt(c, "identificationnumber"), mobile=_opt(c, "mobile"),
        )
        if world.agent(card.agent) is None:
            raise WorldError(f"year card {card.orderid}: unknown agent {card.agent!r}")
        cards.append(card)
    ids = [c.orderid for c in cards]
    if len(set(ids)) != len(ids):
        raise WorldError(f"duplicate year-card order ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    return tuple(cards)
