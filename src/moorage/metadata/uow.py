"""Engines and units of work: one connection and one transaction per request or job.

SQLite and PostgreSQL differences live here. SQLite runs in WAL mode with a busy timeout,
and write transactions start with BEGIN IMMEDIATE so two writers never deadlock upgrading
a read lock; pysqlite's own transaction handling is switched off so that works.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from moorage.domain.kernel.errors import Busy, DatabaseFull, WriteWouldWait
from moorage.domain.kernel.ports import CommittedVersion, no_committed_version
from moorage.metadata.checkpoints import FALLBACK_AUTOCHECKPOINT_PAGES, WalCheckpoints
from moorage.metadata.transaction import SqlTransaction
from moorage.metadata.wal_sync import WalSync

# PostgreSQL's deadlock_detected and serialization_failure: the transaction may be retried.
_RETRYABLE = frozenset({"40P01", "40001"})
# The server went away under the transaction or is shutting down or starting up (connection
# exceptions, admin/crash shutdown, cannot connect now): a retry a moment later may pass.
_UNAVAILABLE = ("08", "57P01", "57P02", "57P03")


# A full disk or quota: SQLite's SQLITE_FULL, and SQLITE_IOERR (any extended code: the low
# byte) which it gives when its log cannot grow; PostgreSQL's disk_full.
_SQLITE_FULL, _SQLITE_IOERR = 13, 10
_POSTGRES_DISK_FULL = "53100"
POSTGRES_POOL_SIZE, POSTGRES_MAX_OVERFLOW = 32, 16
BUSY_TIMEOUT_MS = 30000  # how long SQLite waits for another process's write lock


def _out_of_space(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_FULL, _SQLITE_IOERR)
    return getattr(exc.orig, "sqlstate", None) == _POSTGRES_DISK_FULL


def _sqlite_pragmas(synchronous: str) -> Callable[[Any, ConnectionPoolEntry], None]:
    def connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None  # moorage emits BEGIN itself (see _sqlite_begin)
        cursor = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"synchronous={synchronous}",
            f"busy_timeout={BUSY_TIMEOUT_MS}",
            "foreign_keys=ON",
            # Checkpoints run off the request path (`checkpoints`); this only bounds the log.
            f"wal_autocheckpoint={FALLBACK_AUTOCHECKPOINT_PAGES}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return connect


def _sqlite_begin(dbapi_conn: Any) -> None:
    """The dialect's `do_begin` on SQLite: BEGIN IMMEDIATE for a write transaction.

    In place of a "begin" event listener: any connection event makes SQLAlchemy consult its
    event dispatch on every statement (about 60 Python calls per transaction), while this
    runs once per transaction. `info` is the pooled connection's, where `_transaction`
    notes whether it writes, and whether it may wait for another process's writer."""
    info = dbapi_conn.info
    if not info.get("write"):
        _busy_timeout(dbapi_conn, BUSY_TIMEOUT_MS)
        dbapi_conn.execute("BEGIN")
    elif info.get("wait", True):
        _busy_timeout(dbapi_conn, BUSY_TIMEOUT_MS)
        dbapi_conn.execute("BEGIN IMMEDIATE")
    else:
        _begin_without_waiting(dbapi_conn)


def _begin_without_waiting(dbapi_conn: Any) -> None:
    """BEGIN IMMEDIATE, or WriteWouldWait at once when another process holds the lock.

    The transaction then runs without a busy timeout too: holding the write lock in WAL
    mode, its statements and its commit wait for no other connection."""
    _busy_timeout(dbapi_conn, 0)
    try:
        dbapi_conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        raise WriteWouldWait("another process holds the database's write lock") from None


def _busy_timeout(dbapi_conn: Any, milliseconds: int) -> None:
    """The connection's busy timeout, set only when it differs: consecutive transactions of
    one kind on a connection (the pool hands out the one used last) run no PRAGMA. The
    pooled connection's `info` starts empty whenever it (re)connects, with the timeout the
    connect hook set."""
    info = dbapi_conn.info
    if info.get("busy_timeout", BUSY_TIMEOUT_MS) != milliseconds:
        info["busy_timeout"] = None  # unknown until the PRAGMA is through
        dbapi_conn.execute(f"PRAGMA busy_timeout={milliseconds}")
        info["busy_timeout"] = milliseconds


def create_metadata_engine(url: str, sqlite_synchronous: str = "NORMAL") -> Engine:
    """An engine for the URL; SQLite gets the pragmas and locking described above.

    `sqlite_synchronous`: NORMAL (in WAL mode: every commit survives a process crash; the
    last commits may roll back on power loss) or FULL (an fsync per commit: survives power
    loss too, at several times the cost of a commit). GROUP runs as NORMAL: the unit of
    work then waits for the log's sync after each commit (`wal_sync_for`)."""
    if sqlite_synchronous.upper() not in ("NORMAL", "FULL", "GROUP"):
        raise ValueError("sqlite_synchronous must be NORMAL, FULL or GROUP")
    if sqlite_synchronous.upper() == "GROUP":
        sqlite_synchronous = "NORMAL"
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=32,
            # The connection used last is used next: SQLite drops a connection's page cache
            # whenever another connection committed since its last transaction, so
            # consecutive requests on one connection keep theirs.
            pool_use_lifo=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas(sqlite_synchronous.upper()))
        engine.dialect.do_begin = _sqlite_begin  # type: ignore[method-assign, assignment]
        return engine
    # Connections are kept for as many requests as a node serves at once (its worker
    # threads): a pool smaller than that opens and closes a connection (a PostgreSQL backend
    # process) per request beyond it, which under 32 concurrent manifest GETs cost the
    # database about one core. At most 48 per node: two nodes stay under PostgreSQL's
    # default max_connections of 100 (see docs/operators.md for more nodes).
    return create_engine(
        url, pool_size=POSTGRES_POOL_SIZE, max_overflow=POSTGRES_MAX_OVERFLOW, pool_pre_ping=True
    )


class SqlUnitOfWork:
    """`UnitOfWorkFactory`: `with uow(write=True) as tx: …` commits on success.

    On SQLite, writers of this process also queue on a lock before BEGIN IMMEDIATE: SQLite's
    busy handler makes waiting writers sleep and poll, which under many concurrent pushes
    gives some of them multi-second tails; a lock hands the database over in order. Other
    processes (admin commands) still meet the busy timeout.
    """

    def __init__(self, engine: Engine, wal_sync: WalSync | None = None) -> None:
        self.engine = engine
        self._writer = threading.RLock() if engine.dialect.name == "sqlite" else None
        self.wal_sync = wal_sync  # group commit (`sqlite_synchronous = "group"`)

    @contextmanager
    def __call__(self, *, write: bool = False, wait: bool = True) -> Iterator[SqlTransaction]:
        joined = _SCOPE.get()
        if joined is not None and joined.unit is self and (joined.write or not write):
            yield joined.transaction()
        else:
            with self._transaction(write, wait) as tx:
                yield tx

    @contextmanager
    def scope(self, *, write: bool, wait: bool = True) -> Iterator[None]:
        joined = _Scope(self, write, wait)
        token = _SCOPE.set(joined)
        try:
            yield
        except BaseException as exc:
            joined.end(exc)
            raise
        else:
            joined.end(None)
        finally:
            _SCOPE.reset(token)

    @contextmanager
    def _transaction(self, write: bool, wait: bool = True) -> Iterator[SqlTransaction]:
        with ExitStack() as stack:
            if write and self._writer is not None:
                if wait:
                    stack.enter_context(self._writer)
                elif self._writer.acquire(blocking=False):
                    stack.callback(self._writer.release)
                else:
                    raise WriteWouldWait("another writer of this process holds the database")
            try:
                conn = stack.enter_context(self.engine.connect())
            except OperationalError as exc:  # down, restarting, refusing connections
                raise Busy(f"the database cannot be reached: {exc.orig}") from exc
            try:
                conn.info["write"] = write
                conn.info["wait"] = wait
                with conn.begin():
                    yield SqlTransaction(conn)
            except OperationalError as exc:
                if _out_of_space(exc):
                    raise DatabaseFull(f"the database is out of space: {exc.orig}") from exc
                state = getattr(exc.orig, "sqlstate", None) or ""
                if state in _RETRYABLE:
                    raise Busy(f"the database gave up a transaction: {exc.orig}") from exc
                if exc.connection_invalidated or state.startswith(_UNAVAILABLE):
                    raise Busy(f"the database connection was lost: {exc.orig}") from exc
                raise
        # Committed, the write lock and the connection released: now on disk, or (on the
        # event loop) noted for `Blocking.write` to await.
        if write and self.wal_sync is not None:
            self.wal_sync.after_commit()


class _Scope:
    """One scope's transaction, opened on first use (a request that fails validation or
    authorisation never touches the database, nor takes SQLite's write lock)."""

    __slots__ = ("_open", "_tx", "unit", "wait", "write")

    def __init__(self, unit: SqlUnitOfWork, write: bool, wait: bool = True) -> None:
        self.unit = unit
        self.write = write
        self.wait = wait
        self._open: AbstractContextManager[SqlTransaction] | None = None
        self._tx: SqlTransaction | None = None

    def transaction(self) -> SqlTransaction:
        if self._tx is None:
            opening = self.unit._transaction(self.write, self.wait)
            self._tx = opening.__enter__()  # may raise (WriteWouldWait, Busy): nothing open
            self._open = opening
        return self._tx

    def end(self, error: BaseException | None) -> None:
        """Commit, or roll back when the block raised `error`; release the connection."""
        if self._open is None:
            return
        opened, self._open, self._tx = self._open, None, None
        if error is None:
            opened.__exit__(None, None, None)
        else:
            opened.__exit__(type(error), error, error.__traceback__)


# The scope open in this thread's context, if any (`SqlUnitOfWork.scope`).
_SCOPE: ContextVar[_Scope | None] = ContextVar("moorage_transaction_scope", default=None)


class SqliteCommittedVersion:
    """`CommittedVersion` of a SQLite database: its `PRAGMA data_version`, read on a
    connection of its own that never writes.

    SQLite changes that number whenever a connection other than the one asking commits,
    in this process or another (an admin command on the same file included), and reading it
    costs a few microseconds: it lets a read of rarely changing rows (a tag's manifest) be
    answered from memory on the manifest GET path with no transaction. None inside a
    transaction scope of this context, whose own writes are not committed yet."""

    def __init__(self, database: str) -> None:
        self._conn = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA query_only=ON")
        self._cursor = self._conn.cursor()
        self._lock = threading.Lock()

    def __call__(self) -> int | None:
        if _SCOPE.get() is not None:
            return None
        try:
            with self._lock:
                row = self._cursor.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:  # locked for recovery, file replaced: ask the store instead
            return None
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def committed_version(engine: Engine) -> CommittedVersion:
    """The cheapest exact `CommittedVersion` the engine's database offers: SQLite's data
    version for a database file; none for PostgreSQL, whose other nodes commit where no
    cheap check sees it (every read there goes to the database)."""
    database = _sqlite_file(engine)
    return SqliteCommittedVersion(database) if database else no_committed_version


@contextmanager
def wal_checkpoints(engine: Engine) -> Iterator[WalCheckpoints | None]:
    """Checkpoints in a thread while the block runs, for a SQLite database file
    (`moorage.metadata.checkpoints`)."""
    database = _sqlite_file(engine)
    if database is None:
        yield None
        return
    checkpoints = WalCheckpoints(database)
    checkpoints.start()
    try:
        yield checkpoints
    finally:
        checkpoints.stop()


def wal_sync_for(engine: Engine, sqlite_synchronous: str) -> WalSync | None:
    """Group commit for a SQLite database file when `sqlite_synchronous` is GROUP
    (`moorage.metadata.wal_sync`); None otherwise."""
    database = _sqlite_file(engine)
    if database is None or sqlite_synchronous.upper() != "GROUP":
        return None
    return WalSync(database)


def _sqlite_file(engine: Engine) -> str | None:
    """The engine's SQLite database file; None for PostgreSQL or an in-memory database."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        return database
    return None
