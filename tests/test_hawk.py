"""spec.hawk: the Hawk 1.1 header scheme against the protocol's published vectors, verification
failures one by one, and the profile's key recipe."""

from __future__ import annotations

import hashlib

import pytest

from spec import hawk
from spec.hawk import Artifacts, Credentials, HawkError, MemoryNonces

# The example of the Hawk README (hueniverse/hawk, "Protocol Example" and "Payload Validation"),
# also used by the reference test suites of hawk.js and its ports.
README = Credentials("dh37fgj492je", "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn", "sha256")
GET = Artifacts("GET", "/resource/1?b=1&a=2", "example.com", 8000, 1353832234, "j4h3g2", ext="some-app-ext-data")


def test_readme_normalized_string_and_mac():
    assert hawk.normalized(GET) == ("hawk.1.header\n1353832234\nj4h3g2\nGET\n/resource/1?b=1&a=2\nexample.com\n8000\n"
                                    "\nsome-app-ext-data\n")
    assert hawk.mac(README, GET) == "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="


def test_readme_header():
    assert hawk.header(README, GET) == ('Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", '
                                        'ext="some-app-ext-data", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="')


def test_readme_payload_vector():
    h = hawk.payload_hash(b"Thank you for flying Hawk", "text/plain")
    assert h == "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="
    post = Artifacts("POST", "/resource/1?b=1&a=2", "example.com", 8000, 1353832234, "j4h3g2", h, "some-app-ext-data")
    assert hawk.mac(README, post) == "aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw="
    # content-type parameters and case do not change the hash
    assert hawk.payload_hash(b"Thank you for flying Hawk", "Text/Plain; charset=utf-8") == h


def test_artifacts_for_url_takes_default_ports():
    a = hawk.artifacts_for_url("GET", "http://example.com:8000/resource/1?b=1&a=2", 1353832234, "j4h3g2",
                               ext="some-app-ext-data")
    assert a == GET
    assert hawk.artifacts_for_url("GET", "https://h.example/x", 1, "n").port == 443
    assert hawk.artifacts_for_url("GET", "http://h.example", 1, "n").resource == "/"


def test_ext_newlines_and_backslashes_are_escaped():
    a = Artifacts("GET", "/", "h", 80, 1, "n", ext="a\\b\nc")
    assert hawk.normalized(a).endswith("\na\\\\b\\nc\n")


def test_header_refuses_unquotable_values():
    with pytest.raises(ValueError):
        hawk.header(README, Artifacts("GET", "/", "h", 80, 1, "n", ext='say "hi"'))


def test_parse_roundtrip_and_errors():
    auth = hawk.parse(hawk.header(README, GET))
    assert (auth.id, auth.ts, auth.nonce, auth.ext) == ("dh37fgj492je", "1353832234", "j4h3g2", "some-app-ext-data")
    for value, reason in [
        (None, ""), ("", ""), ('Basic dXNlcjpwYXNz', ""),
        ('Hawk id="a", ts="1", nonce="n"', "Missing attributes"),
        ('Hawk id="a", ts="1", nonce="n", mac="m", foo="x"', "Unknown attribute"),
        ('Hawk id="a", id="b", ts="1", nonce="n", mac="m"', "Duplicate attribute"),
        ('Hawk id=a, ts="1", nonce="n", mac="m"', "Bad header format"),
    ]:
        with pytest.raises(HawkError) as exc:
            hawk.parse(value)
        assert exc.value.reason == reason, value
    assert hawk.parse('hawk id="a", ts="1", nonce="n", mac="m"').id == "a"  # the scheme name is case-insensitive


def _verify(value, *, now=1353832234, nonces=None, lookup=None, method="GET", resource="/resource/1?b=1&a=2"):
    return hawk.verify(value, method=method, resource=resource, host="example.com", port=8000,
                       lookup=lookup or {README.id: README}.get, now=now, skew=60, nonces=nonces or MemoryNonces())


def test_verify_accepts_the_readme_request():
    creds, auth = _verify(hawk.header(README, GET))
    assert creds == README and auth.nonce == "j4h3g2"


@pytest.mark.parametrize("change, reason", [
    ({"lookup": {}.get}, "Unknown credentials"),
    ({"method": "POST"}, "Bad mac"),
    ({"resource": "/resource/1?a=2&b=1"}, "Bad mac"),
    ({"now": 1353832234 + 61}, "Stale timestamp"),
    ({"now": 1353832234 - 61}, "Stale timestamp"),
])
def test_verify_refuses(change, reason):
    with pytest.raises(HawkError) as exc:
        _verify(hawk.header(README, GET), **change)
    assert exc.value.reason == reason
    assert exc.value.stale == (reason == "Stale timestamp")


def test_verify_edge_of_the_window_is_accepted():
    _verify(hawk.header(README, GET), now=1353832234 + 60)


def test_verify_refuses_a_wrong_key_and_a_tampered_mac():
    wrong = Credentials(README.id, README.key + "x")
    with pytest.raises(HawkError, match="Bad mac"):
        _verify(hawk.header(wrong, GET))
    tampered = hawk.header(README, GET).replace('mac="6', 'mac="7')
    with pytest.raises(HawkError, match="Bad mac"):
        _verify(tampered)


def test_verify_refuses_a_replayed_nonce_but_not_another():
    nonces = MemoryNonces()
    _verify(hawk.header(README, GET), nonces=nonces)
    with pytest.raises(HawkError, match="Invalid nonce"):
        _verify(hawk.header(README, GET), nonces=nonces)
    other = Artifacts(GET.method, GET.resource, GET.host, GET.port, GET.ts, "k5l6m7", ext=GET.ext)
    _verify(hawk.header(README, other), nonces=nonces)


def test_memory_nonces_forget_after_the_window():
    nonces = MemoryNonces()
    assert nonces.use("a", "n", 100, now=100, window=60)
    assert not nonces.use("a", "n", 100, now=150, window=60)
    assert nonces.use("a", "n", 100, now=100 + 121, window=60)  # pruned; such a ts is stale anyway


def test_verify_checks_a_payload_hash_when_sent():
    h = hawk.payload_hash(b"", "")
    a = Artifacts(GET.method, GET.resource, GET.host, GET.port, GET.ts, GET.nonce, h, GET.ext)
    _verify(hawk.header(README, a))
    bad = Artifacts(GET.method, GET.resource, GET.host, GET.port, GET.ts, GET.nonce, hawk.payload_hash(b"x", ""), GET.ext)
    with pytest.raises(HawkError, match="Bad payload hash"):
        _verify(hawk.header(README, bad))


def test_challenge_values():
    assert hawk.challenge(HawkError("")) == "Hawk"
    assert hawk.challenge(HawkError("Bad mac")) == 'Hawk error="Bad mac"'
    stale = hawk.challenge(HawkError("Stale timestamp", stale=True), README, 1353832300)
    assert stale == (f'Hawk ts="1353832300", tsm="{hawk.timestamp_mac(README, 1353832300)}", '
                     'error="Stale timestamp"')


# ---------------------------------------------------------------- key recipe

def test_default_profile_key_recipe(profile):
    key = hawk.derive_key(profile.rest_auth.key_recipe, "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "demo-pass")
    assert key == "3f2504e0-4f89-11d3-9a0c-0305e82c3301" + hashlib.md5(b"demo-pass").hexdigest().upper()
    creds = hawk.credentials_for(profile.rest_auth, "demo-ota", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "demo-pass")
    assert creds == Credentials("demo-ota", key, "sha256")


PW_MD5 = hashlib.md5(b"pw").hexdigest()


@pytest.mark.parametrize("recipe, expected", [
    ("KEY", "K"),
    ("login password", "pw"),
    ("LOWER(MD5(login password)) + KEY", PW_MD5 + "K"),
    ("KEY + UPPER(MD5(login password))", "K" + PW_MD5.upper()),
    ("UPPER( KEY )+UPPER(login password)", "KPW"),
])
def test_recipes(recipe, expected):
    assert hawk.derive_key(recipe, "K", "pw") == expected


@pytest.mark.parametrize("recipe", ["KEY + SHA1(login password)", "KEY + password", "UPPER(KEY", "KEY)", ""])
def test_unreadable_recipes(recipe):
    with pytest.raises(ValueError, match="key recipe"):
        hawk.parse_recipe(recipe)
