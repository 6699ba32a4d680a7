"""moorage's own HS256 JWTs: what they accept, and everything they refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from moorage.api import jwt_hs256
from moorage.api.jwt_hs256 import JwtError, decode, encode

KEY = b"k" * 32
NOW = 1_700_000_000
CLAIMS = {"iss": "moorage", "aud": "svc", "sub": "alice", "iat": NOW, "exp": NOW + 60}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], claims: dict[str, Any], key: bytes = KEY) -> str:
    """A token with any header, signed with HMAC-SHA256 under `key`."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _decode(token: str, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"audience": "svc", "issuer": "moorage", "now": NOW + 1}
    return decode(token, KEY, **(options | kwargs))


def test_round_trip() -> None:
    assert _decode(encode(CLAIMS, KEY), require=["exp", "sub"]) == CLAIMS


def test_same_bytes_as_pyjwt() -> None:
    """Tokens issued before the switch (by PyJWT) stay valid, and the other way round."""
    pyjwt = pytest.importorskip("jwt")
    assert encode(CLAIMS, KEY) == pyjwt.encode(CLAIMS, KEY, algorithm="HS256")


def test_audience_in_a_list() -> None:
    assert _decode(encode(CLAIMS | {"aud": ["other", "svc"]}, KEY))["sub"] == "alice"


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (encode(CLAIMS, b"another key"), "signature"),
        (encode(CLAIMS | {"exp": NOW}, KEY), "expired"),
        (encode(CLAIMS | {"nbf": NOW + 30}, KEY), "not valid yet"),
        (encode(CLAIMS | {"iat": NOW + 30}, KEY), "future"),
        (encode(CLAIMS | {"exp": True}, KEY), "not a number"),
        (encode(CLAIMS | {"exp": "soon"}, KEY), "not a number"),
        (encode(CLAIMS | {"aud": "elsewhere"}, KEY), "audience"),
        (encode({k: v for k, v in CLAIMS.items() if k != "aud"}, KEY), "audience"),
        (encode(CLAIMS | {"iss": "someone"}, KEY), "issuer"),
        (_forge({"alg": "none"}, CLAIMS), "algorithm"),
        (_forge({"alg": "HS512", "typ": "JWT"}, CLAIMS), "algorithm"),
        (_forge({"alg": "RS256", "typ": "JWT"}, CLAIMS), "algorithm"),
        (_forge({"typ": "JWT"}, CLAIMS), "algorithm"),
        (_forge({"alg": "HS256", "crit": ["exp"]}, CLAIMS), "critical"),
        (_forge({"alg": "HS256", "typ": "JWE"}, CLAIMS), "not a JWT"),
        (_forge({"alg": "HS256"}, CLAIMS, b"foreign"), "signature"),
        ("", "segments"),
        ("a.b", "segments"),
        ("a.b.c.d", "segments"),
        ("a+b.c/d.e=", "segments"),
        ("a.b.c", "base64url"),
        (f"{_b64(b'[1]')}.{_b64(b'{}')}.", "header"),
        (f"{_b64(b'not json')}.{_b64(b'{}')}.", "header"),
        ("x" * (jwt_hs256.MAX_TOKEN_LENGTH + 1), "not a JWT"),
    ],
)
def test_refused(token: str, why: str) -> None:
    with pytest.raises(JwtError, match=why):
        _decode(token)


def test_payload_must_be_an_object() -> None:
    with pytest.raises(JwtError, match="payload"):
        _decode(_forge({"alg": "HS256"}, [CLAIMS]))  # type: ignore[arg-type]


def test_tampered_payload() -> None:
    header, _payload, signature = encode(CLAIMS, KEY).split(".")
    forged = _b64(json.dumps(CLAIMS | {"sub": "admin"}).encode())
    with pytest.raises(JwtError, match="signature"):
        _decode(f"{header}.{forged}.{signature}")


def test_tampered_signature() -> None:
    token = encode(CLAIMS, KEY)
    last = "A" if token[-1] != "A" else "B"
    with pytest.raises(JwtError):
        _decode(token[:-1] + last)


def test_required_claim_missing() -> None:
    with pytest.raises(JwtError, match='"csrf"'):
        _decode(encode(CLAIMS, KEY), require=["exp", "csrf"])


def test_time_is_now_by_default() -> None:
    with pytest.raises(JwtError, match="expired"):
        decode(encode(CLAIMS, KEY), KEY, audience="svc")  # NOW + 60 is in the past
