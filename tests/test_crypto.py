"""3DES (rule b), passwords (rule c) and the key-export file (rule g).

Vectors are cross-checked against the `openssl` command-line tool, an implementation
independent of pycryptodome."""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec import crypto
from spec.errors import EncryptionError

KEY = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
OTHER_KEY = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def openssl_encrypt(plain: bytes, key: bytes) -> str:
    out = subprocess.run(
        ["openssl", "enc", "-des-ede3", "-K", key.hex(), "-nosalt", "-base64", "-A"],
        input=plain, capture_output=True, check=True,
    )
    return out.stdout.decode().strip()


def openssl_decrypt(b64: str, key: bytes) -> bytes:
    out = subprocess.run(
        ["openssl", "enc", "-d", "-des-ede3", "-K", key.hex(), "-nosalt", "-base64", "-A"],
        input=b64.encode(), capture_output=True, check=True,
    )
    return out.stdout


def test_key_derivation_pads_with_zero_and_cuts_to_24(profile):
    assert crypto.derive_key(KEY, profile.cipher) == b"3f2504e0-4f89-11d3-9a0c-"
    assert crypto.derive_key("abc", profile.cipher) == b"abc" + b"0" * 21


@openssl
@pytest.mark.parametrize("plain", ["13800138000", "20261121", "110101199003071234", "张三", "", "x" * 8, "a" * 100])
@pytest.mark.parametrize("secret", [KEY, OTHER_KEY, "export-pass-1234", "short"])
def test_encrypt_matches_openssl(profile, plain, secret):
    key = crypto.derive_key(secret, profile.cipher)
    ours = crypto.encrypt(plain, secret, profile.cipher)
    assert ours == openssl_encrypt(plain.encode(), key)
    assert openssl_decrypt(ours, key).decode() == plain
    assert crypto.decrypt(ours, secret, profile.cipher) == plain


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=64))
def test_round_trip(profile, plain):
    assert crypto.decrypt(crypto.encrypt(plain, KEY, profile.cipher), KEY, profile.cipher) == plain


def test_wrong_key_is_refused_or_garbles(profile):
    wire = crypto.encrypt("13800138000", KEY, profile.cipher)
    try:
        assert crypto.decrypt(wire, OTHER_KEY, profile.cipher) != "13800138000"
    except EncryptionError as exc:
        assert exc.key == "bad_encryption"


@pytest.mark.parametrize("bad", ["not base64!", "QUJD", "", "AAAAAAAAAAA="])
def test_bad_ciphertext_raises_encryption_error(profile, bad):
    with pytest.raises(EncryptionError):
        crypto.decrypt(bad, KEY, profile.cipher)


def test_bad_padding_raises(profile):
    raw = base64.b64decode(crypto.encrypt("abcdefg", KEY, profile.cipher))
    tampered = base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 0xFF])).decode()
    with pytest.raises(EncryptionError):
        crypto.decrypt(tampered, KEY, profile.cipher)


def test_password_field_is_3des_of_upper_md5(profile):
    wire = crypto.password_field("demo-pass", KEY, profile.cipher)
    assert crypto.decrypt(wire, KEY, profile.cipher) == crypto.md5_upper("demo-pass")
    assert crypto.md5_upper("demo-pass") == crypto.md5_upper("demo-pass").upper()
    assert len(crypto.md5_upper("x")) == 32


@openssl
def test_key_export_file_matches_openssl_and_imports(profile):
    content = crypto.export_key(KEY, "hellocxp-export", profile.cipher)
    assert content == openssl_encrypt(KEY.encode(), crypto.derive_key("hellocxp-export", profile.cipher))
    assert crypto.import_key(content + "\n", "hellocxp-export", profile.cipher) == KEY
    with pytest.raises(EncryptionError):
        crypto.import_key(content, "wrong-password-9", profile.cipher)


def test_manual_export_sample_has_the_shape_of_a_key_file(profile):
    # 3.3's sample .Bin content decodes to 40 bytes: a 36-character KEY plus 4 bytes of PKCS7.
    raw = base64.b64decode("PiiS5cKhoH1gHKb94503J4/dM4v5gjsO0A7YdjWrN4tBInETQs8mxQ==")
    assert len(raw) == 40


def test_alternative_cipher_profile_changes_the_output(profile):
    hex_cipher = replace(profile.cipher, output="hex-upper")
    wire = crypto.encrypt("abc", KEY, hex_cipher)
    assert wire == wire.upper() and bytes.fromhex(wire)
    assert crypto.decrypt(wire, KEY, hex_cipher) == "abc"
    assert base64.b64decode(crypto.encrypt("abc", KEY, profile.cipher)) == bytes.fromhex(wire)
