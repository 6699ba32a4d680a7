"""Who calls the REST API: Basic credentials (password or access key) or the console's
session cookie (HttpOnly, SameSite=Strict, signed; unsafe methods need the CSRF token)."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from moorage.api.access_log import record_user
from moorage.api.auth import SignIn, basic_credentials
from moorage.api.rest.problems import ApiError
from moorage.domain.identity.access import Action, Identity
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

    def issue(self, identity: Identity) -> tuple[str, Session]:
        now = int(time.time())
        session = Session(identity, secrets.token_urlsafe(24), now + SESSION_SECONDS)
        claims = {
            "aud": SESSION_AUDIENCE,
            "sub": identity.username,
            "uid": identity.user_id,
            "adm": identity.is_admin,
            "csrf": session.csrf_token,
            "iat": now,
            "exp": session.expires_at,
        }
        return jwt.encode(claims, self._key, algorithm="HS256"), session

    def verify(self, cookie: str) -> Session | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                cookie, self._key, algorithms=["HS256"], audience=SESSION_AUDIENCE
            )
        except jwt.PyJWTError:
            return None
        identity = Identity(int(claims["uid"]), str(claims["sub"]), bool(claims["adm"]))
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
            identity = await self.sign_in(request, *creds)
            if identity is None:
                raise self._unauthenticated(request, "invalid username/password or access key")
            return identity
        cookie = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.verify(cookie) if cookie else None
        if session is None:
            raise self._unauthenticated(request, "sign in, or send Basic credentials")
        if request.method in UNSAFE_METHODS and not hmac.compare_digest(
            request.headers.get(CSRF_HEADER, ""), session.csrf_token
        ):
            raise ApiError(403, "csrf-failed", f"missing or wrong {CSRF_HEADER} header")
        record_user(request, session.identity)
        if not await self.blocking.read(self.identities.still_valid, session.identity):
            raise self._unauthenticated(request, "the session's user no longer exists")
        return session.identity

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
