"""Each HTTP request is logged once, in the server's one log format, with who asked and its ID."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import ServerProcess

ANNOUNCEMENTS = ("moorage listening on ", "created admin user ")  # standard output, not logs


def access_lines(server: ServerProcess, request_id: str, timeout: float = 5.0) -> list[str]:
    """The log lines naming `request_id`, once there are any (the line follows the response)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in server.log().splitlines() if request_id in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def json_access_entry(server: ServerProcess, request_id: str) -> dict[str, Any]:
    lines = access_lines(server, request_id)
    entries = [json.loads(line) for line in lines]
    access = [e for e in entries if e["logger"] == "moorage.access"]
    assert len(access) == 1, f"expected one access line for {request_id}:\n{server.log()}"
    entry: dict[str, Any] = access[0]
    return entry


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("json-logs"),
        auth=True,
        extra_env={"MOORAGE_LOG_LEVEL": "info"},
        serve_args=["--log-format", "json"],
    ).start()
    yield server
    server.stop()


def test_json_server_logs_one_parseable_line_per_request_with_the_user(
    json_server: ServerProcess,
) -> None:
    request_id = "test-rest.1"
    response = httpx.get(
        f"{json_server.url}/api/v1/users/me?page=1&token=hunter2",
        auth=(json_server.username, json_server.password),
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == request_id

    entry = json_access_entry(json_server, request_id)
    assert entry["level"] == "INFO"
    assert entry["method"] == "GET"
    assert entry["path"] == "/api/v1/users/me"
    assert entry["query"] == "page=1&token=REDACTED"
    assert entry["status"] == 200
    assert isinstance(entry["duration_ms"], float | int)
    assert entry["duration_ms"] >= 0
    assert entry["user"] == json_server.username
    assert entry["client"] == "127.0.0.1"
    assert entry["time"].endswith("+00:00")
    assert "hunter2" not in json_server.log()


def test_v2_requests_carry_the_token_user(json_server: ServerProcess) -> None:
    token = httpx.get(
        f"{json_server.url}/auth/token",
        params={"service": "moorage", "scope": "registry:catalog:*"},
        auth=(json_server.username, json_server.password),
    ).json()["token"]
    request_id = "test-v2-catalog"
    response = httpx.get(
        f"{json_server.url}/v2/_catalog",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
    )
    assert response.status_code == 200
    entry = json_access_entry(json_server, request_id)
    assert (entry["path"], entry["status"], entry["user"]) == ("/v2/_catalog", 200, "admin")

    anonymous = "test-v2-anonymous"
    assert (
        httpx.get(f"{json_server.url}/v2/", headers={"X-Request-ID": anonymous}).status_code == 401
    )
    entry = json_access_entry(json_server, anonymous)
    assert (entry["status"], entry["user"]) == (401, None)


@pytest.mark.parametrize(
    "hostile",
    ["a" * 129, "two words", 'inject\\"quote', "ünïcode", "semi;colon", ""],
)
def test_a_hostile_request_id_is_replaced(json_server: ServerProcess, hostile: str) -> None:
    response = httpx.get(
        f"{json_server.url}/healthz", headers={b"X-Request-ID": hostile.encode("utf-8")}
    )
    echoed = response.headers["X-Request-ID"]
    assert echoed != hostile
    assert len(echoed) == 32
    assert echoed.isalnum()
    entry = json_access_entry(json_server, echoed)
    assert entry["request_id"] == echoed


def test_every_log_line_is_json(json_server: ServerProcess) -> None:
    httpx.get(f"{json_server.url}/readyz")
    lines = [line for line in json_server.log().splitlines() if line]
    logged = [line for line in lines if not line.startswith(ANNOUNCEMENTS)]
    assert logged, "the server logged nothing"
    for line in logged:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
    granian = [json.loads(line) for line in logged if '"_granian' in line]
    assert granian, "granian's start-up lines should go through the same handler"


def test_text_is_the_default_format(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, extra_env={"MOORAGE_LOG_LEVEL": "info"}).start()
    try:
        response = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "text-1"})
        assert response.headers["X-Request-ID"] == "text-1"
        [line] = access_lines(server, "text-1")
        assert " INFO moorage.access GET /healthz 200 " in line
        assert line.endswith("user=- client=127.0.0.1 request_id=text-1")
        assert not line.startswith("{")
        assert "[INFO]" not in server.log()  # granian's own format is gone
    finally:
        server.stop()
