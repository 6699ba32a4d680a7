"""`moorage serve`: migrate, make the first admin, then serve HTTP with granian."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import signal
import sys

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server.embed import Server
from starlette.types import ASGIApp

from moorage.api.app import create_app
from moorage.config import Settings
from moorage.jobs.background import run_background
from moorage.wiring import Container

log = logging.getLogger("moorage")
OPEN_FILES_CAP = 1 << 20  # Linux's default fs.nr_open: the most a soft limit may be


class _QuietEmbedding(logging.Filter):
    """granian warns that embedding it is experimental on every start: moorage chose to."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "experimental" not in record.getMessage()


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def _announce_admin(container: Container) -> None:
    settings = container.settings
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    first = container.users.ensure_first_admin(password)
    if first is None:
        return
    if first.generated_password is None:
        print(f"created admin user {first.user.username!r} with MOORAGE_ADMIN_PASSWORD", flush=True)
        return
    print(
        "\n".join(
            [
                "=" * 64,
                "moorage: first start — an administrator was created.",
                f"  username: {first.user.username}",
                f"  password: {first.generated_password}",
                "This password is shown only now. Keep it safe.",
                "=" * 64,
            ]
        ),
        flush=True,
    )


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (each connection is a descriptor);
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return OPEN_FILES_CAP
    target = OPEN_FILES_CAP if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
    return soft


def connection_limit(wanted: int, open_files: int) -> int:
    """`wanted`, or fewer if the open-file limit cannot hold that many: a connection may hold
    a socket and a blob file at once, and the process needs some descriptors of its own."""
    reserve = min(1024, open_files // 4)
    return max(16, min(wanted, (open_files - reserve) // 2))


def build_server(app: ASGIApp, settings: Settings) -> Server:
    """granian with moorage's limits: HTTP/1.1 only (h2c detection waits for a preface with no
    timeout), header and keep-alive timeouts, and as many connections as descriptors allow."""
    open_files = raise_open_file_limit()
    connections = connection_limit(settings.http_max_connections, open_files)
    if connections < settings.http_max_connections:
        log.warning(
            "http_max_connections lowered from %d to %d: the open-file limit is %d",
            settings.http_max_connections,
            connections,
            open_files,
        )
    log.info(
        "http: up to %d connections (open-file limit %d, backlog %d), header timeout %gs, "
        "body timeout %gs, keep-alive %s",
        connections,
        open_files,
        settings.http_backlog,
        settings.http_header_timeout_seconds,
        settings.http_body_timeout_seconds,
        "on" if settings.http_keep_alive else "off",
    )
    return Server(
        app,
        address=settings.listen_host,
        port=settings.listen_port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        backlog=settings.http_backlog,
        backpressure=connections,
        runtime_threads=settings.http_threads,
        http1_settings=HTTP1Settings(
            header_read_timeout=round(settings.http_header_timeout_seconds * 1000),
            keep_alive=settings.http_keep_alive,
        ),
        log_level=settings.log_level,  # type: ignore[arg-type]
    )


async def _serve(server: Server, container: Container) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stop)
    if not container.settings.run_jobs:
        await server.serve()
        return
    background = asyncio.create_task(run_background(container))
    try:
        await server.serve()
    finally:
        background.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await background


async def _work(container: Container) -> None:
    task = asyncio.create_task(run_background(container))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def work(args: argparse.Namespace, container: Container) -> int:
    """`moorage worker`: background jobs and schedules only, for nodes that serve no HTTP."""
    asyncio.run(_work(container))
    return 0


def run(args: argparse.Namespace, container: Container) -> int:
    settings = container.settings
    _announce_admin(container)
    app = create_app(container)
    server = build_server(app, settings)
    logging.getLogger("_granian").addFilter(_QuietEmbedding())  # after granian set up its logs
    print(f"moorage listening on http://{settings.listen}", flush=True)
    asyncio.run(_serve(server, container))
    return 0
