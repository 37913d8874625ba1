"""conformance.catalog: the product a check books when it needs just an order is the cheapest order
it can make - without real-name constraint, within the product's minimum and maximum, and with a
stock that does not run out (hundreds of orders would sell a finite one out)."""

from __future__ import annotations

from pathlib import Path

from livemock import live_mock
from mockkit import DEMO

from conformance.catalog import cheapest_plain, order_cost
from conformance.context import CheckContext
from conformance.drivers import Driver
from conformance.target import Target
from mockserver.world import DEFAULT_WORLD


def test_an_order_costs_price_times_quantity_within_the_limits():
    product = {"price": "90.00", "minimum": "10", "maximum": "50"}
    assert order_cost(product, 1) is None and order_cost(product, 51) is None
    assert order_cost(product, 10) == 900
    assert order_cost({"price": "30.00", "minimum": "1", "maximum": "0"}, 3) == 90  # 0: no maximum
    assert order_cost({"price": "not a price"}, 1) > 10 ** 9  # ranked last, not a crash


def _cheapest(spec, world: Path | None = None) -> dict[str, str]:
    with live_mock(spec, world=world) as live:
        target = Target(live.base_url, DEMO, spec, spec.profile())
        return cheapest_plain(CheckContext(spec, spec.profile(), target, Driver(target.clock)))


def test_the_cheapest_plain_product_of_the_world(spec):
    # P1006 30.00; the group ticket (90.00, at least 10) and the real-name ticket are never chosen
    assert _cheapest(spec)["productid"] == "P1006"


def test_a_product_whose_stock_runs_out_is_passed_over(spec, tmp_path):
    text = DEFAULT_WORLD.read_text(encoding="utf-8")
    assert text.count('price: "80.00"') == 1
    world = tmp_path / "scenic.yaml"
    world.write_text(text.replace('price: "80.00"', 'price: "1.00"'), encoding="utf-8")  # P1004, 20 a day
    assert _cheapest(spec, world)["productid"] == "P1006"
