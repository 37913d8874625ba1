"""TripleDes(x, KEY) and friends, as the profile's cipher rule defines them (rules b, c, g)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import lru_cache

from Crypto.Cipher import DES, DES3
from Crypto.Util.Padding import pad, unpad

from .errors import EncryptionError
from .model import CipherProfile

BLOCK = 8


def derive_key(secret: str, cipher: CipherProfile) -> bytes:
    """The 3DES key for `secret`: padded with the pad character and cut to the key length (3.3)."""
    text = (secret + cipher.key_pad_char * cipher.key_length)[: cipher.key_length]
    key = text.encode(cipher.key_encoding)
    if len(key) not in (16, 24):
        raise EncryptionError("bad_encryption", f"a {cipher.key_length}-character key encodes to {len(key)} bytes")
    return key


@lru_cache(maxsize=256)
def _ecb(key: bytes):
    # DES3.new expands the key schedule, the costliest step of a short field; an ECB object keeps no
    # state between calls, so one per key is reused (a mock sees a handful of agent KEYs)
    return DES3.new(key, DES3.MODE_ECB)


def _ede(key: bytes, data: bytes, encrypt: bool, cipher: CipherProfile) -> bytes:
    # pycryptodome refuses keys that degenerate to single DES (K1 == K2 or K2 == K3),
    # which short export passwords padded with '0' produce. OpenSSL accepts them, so the
    # three DES passes are composed by hand in that case (ECB only).
    try:
        if cipher.mode == "ECB":
            c = _ecb(key)
        else:
            c = DES3.new(key, DES3.MODE_CBC, iv=(cipher.iv or "").encode()[:BLOCK])
        return c.encrypt(data) if encrypt else c.decrypt(data)
    except ValueError:
        if cipher.mode != "ECB":
            raise EncryptionError("bad_encryption", "degenerate 3DES key") from None
    k1, k2 = key[:8], key[8:16]
    k3 = key[16:24] if len(key) == 24 else k1
    d1, d2, d3 = (DES.new(k, DES.MODE_ECB) for k in (k1, k2, k3))
    if encrypt:
        return d3.encrypt(d2.decrypt(d1.encrypt(data)))
    return d1.decrypt(d2.encrypt(d3.decrypt(data)))


def _encode(raw: bytes, cipher: CipherProfile) -> str:
    if cipher.output == "base64":
        return base64.b64encode(raw).decode("ascii")
    text = raw.hex()
    return text.upper() if cipher.output == "hex-upper" else text


def _decode(text: str, cipher: CipherProfile) -> bytes:
    try:
        if cipher.output == "base64":
            return base64.b64decode(text.strip(), validate=True)
        return bytes.fromhex(text.strip())
    except (binascii.Error, ValueError):
        raise EncryptionError("bad_encryption", "not valid " + cipher.output) from None


def encrypt(plain: str, secret: str, cipher: CipherProfile) -> str:
    """TripleDes(plain, secret) under the profile cipher."""
    data = plain.encode("utf-8")
    data = pad(data, BLOCK, style="pkcs7") if cipher.padding == "PKCS7" else data + b"\0" * (-len(data) % BLOCK)
    return _encode(_ede(derive_key(secret, cipher), data, True, cipher), cipher)


def decrypt(text: str, secret: str, cipher: CipherProfile) -> str:
    """Reverse `encrypt`; raise `EncryptionError` on bad encoding, length, padding or UTF-8."""
    raw = _decode(text, cipher)
    if not raw or len(raw) % BLOCK:
        raise EncryptionError("bad_encryption", "ciphertext length is not a multiple of 8")
    data = _ede(derive_key(secret, cipher), raw, False, cipher)
    try:
        data = unpad(data, BLOCK, style="pkcs7") if cipher.padding == "PKCS7" else data.rstrip(b"\0")
        return data.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise EncryptionError("bad_encryption", "bad padding or not UTF-8 (wrong key?)") from None


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def password_field(password: str, key: str, cipher: CipherProfile) -> str:
    """The wire value of a password field: TripleDes(UPPER(MD5(password)), KEY) (rule c)."""
    return encrypt(md5_upper(password), key, cipher)


def export_key(key: str, export_password: str, cipher: CipherProfile) -> str:
    """The content of a `.Bin` key-export file (rule g)."""
    return encrypt(key, export_password, cipher)


def import_key(content: str, export_password: str, cipher: CipherProfile) -> str:
    """The KEY held by a `.Bin` key-export file (rule g)."""
    return decrypt(content.strip(), export_password, cipher)
