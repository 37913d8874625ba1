"""The world a mock starts from: supplier settings, products, agents (a YAML file users edit)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from spec.model import FeeItem, Profile, Spec

from .days import Day, Moment, RelativeDay, RelativeMoment, day_on, moment_on, parse_day, parse_moment
from .stage import Stage, load_stage
from .worldcheck import schema_problems, semantic_problems
from .worldfile import Problem, WorldError, read_world_text

WORLDS_DIR = Path(__file__).parent / "worlds"
DEFAULT_WORLD = WORLDS_DIR / "scenic.yaml"
SHIPPED_WORLDS = tuple(sorted(WORLDS_DIR.glob("*.yaml")))


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
    sold_out: tuple[Day, ...] = ()  # all dates once the world is resolved (`World.on`)
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
    digest: str = field(default="", compare=False)  # of the file's bytes (worldfile.WorldText.digest)
    stage: Stage | None = None  # theaters, scenes and seats of a theater-mode supplier
    seed_day: date | None = None  # the day relative dates were resolved against (None: not resolved)

    @property
    def relative(self) -> bool:
        """Whether some date is written relative to the seed day (the world must be resolved: `on`)."""
        return any(isinstance(d, RelativeDay) for p in self.products for d in p.sold_out) or any(
            isinstance(v, (RelativeDay, RelativeMoment))
            for c in self.year_cards for v in (c.ordertime, c.effectdate, c.deliverytime))

    def on(self, seed_day: date) -> World:
        """This world seeded on `seed_day`: every relative date made absolute."""
        products = tuple(replace(p, sold_out=tuple(day_on(d, seed_day) for d in p.sold_out)) if p.sold_out else p
                         for p in self.products)
        cards = tuple(replace(c, ordertime=moment_on(c.ordertime, seed_day), effectdate=day_on(c.effectdate, seed_day),
                              deliverytime=None if c.deliverytime is None else moment_on(c.deliverytime, seed_day))
                      for c in self.year_cards)
        return replace(self, products=products, year_cards=cards, seed_day=seed_day)

    def product(self, product_id: str) -> Product | None:
        return next((p for p in self.products if p.id == product_id), None)

    def agent(self, user: str) -> AgentSeed | None:
        return next((a for a in self.agents if a.user == user), None)


def _fee_items(raw: list[dict[str, Any]]) -> tuple[FeeItem, ...]:
    return tuple(FeeItem(i["unit"], int(i["unitcount"]), i["feecalmode"], Decimal(i["feevalue"])) for i in raw or ())


def _build(data: dict[str, Any], source: str, digest: str = "") -> World:
    """The world of data that passed the checks (`check_world`)."""
    s = data["supplier"]
    supplier = Supplier(
        mode=s["mode"], providerid=s["providerid"], providername=s["providername"],
        timed_entry=s.get("timed_entry", False), feemode=s.get("feemode", True),
        activateable=s.get("activateable", "1"), tickettype=s.get("tickettype", "3"),
        payandactive=s.get("payandactive", False), activerefund=s.get("activerefund", True),
        payment_approval=s.get("payment_approval", False),
        paytimeout_minutes=s.get("paytimeout_minutes", 30), presale_days=s.get("presale_days", 90),
        voucher_resend_seconds=s.get("voucher_resend_seconds", 300),
        sms_code_ttl_seconds=s.get("sms_code_ttl_seconds", 360),
        sms_code_resend_seconds=s.get("sms_code_resend_seconds", 60),
        sms_code_max_resends=s.get("sms_code_max_resends", 50),
        page_size=s.get("page_size", 20),
    )
    default_fees = _fee_items(data.get("feeitems", []))
    products = tuple(
        Product(
            id=p["id"], name=p["name"], price=Decimal(p["price"]), service=p.get("service", ""),
            classid=p.get("classid", "0"), unit=p.get("unit", "张"), needname=p.get("needname", False),
            minimum=p.get("minimum", 1), maximum=p.get("maximum", 100), simple_id_max=p.get("simple_id_max", 0),
            daily_stock=p.get("daily_stock", 0), sold_out=tuple(parse_day(d) for d in p.get("sold_out", ())),
            free_every=p.get("free_every", 0), free_count=p.get("free_count", 0),
            preorder_days=p.get("preorder_days", 3), webpredays=p.get("webpredays", 0),
            feeitems=_fee_items(p["feeitems"]) if "feeitems" in p else default_fees,
        )
        for p in data["products"]
    )
    agents = tuple(
        AgentSeed(
            user=a["user"], password=a["password"], key=a["key"], pay_password=a["pay_password"], name=a["name"],
            customertype=a.get("customertype", "2"), customerid=a["customerid"], mobiles=tuple(a.get("mobiles", ())),
            deposit=Decimal(a.get("deposit", "0")), rebate=Decimal(a.get("rebate", "0")),
            pay_types=tuple(a.get("pay_types", ())), daily_limit=a.get("daily_limit", 0), enabled=a.get("enabled", True),
        )
        for a in data["agents"]
    )
    return World(
        supplier=supplier, products=products,
        service_items=tuple(ServiceItem(x["code"], x["name"]) for x in data.get("service_items", ())),
        time_segments=tuple(TimeSegment(t["service"], t["index"], t["start"], t["end"], t["total"], t["capacity"])
                            for t in data.get("time_segments", ())),
        pay_channels=tuple(PayChannel(c["id"], c["name"]) for c in data.get("pay_channels", ())),
        agents=agents, year_cards=tuple(_year_card(c) for c in data.get("year_cards") or ()), source=source, digest=digest,
        stage=load_stage(data),
    )


def check_world(path: Path | None = None, *, spec: Spec | None = None, profile: Profile | None = None,
                mode: str | None = None) -> tuple[World | None, tuple[Problem, ...]]:
    """The world of a file and every problem found in it, in file order (the world is None when
    there is one). With `spec` (and `profile`, default the spec's default), the codes it uses are
    checked against the spec; with `mode`, the world must be of that mode."""
    path = Path(path) if path else DEFAULT_WORLD
    text = read_world_text(path)
    if text.data is not None:
        if not isinstance(text.data, dict):
            text.add((), "a world is a mapping (supplier, products, agents, …)")
        else:
            schema_problems(text)
            semantic_problems(text, spec, profile, mode)
    problems = tuple(sorted(text.problems, key=lambda p: (p.line, p.column)))
    return (None if problems else _build(text.data, str(path), text.digest)), problems


def load_world(path: Path | None = None, *, spec: Spec | None = None, profile: Profile | None = None,
               mode: str | None = None) -> World:
    """Load and check a world file (default: the shipped scenic world); `WorldError` lists every
    problem. Relative dates stay relative until the world is resolved against its seed day (`World.on`)."""
    world, problems = check_world(path, spec=spec, profile=profile, mode=mode)
    if world is None:
        raise WorldError(problems)
    return world


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
    ordertime: Moment  # Asia/Shanghai (naive), as every world time; absolute once resolved
    effectdate: Day
    statuscode: str  # order status (2.2)
    paymenttype: str | None = None  # payment type id (2.5)
    paytimeout: int | None = None  # minutes
    ticketinnernumber: str | None = None
    needinvoice: str = "0"
    invoicecode: str | None = None
    invoicetitle: str | None = None
    sellbillid: str | None = None
    deliverytime: Moment | None = None
    fullname: str | None = None
    identificationtype: str | None = None
    identificationnumber: str | None = None
    mobile: str | None = None


def _year_card(c: dict[str, Any]) -> YearCard:
    return YearCard(
        orderid=c["orderid"], agent=c["agent"], senderid=c.get("senderid"), personalid=c.get("personalid", 0),
        productid=c["productid"], productname=c["productname"], amount=c["amount"], price=Decimal(c["price"]),
        status=c.get("status", "1"), ordertime=parse_moment(c["ordertime"]), effectdate=parse_day(c["effectdate"]),
        statuscode=c["statuscode"], paymenttype=c.get("paymenttype"), paytimeout=c.get("paytimeout"),
        ticketinnernumber=c.get("ticketinnernumber"), needinvoice=c.get("needinvoice", "0"),
        invoicecode=c.get("invoicecode"), invoicetitle=c.get("invoicetitle"), sellbillid=c.get("sellbillid"),
        deliverytime=parse_moment(c["deliverytime"]) if c.get("deliverytime") else None,
        fullname=c.get("fullname"), identificationtype=c.get("identificationtype"),
        identificationnumber=c.get("identificationnumber"), mobile=c.get("mobile"),
    )
