"""Shared fixtures: a live server on loopback, per backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

POSTGRES_URL = os.environ.get(
    "MOORAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One SQLite-backed server shared by the e2e tests of a session."""
    server = ServerProcess(tmp_path_factory.mktemp("live-server")).start()
    try:
        yield server
    finally:
        server.stop()


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
