"""Authentication on /v2/ and the Docker token endpoint (`/auth/token`).

Clients without a token get `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`;
the token endpoint takes Basic credentials (user + password, or access key ID + secret)
and grants the intersection of the scopes asked for and what the caller's role allows.
Basic credentials are also accepted directly on /v2/ for simple clients.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from moorage.api.access_log import record_user
from moorage.api.audit import sign_in_entry
from moorage.api.oci.errors import OciError, error_response, to_response
from moorage.api.tokens import ResourceGrant, TokenError, TokenSigner
from moorage.domain.audit.service import AuditService
from moorage.domain.identity.access import Action, Identity, parse_actions
from moorage.domain.identity.errors import SignInThrottled
from moorage.domain.identity.service import IdentityService, granted
from moorage.domain.identity.throttle import MAX_LOGIN_LENGTH, LoginThrottle
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.errors import RegistryNotFound
from moorage.oci import errors as oci

log = logging.getLogger("moorage.auth")
TOKEN_PATH = "/auth/token"
# How long a bearer header's answer for one repository and set of actions is reused before
# the full check runs again (that check itself reuses a "still valid" answer for at most
# REVALIDATE_SECONDS: a user disabled on another node is refused here within both).
GRANT_RECHECK_SECONDS = 1.0
MAX_GRANTS = 1024  # distinct (header, repository, actions); about 1 MiB at most


class _Grant(NamedTuple):
    """A bearer header found good for one repository and actions: until the token expires
    (`expires_at`, wall clock), this process revokes anything (`revocations` changes), or
    `recheck_at` (monotonic) passes."""

    identity: Identity
    expires_at: float
    revocations: int
    recheck_at: float


def authorization_header(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The request's Authorization header, as sent (ASGI header names are lowercase)."""
    for key, value in headers:
        if key == b"authorization":
            return value
    return None


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, secret = decoded.partition(":")
    return (login, secret) if sep and login else None


def _scope(repository: str, actions: frozenset[Action]) -> str:
    # A push reads too (HEAD of the blobs already there): ask for pull with it, as
    # Distribution and Harbor do, so a client that asks for exactly the scope challenged
    # gets a token that serves its whole push.
    if Action.PUSH in actions:
        actions = actions | {Action.PULL}
    words = sorted(a.value for a in actions) or ["pull"]
    return f"repository:{repository}:{','.join(words)}"


@dataclass(slots=True)
class _Gate:
    lock: anyio.Lock
    holders: int = 0


class _Gates:
    """One sign-in at a time per account in this process: parallel guesses queue behind
    the one being checked, so the throttle counts each failure before the next is tried."""

    def __init__(self) -> None:
        self._gates: dict[str, _Gate] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        gate = self._gates.setdefault(key, _Gate(anyio.Lock()))
        gate.holders += 1
        try:
            async with gate.lock:
                yield
        finally:
            gate.holders -= 1
            if not gate.holders:
                del self._gates[key]


class SignIn:
    """Checks credentials through the sign-in throttle (per account and per address)."""

    def __init__(
        self,
        identities: IdentityService,
        throttle: LoginThrottle,
        blocking: Blocking,
        audit: AuditService | None = None,
    ) -> None:
        self.identities = identities
        self.throttle = throttle
        self.blocking = blocking
        self.audit = audit
        self._gates = _Gates()

    async def __call__(self, request: Request, login: str, secret: str) -> Identity | None:
        """The caller, or None for wrong credentials; SignInThrottled when the throttle
        refuses the attempt (to be answered 429 with Retry-After)."""
        address = request.client.host if request.client else "unknown"
        async with self._gates.hold(login[:MAX_LOGIN_LENGTH]):
            attempt = await self.blocking.read(self.throttle.begin, login, address)
            identity = await self.blocking.run(self.identities.authenticate, login, secret)
            if identity is None:
                failures, refusal = await self.blocking.run(self.throttle.failed, attempt)
                if failures >= self.throttle.rules.free_failures or refusal is not None:
                    log.warning(
                        "repeated failed sign-ins address=%s login=%r failures=%d",
                        address,
                        login[:MAX_LOGIN_LENGTH],
                        failures,
                    )
                await self.record(request, login, 401 if refusal is None else 429)
                if refusal is not None:
                    raise refusal
                return None
            if attempt.account_counted:
                await self.blocking.run(self.throttle.succeeded, attempt)
        record_user(request, identity)
        return identity

    async def record(self, request: Request, login: str, status: int) -> None:
        """Record a sign-in in the audit log: every failure (here), and the successes of
        the console and the token endpoint (their callers) — not each request that carries
        Basic credentials."""
        if self.audit is None:
            return
        path = request.url.path
        where = (
            "token" if path == TOKEN_PATH else "console" if path.endswith("/session") else "basic"
        )
        await self.blocking.run(self.audit.record, sign_in_entry(request, login, status, where))


async def still_valid(identities: IdentityService, blocking: Blocking, identity: Identity) -> bool:
    """Whether a session's or token's caller may still act: the cached answer when this
    process has a recent one (no thread hop, no query), the database's otherwise."""
    recent = identities.recent_answer(identity)
    if recent is not None:
        return recent
    return await blocking.read(identities.still_valid, identity)


def throttled(exc: SignInThrottled) -> OciError:
    return OciError(oci.TOO_MANY_REQUESTS, str(exc), headers={"Retry-After": str(exc.retry_after)})


class TokenAuthorizer:
    """Bearer tokens (and Basic credentials) checked against the permission matrix."""

    def __init__(self, sign_in: SignIn, signer: TokenSigner) -> None:
        self.identities = sign_in.identities
        self.sign_in = sign_in
        self.signer = signer
        self.blocking = sign_in.blocking
        # Each pull of a tag sends the same header for the same repository: its answer is
        # one dict lookup, not a header parse, a token lookup, a hash of the caller and a
        # grant lookup (about 8 µs of a manifest GET's 100 in a running server).
        self._answered: dict[tuple[bytes, str | None, frozenset[Action]], _Grant] = {}

    # /v2/ --------------------------------------------------------------------------------

    def _challenge(
        self, request: Request, repository: str | None, actions: frozenset[Action], error: str
    ) -> OciError:
        realm = f"{request.url.scheme}://{request.headers.get('host', '')}{TOKEN_PATH}"
        value = f'Bearer realm="{realm}",service="{self.signer.service}"'
        if repository is not None:
            value += f',scope="{_scope(repository, actions)}"'
        if error:
            value += f',error="{error}"'
        return OciError(
            oci.UNAUTHORIZED,
            "authentication required",
            headers={"WWW-Authenticate": value},
        )

    async def authorize(
        self, request: Request, repository: str | None, actions: frozenset[Action]
    ) -> Identity | None:
        raw = authorization_header(request.scope["headers"])
        if raw is not None:
            grant = self._answered.get((raw, repository, actions))
            if (
                grant is not None
                and grant.revocations == self.identities.revocations
                and time.monotonic() < grant.recheck_at
                and time.time() < grant.expires_at
            ):
                record_user(request, grant.identity)
                return grant.identity
        header = raw.decode("latin-1") if raw is not None else None
        if raw is not None and header and header[:7].lower() == "bearer ":
            revocations = self.identities.revocations  # before any await: a grant stays
            # good only while nothing was revoked since the check began
            caller, expires_at = await self._bearer(
                request, header[7:].strip(), repository, actions
            )
            if len(self._answered) >= MAX_GRANTS:
                self._answered.clear()
            recheck_at = time.monotonic() + GRANT_RECHECK_SECONDS
            self._answered[raw, repository, actions] = _Grant(
                caller, expires_at, revocations, recheck_at
            )
            return caller
        creds = basic_credentials(header)
        if creds is None:
            raise self._challenge(request, repository, actions, "")
        try:
            identity = await self.sign_in(request, *creds)
        except SignInThrottled as exc:
            raise throttled(exc) from None
        if identity is None:
            raise self._challenge(request, repository, actions, "invalid_token")
        if repository is not None:
            await self._require(identity, repository, actions)
        return identity

    async def _bearer(
        self, request: Request, raw: str, repository: str | None, actions: frozenset[Action]
    ) -> tuple[Identity, float]:
        """The caller the token names and when the token expires; the challenge or denial
        to answer otherwise."""
        try:
            token = self.signer.verify(raw)
        except TokenError:
            raise self._challenge(request, repository, actions, "invalid_token") from None
        if token.identity is None:
            raise self._challenge(request, repository, actions, "insufficient_scope")
        record_user(request, token.identity)
        valid = self.identities.recent_answer(token.identity)  # the usual case: no await
        if valid is None:
            valid = await still_valid(self.identities, self.blocking, token.identity)
        if not valid:
            raise self._challenge(request, repository, actions, "invalid_token")
        if repository is None or actions <= token.actions_on(repository):
            return token.identity, token.expires_at
        # The token does not carry the right: either the client should ask for a wider
        # token (401), or the caller may not have it at all (403).
        allowed = await self.blocking.read(self._allowed, token.identity, repository)
        if actions <= allowed:
            raise self._challenge(request, repository, actions, "insufficient_scope")
        raise await self._denied(repository, actions)

    def _allowed(self, identity: Identity, repository: str) -> frozenset[Action]:
        return self.identities.allowed(identity, repository.split("/", 1)[0])

    async def _require(
        self, identity: Identity, repository: str, actions: frozenset[Action]
    ) -> None:
        allowed = await self.blocking.read(self._allowed, identity, repository)
        if not actions <= allowed:
            raise await self._denied(repository, actions)

    async def _denied(self, repository: str, actions: frozenset[Action]) -> Exception:
        registry = repository.split("/", 1)[0]
        try:
            await self.blocking.read(self.identities.project_of_registry, registry)
        except RegistryNotFound as exc:
            return exc  # NAME_UNKNOWN: the registry must be created first
        words = ", ".join(sorted(a.value for a in actions))
        return OciError(oci.DENIED, f"requested access to {repository} ({words}) is denied")

    async def permits(
        self, identity: Identity | None, repository: str, actions: frozenset[Action]
    ) -> bool:
        if identity is None:
            return False
        return actions <= await self.blocking.read(self._allowed, identity, repository)

    async def readable_registries(self, identity: Identity | None) -> set[str] | None:
        return await self.blocking.read(self.identities.readable_registries, identity)

    # /auth/token -------------------------------------------------------------------------

    async def token_endpoint(self, request: Request) -> Response:
        try:
            creds, scopes = await self._token_request(request)
        except OciError as exc:
            return to_response(exc)
        identity = None
        if creds is not None:
            try:
                identity = await self.sign_in(request, *creds)
            except SignInThrottled as exc:
                return to_response(throttled(exc))
            if identity is None:
                return error_response(oci.UNAUTHORIZED, "invalid username/password or access key")
            await self.sign_in.record(request, creds[0], 200)
        grants = await self.blocking.read(self._grants, identity, scopes)
        token, lifetime, issued = self.signer.issue(identity, grants)
        body = {
            "token": token,
            "access_token": token,
            "expires_in": lifetime,
            "issued_at": datetime.fromtimestamp(issued, UTC).isoformat().replace("+00:00", "Z"),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def _token_request(self, request: Request) -> tuple[tuple[str, str] | None, list[str]]:
        """Credentials and scopes from a GET (Basic auth) or an OAuth2 password-grant POST."""
        scopes = [s for value in request.query_params.getlist("scope") for s in value.split(" ")]
        creds = basic_credentials(request.headers.get("authorization"))
        if request.method == "POST" and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            try:
                form = await request.form()
            except Exception:  # a malformed body is the client's
                raise OciError(oci.UNSUPPORTED, "malformed form body", status=400) from None
            scopes += list(str(form.get("scope", "")).split(" "))
            if form.get("grant_type") == "password" and form.get("username"):
                creds = (str(form.get("username")), str(form.get("password", "")))
        return creds, [s for s in scopes if s]

    def _grants(self, identity: Identity | None, scopes: list[str]) -> list[ResourceGrant]:
        grants = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, words = rest.rpartition(":")
            requested = parse_actions(words.split(","))
            if kind == "repository" and name:
                allowed = self._allowed(identity, name) if identity else frozenset()
                grants.append(ResourceGrant(kind, name, frozenset(granted(requested, allowed))))
            elif kind == "registry" and name == "catalog" and identity is not None:
                grants.append(ResourceGrant(kind, name, frozenset({Action.PULL})))
        return grants
