"""Shared fixtures: a live server on loopback, on each metadata backend."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import (
    BACKENDS,
    HOSTILE_ICU_LOCALE,
    HOSTILE_TIMEZONE,
    fresh_postgres_url,
)
from tests.support.server import ServerProcess


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per metadata backend (SQLite, PostgreSQL), shared by a session's tests.

    Authentication is on: tests act as the administrator (`live_server.username/password`)
    unless they create other users.
    """
    with contextlib.ExitStack() as stack:
        database_url = None
        if request.param == "postgresql":
            # A collation whose order is not byte order and a non-UTC zone: the server
            # must depend on neither.
            database_url = stack.enter_context(
                fresh_postgres_url(icu_locale=HOSTILE_ICU_LOCALE, timezone=HOSTILE_TIMEZONE)
            )
        server = ServerProcess(
            tmp_path_factory.mktemp(f"live-{request.param}"), database_url, auth=True
        ).start()
        stack.callback(server.stop)
        yield server


@pytest.fixture
def registry(live_server: ServerProcess) -> str:
    """A fresh registry (namespace) in the live server, unique to the test."""
    name = f"t{uuid.uuid4().hex[:10]}"
    live_server.create_registry(name)
    return name


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    """For tests that need their own server (restarts, crashes, PostgreSQL)."""
    started: list[ServerProcess] = []

    class _Factory(ServerProcess):
        def start(self, timeout: float = 30.0) -> ServerProcess:
            started.append(self)
            return super().start(timeout)

    yield _Factory
    for server in started:
        server.stop()
