"""The README's integrator guide: every test vector is recomputed with the project's own protocol
core, the command-line checks give the same values, and the plain-Python client runs against a
live mock. The README can therefore not drift from what the mock does."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator
from urllib.parse import quote, urlencode

import pytest
import yaml

from conftest import ROOT
from livemock import live_mock
from spec import crypto, signing, wire

README = ROOT / "README.md"
START, END = "<!-- integrator-guide:start", "<!-- integrator-guide:end -->"
GUIDE_HEADING = "Integrator guide: signing and encrypting by hand"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
# The labels a vector block may use; an unknown one is a typo the test would otherwise pass over.
LABELS = {
    "KEY", "3DES key", "3DES key (hex)", "plain", "plain + PKCS7 (hex)", "Base64", "URL-encoded",
    "login password", "UPPER(MD5)", "parameters", "canonical string", "sign", "query string",
    "received", "hashed",
}
CLIENT_IMPORTS = {"base64", "hashlib", "re", "urllib.parse", "urllib.request", "xml.etree.ElementTree",
                  "Crypto.Cipher", "Crypto.Util.Padding", "httpx"}
EXAMPLE_BASE = "http://127.0.0.1:8765"


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _guide() -> str:
    text = _readme()
    assert text.count(START) == 1 and text.count(END) == 1, "the integrator guide's markers are missing or doubled"
    return text[text.index(START):text.index(END)]


def _blocks(lang: str) -> list[str]:
    return [body for fence, body in FENCE.findall(_guide()) if fence == lang]


def _parse(block: str) -> dict[str, str]:
    values = {}
    for line in block.splitlines():
        label, sep, value = line.partition(": ")
        assert sep and label in LABELS, f"not a vector line: {line!r}"
        assert label not in values, f"{label} twice in one block"
        values[label] = value.strip()
    return values


def _vector(*labels: str) -> dict[str, str]:
    found = [v for v in map(_parse, _blocks("text")) if set(labels) <= set(v)]
    assert len(found) == 1, f"expected one vector block with {labels}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def demo_agent() -> dict:
    world = yaml.safe_load((ROOT / "mockserver" / "worlds" / "scenic.yaml").read_text(encoding="utf-8"))
    return next(a for a in world["agents"] if a["user"] == "demo-ota")


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# ------------------------------------------------------------------ structure


def test_the_guide_has_its_heading_and_is_linked_from_the_top():
    text = _readme()
    headings = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    assert f"## {GUIDE_HEADING}\n" in text
    top = text[:text.index("\n## ")]
    assert f"](#{_slug(GUIDE_HEADING)})" in top
    for anchor in re.findall(r"\]\(#([^)]+)\)", _guide()):
        assert anchor in headings, f"the guide links #{anchor}, which no heading has"


def test_setup_names_exactly_two_commands():
    text = _readme()
    setup = text[text.index("## Set-up\n"):]
    setup = setup[:setup.index("\n## ")]
    commands = [line.split("#")[0].strip() for _, body in FENCE.findall(setup) for line in body.splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]


def test_every_vector_block_is_the_demo_agent(demo_agent):
    blocks = [_parse(b) for b in _blocks("text")]
    assert len(blocks) == 4
    assert {b["KEY"] for b in blocks} == {demo_agent["key"]}
    assert _vector("login password")["login password"] == demo_agent["password"]
    assert ("User", demo_agent["user"]) in _pairs(_vector("parameters")["parameters"])


# ------------------------------------------------------------------ the vectors, recomputed


def test_3des_vector(profile):
    v = _vector("3DES key", "Base64")
    key = crypto.derive_key(v["KEY"], profile.cipher)
    assert key.decode("utf-8") == v["3DES key"]
    assert key.hex() == v["3DES key (hex)"]
    data = v["plain"].encode("utf-8")
    n = 8 - len(data) % 8
    assert (data + bytes([n]) * n).hex() == v["plain + PKCS7 (hex)"]
    assert crypto.encrypt(v["plain"], v["KEY"], profile.cipher) == v["Base64"]
    assert crypto.decrypt(v["Base64"], v["KEY"], profile.cipher) == v["plain"]
    assert quote(v["Base64"], safe="") == v["URL-encoded"]


def test_values_as_transmitted_are_shown_with_the_3des_vector():
    v = _vector("3DES key", "Base64")
    assert "+" in v["Base64"] and "%2B" in v["URL-encoded"], "the example should show a '+' and its %2B form"
    assert f"Base64 text (`{v['Base64']}`), never as\nthe `{v['URL-encoded']}`" in _guide()


def test_password_vector(profile):
    v = _vector("login password")
    assert crypto.md5_upper(v["login password"]) == v["UPPER(MD5)"]
    assert crypto.password_field(v["login password"], v["KEY"], profile.cipher) == v["Base64"]
    assert crypto.encrypt(v["UPPER(MD5)"], v["KEY"], profile.cipher) == v["Base64"]


def _pairs(text: str) -> list[tuple[str, str]]:
    # Base64 values end in '=', so only the first '=' of a pair separates name and value
    return [tuple(pair.split("=", 1)) for pair in text.split("&")]  # type: ignore[misc]


def test_request_sign_vector(profile):
    v = _vector("canonical string")
    pairs = _pairs(v["parameters"])
    assert dict(pairs)["password"] == _vector("login password")["Base64"]
    assert signing.canonical_string(pairs, v["KEY"], profile.sign) == v["canonical string"]
    assert signing.request_sign(pairs, v["KEY"], profile.sign) == v["sign"]
    assert urlencode(pairs + [("sign", v["sign"])]) == v["query string"]
    assert signing.verify_request_sign(pairs + [("sign", v["sign"])], v["KEY"], profile.sign)


def test_response_sign_vector(profile):
    v = _vector("received")
    received = v["received"].encode("utf-8")
    assert signing.blank_sign(received) + v["KEY"].encode("utf-8") == v["hashed"].encode("utf-8")
    assert signing.response_sign(received, v["KEY"], profile.response) == v["sign"]
    assert signing.verify_response_sign(received, v["KEY"], profile.response)
    # the body is the envelope the mock itself renders, byte for byte
    envelope = wire.parse(received, profile.response)
    assert wire.render(profile.response, envelope.retcode, envelope.retmsg, key=v["KEY"]) == received


@pytest.mark.skipif(not all(map(shutil.which, ("bash", "openssl", "md5sum"))),
                    reason="the README's command-line checks need bash, openssl and md5sum; not all are installed")
def test_command_line_checks_give_the_vectors():
    lines = [line for block in _blocks("sh") for line in block.splitlines() if line.strip()]
    assert len(lines) == 5
    vectors = {value for block in _blocks("text") for value in _parse(block).values()}
    for line in lines:
        command, _, expected = line.rpartition("  # ")
        assert expected.upper() in {v.upper() for v in vectors}, f"{expected} is not one of the vectors"
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True).stdout
        assert out.split()[0] == expected, command


# ------------------------------------------------------------------ the plain-Python client


def _client(base: str) -> str:
    (code,) = _blocks("python")
    assert code.count(EXAMPLE_BASE) == 1
    return code.replace(EXAMPLE_BASE, base)


def test_client_uses_no_project_code():
    tree = ast.parse(_client(EXAMPLE_BASE))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= CLIENT_IMPORTS, imported - CLIENT_IMPORTS
    assert len([line for line in _client(EXAMPLE_BASE).splitlines() if line.strip()]) <= 25


def _run_client(base: str) -> subprocess.CompletedProcess[str]:
    # -I: the project's folder is not on the path, so the client runs as an OTA's program would
    return subprocess.run([sys.executable, "-I", "-c", _client(base)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT.parent, encoding="utf-8")


@contextmanager
def _answering(body: bytes) -> Iterator[tuple[str, list[str]]]:
    """A server answering every GET with `body`; yields its base URL and the paths it was asked."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_client_sends_the_vector_request_and_verifies_the_vector_answer():
    with _answering(_vector("received")["received"].encode("utf-8")) as (base, seen):
        done = _run_client(base)
    assert done.returncode == 0, done.stderr
    assert seen == ["/GetProducts.aspx?" + _vector("canonical string")["query string"]]
    assert done.stdout.startswith("retcode 0 products:")


def test_client_refuses_an_answer_whose_sign_does_not_verify():
    # the vector's answer with its message changed after signing
    tampered = _vector("received")["received"].replace("成功。", "成功！").encode("utf-8")
    with _answering(tampered) as (base, _):
        done = _run_client(base)
    assert done.returncode != 0 and "does not verify" in done.stderr


def test_client_against_a_live_mock(spec):
    with live_mock(spec) as live:
        done = _run_client(live.base_url)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    assert printed.startswith("retcode 0 products: ")
    assert f"It prints `{printed}`" in _guide()
