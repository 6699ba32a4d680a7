"""create_app(services): the one ASGI application moorage serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import anyio
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moorage.api.access import Authorizer, OpenAccess
from moorage.api.access_log import AccessLog
from moorage.api.auth import TOKEN_PATH, SignIn, TokenAuthorizer
from moorage.api.lazy import BuiltOnFirstUse
from moorage.api.metrics import AbortReason, Metrics
from moorage.api.oci.asgi import RegistryEntry
from moorage.api.oci.context import OciContext, OciServices
from moorage.api.oci.routes import dispatch
from moorage.api.proxy import ForwardedHeaders, TrustedProxies
from moorage.api.rest.services import RestServices
from moorage.api.rest.slashes import EncodedSlashes
from moorage.api.tokens import TokenSigner
from moorage.config import Settings
from moorage.domain.content.artifacts import PullRecorder
from moorage.domain.identity.throttle import LoginThrottle
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.errors import Busy
from moorage.domain.ports import UnitOfWorkFactory

log = logging.getLogger("moorage.api")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
KNOWN_METHODS = frozenset(ALL_METHODS)
REST_PREFIX = "/api/v1"


PULL_FLUSH_SECONDS = 1.0


class AppServices(OciServices, RestServices, Protocol):
    """What the HTTP app uses of the composition root's container (built in `wiring`)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def uow(self) -> UnitOfWorkFactory: ...

    @property
    def token_key(self) -> bytes: ...

    @property
    def login_throttle(self) -> LoginThrottle: ...


async def _flush_pulls(pulls: PullRecorder, blocking: Blocking, seconds: float) -> None:
    """Write the pulls this process buffered, every `seconds`, until cancelled.

    Not background work: the buffer is this process's memory, so no other process or node
    can write it, and it lives and dies with the app (a last flush at shutdown). Pulls stay
    off the database on the manifest GET path; see "Pull bookkeeping" in
    docs/architecture.md."""
    while True:
        await anyio.sleep(seconds)
        try:
            await blocking.run(pulls.flush)
        except Exception:
            log.exception("writing buffered pulls failed (kept for the next flush)")


class HostMarker:
    """Marks requests that came through the private host (SPEC §9)."""

    def __init__(self, app: ASGIApp, private_host: str | None) -> None:
        self.app = app
        self.private_host = private_host.lower() if private_host else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            private = False
            if self.private_host:
                for key, value in scope["headers"]:
                    if key == b"host":
                        private = value.decode("latin-1").lower() == self.private_host
                        break
            scope.setdefault("state", {})["private_host"] = private
        await self.app(scope, receive, send)


class ClientWatch:
    """Bounds how long a request body may stall, and makes a client that stalls or goes away
    mid-request one info line and one count, never a 500 with a traceback.

    Every receive of the request body waits at most `body_timeout` seconds, so the bound is on
    inactivity: each chunk that arrives restarts it and a slow but progressing upload is never
    cut. A stalled body is handed to the app as a disconnect: Starlette raises ClientDisconnect
    where the body is read, and the handlers answer 400 (sent with `Connection: close`, so the
    stalled connection ends). Once the body is complete, receives (Starlette waiting for a
    disconnect while it streams a response) are not bounded.

    A body with a Content-Length ends with its last byte: the message that brings it is
    handed on as the last one. The server would otherwise announce the end in one more,
    empty message, and each receive is a hand-over between the server's threads and the
    event loop (a fifth of a small request's server time).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, body_timeout: float) -> None:
        self.app = app
        self.metrics = metrics
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = started = False
        received = 0
        declared: int | None = _UNREAD  # the Content-Length, read once a body is received
        aborted: AbortReason | None = None

        def abort(reason: AbortReason) -> None:
            nonlocal aborted
            if aborted is not None:
                return
            aborted = reason
            self.metrics.client_aborted(reason)
            client = scope.get("client") or ("?", 0)
            what = (
                "went away"
                if reason == "disconnect"
                else f"sent nothing for {self.body_timeout:g}s"
            )
            log.info(
                "client %s:%s %s during %s %s (%d body bytes received)",
                client[0],
                client[1],
                what,
                scope["method"],
                scope["path"],
                received,
            )

        async def watched_receive() -> Message:
            nonlocal body_done, received, declared
            if body_done:
                return await receive()
            try:
                # asyncio's own timeout: half the cost of anyio's cancel scope, on every
                # receive of every body (moorage serves on asyncio's loop only).
                async with asyncio.timeout(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                body_done = True
                abort("body_timeout")
                return {"type": "http.disconnect"}
            if message["type"] == "http.disconnect":
                body_done = True
                abort("disconnect")
            else:
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if declared == _UNREAD:
                    declared = _declared_length(scope)
                if not body_done and received == declared:
                    body_done = True
                    message = {**message, "more_body": False}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if aborted == "body_timeout":  # still connected, and its body is unread
                    headers = [*message.get("headers", ()), (b"connection", b"close")]
                    message = {**message, "headers": headers}
            try:
                await send(message)
            except OSError:
                abort("disconnect")
                raise

        try:
            await self.app(scope, watched_receive, watched_send)
        except Exception:
            if aborted is None:
                raise
            # The client is gone or cut: whatever the app raised over it is no server fault.
            log.debug("request of an aborted client ended in an exception", exc_info=True)
            if not started:
                with contextlib.suppress(OSError):
                    await _incomplete_body(scope, watched_receive, watched_send)


_UNREAD = -1  # ClientWatch has not read the request's Content-Length yet


def _declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when absent, unreadable or beside a
    Transfer-Encoding (then the body's framing, not the header, says where it ends)."""
    declared = None
    for key, value in scope["headers"]:
        if key == b"content-length":
            if declared is not None or not value.isdigit() or len(value) > 18:
                return None  # repeated or not a plain number: left to the framing
            declared = int(value)
        elif key == b"transfer-encoding":
            return None
    return declared


async def _incomplete_body(scope: Scope, receive: Receive, send: Send) -> None:
    response = PlainTextResponse("the request body was not completed", status_code=400)
    await response(scope, receive, send)


async def _client_disconnect(request: Request, exc: Exception) -> Response:
    """A body read outside the /v2 handlers (which map it themselves) that did not complete."""
    return PlainTextResponse("the request body was not completed", status_code=400)


async def _busy(request: Request, exc: Exception) -> Response:
    """The database out of reach (restarting, a connection cut) outside the /v2 and REST
    handlers, which answer it themselves: the token endpoint. 503 and Retry-After, as they
    do, never a 500."""
    log.warning("database busy: %s", exc)
    body = {"errors": [{"code": "UNAVAILABLE", "message": "busy, retry shortly"}]}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})


def _authorizer(sign_in: SignIn | None, services: AppServices, settings: Settings) -> Authorizer:
    if sign_in is None:
        return OpenAccess()
    signer = TokenSigner(
        services.token_key, settings.token_service, settings.token_lifetime_minutes * 60
    )
    return TokenAuthorizer(sign_in, signer)


def _rest_app(services: AppServices, sign_in: SignIn | None) -> ASGIApp:
    """The REST API, built on its first request: FastAPI and the route modules load then."""
    from moorage.api.rest.app import create_rest_app
    from moorage.api.rest.security import RestSecurity, SessionCodec

    codec = SessionCodec(services.token_key or b"open-mode")
    return create_rest_app(
        services, RestSecurity(services.identities, sign_in, codec, services.blocking)
    )


def _console_app() -> ASGIApp:
    """The console's page and assets, built on its first request."""
    from moorage.console.app import create_console_app

    return create_console_app()


def create_app(services: AppServices) -> ASGIApp:
    settings = services.settings
    identities = services.identities
    blocking = services.blocking
    sign_in = (
        None
        if settings.auth == "none"
        else SignIn(identities, services.login_throttle, blocking, services.audit)
    )
    authorizer = _authorizer(sign_in, services, settings)
    pulls = services.pulls
    ctx = OciContext.of(services, authorizer)

    metrics = Metrics(services.proxy_cache.counters)

    async def v2(request: Request) -> Response:
        method = request.method
        operation = method if method in KNOWN_METHODS else "other"  # bounded label values
        return await metrics.observe("registry", operation, lambda: dispatch(ctx, request))

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        def ping() -> None:
            with services.uow() as store:
                store.users.count_users()

        try:
            await blocking.run(ping)
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_flush_pulls, pulls, blocking, PULL_FLUSH_SECONDS)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
                await blocking.run(pulls.flush)
                await services.proxy_cache.close()

    routes = [
        Route("/v2/{path:path}", v2, methods=ALL_METHODS),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics.endpoint),
        Mount(REST_PREFIX, app=BuiltOnFirstUse(lambda: _rest_app(services, sign_in))),
    ]
    if isinstance(authorizer, TokenAuthorizer):
        routes.append(Route(TOKEN_PATH, authorizer.token_endpoint, methods=["GET", "POST"]))
    routes.append(Mount("/", app=BuiltOnFirstUse(_console_app)))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ClientDisconnect: _client_disconnect, Busy: _busy},
    )
    watched = ClientWatch(
        HostMarker(EncodedSlashes(RegistryEntry(v2, app), REST_PREFIX), services.private_host),
        metrics,
        settings.http_body_timeout_seconds,
    )
    # The access log is outside ClientWatch, so a request it cuts short is logged too.
    logged = AccessLog(watched)
    # Outermost, so everything inside (logs, the private host, the realm, the sign-in
    # throttle) sees the client's scheme, host and address when a trusted proxy relays them.
    return ForwardedHeaders(logged, TrustedProxies(settings.trusted_proxies))
