"""What `moorage serve` loads on SQLite and filesystem blobs, and the memory it holds idle.

Every module a server imports stays in its memory for good: the S3 client, the PostgreSQL
driver, the migration tooling on a current schema and a general JWT library (which pulls in
cryptography's key types) are needed by none of it. The import list comes from the server
itself (`PYTHONPROFILEIMPORTTIME` writes each import to its log).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from moorage.api.auth import TOKEN_PATH
from tests.support.server import ServerProcess

NOT_LOADED = (
    *("boto3", "botocore", "psycopg", "psycopg2", "alembic", "mako", "jwt", "cryptography"),
    # The REST API and the console are built on their first request; the outbound clients'
    # httpx on their first call, and never with its command line (click, rich, pygments);
    # settings written plainly are read without pydantic.
    *("fastapi", "httpx", "click", "rich", "pygments", "pydantic", "pydantic_settings"),
)
IDLE_RSS_BOUND_MIB = 78  # measured about 64 (90 before the REST API, the outbound clients and
# pydantic loaded on first use, 115 before the lazy imports); generous for other hosts
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)\s*$", re.MULTILINE)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A token-authenticated server on a schema made current by `moorage migrate` first, as
    a deployment's nodes start; a bearer token fetched and used once."""
    data_dir: Path = tmp_path_factory.mktemp("footprint") / "data"
    process = ServerProcess(data_dir, auth=True, extra_env={"PYTHONPROFILEIMPORTTIME": "1"})
    process.cli("migrate")
    process.start()
    try:
        with httpx.Client(base_url=process.url, timeout=30) as client:
            token = client.get(
                TOKEN_PATH,
                params={"service": "moorage"},
                auth=(process.username, process.password),
            ).json()["token"]
            bearer = {"Authorization": f"Bearer {token}"}
            assert client.get("/v2/", headers=bearer).status_code == 200
        yield process
    finally:
        process.stop()


def test_serve_imports_only_what_sqlite_and_files_need(server: ServerProcess) -> None:
    imported = set(_IMPORTED.findall(server.log()))
    assert "moorage.api.app" in imported, "the import log was not written"
    top_level = {name.split(".")[0] for name in imported}
    assert not top_level & set(NOT_LOADED)
    assert "sqlalchemy.orm" not in imported


def test_idle_memory_is_bounded(server: ServerProcess) -> None:
    status = Path(f"/proc/{server.pid}/status").read_text()
    rss_kib = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert rss_kib / 1024 < IDLE_RSS_BOUND_MIB
