"""`EncodedSlashes`: image names keep their `%2F` on the way to the REST API. Apart from the
routes, so that the server wraps its app without loading FastAPI (the REST app is built on
its first request)."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send


class EncodedSlashes:
    """Keeps `%2F` inside one path segment for the REST API (`images/team%2Fapp/artifacts`).

    ASGI servers decode the path before routing, which would turn an encoded image name into
    several segments; this rebuilds the path from `raw_path`, decoding all but `%2F`.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw and scope["path"].startswith(self.prefix):
            segments = raw.decode("latin-1").split("?", 1)[0].split("/")
            scope = {
                **scope,
                "path": "/".join(unquote(s).replace("/", "%2F") for s in segments),
            }
        await self.app(scope, receive, send)
