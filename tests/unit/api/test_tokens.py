from __future__ import annotations

import time

import jwt
import pytest

from moorage.api.tokens import MAX_LIFETIME_SECONDS, ResourceGrant, TokenError, TokenSigner
from moorage.domain.identity.access import Action, Identity

KEY = b"k" * 32
DEV = Identity(7, "dev", is_admin=False, access_key_id="MRGABCDEFGHIJKLMNOPQ")


def signer(lifetime: int = 3600) -> TokenSigner:
    return TokenSigner(KEY, "moorage", lifetime)


def test_roundtrip_carries_identity_and_grants() -> None:
    grant = ResourceGrant("repository", "reg/app", frozenset({Action.PULL, Action.PUSH}))
    token, lifetime, _ = signer().issue(DEV, [grant])
    parsed = signer().verify(token)
    assert parsed.identity == DEV
    assert parsed.actions_on("reg/app") == {Action.PULL, Action.PUSH}
    assert parsed.actions_on("reg/other") == frozenset()
    assert lifetime == 3600


def test_lifetime_is_capped_at_twelve_hours() -> None:
    token, lifetime, _ = signer(lifetime=10**6).issue(DEV, [])
    assert lifetime == MAX_LIFETIME_SECONDS
    claims = jwt.decode(token, KEY, algorithms=["HS256"], audience="moorage")
    assert claims["exp"] - claims["iat"] <= MAX_LIFETIME_SECONDS


def test_tampered_token_is_refused() -> None:
    token, _, _ = signer().issue(DEV, [])
    header, _payload, signature = token.split(".")
    forged = jwt.encode({"sub": "admin", "adm": True}, b"x" * 32, algorithm="HS256")
    with pytest.raises(TokenError):
        signer().verify(f"{header}.{forged.split('.')[1]}.{signature}")
    with pytest.raises(TokenError):
        signer().verify(forged)


def test_expired_and_overlong_tokens_are_refused() -> None:
    now = int(time.time())
    base = {"iss": "moorage", "aud": "moorage", "sub": "dev", "uid": 7}
    expired = jwt.encode({**base, "iat": now - 100, "exp": now - 10}, KEY, algorithm="HS256")
    with pytest.raises(TokenError):
        signer().verify(expired)
    overlong = jwt.encode(
        {**base, "iat": now, "exp": now + MAX_LIFETIME_SECONDS + 60}, KEY, algorithm="HS256"
    )
    with pytest.raises(TokenError, match="12 hours"):
        signer().verify(overlong)


def test_token_for_another_service_is_refused() -> None:
    token, _, _ = TokenSigner(KEY, "elsewhere", 60).issue(DEV, [])
    with pytest.raises(TokenError):
        signer().verify(token)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenSigner(b"short", "moorage", 60)
