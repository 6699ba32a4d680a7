"""JSON Web Tokens signed with HMAC-SHA256: the only kind moorage issues and accepts.

moorage signs and verifies only its own tokens (bearer tokens for the registry protocol, the
console's session cookie), always HS256 with its own key, so it needs none of a general JWT
library's algorithm table, and none of the key types that pull `cryptography` in at import
(about 20 MiB of a server's memory). The checks are strict: the header must say exactly
HS256 (never `none`, never another algorithm, no `crit` extension), the signature is compared
in constant time before anything in the payload is trusted, and the registered claims are
checked as RFC 7519 defines them. Tokens are byte-for-byte what PyJWT makes of the same claims
(compact JSON, unpadded base64url), so tokens issued before either way stay valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 16 * 1024  # far above any token moorage issues; refuses absurd input early
_HEADER = {"alg": ALGORITHM, "typ": "JWT"}
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


class JwtError(ValueError):
    """The token is malformed, wrongly signed, expired, or not meant for this audience."""


def encode(claims: Mapping[str, Any], key: bytes) -> str:
    """The signed token carrying `claims`."""
    signing_input = f"{_b64(_json(_HEADER))}.{_b64(_json(claims))}"
    return f"{signing_input}.{_b64(_sign(key, signing_input))}"


def decode(
    token: str,
    key: bytes,
    *,
    audience: str,
    issuer: str | None = None,
    require: Iterable[str] = (),
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of a token this key signed for `audience` (and `issuer`, if given), with
    every claim in `require` present; JwtError otherwise."""
    header, payload, signature, signing_input = _split(token)
    if header.get("alg") != ALGORITHM:
        raise JwtError(f"the token's algorithm is not {ALGORITHM}")
    if "crit" in header:
        raise JwtError("the token names critical extensions")
    if header.get("typ", "JWT") != "JWT":
        raise JwtError("the token is not a JWT")
    if not hmac.compare_digest(signature, _sign(key, signing_input)):
        raise JwtError("the token's signature does not verify")
    claims = _object(payload, "payload")
    missing = [name for name in require if name not in claims]
    if missing:
        raise JwtError(f'the token has no "{missing[0]}" claim')
    _check_times(claims, time.time() if now is None else now)
    _check_audience(claims, audience)
    if issuer is not None and claims.get("iss") != issuer:
        raise JwtError("the token has another issuer")
    return claims


def _split(token: str) -> tuple[dict[str, Any], bytes, bytes, str]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise JwtError("the token is not a JWT")
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts):
        raise JwtError("the token is not three base64url segments")
    header = _object(_unb64(parts[0]), "header")
    return header, _unb64(parts[1]), _unb64(parts[2]), f"{parts[0]}.{parts[1]}"


def _check_times(claims: Mapping[str, Any], now: float) -> None:
    for name in ("exp", "nbf", "iat"):
        if name in claims and not _is_number(claims[name]):
            raise JwtError(f'the token\'s "{name}" is not a number')
    if "exp" in claims and now >= claims["exp"]:
        raise JwtError("the token has expired")
    if "nbf" in claims and now < claims["nbf"]:
        raise JwtError("the token is not valid yet")
    if "iat" in claims and now < claims["iat"]:
        raise JwtError("the token was issued in the future")


def _check_audience(claims: Mapping[str, Any], audience: str) -> None:
    found = claims.get("aud")
    names = [found] if isinstance(found, str) else found
    if not isinstance(names, list) or audience not in names:
        raise JwtError("the token is meant for another audience")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        found = json.loads(data)
    except (ValueError, RecursionError):
        raise JwtError(f"the token's {what} is not JSON") from None
    if not isinstance(found, dict):
        raise JwtError(f"the token's {what} is not a JSON object")
    return found


def _sign(key: bytes, signing_input: str) -> bytes:
    return hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise JwtError("the token is not base64url") from None
