"""Generated artefacts: the OpenAPI document (loads in schemathesis), the XSDs (load in
xmlschema, accept what the protocol renders, refuse what breaks them), and the
manual's own samples."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

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


def test_openapi_answers_refuse_empty_unmarked_leaves(openapi):
    item = openapi["paths"]["/QueryOrdersList.aspx"]["get"]["responses"]["200"]["content"]["text/xml"]["schema"][
        "properties"]["Items"]["properties"]["Item"]["items"]["properties"]
    assert item["tickettypedesc"]["minLength"] == 1 and "minLength" not in item["dealdesc"]  # gap response-empty-values


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


def _instance(el, spec):
    """A minimal valid value tree for one response element: each leaf its first listed value, else
    its format's example."""
    if el.children:
        return wire.Node(el.name, None, tuple(_instance(c, spec) for c in el.children if not c.optional))
    fmt = spec.format_for(el)
    return wire.Node(el.name, el.values[0] if el.values else fmt.example if fmt else "x")


@pytest.mark.parametrize("name", ["QueryOrder.aspx", "GetProducts.aspx", "GetProviderConfig.aspx", "QuerySeatsState.aspx",
                                  "Notify_OrderChanged.aspx", "GetTicketList.aspx"])
def test_rendered_responses_validate_and_broken_ones_do_not(spec, profile, xsd_dir, name):
    page = spec.page(name)
    schema = xmlschema.XMLSchema(str(xsd_dir / f"{page.stem}.xsd"))
    nodes = [_instance(e, spec) for e in page.response if not e.optional]
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
            return _instance(el, spec)
        return wire.render(profile.response, "0", "", [build(e) for e in page.response if not e.optional or leaf in tuple(e.walk())], "K").decode()

    assert schema.is_valid(body("12.50"))
    assert not schema.is_valid(body("twelve"))


def _answer(spec, profile, page, path, value):
    """A valid answer of `page` whose leaf at `path` (names joined by /) carries `value`."""
    names = path.split("/")

    def build(el, depth):
        on_path = depth < len(names) and el.name == names[depth]
        if not el.children:
            return wire.Node(el.name, value) if on_path and depth == len(names) - 1 else _instance(el, spec)
        kids = tuple(build(c, depth + 1 if on_path else len(names)) for c in el.children
                     if not c.optional or (on_path and depth + 1 < len(names) and c.name == names[depth + 1]))
        return wire.Node(el.name, None, kids)

    nodes = [build(e, 0) for e in page.response if not e.optional or e.name == names[0]]
    return wire.render(profile.response, "0", "", nodes, "K").decode()


VALUE_CASES = [  # page, element, a value of its format, values of another
    ("QueryOrder.aspx", "Item/ordertime", "20261207213000", ["2026-12-07 21:30:00", "20261207", "20261307213000", ""]),
    ("QueryOrder.aspx", "Item/summary", "100.00", ["100", "100.5", "100.000", "1e2", ""]),
    ("QueryOrder.aspx", "Item/subitem/price", "-5.00", ["5", ""]),
    ("QueryOrder.aspx", "Item/jgrqsj", "", ["2026-12-07", "2026-12-07 21:30:00"]),
    ("QueryOrder.aspx", "Item/sxrq", "20280229", ["2028-02-29", "20281329", ""]),
    ("QueryOrder.aspx", "Item/paytimeout", "30", ["30.0", "thirty", ""]),
    ("QueryOrder.aspx", "Item/orderstatus", "X", ["Z", "", "0 "]),
    ("GetSPYDRec.aspx", "Item/orderstatus", "D", ["Q", ""]),
    ("GetSPYDRec.aspx", "Item/jgrqsj", "20261207213000", ["", "2026/12/07 21:30"]),
    ("GetTicketList.aspx", "Item/orderid", "1" * 20, ["1" * 21]),
    ("GetTicketList.aspx", "Item/tickets/ticket/starttime", "", ["0930", "9:30"]),
    ("GetTicketContext.aspx", "Item/timespanindex", "", ["x", "1.5"]),
    ("GetTicketContext.aspx", "Item/eticketimage", "aGVsbG8=", ["not base64!"]),
    ("QueryTheaterSenceList.aspx", "item/StartTime", "0930", ["09:30", "2400"]),
    ("GetProviderConfig.aspx", "Item/feeitems/feeitem/feevalue", "10", ["ten", ""]),
    ("OrderRefundDeal.aspx", "Item/status", "7", ["77", "Z"]),
    # a leaf with neither format nor values is empty only where the spec marks it (gap response-empty-values)
    ("QueryOrdersList.aspx", "Items/Item/tickettypedesc", "成人票2张,儿童票1张", [""]),
    ("QueryOrdersList.aspx", "Items/Item/dealdesc", "", []),
    ("QueryOrder.aspx", "Item/customername", "示范旅行社", [""]),
    ("QueryOrder.aspx", "Item/paychannel", "", []),
    ("GetTicketContext.aspx", "Item/eticketimage", "", []),  # base64 matches "": allowed here, refused elsewhere
]


@pytest.mark.parametrize(("name", "path", "good", "bad"), VALUE_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_leaves_are_typed_by_format_length_and_values(spec, profile, name, path, good, bad):
    page = spec.page(name)
    schema = xmlschema.XMLSchema(xsd.page_xsd(page, profile, spec))
    assert schema.is_valid(_answer(spec, profile, page, path, good)), list(schema.iter_errors(_answer(spec, profile, page, path, good)))[:1]
    for value in bad:
        assert not schema.is_valid(_answer(spec, profile, page, path, value)), (path, value)


def _format_schema(pattern: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
      <xs:element name="v"><xs:simpleType><xs:restriction base="xs:string">
        <xs:pattern value={quoteattr(xsd.xsd_pattern(pattern))}/></xs:restriction></xs:simpleType></xs:element>
    </xs:schema>""")


def test_element_formats_mean_the_same_in_xsd_and_python(spec):
    """The XSD pattern of every format an element has accepts exactly what the spec's Python pattern
    accepts, over the examples of every format and their usual corruptions."""
    used = {spec.format_for(el).id for p in xsd.response_pages(spec) for root in p.response for el in root.walk()
            if not el.children and spec.format_for(el)}
    assert {"yyyyMMddHHmmss", "yyyyMMdd", "money", "int", "HH:mm", "HHmm", "base64", "decimal"} <= used
    probes = {f.example for f in spec.formats} | {"", "x", "2026-12-07 21:30:00", "100", "100.5", "-3", " 1", "1 ",
                                                 "２０２６１２０７", "0930\n", "a|b", "12:60"}
    probes |= {e + "0" for e in list(probes)} | {e[:-1] for e in list(probes) if e}
    for fid in sorted(used):
        fmt = spec.format(fid)
        schema = _format_schema(fmt.pattern)
        for probe in sorted(probes):
            doc = f"<v>{escape(probe)}</v>"
            assert schema.is_valid(doc) == bool(re.fullmatch(fmt.pattern, probe)), (fid, probe)


@pytest.mark.parametrize("pattern", [r"^\d+$", r"(?:ab)+", r"\w+", r"https?://\S+", r"a+?", r"a{,3}", r"[]a]", r"(a)\1"])
def test_patterns_xsd_reads_otherwise_are_refused(pattern):
    with pytest.raises(xsd.Inexpressible):
        xsd.xsd_pattern(pattern)


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
