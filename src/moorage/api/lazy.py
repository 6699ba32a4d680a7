"""`BuiltOnFirstUse`: an ASGI app built when its first request arrives, not at start-up.

Whatever a module imports stays in the server's memory for good. The REST API (FastAPI and
every route module) and the console serve people and scripts now and then, while a
registry mostly answers `/v2`: building them on first use keeps FastAPI out of a server that
only serves the registry protocol (see "Memory" in docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send


class BuiltOnFirstUse:
    """Builds the app with `build` on the first request, once, and serves every request with
    it. The build runs in a worker thread (importing a framework takes a while; the event loop
    goes on serving meanwhile), and requests arriving during it wait for that one build. A
    build that fails fails its request and the ones waiting; the next request tries again.

    No lifespan events reach the built app: a mounted app gets none (Starlette's `Mount`
    forwards only requests), so there is nothing to start or stop with it."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._lock: anyio.Lock | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app if self._app is not None else await self._built()
        await app(scope, receive, send)

    async def _built(self) -> ASGIApp:
        if self._lock is None:  # made in the event loop; no await before it is kept
            self._lock = anyio.Lock()
        async with self._lock:
            if self._app is None:
                # Not cancellable: a request that goes away mid-build still keeps the app.
                self._app = await anyio.to_thread.run_sync(self._build)
        return self._app
