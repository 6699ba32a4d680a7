"""`moorage serve`: migrate, make the first admin, then serve HTTP with granian."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from granian.constants import Interfaces
from granian.server.embed import Server

from moorage import wiring
from moorage.api.app import create_app
from moorage.config import Settings
from moorage.domain.users import UserService
from moorage.jobs.handlers import run_background

log = logging.getLogger("moorage")


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


def _announce_admin(built: wiring.Built, settings: Settings) -> None:
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    first = UserService(built.services.uow, built.password_hasher).ensure_first_admin(password)
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


async def _serve(server: Server, built: wiring.Built, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stop)
    if not settings.run_jobs:
        await server.serve()
        return
    background = asyncio.create_task(
        run_background(built.services, settings.job_concurrency, settings.schedule_tick_seconds)
    )
    try:
        await server.serve()
    finally:
        background.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await background


async def _work(built: wiring.Built, settings: Settings) -> None:
    task = asyncio.create_task(
        run_background(built.services, settings.job_concurrency, settings.schedule_tick_seconds)
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def work(args: argparse.Namespace, settings: Settings) -> int:
    """`moorage worker`: background jobs and schedules only, for nodes that serve no HTTP."""
    configure_logging(settings.log_level)
    built = wiring.build(settings, migrate_schema=settings.migrate_on_start)
    try:
        asyncio.run(_work(built, settings))
    finally:
        built.engine.dispose()
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(settings.log_level)
    built = wiring.build(settings, migrate_schema=settings.migrate_on_start)
    _announce_admin(built, settings)
    app = create_app(built.services, settings)
    server = Server(
        app,
        address=settings.listen_host,
        port=settings.listen_port,
        interface=Interfaces.ASGI,
        log_level=settings.log_level,  # type: ignore[arg-type]
    )
    logging.getLogger("_granian").addFilter(_QuietEmbedding())  # after granian set up its logs
    print(f"moorage listening on http://{settings.listen}", flush=True)
    try:
        asyncio.run(_serve(server, built, settings))
    finally:
        built.engine.dispose()
    return 0
