"""/v2/ requests go straight to the protocol's dispatcher (`moorage.api.oci.asgi`); the rest
of the app keeps its router."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from moorage import wiring
from moorage.api.app import create_app
from moorage.config import Settings


class Client:
    """Requests to the app in this process, one event loop per request (no lifespan)."""

    def __init__(self, app: httpx.ASGITransport) -> None:
        self.transport = app

    def request(self, method: str, path: str) -> httpx.Response:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self.transport, base_url="http://registry.test"
            ) as http:
                response = await http.request(method, path)
                await response.aread()
                return response

        return anyio.run(call)

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    container = wiring.build(Settings(data_dir=tmp_path / "data", auth="none"))
    try:
        yield Client(httpx.ASGITransport(app=create_app(container)))
    finally:
        container.close()


def test_the_protocol_answers_under_v2(client: Client) -> None:
    response = client.get("/v2/")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    unknown = client.get("/v2/nothere/app/manifests/latest")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_bare_v2_and_other_paths_keep_the_general_router(client: Client) -> None:
    bare = client.get("/v2")  # not the protocol's: the console's page, as always
    assert "docker-distribution-api-version" not in bare.headers
    assert bare.headers["content-type"].startswith("text/html")
    assert client.get("/healthz").text == "ok"
    assert client.get("/api/v1/deployment").status_code == 200


def test_an_unknown_method_is_refused_and_counted_under_one_label(client: Client) -> None:
    for method in ("BREW", "FROB"):
        response = client.request(method, "/v2/reg/app/manifests/latest")
        assert response.status_code == 405
        assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
    scraped = client.get("/metrics").text
    assert 'operation="other"' in scraped
    assert "BREW" not in scraped
    assert "FROB" not in scraped
