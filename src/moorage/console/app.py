"""Serves the console's page and assets; holds no data and no rules."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
# The page may load only its own scripts and styles, and talk only to its own origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


async def index(request: Request) -> Response:
    """Every console URL gets the same page; the client-side router shows the right view."""
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


def create_console_app() -> Starlette:
    return Starlette(
        routes=[
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
            Route("/{path:path}", index),
        ]
    )
