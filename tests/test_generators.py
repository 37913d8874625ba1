"""Generated artefacts: the OpenAPI document (loads in schemathesis), the XSDs (load in
xmlschema, accept what the protocol renders, refuse what breaks them), and the
manual's own samples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
import xmlschema
import yaml
from lxml import etree

from spec import samples, wire, xsd
from spec.openapi import generate

KNOWN_FAILURES = yaml.safe_load((samples.SAMPLES_DIR / "known_failures.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def openapi(spec):
    return generate(spec)


def test_openapi_has_get_and_post_for_every_request_page(spec, openapi):
    for page in spec.request_pages:
        assert "get" in openapi["paths"][f"/{page.page}"], page.page
        assert "post" in openapi["paths"][f"/POST/{page.page}"], page.page
    assert "/api/WebInterface/Order/YearCard/Query/Main" in openapi["paths"]
    assert set(openapi["webhooks"]) == {p.stem for p in spec.pages_by("callback")}


def test_openapi_loads_in_schemathesis(spec, openapi):
    schema = schemathesis.openapi.from_dict(openapi)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 2 * len(spec.request_pages)
    labels = {op.label for op in ops}
    assert "GET /OrderProducts.aspx" in labels and "POST /POST/OrderProducts.aspx" in labels


def test_openapi_param_schema_follows_the_spec(openapi):
    get = openapi["paths"]["/OrderProducts.aspx"]["get"]
    by_name = {p["name"]: p for p in get["parameters"]}
    assert by_name["Mobile"]["schema"]["x-ybx-encryption"] == "3des"
    assert by_name["Mobile"]["schema"]["x-ybx-plain-max-length"] == 20
    assert by_name["user"]["schema"]["maxLength"] == 64 and by_name["user"]["required"]
    assert by_name["Order_list"]["schema"]["x-ybx-format"] == "pid_qty_list"
    resp = get["responses"]["200"]["content"]["text/xml"]["schema"]
    assert resp["xml"]["name"] == "root" and "-10362" in resp["properties"]["retcode"]["enum"]


def test_cli_openapi_is_json():
    out = subprocess.run([sys.executable, "-m", "spec", "openapi"], capture_output=True, check=True, text=True)
    assert json.loads(out.stdout)["openapi"] == "3.1.0"


@pytest.fixture(scope="module")
def xsd_dir(tmp_path_factory, spec):
    out = tmp_path_factory.mktemp("xsd")
    xsd.write_all(spec, out)
    return out


def test_every_xsd_loads(spec, xsd_dir):
    files = sorted(xsd_dir.glob("*.xsd"))
    assert len(files) == len(xsd.response_pages(spec))
    for f in files:
        xmlschema.XMLSchema(str(f))


def _instance(el, depth=0):
    """A minimal valid value tree for one response element."""
    if el.children:
        return wire.Node(el.name, None, tuple(_instance(c, depth + 1) for c in el.children if not c.optional))
    value = el.values[0] if el.values else {"int": "1", "integer": "1", "decimal": "1.00"}.get(el.type, "x")
    return wire.Node(el.name, value)


@pytest.mark.parametrize("name", ["QueryOrder.aspx", "GetProducts.aspx", "GetProviderConfig.aspx", "QuerySeatsState.aspx",
                                  "Notify_OrderChanged.aspx", "GetTicketList.aspx"])
def test_rendered_responses_validate_and_broken_ones_do_not(spec, profile, xsd_dir, name):
    page = spec.page(name)
    schema = xmlschema.XMLSchema(str(xsd_dir / f"{page.stem}.xsd"))
    nodes = [_instance(e) for e in page.response if not e.optional]
    good = wire.render(profile.response, "0", "", nodes, "K")
    schema.validate(good.decode())
    unknown_code = wire.render(profile.response, "-999999", "", nodes, "K")
    if page.direction == "request":
        assert not schema.is_valid(unknown_code.decode())
    stray = wire.render(profile.response, "0", "", nodes + [wire.Node("unexpected", "1")], "K")
    assert not schema.is_valid(stray.decode())


def test_numeric_leaves_are_typed(spec, profile, xsd_dir):
    page = spec.page("QueryOrder.aspx")
    leaf = next(e for root in page.response for e in root.walk() if not e.children and e.type == "decimal")
    schema = xmlschema.XMLSchema(str(xsd_dir / "QueryOrder.xsd"))

    def body(value):
        def build(el):
            if el.children:
                return wire.Node(el.name, None, tuple(build(c) for c in el.children if not c.optional or c is leaf))
            if el is leaf:
                return wire.Node(el.name, value)
            return _instance(el)
        return wire.render(profile.response, "0", "", [build(e) for e in page.response if not e.optional or leaf in tuple(e.walk())], "K").decode()

    assert schema.is_valid(body("12.50"))
    assert not schema.is_valid(body("twelve"))


def test_samples_are_extracted():
    assert len(samples.stored()) >= 50


@pytest.mark.parametrize("path", samples.stored(), ids=lambda p: p.name)
def test_manual_samples_validate_or_are_listed(spec, profile, path: Path):
    page = samples.page_of(path, spec)
    text = samples.repair(path.read_text(encoding="utf-8"))
    schema = xmlschema.XMLSchema(xsd.page_xsd(page, profile, spec, typed=False))
    try:
        etree.fromstring(text.encode("utf-8"))
        valid = schema.is_valid(text)
    except etree.XMLSyntaxError:
        valid = False
    if path.name in KNOWN_FAILURES:
        assert not valid, f"{path.name} now validates; remove it from known_failures.yaml"
    else:
        assert valid, list(schema.iter_errors(text))[:1]


def test_repair_fixes_typographic_quotes_and_comments():
    raw = '<?xml version="1.0" encoding=“UTF-8” ?>\n<root>\n<a>1</a>     <!—一条记录开始(\n<b>2</ b>\n<c>\n……\n</c>\n</root>'
    fixed = samples.repair(raw)
    root = etree.fromstring(fixed.encode())
    assert [c.tag for c in root if isinstance(c.tag, str)] == ["a", "b"]
