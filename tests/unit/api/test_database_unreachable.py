"""With the database out of reach (restarting, connections cut) every part of the HTTP API
answers 503 with Retry-After — the token endpoint too — never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from moorage import wiring
from moorage.api.app import create_app
from moorage.config import load_settings

pytestmark = pytest.mark.anyio
PASSWORD = "admin-Passw0rd-for-tests"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def unreachable(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    container = wiring.build(
        load_settings(data_dir=tmp_path, auth="token", admin_password=PASSWORD)
    )

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connect", {}, ConnectionRefusedError("the database is down"))

    container.engine.connect = refuse  # type: ignore[method-assign]
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://moorage") as client:
        yield client
    container.close()


@pytest.mark.parametrize(
    "path", ["/auth/token?service=moorage", "/v2/reg/app/tags/list", "/api/v1/registries"]
)
async def test_busy_everywhere(unreachable: httpx.AsyncClient, path: str) -> None:
    response = await unreachable.get(path, auth=("admin", PASSWORD))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
