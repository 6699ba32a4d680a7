"""Who calls the REST API: Basic credentials (password or access key) or the console's
session cookie (HttpOnly, SameSite=Strict, signed; unsafe methods need the CSRF token).

A session cookie names its session and carries its user's generation: it works while the
session's row exists and the generation is current (docs/security.md), as each node checks
at most REVALIDATE_SECONDS after the last time it asked."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from moorage.api import jwt_hs256
from moorage.api.access_log import record_user
from moorage.api.auth import SignIn, basic_credentials, still_valid
from moorage.api.rest.problems import ApiError
from moorage.domain.identity.access import Action, Identity
from moorage.domain.identity.errors import SignInThrottled
from moorage.domain.identity.service import IdentityService
from moorage.domain.kernel.blocking import Blocking

SESSION_COOKIE = "moorage_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_AUDIENCE = "moorage-console"
SESSION_SECONDS = 12 * 3600
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Open mode (auth = "none") acts as a system administrator.
OPEN_MODE_IDENTITY = Identity(0, "anonymous", is_admin=True)


@dataclass(frozen=True, slots=True)
class Session:
    identity: Identity
    csrf_token: str
    expires_at: int


class SessionCodec:
    """Signed session cookies; the key is the token key, the audience keeps them apart."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, identity: Identity, csrf_token: str | None = None) -> tuple[str, Session]:
        """A new session (a new id) for the identity; `csrf_token` keeps a former one's."""
        now = int(time.time())
        session = Session(
            replace(identity, access_key_id=None, session_id=secrets.token_urlsafe(24)),
            csrf_token or secrets.token_urlsafe(24),
            now + SESSION_SECONDS,
        )
        claims = {
            "aud": SESSION_AUDIENCE,
            "sub": identity.username,
            "uid": identity.user_id,
            "adm": identity.is_admin,
            "gen": identity.generation,
            "sid": session.identity.session_id,
            "csrf": session.csrf_token,
            "iat": now,
            "exp": session.expires_at,
        }
        return jwt_hs256.encode(claims, self._key), session

    def verify(self, cookie: str) -> Session | None:
        """The session the cookie names, if it is well signed and unexpired (whether it
        has ended is for `IdentityService.still_valid`)."""
        try:
            claims: dict[str, Any] = jwt_hs256.decode(
                cookie,
                self._key,
                audience=SESSION_AUDIENCE,
                require=["sid", "gen", "uid", "sub", "csrf", "exp"],
            )
        except jwt_hs256.JwtError:
            return None
        identity = Identity(
            int(claims["uid"]),
            str(claims["sub"]),
            bool(claims.get("adm")),
            generation=int(claims["gen"]),
            session_id=str(claims["sid"]),
        )
        return Session(identity, str(claims["csrf"]), int(claims["exp"]))


@dataclass(frozen=True, slots=True)
class RestSecurity:
    identities: IdentityService
    sign_in: SignIn | None  # None: authentication is off
    sessions: SessionCodec
    blocking: Blocking

    def _unauthenticated(self, request: Request, detail: str) -> ApiError:
        # The console handles 401 itself; a Basic challenge would make browsers prompt.
        headers = (
            {}
            if request.headers.get("x-moorage-console")
            else {"WWW-Authenticate": 'Basic realm="moorage"'}
        )
        return ApiError(401, "unauthenticated", detail, headers)

    async def caller(self, request: Request) -> Identity:
        if self.sign_in is None:
            return OPEN_MODE_IDENTITY
        creds = basic_credentials(request.headers.get("authorization"))
        if creds is not None:
            identity = await self.check_password(request, *creds)
            if identity is None:
                raise self._unauthenticated(request, "invalid username/password or access key")
            return identity
        session = await self.session(request)
        if session is None:
            raise self._unauthenticated(request, "sign in, or send Basic credentials")
        if request.method in UNSAFE_METHODS and not hmac.compare_digest(
            request.headers.get(CSRF_HEADER, ""), session.csrf_token
        ):
            raise ApiError(403, "csrf-failed", f"missing or wrong {CSRF_HEADER} header")
        return session.identity

    async def session(self, request: Request) -> Session | None:
        """The request's console session, if it has one that has not ended."""
        cookie = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.verify(cookie) if cookie else None
        if session is None:
            return None
        record_user(request, session.identity)
        if not await still_valid(self.identities, self.blocking, session.identity):
            return None
        return session

    async def check_password(self, request: Request, login: str, secret: str) -> Identity | None:
        """Sign-in through the throttle (which must be on): 429 when it refuses."""
        assert self.sign_in is not None
        try:
            return await self.sign_in(request, login, secret)
        except SignInThrottled as exc:
            raise ApiError(
                429, "too-many-requests", str(exc), {"Retry-After": str(exc.retry_after)}
            ) from None

    async def open_session(
        self, identity: Identity, csrf_token: str | None = None
    ) -> tuple[str, Session]:
        """A new console session for the identity, recorded so that it can end: (cookie,
        session)."""
        cookie, session = self.sessions.issue(identity, csrf_token)
        expires_at = datetime.fromtimestamp(session.expires_at, UTC)
        await self.blocking.run(self.identities.start_session, session.identity, expires_at)
        return cookie, session

    def require(self, identity: Identity, registry: str, action: Action) -> None:
        """403 unless the caller may do `action` in the registry (404 if it does not exist)."""
        self.identities.project_of_registry(registry)
        allowed = self.identities.allowed(identity, registry)
        if action not in allowed:
            raise ApiError(
                403, "forbidden", f"your role does not allow {action.value} in {registry!r}"
            )

    def require_in_project(self, identity: Identity, project: str, action: Action) -> None:
        allowed = self.identities.allowed_in_project(identity, project)
        if action not in allowed:
            raise ApiError(
                403, "forbidden", f"your role does not allow {action.value} in project {project!r}"
            )

    def require_admin(self, identity: Identity) -> None:
        if not identity.is_admin:
            raise ApiError(403, "forbidden", "only a system administrator may do this")


def security(request: Request) -> RestSecurity:
    sec: RestSecurity = request.app.state.security
    return sec


async def current_identity(request: Request) -> Identity:
    return await security(request).caller(request)


Caller = Annotated[Identity, Depends(current_identity)]
Security = Annotated[RestSecurity, Depends(security)]
