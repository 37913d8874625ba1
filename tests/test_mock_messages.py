"""The mock's retmsg texts are the manual's: every refusal of every page answers a message the page
lists (or the spec's generic failure) with its placeholders filled, the value one (xxxx, X, [ZJHM])
by the value the error names and the reason one (`ex`) by the spec's reasons table
(tables/reasons.yaml), never by the English detail, which only X-YBX-Detail carries. A page of the
other supplier mode answers the refusal its gaps choose (Page.mode_refusal), else the profile's chain."""

from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from mockkit import DEMO, make_mock
from starlette.testclient import TestClient

from mockserver import ledger
from mockserver.app import create_app
from mockserver.context import Mock
from mockserver.handlers import payments
from mockserver.server import Settings, build_theater_mock
from spec import citations, loader, wire
from spec.errors import (
    GENERIC_FAILURE,
    PLACEHOLDER,
    REASON_PLACEHOLDER,
    VALUE_PLACEHOLDER,
    BusinessError,
    ParamError,
    message_for,
    render_message,
)
from spec.model import Page, Retcode, Spec
from spec.protocol import Credentials, encode_request

from conftest import ROOT

UNKNOWN_ORDER = "2099010100000001"
COMMON = {"sign_type", "service_version", "input_charset", "sign", "sign_key_index", "user", "password"}
FIELD = re.compile(r"\{[^{}]*\}")  # a reasons-table field ({param}, {value}) left in a text
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
ORDER_NAMES = ("orderid", "yddh", "zfdh")  # parameters naming the supplier's order number


# ------------------------------------------------------------------ the judge


def manual_vocabulary(spec: Spec) -> set[str]:
    """The ASCII words the manual's own messages use (THEATER_MODE, ID, KHDM, ...)."""
    return {w for p in spec.pages for r in p.retcodes for w in WORD.findall(r.message_zh)}


def template(retcode: Retcode) -> re.Pattern[str]:
    return re.compile(".+?".join(re.escape(part) for part in PLACEHOLDER.split(retcode.message_zh)), re.DOTALL)


def retmsg_problems(spec: Spec, page: Page, retcode: str, retmsg: str, sent: Mapping[str, str]) -> list[str]:
    """What is wrong with a refusal's text: not a message of the page (nor the generic failure), a
    placeholder or reasons field left unfilled, or English words other than the manual's own,
    the page's parameter names and the values sent."""
    problems = []
    listed = [rc for rc in (*page.retcodes, GENERIC_FAILURE) if rc.code == retcode]
    if not any(template(rc).fullmatch(retmsg) for rc in listed):
        problems.append(f"{retcode} {retmsg!r} is no message of {page.page} for {retcode}")
    left = PLACEHOLDER.findall(retmsg) + FIELD.findall(retmsg)
    if left:
        problems.append(f"{retmsg!r} leaves {left} unfilled")
    allowed = manual_vocabulary(spec) | {p.name for p in page.params} | {w for v in sent.values() for w in WORD.findall(v)}
    english = [w for w in WORD.findall(retmsg) if w not in allowed and w.lower() not in {a.lower() for a in allowed}]
    if english:
        problems.append(f"{retmsg!r} holds English {english}")
    return problems


def test_the_judge_catches_each_fault(spec):
    page = spec.page("ReMakeTicket.aspx")
    clean = render_message(GENERIC_FAILURE, reason=spec.reason("order_not_found").render())
    assert retmsg_problems(spec, page, "-1", clean, {}) == []
    assert retmsg_problems(spec, page, "-1", f"调用失败，失败原因：no order {UNKNOWN_ORDER}", {"Order_id": UNKNOWN_ORDER})
    assert retmsg_problems(spec, page, "-1", "调用失败，失败原因：ex", {})
    assert retmsg_problems(spec, page, "-1", "调用失败，失败原因：{param}参数不能为空", {})
    assert retmsg_problems(spec, page, "-1", "什么都不是", {})  # no message of the page
    booking = spec.page("OrderProducts.aspx")
    assert retmsg_problems(spec, booking, "-1", booking.retcode("id_already_booked").message_zh, {})
    filled = render_message(booking.retcode("id_already_booked"), fill="110101199003071234")
    assert retmsg_problems(spec, booking, "-1", filled, {"ID": "110101199003071234"}) == []


# ------------------------------------------------------------------ the sweep over every page


@dataclass
class Suppliers:
    scenic: Mock
    theater: Mock
    client: TestClient

    def mock(self, prefix: str) -> Mock:
        return self.theater if prefix else self.scenic


@pytest.fixture
def suppliers(spec) -> Suppliers:
    scenic = make_mock(spec)
    theater = build_theater_mock(Settings(db=":memory:"), scenic)
    return Suppliers(scenic, theater, TestClient(create_app(scenic, theater=theater)))


def well_formed(spec: Spec, page: Page) -> dict[str, str]:
    values = {}
    for p in page.params:
        if (p.required or p.required_when) and p.location == "query" and p.name.lower() not in COMMON:
            values[p.name] = (p.default if p.default is not None else p.values[0] if p.values else
                              spec.format(p.format).example if p.format else "1")
    for p in page.params:
        if p.name.lower().replace("_", "") in ORDER_NAMES:
            values[p.name] = UNKNOWN_ORDER
    return values


def refusals(spec: Spec, page: Page) -> dict[str, tuple[dict[str, str], Credentials, bool]]:
    """Requests each refused for one reason: (values, credentials, signed correctly)."""
    base = well_formed(spec, page)
    own = [p for p in page.params if p.location == "query" and p.name.lower() not in COMMON]
    out = {"bad sign": (base, DEMO, False),
           "bad password": (base, Credentials(DEMO.user, "not-the-password", DEMO.key, DEMO.pay_password), True)}
    if any(p.name.lower().replace("_", "") in ORDER_NAMES for p in own):
        out["unknown order"] = (base, DEMO, True)
    required = [p for p in own if p.required and p.default is None]
    if required:
        out["missing param"] = ({k: v for k, v in base.items() if k != required[0].name}, DEMO, True)
    longer = [p for p in own if p.max_length and p.encryption != "md5-upper-3des"]
    if longer:
        out["too long"] = ({**base, longer[0].name: "1" * (longer[0].max_length + 1)}, DEMO, True)
    formatted = [p for p in own if (p.format or p.values) and p.encryption != "md5-upper-3des"]
    if formatted:  # as long as a good value, so that it is judged by its form, not its length
        p = formatted[0]
        bad = re.sub(r"[0-9A-Za-z]", "-", spec.format(p.format).example) if p.format else "Z"
        out["bad format"] = ({**base, p.name: bad}, DEMO, True)
    return out


def send(suppliers: Suppliers, prefix: str, page: Page, values: dict[str, str], creds: Credentials,
         signed: bool) -> tuple[wire.Envelope, str]:
    mock = suppliers.mock(prefix)
    pairs = encode_request(page, values, creds, mock.spec.profile())
    if not signed:
        pairs = [(k, "0" * 32 if k == "sign" else v) for k, v in pairs]
    r = suppliers.client.get(f"{prefix}/{page.page}", params=pairs)
    assert r.status_code == 200, r.text
    return wire.parse(r.content, mock.spec.profile().response), r.headers.get("x-ybx-detail", "")


def test_every_refusal_of_every_page_is_worded_by_the_manual(spec, suppliers):
    problems, seen = [], 0
    for page in spec.request_pages:
        for prefix in ("", "/theater"):
            for what, (values, creds, signed) in refusals(spec, page).items():
                env, detail = send(suppliers, prefix, page, values, creds, signed)
                if env.retcode == "0":
                    continue
                seen += 1
                problems += [f"{prefix or '/'} {page.page} {what}: {p} (detail {detail!r})"
                             for p in retmsg_problems(spec, page, env.retcode, env.retmsg, values)]
    assert seen > 400
    assert not problems, "\n".join(problems[:30])


def test_the_reported_answers(spec, suppliers):
    """The acceptance tester's examples: each now the manual's words, the detail in the header."""
    generic = {p: next((r for r in spec.page(p).retcodes if r.key == "call_failed"), GENERIC_FAILURE)
               for p in ("ReMakeTicket.aspx", "ReadyToPay.aspx", "ReadyToPayByFK.aspx", "GetProductsInventory.aspx")}
    cases = [
        ("ReMakeTicket.aspx", {"Order_id": UNKNOWN_ORDER, "smsModel": "0"}, spec.reason("order_not_found").render()),
        ("ReadyToPay.aspx", {"Order_id": UNKNOWN_ORDER}, spec.reason("order_not_found").render()),
        ("ReadyToPayByFK.aspx", {"Order_id": UNKNOWN_ORDER}, spec.reason("order_not_found").render()),
        ("GetProductsInventory.aspx", {"StartDate": "2026-12-01", "EndDate": "20261202"},
         spec.reason("too_long").render(param="StartDate")),
    ]
    for name, values, reason in cases:
        env, detail = send(suppliers, "", spec.page(name), values, DEMO, True)
        assert (env.retcode, env.retmsg) == (generic[name].code, render_message(generic[name], reason=reason)), name
        assert detail and re.search(r"[a-z]{3}", detail), (name, detail)  # the English stays for developers
    assert spec.reason("order_not_found").zh == "指定的预订单不存在"


# ------------------------------------------------------------------ value placeholders (xxxx, X, [ZJHM])


def _book(suppliers: Suppliers, memo_id: str) -> wire.Envelope:
    values = {"Order_list": "P1003|1", "Mobile": "13800138000", "ID": "110101199003071234", "SXRQ": "20261125",
              "timespanindex": "-1", "IDCount": "1", "Memo": f"{memo_id}^张三^13800138000^1^1"}
    env, _ = send(suppliers, "", suppliers.scenic.spec.page("OrderProducts.aspx"), values, DEMO, True)
    return env


def test_an_id_booked_twice_is_named_in_the_answer(spec, suppliers):
    assert _book(suppliers, "110101199003071234").retcode == "0"
    env = _book(suppliers, "110101199003071234")
    listed = spec.page("OrderProducts.aspx").retcode("id_already_booked")
    assert (env.retcode, env.retmsg) == (listed.code, render_message(listed, fill="110101199003071234"))
    assert "110101199003071234" in env.retmsg and "xxxx" not in env.retmsg
    env = _book(suppliers, "11010119900307")  # not an ID card number: xxxx is it, ex the reason
    listed = spec.page("OrderProducts.aspx").retcode("bad_pickup_id")
    assert env.retmsg == render_message(listed, fill="11010119900307", reason=spec.reason("bad_pickup_id").render())


ERRORS = {"YbxError", "BusinessError", "ParamError", "StateError", "AuthError", "SignatureError", "EncryptionError",
          "ModeError", "SeatTaken", "UnknownAgent", "AgentDisabled"}


@dataclass(frozen=True)
class Raise:
    where: str
    keys: tuple[re.Pattern[str], ...]  # a literal key, or an f-string key with its holes as .+
    literal: tuple[str, ...]
    keywords: frozenset[str]


def _key(node: ast.expr) -> tuple[re.Pattern[str], str | None] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"[a-z][a-z0-9_]*", node.value):
        return re.compile(re.escape(node.value)), node.value
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values]
        return re.compile("".join(parts)), None
    return None


def raises(source: str, where: str) -> list[Raise]:
    """Every error the source builds with a key it spells out (first argument of an error class,
    or the keys given to a handler's `refuse`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        args = node.args[:1] if name in ERRORS else node.args if name == "refuse" else []
        keys = [k for k in (_key(a) for a in args) if k]
        if keys:
            found.append(Raise(f"{where}:{node.lineno}", tuple(k for k, _ in keys), tuple(v for _, v in keys if v),
                               frozenset(k.arg for k in node.keywords if k.arg)))
    return found


def mock_raises() -> list[Raise]:
    return [r for path in sorted((ROOT / "mockserver").rglob("*.py"))
            for r in raises(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]


def value_placeholder_problems(spec: Spec, found: list[Raise]) -> list[str]:
    """Raises of a key whose message (on any page) has a value placeholder, without `fill`."""
    needing = {r.key for p in spec.pages for r in p.retcodes if VALUE_PLACEHOLDER.search(r.message_zh)}
    return [f"{r.where}: {sorted(k for k in needing if any(p.fullmatch(k) for p in r.keys))} without fill"
            for r in found if "fill" not in r.keywords and any(p.fullmatch(k) for p in r.keys for k in needing)]


def test_every_key_with_a_value_placeholder_is_raised_with_its_value(spec):
    found = mock_raises()
    assert len(found) > 100
    assert not value_placeholder_problems(spec, found)
    broken = raises('raise BusinessError("id_already_booked", "in an active order")\n'
                    'raise BusinessError(f"{prefix}_idcard_count_mismatch", name)\n', "snippet")
    assert len(value_placeholder_problems(spec, broken)) == 2


def reasonless_keys(spec: Spec, found: list[Raise]) -> set[str]:
    """Keys the source raises without words of its own (`reason=`) that the reasons table lacks."""
    return {k for r in found if "reason" not in r.keywords for k in r.literal if spec.reason(k) is None}


def test_every_key_the_mock_raises_has_a_reason(spec):
    found = mock_raises()
    assert not reasonless_keys(spec, found)
    dynamic = {*ledger.INSUFFICIENT.values(), *payments.DEPOSIT.not_allowed, *payments.REBATE.not_allowed,
               *spec.profile().error_fallbacks, "wrong_state", "seat_taken"}
    assert not {k for k in dynamic if spec.reason(k) is None}
    assert reasonless_keys(spec, raises('raise BusinessError("no_such_reason_key")', "snippet")) == {"no_such_reason_key"}


# ------------------------------------------------------------------ rendering


def test_render_fills_each_placeholder_with_its_own_text(spec):
    rc = lambda msg: Retcode("-1", "k", msg, "", None)  # noqa: E731
    assert render_message(rc('取票证件号码:"xxxx"有错误:ex'), fill="123", reason="原因") == '取票证件号码:"123"有错误:原因'
    assert render_message(rc("调用失败，失败原因：ex；"), fill="123") == "调用失败，失败原因：ex；"  # a value never stands for ex
    assert render_message(rc("当前订单状态为X，不支持直接撤消订单。"), fill="已关闭") == "当前订单状态为已关闭，不支持直接撤消订单。"
    assert render_message(rc("当前证件[ZJHM]在系统中存在有效期内门票"), fill="1") == "当前证件1在系统中存在有效期内门票"
    assert render_message(rc('执行激活参数准备时发生错误:" + ex.Message。'), reason="原因") == "执行激活参数准备时发生错误:原因。"
    assert render_message(rc("index 与 THEATER_MODE 不变：ex"), fill="v", reason="r") == "index 与 THEATER_MODE 不变：r"
    assert REASON_PLACEHOLDER.search("ex") and not REASON_PLACEHOLDER.search("index")
    error = ParamError("missing_param", "Order_id is required", param="Order_id")
    assert message_for(spec, GENERIC_FAILURE, error) == "调用失败，失败原因：Order_id参数不能为空"
    assert message_for(spec, GENERIC_FAILURE, BusinessError("order_not_found", "no order 1")) == "调用失败，失败原因：指定的预订单不存在"
    # a key without words of its own falls back to its class, then to `internal`
    assert message_for(spec, GENERIC_FAILURE, ParamError("x_unknown", param="Y")) == "调用失败，失败原因：Y参数不能为空"
    assert message_for(spec, GENERIC_FAILURE, BusinessError("x_unknown")) == "调用失败，失败原因：其他错误"
    assert message_for(spec, GENERIC_FAILURE, BusinessError("x_unknown", reason="自己的话")) == "调用失败，失败原因：自己的话"


def test_reason_fields_left_out_read_without_them(spec):
    assert spec.reason("missing_param").render() == "参数不能为空"
    assert spec.reason("wrong_state").render(value="已关闭") == "当前订单状态为已关闭，不支持此项操作"


# ------------------------------------------------------------------ the reasons table itself


def _norm(text: str) -> str:
    return re.sub(r"[\s\"'“”‘’。，；,.;:：…（）()!！]", "", text)


def test_reasons_cite_the_manual(spec):
    # the manual's lines as the spec's excerpt records them (tests/test_seed_citations.py)
    lines = citations.stored()[citations.MANUAL]
    wrong = []
    for r in spec.reasons:
        assert r.line in lines, r.key
        if not r.adapted_en and _norm(r.zh) not in _norm(lines[r.line]):
            wrong.append(f"{r.key}: {r.zh!r} is not on line {r.line} ({lines[r.line]!r}); say how it is adapted")
        if FIELD.search(r.zh) and not r.adapted_en:
            wrong.append(f"{r.key}: a reason with fields is adapted by definition")
    assert not wrong, wrong


def _broken(tmp_path: Path, name: str, old: str, new: str) -> list[str]:
    root = tmp_path / "data"
    shutil.copytree(loader.DATA_DIR, root)
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (name, old)
    path.write_text(text.replace(old, new), encoding="utf-8")
    return [str(p) for p in loader.check(root)]


@pytest.mark.parametrize("old,new,problem", [
    ("- {key: bad_params, zh: 参数错误", "- {key: bad_date_format, zh: 参数错误", "appears twice"),
    ("  - {key: internal, zh: 其他错误, line: 1880}\n", "", "no reason for key 'internal'"),
    ('zh: "{param}参数不能为空"', 'zh: "{name}参数不能为空"', "unknown fields ['name']"),
    ("- {key: bad_params, zh: 参数错误", "- {key: bad_params, zh: 参数xxxx错误", "holds a message placeholder"),
    ("- {key: bad_params, zh: 参数错误", "- {key: Bad-Params, zh: 参数错误", "does not match"),
])
def test_the_loader_refuses_a_broken_reasons_table(tmp_path, old, new, problem):
    problems = _broken(tmp_path, "tables/reasons.yaml", old, new)
    assert any("reasons.yaml" in p and problem in p for p in problems), problems


# ------------------------------------------------------------------ mode refusals (Page.mode_refusal)


@pytest.mark.parametrize("page,old,new,problem", [
    ("QueryTheaterList", "mode_refusal: no_theaters", "mode_refusal: no_products", "lists no retcode 'no_products'"),
    ("QueryTheaterList", "mode: theater\n", "mode: both\n", "served in both modes"),
])
def test_the_loader_refuses_a_mode_refusal_the_page_cannot_answer(tmp_path, page, old, new, problem):
    problems = _broken(tmp_path, f"pages/{page}.yaml", old, new)
    assert any(page in p and problem in p for p in problems), problems


def test_the_mode_refusals_follow_the_gaps(spec):
    chosen = {p.page: p.mode_refusal for p in spec.request_pages if p.mode_refusal}
    assert chosen == {"GetProducts.aspx": "theater_mode", "GetProductsInventory.aspx": "theater_mode",
                      "GetProducts2.aspx": "no_products", "QueryTheaterList.aspx": "no_theaters",
                      "QueryTheaterSenceList.aspx": "no_sessions", "OrderProducts2.aspx": "scene_not_found",
                      "GetServiceItem.aspx": "other_error", "GetTimeSegment.aspx": "other_error"}
    for name, key in chosen.items():
        if key != "theater_mode":  # a page's own THEATER_MODE message needs no gap
            assert any(key in g.choice_en and "mode" in (g.id + g.choice_en) for g in spec.page(name).gaps), name


def _mode_answer(spec: Spec, page: Page, supplier_mode: str) -> str:
    """The retmsg the spec gives `page` on a supplier of the other mode."""
    if page.mode_refusal:
        return page.retcode(page.mode_refusal).message_zh
    listed = page.retcode(f"{supplier_mode}_mode") or page.retcode("call_failed") or page.retcode("other_error")
    listed = listed or GENERIC_FAILURE
    return render_message(listed, reason=spec.reason(f"{supplier_mode}_mode").render())


def test_a_page_of_the_other_mode_answers_the_spec_s_refusal_on_both_suppliers(spec, suppliers):
    answered = {}
    for page in spec.request_pages:
        for prefix, mode in (("", "scenic"), ("/theater", "theater")):
            env, detail = send(suppliers, prefix, page, well_formed(spec, page), DEMO, True)
            if page.mode in ("both", mode):
                assert "mode" not in detail, (prefix, page.page, detail)  # served, whatever else it says
                continue
            assert (env.retcode, env.retmsg) == ("-1", _mode_answer(spec, page, mode)), (prefix, page.page)
            answered[page.page] = env.retmsg
    assert answered["QueryTheaterList.aspx"] == "没有找到任何园区(剧场)的定义数据。"
    assert answered["OrderProducts2.aspx"] == "场次错误,没有找到对应的场次定义。"
    assert answered["OrderAndPayWithYDJ2.aspx"] == "调用失败，失败原因：当前供应商为景区类供应商，不支持此项操作；"
    assert answered["OrderAndPayWithYDJ.aspx"].startswith("调用失败，失败原因：系统工作模式为 THEATER_MODE")
    assert answered["GetProducts.aspx"].startswith("系统工作模式为 THEATER_MODE")
    assert answered["GetServiceItem.aspx"] == "其他错误。"


def test_the_mode_refusal_is_read_from_the_page(tmp_path, spec):
    root = tmp_path / "data"
    shutil.copytree(loader.DATA_DIR, root)
    path = root / "pages" / "QueryTheaterList.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("mode_refusal: no_theaters", "mode_refusal: call_failed"),
                    encoding="utf-8")
    changed = loader.load_spec(root)
    client = TestClient(create_app(make_mock(changed)))
    page = changed.page("QueryTheaterList.aspx")
    r = client.get(f"/{page.page}", params=encode_request(page, {}, DEMO, changed.profile()))
    env = wire.parse(r.content, changed.profile().response)
    assert env.retmsg == render_message(page.retcode("call_failed"), reason=changed.reason("scenic_mode").render())
