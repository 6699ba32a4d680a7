"""The registry protocol's entry: every request under /v2/ goes straight to its dispatcher.

The protocol answers every error itself (`routes.dispatch` turns any exception into the
protocol's error body), so the general router and its exception middleware have nothing to
add on /v2/ but a few frames and a regex per request, on the paths clients hit hardest
(manifest GET/HEAD). Everything else (the REST API, the console, /healthz, lifespan) goes to
the general app, as does bare `/v2`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/v2/"


class RegistryEntry:
    def __init__(self, handle: Callable[[Request], Awaitable[Response]], other: ASGIApp) -> None:
        self.handle = handle
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self.other(scope, receive, send)
            return
        scope["path_params"] = {"path": path[len(PREFIX) :]}
        response = await self.handle(Request(scope, receive, send))
        await response(scope, receive, send)
