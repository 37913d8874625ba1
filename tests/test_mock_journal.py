"""Certification mode: the mock journals every request with the judge's findings.

A deliberately sloppy OTA client, written here with its own signing and 3DES code (not
spec.signing / spec.crypto), makes one mistake at a time; the journal must name each with its
id, clause and hint, and a correct client must come out clean. Certify mode never changes the
mock's answer, and the journal lives in the mock's database."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import pytest
from Crypto.Cipher import DES3
from Crypto.Util.Padding import pad
from mockkit import DEMO, OTHER, START, Ota, make_mock
from receiver import free_port
from starlette.testclient import TestClient

from mockserver import certify
from mockserver.app import create_app
from mockserver.certify import Exchange, Judge
from spec import crypto, loader
from spec.protocol import Credentials, encode_request
from spec.signing import request_sign

TOKEN = {"X-Admin-Token": "demo-admin"}
DAY = "20261125"


# ------------------------------------------------------------------ the sloppy OTA client

@dataclass
class Sloppy:
    """An integrator's client written from the manual, with switchable mistakes."""

    client: TestClient | httpx.Client
    creds: Credentials = DEMO
    mistakes: frozenset[str] = frozenset()
    cipher_key: str | None = None  # encrypt fields under another KEY than the signing one
    # This client's own reading of which OrderProducts fields are 3DES (4.2.4).
    encrypted: tuple[str, ...] = ("Mobile", "ID", "SXRQ")
    sent: list[list[tuple[str, str]]] = field(default_factory=list)

    def _3des(self, text: str) -> str:
        secret = self.cipher_key or self.creds.key
        if "raw-key" in self.mistakes:
            key = secret.encode()[:16]  # "the KEY is the key": whatever 3DES takes of it
        else:
            key = (secret + "0" * 24)[:24].encode()
        return base64.b64encode(DES3.new(key, DES3.MODE_ECB).encrypt(pad(text.encode(), 8))).decode()

    def _password(self) -> str:
        digest = hashlib.md5(self.creds.password.encode()).hexdigest()
        if "password-lower-md5" in self.mistakes:
            return self._3des(digest)
        if "password-plain" in self.mistakes:
            return self._3des(self.creds.password)
        return self._3des(digest.upper())

    def _sign(self, pairs: list[tuple[str, str]]) -> str:
        items = [(k.lower(), v) for k, v in pairs if k.lower() not in ("sign", "sign_type") and v != ""]
        if "url-encoded" in self.mistakes:
            items = [(k, quote_plus(v)) for k, v in items]
        if "unsorted" not in self.mistakes:
            items.sort()
        text = "&".join(f"{k}={v}" for k, v in items)
        if "key-not-appended" not in self.mistakes:
            text += self.creds.key
        digest = hashlib.md5(text.encode()).hexdigest()
        return digest if "lower-hex" in self.mistakes else digest.upper()

    def pairs(self, values: list[tuple[str, str]]) -> list[tuple[str, str]]:
        pairs = [("user", self.creds.user), ("password", self._password())]
        for name, value in values:
            if name in self.encrypted and not (name == "Mobile" and "plain-mobile" in self.mistakes):
                value = self._3des(value)
            pairs.append((name, value))
        if "unknown-param" in self.mistakes:
            pairs.append(("gatemode", "1"))
        pairs.append(("sign", self._sign(pairs)))
        return pairs

    def book(self, mobile: str = "13800138000", day: str = DAY, senderid: str | None = None,
             path: str = "/OrderProducts.aspx", post: bool = False) -> httpx.Response:
        if "slashed-date" in self.mistakes:
            day = f"{day[:4]}-{day[4:6]}-{day[6:]}"
        values = [("Order_list", "P1001|2"), ("Mobile", mobile), ("ID", "110101199003071234"), ("SXRQ", day)]
        if "no-slot" not in self.mistakes:  # the shipped world runs in timed-entry mode
            values.append(("timespanindex", "-1"))
        if senderid:
            values.append(("senderid", senderid))
        pairs = self.pairs(values)
        self.sent.append(pairs)
        if post:
            return self.client.post(path, data=dict(pairs))
        return self.client.get(path, params=pairs)


def certified(spec, **kwargs) -> tuple[TestClient, object]:
    mock = make_mock(spec, **kwargs)
    return TestClient(create_app(mock, certify=True)), mock


def journal(client, **filters) -> list[dict]:
    response = client.get("/_admin/journal", params=filters, headers=TOKEN)
    assert response.status_code == 200, response.text
    return response.json()


def findings(entry: dict) -> set[str]:
    return {f["mistake"] for f in entry["findings"]}


# ------------------------------------------------------------------ a correct client is clean

def test_correct_clients_are_clean(spec):
    client, mock = certified(spec)
    ota = Ota(mock, client)
    orderid = ota.book(senderid="ota-0001")
    ota.book(senderid="ota-0001")  # a retry with the same senderid is what the manual asks for
    assert ota.status(orderid) == "0"
    ota.call("GetProducts.aspx")
    sloppy = Sloppy(client)
    assert sloppy.book(mobile="13900000001").status_code == 200
    assert sloppy.book(mobile="13900000002", post=True, path="/POST/OrderProducts.aspx").status_code == 200
    entries = journal(client)
    assert len(entries) == 6
    assert [e["verdict"] for e in entries] == ["clean"] * 6, [e["findings"] for e in entries]
    first = entries[0]
    assert first["page"] == "OrderProducts.aspx" and first["agent"] == "demo-ota" and first["retcode"] == "0"
    assert first["at"] == "2026-11-21T10:00:00+08:00" and first["http_status"] == 200
    assert ["password", "***"] in first["params"]  # the password is never journalled
    assert first["values"]["Mobile"] == "13800138000" and first["values"]["SXRQ"] == DAY
    assert first["values"]["password"] == "***"
    assert entries[-1]["method"] == "POST" and entries[-1]["path"] == "/POST/OrderProducts.aspx"


# ------------------------------------------------------------------ each mistake, one at a time

@dataclass(frozen=True)
class Case:
    mistake: str  # the sloppy client's switch
    expect: str  # the catalogue id the journal must name
    params: frozenset[str | None]
    clause: str  # a fragment of the clause
    retcode: str | None  # what the mock answered (unchanged by certify mode)


CASES = [
    Case("unsorted", "sign.unsorted", frozenset({"sign"}), "4.2.4 OrderProducts.aspx sign row (line 1634)", "-1"),
    Case("key-not-appended", "sign.key-not-appended", frozenset({"sign"}), "profile rule (d)", "-1"),
    Case("lower-hex", "sign.lower-hex", frozenset({"sign"}), "line 1634", "0"),  # accepted: compare ignores case
    Case("url-encoded", "sign.url-encoded-values", frozenset({"sign"}), "profile rule (d)", "-1"),
    Case("plain-mobile", "encryption.plaintext", frozenset({"Mobile"}), "Mobile row (line 1664); profile rule (b)", "-1501"),
    Case("raw-key", "encryption.wrong-key", frozenset({"password", "Mobile", "ID", "SXRQ"}), "profile rule (b)", "-1501"),
    Case("slashed-date", "param.bad-date", frozenset({"SXRQ"}), "4.2.4 OrderProducts.aspx SXRQ row (line 1676)", "-1501"),
    Case("unknown-param", "param.unknown", frozenset({"gatemode"}), "4.2.4 OrderProducts.aspx parameter table", "0"),
    Case("password-lower-md5", "encryption.bad-password-recipe", frozenset({"password"}), "profile rule (c)", "0"),
    Case("password-plain", "encryption.bad-password-recipe", frozenset({"password"}), "line 1646", "-1"),
    Case("no-slot", "param.missing-required-when", frozenset({"timespanindex"}),
         "4.2.4 OrderProducts.aspx timespanindex row (line 1733)", "-1501"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.mistake)
def test_each_mistake_is_named_with_its_clause_and_hint(spec, case: Case):
    client, _ = certified(spec)
    Sloppy(client, mistakes=frozenset({case.mistake})).book()
    [entry] = journal(client)
    assert entry["verdict"] == "mistakes"
    assert findings(entry) == {case.expect}, entry["findings"]
    assert {f["param"] for f in entry["findings"]} == case.params
    catalogue = spec.mistake(case.expect)
    for f in entry["findings"]:
        assert case.clause in f["clause"]
        assert f["rule"] == catalogue.rule and f["severity"] == catalogue.severity
        assert f["hint"] and "{" not in f["hint"] and "{" not in f["message"]
    assert entry["retcode"] == case.retcode


def test_the_recognised_variant_is_named_in_the_message(spec):
    client, _ = certified(spec)
    Sloppy(client, mistakes=frozenset({"raw-key"})).book()
    Sloppy(client, cipher_key=OTHER.key).book(mobile="13900000003")
    Sloppy(client, mistakes=frozenset({"password-lower-md5"})).book(mobile="13900000004")
    raw_key, other_key, lower = journal(client)
    assert all("16-byte key" in f["message"] for f in raw_key["findings"])
    assert {f["param"] for f in other_key["findings"]} == {"password", "Mobile", "ID", "SXRQ"}
    assert all("another agent's KEY" in f["message"] for f in other_key["findings"])
    assert "lower-case hex" in lower["findings"][0]["message"]


def test_two_sign_mistakes_at_once_are_both_named(spec):
    client, _ = certified(spec)
    Sloppy(client, mistakes=frozenset({"unsorted", "lower-hex"})).book()
    assert findings(journal(client)[0]) == {"sign.unsorted", "sign.lower-hex"}


def test_a_sign_matching_no_variant_is_wrong(spec):
    client, _ = certified(spec)
    pairs = Sloppy(client).pairs([("order_id", "2026112100000001")])
    pairs[-1] = ("sign", "0123456789ABCDEF0123456789ABCDEF")
    client.get("/QueryOrder.aspx", params=pairs)
    [entry] = journal(client)
    assert findings(entry) == {"sign.wrong"}


def test_repeated_booking_without_senderid(spec):
    client, mock = certified(spec)
    sloppy = Sloppy(client)
    sloppy.book()
    sloppy.book()  # same products, date and mobile: a retry that books twice
    sloppy.book(mobile="13900000005")  # another customer: not a repeat
    sloppy.book(senderid="ota-0002")
    sloppy.book(senderid="ota-0002")  # with senderid: the manual's way
    mock.clock.advance(11 * 60)
    sloppy.book()  # outside the 10-minute window
    verdicts = [findings(e) for e in journal(client)]
    assert verdicts == [set(), {"booking.repeat-without-senderid"}, set(), set(), set(), set()]
    repeat = journal(client)[1]["findings"][0]
    assert repeat["param"] == "senderid" and "request #1" in repeat["message"]
    assert "4.2.4 OrderProducts.aspx senderid row (line 1721)" in repeat["clause"]


def test_retrying_a_refused_booking_is_no_repeat(spec):
    client, _ = certified(spec)
    Sloppy(client, mistakes=frozenset({"unsorted"})).book()  # refused: nothing was booked
    Sloppy(client).book()
    first, retry = journal(client)
    assert first["retcode"] != "0" and retry["retcode"] == "0"
    assert findings(retry) == set()


def test_one_request_can_show_several_mistakes(spec):
    client, _ = certified(spec)
    Sloppy(client).book()
    Sloppy(client, mistakes=frozenset({"plain-mobile"})).book()  # plain mobile AND a repeat without senderid
    entry = journal(client)[1]
    assert findings(entry) == {"encryption.plaintext", "booking.repeat-without-senderid"}


def test_wrong_method_and_unknown_page(spec):
    client, _ = certified(spec)
    sloppy = Sloppy(client)
    assert sloppy.book(post=True).status_code == 405  # POST data to the GET path
    assert sloppy.book(path="/OrderProduct.aspx").status_code == 404
    assert client.get("/POST/QueryOrder.aspx", params={"user": "demo-ota"}).status_code == 405
    post_to_get, unknown, get_to_post = journal(client)
    assert findings(post_to_get) == {"page.wrong-method"} and post_to_get["http_status"] == 405
    assert "POST requests go to /POST/OrderProducts.aspx" in post_to_get["findings"][0]["message"]
    assert post_to_get["values"]["Mobile"] == "13800138000"  # the body is judged even though it was refused
    assert findings(unknown) == {"page.unknown"} and unknown["page"] is None and unknown["http_status"] == 404
    assert "did you mean OrderProducts.aspx?" in unknown["findings"][0]["message"]
    assert unknown["agent"] == "demo-ota" and unknown["values"] == {}
    assert "page.wrong-method" in findings(get_to_post) and "param.missing-required" in findings(get_to_post)


@pytest.mark.parametrize("edit, expect, param", [
    (lambda p: [x for x in p if x[0] != "ID"], "param.missing-required", "ID"),
    (lambda p: [("Order_list", "P1001,2") if x[0] == "Order_list" else x for x in p], "param.bad-list", "Order_list"),
    (lambda p: p + [("NeedInvoice", "2")], "param.bad-value", "NeedInvoice"),
    (lambda p: p + [("senderid", "x" * 40)], "param.too-long", "senderid"),
    (lambda p: p + [("mobile", p[3][1])], "param.repeated", "Mobile"),
    (lambda p: [("user", "nobody") if x[0] == "user" else x for x in p], "auth.unknown-user", "user"),
], ids=["missing", "bad-list", "bad-value", "too-long", "repeated", "unknown-user"])
def test_parameter_mistakes(spec, edit, expect, param):
    client, _ = certified(spec)
    sloppy = Sloppy(client)
    values = [("Order_list", "P1001|2"), ("Mobile", "13800138000"), ("ID", "110101199003071234"), ("SXRQ", DAY),
              ("timespanindex", "-1")]
    # re-sign after the edit, so that only the edited rule is broken
    pairs = edit(sloppy.pairs(values)[:-1])
    pairs.append(("sign", sloppy._sign(pairs)))
    client.get("/OrderProducts.aspx", params=pairs)
    [entry] = journal(client)
    assert findings(entry) == {expect}, entry["findings"]
    assert entry["findings"][0]["param"] == param


def test_wrong_login_password(spec):
    client, _ = certified(spec)
    Sloppy(client, creds=replace(DEMO, password="not-the-password")).book()
    [entry] = journal(client)
    assert findings(entry) == {"auth.wrong-password"} and entry["retcode"] != "0"


# ------------------------------------------------------------------ the judge on every catalogue variant

def _exchange(spec, page: str, pairs, at=START) -> Exchange:
    return Exchange("GET", f"/{page}", spec.page(page), page, True, tuple(pairs), at)


@pytest.fixture
def judge(spec):
    mock = make_mock(spec)
    return Judge(spec, spec.profile(), mock.world.agents, lambda *a: None)


def _plain_values():
    return {"Order_list": "P1001|2", "Mobile": "13800138000", "ID": "110101199003071234", "SXRQ": DAY,
            "IDCount": "", "timespanindex": "-1"}


def test_every_sign_variant_of_the_catalogue_is_recognised(spec, judge):
    profile = spec.profile()
    variants = [(m, v) for m in spec.mistakes if m.detect == "sign-variant" for v in m.variants]
    assert len(variants) >= 8
    for m, v in variants:
        pairs = encode_request(spec.page("OrderProducts.aspx"), {**_plain_values(), "sign_type": "MD5"}, DEMO, profile,
                               sign=False)
        pairs.append(("sign", request_sign(pairs, DEMO.key, replace(profile.sign, **dict(v.sign)))))
        verdict = judge.judge(_exchange(spec, "OrderProducts.aspx", pairs))
        assert {f.mistake for f in verdict.findings} == {m.id}, (m.id, verdict.findings)


def test_every_cipher_variant_of_the_catalogue_is_recognised(spec, judge):
    profile = spec.profile()
    page = spec.page("OrderProducts.aspx")
    for m in (m for m in spec.mistakes if m.detect == "cipher-variant"):
        for v in m.variants:
            cipher = replace(profile.cipher, **dict(v.cipher))
            secret = OTHER.key if v.secret == "other-agent-key" else DEMO.key
            pairs = encode_request(page, {"Order_list": "P1001|2", "timespanindex": "-1"}, DEMO, profile, sign=False)
            pairs += [(n, crypto.encrypt(x, secret, cipher)) for n, x in
                      (("Mobile", "13800138000"), ("ID", "110101199003071234"), ("SXRQ", DAY))]
            pairs.append(("sign", request_sign(pairs, DEMO.key, profile.sign)))
            verdict = judge.judge(_exchange(spec, "OrderProducts.aspx", pairs))
            assert {(f.mistake, f.param) for f in verdict.findings} == {(m.id, "Mobile"), (m.id, "ID"), (m.id, "SXRQ")}, \
                (v.label, verdict.findings)
            assert verdict.values["Mobile"] == "13800138000"


def test_every_detect_kind_has_a_detector(spec):
    schema = json.loads((loader.SCHEMA_DIR / "tables.schema.json").read_text(encoding="utf-8"))
    kinds = schema["$defs"]["mistakes"]["properties"]["mistakes"]["items"]["properties"]["detect"]["enum"]
    assert set(kinds) == set(certify.DETECTORS)
    assert {m.detect for m in spec.mistakes} == set(kinds)  # the shipped catalogue drives every detector


def test_a_slot_is_only_required_while_the_supplier_says_timed_entry(spec):
    mock = make_mock(spec)
    pairs = encode_request(spec.page("OrderProducts.aspx"), {k: v for k, v in _plain_values().items()
                                                             if k != "timespanindex"}, DEMO, spec.profile())
    for answer, expected in (("1", {"param.missing-required-when"}), ("0", set()), (None, set())):
        judge = Judge(spec, spec.profile(), mock.world.agents, lambda *a: None, lambda agent, cond: answer)
        found = judge.judge(_exchange(spec, "OrderProducts.aspx", pairs)).findings
        assert {f.mistake for f in found} == expected, answer
    [finding] = Judge(spec, spec.profile(), mock.world.agents, lambda *a: None,
                      lambda agent, cond: "1").judge(_exchange(spec, "OrderProducts.aspx", pairs)).findings
    assert "GetProviderConfig.aspx answers sublevelmode 1" in finding.message
    assert "-1 for the earliest slot" in finding.hint and "{" not in finding.hint


def test_a_mistake_removed_from_the_catalogue_is_no_longer_judged(spec):
    trimmed = replace(spec, mistakes=tuple(m for m in spec.mistakes if m.id != "param.unknown"))
    mock = make_mock(spec)
    pairs = encode_request(spec.page("OrderProducts.aspx"), {**_plain_values(), "gatemode": "1"}, DEMO, spec.profile())
    full = Judge(spec, spec.profile(), mock.world.agents, lambda *a: None)
    without = Judge(trimmed, spec.profile(), mock.world.agents, lambda *a: None)
    assert {f.mistake for f in full.judge(_exchange(spec, "OrderProducts.aspx", pairs)).findings} == {"param.unknown"}
    assert without.judge(_exchange(spec, "OrderProducts.aspx", pairs)).findings == ()


# ------------------------------------------------------------------ the admin API

def test_journal_filters(spec):
    client, mock = certified(spec)
    ota = Ota(mock, client)
    ota.book(senderid="a-1")  # 1 demo, clean
    Sloppy(client, mistakes=frozenset({"plain-mobile"})).book()  # 2 demo, mistakes
    mock.clock.advance(3600)
    ota.as_(OTHER).call("GetProducts.aspx")  # 3 other, clean
    client.get("/Nope.aspx")  # 4 no agent, mistakes
    assert [e["id"] for e in journal(client, agent="demo-ota")] == [1, 2]
    assert [e["id"] for e in journal(client, agent="other-ota")] == [3]
    assert [e["id"] for e in journal(client, only="findings")] == [2, 4]
    assert [e["id"] for e in journal(client, page="getproducts")] == [3]
    assert [e["id"] for e in journal(client, page="OrderProducts.aspx")] == [1, 2]
    assert [e["id"] for e in journal(client, since="2026-11-21T10:30:00+08:00")] == [3, 4]
    assert [e["id"] for e in journal(client, since="2026-11-21T10:30:00")] == [3, 4]  # naive: the mock's zone
    assert [e["id"] for e in journal(client, until="2026-11-21T02:00:00+00:00")] == [1, 2]
    assert [e["id"] for e in journal(client, after_id=1, limit=2)] == [2, 3]
    # an unescaped '+' of the offset arrives as a space
    assert client.get("/_admin/journal?since=2026-11-21T10:30:00+08:00", headers=TOKEN).json()[0]["id"] == 3
    assert client.get("/_admin/journal", params={"agnet": "x"}, headers=TOKEN).status_code == 400
    assert client.get("/_admin/journal", params={"only": "all"}, headers=TOKEN).status_code == 400
    assert client.get("/_admin/journal", params={"since": "yesterday"}, headers=TOKEN).status_code == 400
    assert client.get("/_admin/journal").status_code == 401
    assert client.delete("/_admin/journal").status_code == 401
    assert client.delete("/_admin/journal", headers=TOKEN).json() == {"deleted": 4}
    assert journal(client) == []
    client.get("/Nope.aspx")
    assert [e["id"] for e in journal(client)] == [5]  # ids keep growing: a poller's after_id stays valid


def test_reset_keeps_the_journal(spec):
    client, _ = certified(spec)
    Sloppy(client).book()
    assert client.post("/_admin/reset", headers=TOKEN).status_code == 200
    assert len(journal(client)) == 1


# ------------------------------------------------------------------ certify mode is invisible to the OTA

def _sloppy_requests(client) -> list[httpx.Response]:
    out = []
    for mistakes in ({"unsorted"}, {"lower-hex"}, {"plain-mobile"}, {"raw-key"}, {"slashed-date"}, set(),
                     {"unknown-param"}, {"password-plain"}):
        out.append(Sloppy(client, mistakes=frozenset(mistakes)).book())
    out.append(Sloppy(client).book(post=True))
    out.append(Sloppy(client).book(path="/OrderProduct.aspx"))
    out.append(client.get("/QueryOrder.aspx", params=Sloppy(client).pairs([("order_id", "2026112100000001")])))
    out.append(client.post("/POST/OrderProducts.aspx", content=b"user=%ff%fe", headers={
        "content-type": "application/x-www-form-urlencoded"}))
    return out


def test_answers_are_the_same_with_certify_on_and_off(spec):
    plain = make_mock(spec)
    off = _sloppy_requests(TestClient(create_app(plain)))
    on_client, _ = certified(spec)
    on = _sloppy_requests(on_client)
    for a, b in zip(off, on, strict=True):
        assert (a.status_code, a.content, a.headers.get("content-type"), a.headers.get("x-ybx-detail")) == \
               (b.status_code, b.content, b.headers.get("content-type"), b.headers.get("x-ybx-detail"))
    assert len(journal(on_client)) == len(on)
    assert journal(TestClient(create_app(plain))) == []  # not in certify mode: nothing recorded


def test_journal_survives_a_restart(spec, tmp_path: Path):
    db = str(tmp_path / "certify.db")
    client, mock = certified(spec, db=db)
    Sloppy(client, mistakes=frozenset({"unsorted"})).book()
    before = journal(client)
    mock.store.close()
    client, mock = certified(spec, db=db)
    assert journal(client) == before
    Sloppy(client).book(mobile="13900000006")
    assert [e["id"] for e in journal(client)] == [1, 2]
    mock.store.close()


# ------------------------------------------------------------------ a live server

def _serve(db: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "mockserver.cli", "serve", "--certify", "--port", str(port),
                             "--db", str(db), "--admin-token", "live"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_admin", headers={"X-Admin-Token": "live"}, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the mock did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_live_server_journal_across_restart(tmp_path: Path):
    db, port = tmp_path / "live.db", free_port()
    base, admin = f"http://127.0.0.1:{port}", {"X-Admin-Token": "live"}
    proc = _serve(db, port)
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            assert Sloppy(http).book(mobile="13900000007").status_code == 200
            assert Sloppy(http, mistakes=frozenset({"plain-mobile"})).book().status_code == 200
            entries = http.get("/_admin/journal", headers=admin).json()
    finally:
        _stop(proc)
    assert [e["verdict"] for e in entries] == ["clean", "mistakes"]
    assert findings(entries[1]) == {"encryption.plaintext"}
    at = datetime.fromisoformat(entries[0]["at"])
    assert at.utcoffset() == timedelta(hours=8)
    proc = _serve(db, port)
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/_admin/journal", headers=admin).json() == entries
            assert http.get("/_admin/journal", params={"only": "findings"}, headers=admin).json() == entries[1:]
    finally:
        _stop(proc)
