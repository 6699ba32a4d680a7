"""Signed bearer tokens for the Docker token flow (JWT, HMAC-SHA256, ≤ 12 hours)."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from moorage.api import jwt_hs256
from moorage.domain.identity.access import Action, Identity, parse_actions

MAX_LIFETIME_SECONDS = 12 * 3600
ISSUER = "moorage"


@dataclass(frozen=True, slots=True)
class ResourceGrant:
    type: str  # "repository" or "registry"
    name: str
    actions: frozenset[Action]

    def claim(self) -> dict[str, object]:
        return {
            "type": self.type,
            "name": self.name,
            "actions": sorted(a.value for a in self.actions),
        }


@dataclass(frozen=True, slots=True)
class Token:
    identity: Identity | None
    grants: tuple[ResourceGrant, ...]
    expires_at: float
    by_repository: dict[str, frozenset[Action]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Every request with the token asks for one repository's actions: gathered once,
        # when the token is first verified (verified tokens are cached).
        found: dict[str, frozenset[Action]] = {}
        for grant in self.grants:
            if grant.type == "repository":
                found[grant.name] = found.get(grant.name, frozenset()) | grant.actions
        object.__setattr__(self, "by_repository", found)

    def actions_on(self, repository: str) -> frozenset[Action]:
        return self.by_repository.get(repository, frozenset())


class TokenError(Exception):
    """A token that is malformed, tampered with, expired or not for this service."""


class TokenSigner:
    """Issues and verifies tokens; verification results are cached by token string."""

    def __init__(self, key: bytes, service: str, lifetime_seconds: int) -> None:
        if len(key) < 32:
            raise ValueError("the token signing key needs at least 32 bytes")
        self._key = key
        self.service = service
        self.lifetime = min(lifetime_seconds, MAX_LIFETIME_SECONDS)
        self._cache: OrderedDict[str, Token] = OrderedDict()
        self._lock = threading.Lock()

    def issue(
        self, identity: Identity | None, grants: list[ResourceGrant]
    ) -> tuple[str, int, float]:
        """(token, lifetime in seconds, issued-at epoch seconds)."""
        now = time.time()
        claims: dict[str, object] = {
            "iss": ISSUER,
            "aud": self.service,
            "sub": identity.username if identity else "",
            "iat": int(now),
            "nbf": int(now) - 5,
            "exp": int(now) + self.lifetime,
            "jti": secrets.token_hex(12),
            "access": [g.claim() for g in grants],
        }
        if identity is not None:
            claims["uid"] = identity.user_id
            claims["adm"] = identity.is_admin
            claims["gen"] = identity.generation  # the token ends when the user's changes
            if identity.access_key_id:
                claims["akid"] = identity.access_key_id
        return jwt_hs256.encode(claims, self._key), self.lifetime, now

    def verify(self, token: str) -> Token:
        cached = self._cache.get(token)  # one dict lookup: atomic, no lock needed to read
        if cached is not None:
            if cached.expires_at > time.time():
                return cached
            with self._lock:
                self._cache.pop(token, None)
        parsed = self._decode(token)
        with self._lock:
            self._cache[token] = parsed
            while len(self._cache) > 4096:
                self._cache.popitem(last=False)
        return parsed

    def _decode(self, token: str) -> Token:
        try:
            claims = jwt_hs256.decode(
                token,
                self._key,
                audience=self.service,
                issuer=ISSUER,
                require=["exp", "iat", "sub", "aud", "iss"],
            )
        except jwt_hs256.JwtError as exc:
            raise TokenError(str(exc)) from None
        if claims["exp"] - claims["iat"] > MAX_LIFETIME_SECONDS:
            raise TokenError("token lifetime exceeds 12 hours")
        identity = None
        if claims.get("sub") and isinstance(claims.get("uid"), int):
            generation = claims.get("gen", 0)  # tokens from before generations: 0
            identity = Identity(
                claims["uid"],
                claims["sub"],
                bool(claims.get("adm")),
                claims.get("akid"),
                generation=generation if isinstance(generation, int) else -1,
            )
        grants = tuple(
            ResourceGrant(
                str(a.get("type")), str(a.get("name")), parse_actions(a.get("actions", ()))
            )
            for a in claims.get("access") or ()
            if isinstance(a, dict)
        )
        return Token(identity, grants, float(claims["exp"]))
