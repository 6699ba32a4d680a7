"""`moorage serve`: check, bind, migrate, make the first admin, then serve HTTP(S) with granian.

The order matters to operators: everything that can fail on a bad setting (the data
directory, the port, the TLS files, the database, the object store) is checked before the
first administrator is created, and its generated password is printed only once the server
is up, so a failed start never consumes the one chance to see it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import resource
import signal
import socket
import threading
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

from granian._granian import SocketHolder
from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.http import HTTP1Settings
from granian.server.embed import Server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moorage import wiring
from moorage.api.app import create_app
from moorage.cli import logs, startup
from moorage.config import Settings
from moorage.domain.identity.users import FirstAdmin
from moorage.jobs.background import run_background
from moorage.wiring import Container

log = logging.getLogger("moorage")
OPEN_FILES_CAP = 1 << 20  # Linux's default fs.nr_open: the most a soft limit may be
M_TRIM_THRESHOLD, M_ARENA_MAX, M_MMAP_THRESHOLD = -1, -8, -3  # glibc's mallopt (malloc.h)
MALLOC_ARENAS = 2
# Blocks this large or larger are mapped on their own and unmapped when freed. Fixed (glibc
# otherwise raises it after each large free, up to 32 MiB): a password hash's 19 MiB would
# then come from the heap and stay there after the sign-in. Blob pieces (1 MiB) stay below.
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
# Free memory at the top of a heap kept rather than handed back. Fixing the mmap threshold
# also fixes this one at 128 KiB: each blob piece freed (1 MiB) was returned to the system and
# the next one faulted its pages in again, about 7,000 page faults per 64 MiB pulled.
TRIM_THRESHOLD_BYTES = 4 * 1024 * 1024


def ensure_first_admin(container: Container) -> FirstAdmin | None:
    """Create the administrator on a fresh install; say so when MOORAGE_ADMIN_PASSWORD
    is set but cannot apply (users exist: it only ever sets the first password)."""
    settings = container.settings
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    first = container.users.ensure_first_admin(password)
    if first is None and password is not None:
        log.warning(
            "MOORAGE_ADMIN_PASSWORD is ignored: users already exist (it sets only the first "
            "administrator's password); change a password with `moorage user passwd NAME`"
        )
    return first


def admin_banner(first: FirstAdmin | None) -> str | None:
    """What to print about the administrator just created, if one was."""
    if first is None:
        return None
    if first.generated_password is None:
        return f"created admin user {first.user.username!r} with MOORAGE_ADMIN_PASSWORD"
    return "\n".join(
        [
            "=" * 64,
            "moorage: first start — an administrator was created.",
            f"  username: {first.user.username}",
            f"  password: {first.generated_password}",
            "This password is shown only now. Keep it safe.",
            "=" * 64,
        ]
    )


class AnnounceOnStartup:
    """The app, plus a callback once its lifespan startup completed: the moment granian's
    worker serves it on the (already listening) socket."""

    def __init__(self, app: ASGIApp, started: Callable[[], None]) -> None:
        self.app = app
        self.started = started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_then_announce(message: Message) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                self.started()

        await self.app(scope, receive, send_then_announce)


def _glibc() -> ctypes.CDLL | None:
    libc = ctypes.CDLL(None)  # the C library the process runs on
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def tune_malloc() -> None:
    """At most two malloc arenas, unless MALLOC_ARENA_MAX says otherwise; large blocks
    mapped on their own (`MMAP_THRESHOLD_BYTES`), unless MALLOC_MMAP_THRESHOLD_ says; up to
    `TRIM_THRESHOLD_BYTES` of free heap kept, unless MALLOC_TRIM_THRESHOLD_ says.

    glibc gives each thread that allocates an arena of its own, up to eight per core, and
    moorage runs many threads (granian's runtime, anyio's workers for file and database work):
    after a burst of uploads each arena keeps a few hundred KiB, about 3 MiB in all. Python
    allocates on the event loop's thread; the workers mostly wait on I/O, so two arenas cost
    them no measurable contention. Called before any thread starts. Not glibc (musl): nothing
    to do."""
    libc = _glibc()
    if libc is None:
        return
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)


def release_free_memory() -> None:
    """Hand the memory glibc kept after start-up (imports, migrations, the first admin's
    password hash) back to the system."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


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


class OwnSocketServer(Server):
    """granian serving a socket moorage bound itself.

    granian binds its listeners with SO_REUSEPORT, so a second server on a taken port would
    start and share it silently; moorage binds without it (`startup.bind_listener`) and
    hands granian the descriptor, as granian itself does on platforms without SO_REUSEPORT.
    This overrides a private method of granian (pinned in requirements/); the e2e test of
    a second server on a taken port fails if a granian upgrade changes it."""

    listener: socket.socket  # set before `serve`

    def _init_shared_socket(self) -> None:
        # granian owns the descriptor from here and closes it when it stops: the socket
        # object lets go of it, so closing that later cannot close it twice (EBADF, or
        # worse, a descriptor reused meanwhile).
        fd = self.listener.detach()
        # granian's stub omits SocketHolder's arguments (descriptor, is-a-unix-socket,
        # backlog) and types the attributes for its own platforms.
        self._shd = SocketHolder(fd, False, self.backlog)  # type: ignore[call-arg,assignment]
        self._ssp = None
        self._sfd = fd  # type: ignore[assignment]


def build_server(app: ASGIApp, settings: Settings, listener: socket.socket) -> Server:
    """granian with moorage's limits: HTTP/1.1 only (h2c detection waits for a preface with no
    timeout), header and keep-alive timeouts, and as many connections as descriptors allow;
    TLS 1.2 and 1.3 when a certificate is set."""
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
    server = OwnSocketServer(
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
        # granian applies a logging configuration when built: moorage's own, so its records
        # share moorage's one format and stream; its access log stays off (AccessLog's job).
        log_dictconfig=logs.logging_config(settings.log_level, settings.log_format),
        log_access=False,
        ssl_cert=settings.tls_cert,
        ssl_key=settings.tls_key,
        # TLS 1.2 too: Docker engines and registry clients still in use speak no 1.3.
        ssl_protocol_min=SSLProtocols.tls12,
    )
    server.listener = listener
    return server


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


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop's event loop (libuv: cheaper wake-ups, timers and socket
    handling than asyncio's own loop on every request), or asyncio's where uvloop is
    missing."""
    try:
        import uvloop
    except ImportError:  # not on every platform; asyncio's loop does the same, slower
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def work(args: argparse.Namespace, container: Container) -> int:
    """`moorage worker`: background jobs and schedules only, for nodes that serve no HTTP."""
    run_event_loop(_work(container))
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    """`moorage serve`. Failures before serving raise `startup.StartupFailure` (one line)."""
    tune_malloc()
    logs.configure_logging(settings.log_level, settings.log_format)
    startup.check_data_dir(settings)
    startup.check_tls_files(settings)
    lock = startup.lock_sqlite_database(settings)
    try:
        listener = startup.bind_listener(settings)
        try:
            _migrate_and_serve(settings, listener)
        finally:
            listener.close()  # a no-op once granian took the descriptor over
    finally:
        if lock is not None:
            lock.release()
    return 0


def migrate_apart(settings: Settings) -> None:
    """Bring the schema to head, when it is behind, in a forked child: Alembic, Mako and
    Pygments (about 11 MiB, imported only to migrate) then never load into the serving
    process, which would hold them until restarted (a first start idled at 76 MiB against
    64). In this process where threads already run (a fork copies only the calling one)
    or where there is no fork."""
    if wiring.schema_is_current(settings):
        return
    if threading.active_count() > 1 or not hasattr(os, "fork"):
        wiring.migrate_database(settings)
        return
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_migrate_child, args=(settings, writer), name="migrate")
    child.start()
    writer.close()
    child.join()
    failure = reader.recv() if reader.poll() else f"migration ended with status {child.exitcode}"
    reader.close()
    if failure:
        raise startup.StartupFailure(failure)


def _migrate_child(settings: Settings, writer: Connection) -> None:
    """The child's side: None when the schema is at head, else the one line that says why
    it is not."""
    try:
        wiring.migrate_database(settings)
    except Exception as exc:  # every failure becomes the parent's one-line start-up error
        writer.send(f"the database's schema cannot be brought up to date: {startup.explain(exc)}")
    else:
        writer.send(None)
    finally:
        writer.close()


def _migrate_and_serve(settings: Settings, listener: socket.socket) -> None:
    if settings.migrate_on_start:
        migrate_apart(settings)
    container = wiring.build(settings, migrate_schema=False)
    try:
        startup.probe_database(container.engine, settings)
        startup.probe_blob_store(container.blobs, settings)
        first_admin = ensure_first_admin(container)
        announced: list[bool] = []

        def started() -> None:
            if announced:
                return  # a respawned granian worker starts the app again
            announced.append(True)
            release_free_memory()
            print(f"moorage listening on {settings.scheme}://{settings.listen}", flush=True)
            if banner := admin_banner(first_admin):
                print(banner, flush=True)

        app = AnnounceOnStartup(create_app(container), started)
        server = build_server(app, settings, listener)
        with container.log_checkpoints():
            run_event_loop(_serve(server, container))
    finally:
        container.close()
