"""A REST request is one transaction: checked by counting the transactions the database sees.

The app is built in process by the composition root on a SQLite data directory, with
authentication off so that no sign-in adds transactions of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from moorage import wiring
from moorage.api.app import create_app
from moorage.api.rest.app import ROUTERS
from moorage.api.rest.routing import RequestRoute
from moorage.config import load_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    container = wiring.build(load_settings(data_dir=tmp_path, auth="none"))
    begun: list[str] = []
    event.listen(container.engine, "begin", lambda conn: begun.append("begin"))
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://moorage") as client:
        yield client, begun
    container.close()


async def transactions_of(
    api: tuple[httpx.AsyncClient, list[str]], call: Callable[[httpx.AsyncClient], Any]
) -> tuple[httpx.Response, int]:
    client, begun = api
    begun.clear()
    response = await call(client)
    return response, len(begun)


async def test_a_read_request_is_one_transaction(
    api: tuple[httpx.AsyncClient, list[str]],
) -> None:
    await api[0].post("/api/v1/registries", json={"name": "team"})
    response, count = await transactions_of(api, lambda c: c.get("/api/v1/registries/team"))
    assert response.status_code == 200
    assert count == 1  # the permission check and the read share it


async def test_a_write_request_is_one_transaction(
    api: tuple[httpx.AsyncClient, list[str]],
) -> None:
    response, count = await transactions_of(
        api, lambda c: c.post("/api/v1/registries", json={"name": "team"})
    )
    assert response.status_code == 201
    assert count == 1


async def test_a_refused_request_commits_nothing(
    api: tuple[httpx.AsyncClient, list[str]],
) -> None:
    await api[0].post("/api/v1/registries", json={"name": "team"})
    response, _ = await transactions_of(
        api, lambda c: c.post("/api/v1/registries", json={"name": "team"})
    )
    assert response.status_code == 409
    listed = (await api[0].get("/api/v1/registries")).json()
    assert [r["name"] for r in listed["items"]] == ["team"]


def test_every_route_of_the_api_runs_in_one_transaction() -> None:
    """Every operation is a RequestRoute; only those that await something other than the
    database (a password check, a webhook test, a replication rule's check of the other
    side) are async and manage their own."""
    routes = [route for module in ROUTERS for route in module.router.routes]
    assert len(routes) > 40
    assert all(isinstance(r, RequestRoute) for r in routes)
    async_ones = {r.name for r in routes if not getattr(r.endpoint, "in_one_transaction", False)}
    assert async_ones == {
        "create_session",
        "change_my_password",
        "test_webhook",
        "refresh_replication",
    }
