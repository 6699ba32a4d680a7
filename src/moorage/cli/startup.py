"""What `serve` (and the commands on local data) check before they do anything, and how a
failure reads: one line saying what is wrong and what to do, exit status 2, no traceback
(`--debug` adds it).

The checks run in the order an operator fixes things: the data directory, the listening
address, the TLS files, then the database and the object store. Each raises
`StartupFailure`; `reported_failures` also turns the errors the libraries raise
(SQLAlchemy's, OSError) into the same one line, for every command on local data.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import fcntl
import os
import socket
import ssl
import sys
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from moorage import wiring
from moorage.cli.output import emit_one
from moorage.config import Settings
from moorage.domain.content.ports import BlobStore
from moorage.domain.kernel.errors import StorageFailure

EXIT_STARTUP = 2
PROBE_BYTES = b"moorage start-up probe\n"


class StartupFailure(Exception):
    """moorage cannot start as configured; the message is the one line an operator reads."""


@contextmanager
def reported_failures(debug: bool) -> Iterator[None]:
    """A start-up failure, an unreachable database or an unusable path: the one line on
    standard error and exit status 2; with `debug`, the traceback first."""
    try:
        yield
    except BrokenPipeError:
        raise  # the reader of our output left: `main` ends quietly
    except (StartupFailure, SQLAlchemyError, OSError) as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {explain(exc)}", file=sys.stderr)
        sys.exit(EXIT_STARTUP)


def explain(exc: BaseException) -> str:
    if isinstance(exc, StartupFailure):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        return database_problem(exc)
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot use {exc.filename}: {exc.strerror or exc}"
    return _first_line(str(exc)) or type(exc).__name__


# --- the data directory -----------------------------------------------------------------------


def uses_data_dir(settings: Settings) -> bool:
    """Whether anything lives in the data directory: the SQLite database, the filesystem
    driver's default root, the generated token key."""
    return (
        settings.database_url is None
        or (settings.storage_driver == "filesystem" and settings.storage_root is None)
        or (settings.auth == "token" and settings.token_key is None)
    )


def check_data_dir(settings: Settings) -> None:
    """The data directory is a writable directory, or can be made in an existing one.

    A missing parent is refused rather than made: it is more often a typo than a wish."""
    if not uses_data_dir(settings):
        return
    path = settings.data_dir
    hint = "choose another --data-dir (MOORAGE_DATA_DIR)"
    if path.exists() and not path.is_dir():
        raise StartupFailure(f"data directory {path} is a file, not a directory: {hint}")
    if not path.exists():
        parent = path.absolute().parent
        if not parent.is_dir():
            raise StartupFailure(
                f"data directory {path} cannot be created: its parent {parent} does not exist; "
                f"create it first, or {hint}"
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            raise StartupFailure(
                f"data directory {path} cannot be created: {parent} is not writable by this "
                f"user; create it with the right owner, or {hint}"
            )
        return
    if not os.access(path, os.W_OK | os.X_OK):
        raise StartupFailure(
            f"data directory {path} is not writable by this user: give it to the user "
            f"moorage runs as (chown), or {hint}"
        )


# --- one server per SQLite database -----------------------------------------------------------


@dataclass
class ServeLock:
    """An exclusive flock next to the SQLite database, held while `serve` runs: the kernel
    drops it when the process ends, however it ends, so it never goes stale."""

    path: Path
    fd: int

    def release(self) -> None:
        os.close(self.fd)


def sqlite_path(settings: Settings) -> Path | None:
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def lock_sqlite_database(settings: Settings) -> ServeLock | None:
    """Refuse a second `serve` on the same SQLite database (PostgreSQL takes any number)."""
    database = sqlite_path(settings)
    if database is None:
        return None
    database.parent.mkdir(exist_ok=True)
    path = database.with_name(database.name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StartupFailure(
            f"another moorage serve (pid {holder}) already serves the SQLite database "
            f"{database}: stop it first, or give this one its own --data-dir; several "
            "servers on one deployment need PostgreSQL (database_url)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return ServeLock(path, fd)


# --- the listening socket ---------------------------------------------------------------------


def bind_listener(settings: Settings) -> socket.socket:
    """The listening socket, bound without SO_REUSEPORT: a port another process listens on
    (another moorage included) is refused instead of shared."""
    host, port = settings.listen_host.strip("[]"), settings.listen_port
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise StartupFailure(
            f"cannot listen on {settings.listen}: unknown host {host!r} ({exc.strerror}); "
            "fix --listen (MOORAGE_LISTEN)"
        ) from None
    listener = socket.socket(family, kind, proto)
    try:
        # SO_REUSEADDR only lets a restart bind past connections in TIME_WAIT; unlike
        # SO_REUSEPORT it never lets two listeners share the port.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(settings.http_backlog)
    except OSError as exc:
        listener.close()
        raise StartupFailure(_bind_problem(settings.listen, exc)) from None
    return listener


def _bind_problem(listen: str, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {listen}: the address is already in use (another moorage or "
            "another program listens there); stop it, or choose another --listen"
        )
    if exc.errno == errno.EACCES:
        return (
            f"cannot listen on {listen}: permission denied (ports below 1024 need root or "
            "CAP_NET_BIND_SERVICE); choose a port from 1024 up"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on {listen}: no network interface of this machine has that "
            "address; use one it has, or 0.0.0.0 for all"
        )
    return f"cannot listen on {listen}: {exc.strerror or exc}"


# --- TLS --------------------------------------------------------------------------------------


def check_tls_files(settings: Settings) -> None:
    """The certificate and key load and belong together (granian would fail later, in its
    worker, with no clear word)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return
    for what, path in (("certificate", settings.tls_cert), ("key", settings.tls_key)):
        if not path.is_file() or not os.access(path, os.R_OK):
            raise StartupFailure(
                f"TLS {what} {path} is not a readable file: fix tls_{what[:4]} (--tls-{what[:4]})"
            )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key, password=_no_password)
    except ssl.SSLError as exc:
        raise StartupFailure(
            f"cannot use TLS certificate {settings.tls_cert} with key {settings.tls_key}: "
            f"{exc.reason or exc}; give a PEM certificate and its own unencrypted PEM key"
        ) from None


def _no_password() -> str:
    raise StartupFailure("the TLS key is encrypted: give moorage an unencrypted PEM key")


# --- the database and the object store --------------------------------------------------------


def database_problem(exc: SQLAlchemyError) -> str:
    """One line for a database that cannot be used; the password never shows."""
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return f"database_url is not a database URL moorage can use: {_first_line(str(exc))}"
    reason = _first_line(str(exc.orig if isinstance(exc, DBAPIError) else exc))
    if "does not exist" in reason and "database" in reason:
        hint = "create it (createdb), or fix database_url"
    elif "readonly" in reason or "read-only" in reason or "permission denied" in reason:
        hint = "give moorage's user write access, or fix database_url"
    else:
        hint = "check that it runs and that database_url (MOORAGE_DATABASE_URL) is right"
    return f"cannot use the database: {reason}; {hint}"


def probe_database(engine: Engine, settings: Settings) -> str:
    """Connect and write in a transaction rolled back; returns the URL shown (no password).

    A SQLite file that does not exist yet is not created: the data-directory check already
    found it can be."""
    shown = engine.url.render_as_string(hide_password=True)
    database = sqlite_path(settings)
    if database is not None and not database.exists():
        return shown
    with engine.connect() as connection, connection.begin() as transaction:
        if inspect(connection).has_table("alembic_version"):
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
        else:
            table = f"moorage_probe_{uuid.uuid4().hex[:12]}"
            connection.execute(text(f"CREATE TABLE {table} (x INTEGER)"))
        transaction.rollback()
    return shown


def probe_blob_store(blobs: BlobStore, settings: Settings) -> None:
    """Write, read back and throw away an upload: the object store answers and may be
    written. Nothing stays behind (an interrupted probe is an upload leftover, purged)."""
    try:
        asyncio.run(_write_read_abort(blobs))
    except (StorageFailure, OSError) as exc:
        raise StartupFailure(_storage_problem(settings, exc)) from None


async def _write_read_abort(blobs: BlobStore) -> None:
    state = await blobs.begin_upload()
    try:
        _size, state = await blobs.append(state, _one_chunk())
        read = b"".join([chunk async for chunk in blobs.read_upload(state)])
        if read != PROBE_BYTES:
            raise StorageFailure("what was written did not read back the same")
    finally:
        await blobs.abort(state)


async def _one_chunk() -> AsyncIterator[bytes]:
    yield PROBE_BYTES


def _storage_problem(settings: Settings, exc: BaseException) -> str:
    reason = _first_line(str(exc))
    if settings.storage_driver == "s3":
        where = f"S3 bucket {settings.s3_bucket!r} at {settings.s3_endpoint_url or 'AWS'}"
        hint = "check s3_endpoint_url, the bucket and the credentials"
    else:
        where = f"blob directory {settings.blob_root}"
        hint = "check it exists and is writable by this user, or fix storage_root"
    return f"cannot write to the {where}: {reason}; {hint}"


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0].strip() if message.strip() else ""


# --- moorage verify-config --------------------------------------------------------------------


def verify_config(args: argparse.Namespace, settings: Settings) -> int:
    """`moorage verify-config`: the settings parse, the data directory and TLS files are
    usable, the database and the object store answer and take writes (nothing is left
    behind, and no schema is created); prints the settings, secrets hidden."""
    check_data_dir(settings)
    check_tls_files(settings)
    engine = wiring.build_engine(settings)
    try:
        database = probe_database(engine, settings)
    finally:
        engine.dispose()
    probe_blob_store(wiring.build_blobs(settings), settings)
    shown = settings.shown()
    shown["database_url"] = database
    store = f"s3://{settings.s3_bucket}" if settings.storage_driver == "s3" else settings.blob_root
    if args.json:
        emit_one({**shown, "checks": {"database": "writable", "storage": "writable"}}, as_json=True)
        return 0
    emit_one(shown, as_json=False)
    print(f"database {database}: reachable and writable")
    print(f"object store {store}: reachable and writable")
    print("configuration is valid")
    return 0
