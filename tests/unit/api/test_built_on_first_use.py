"""`BuiltOnFirstUse`: the REST API and the console are built by their first request, once,
however many requests arrive together, and a failed build is tried again."""

from __future__ import annotations

import threading

import anyio
import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp

from moorage.api.lazy import BuiltOnFirstUse

pytestmark = pytest.mark.anyio


class Builds:
    """Counts builds; the first `failures` of them raise. Each build waits until `release`
    is set, so that requests can pile up while it runs."""

    def __init__(self, failures: int = 0) -> None:
        self.count = 0
        self.failures = failures
        self.release = threading.Event()
        self.release.set()

    def __call__(self) -> ASGIApp:
        self.release.wait(10)
        self.count += 1
        if self.count <= self.failures:
            raise RuntimeError("build failed")
        return PlainTextResponse(f"built {self.count}")


def client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_nothing_is_built_before_the_first_request() -> None:
    builds = Builds()
    BuiltOnFirstUse(builds)
    assert builds.count == 0


async def test_requests_arriving_together_share_one_build() -> None:
    builds = Builds()
    builds.release.clear()
    answers: list[str] = []
    async with client(BuiltOnFirstUse(builds)) as http:

        async def get() -> None:
            answers.append((await http.get("/")).text)

        async with anyio.create_task_group() as tasks:
            for _ in range(8):
                tasks.start_soon(get)
            await anyio.sleep(0.1)  # all eight are waiting on the one build
            builds.release.set()
        answers.append((await http.get("/")).text)
    assert builds.count == 1
    assert answers == ["built 1"] * 9


async def test_a_failed_build_is_tried_again_by_the_next_request() -> None:
    builds = Builds(failures=1)
    async with client(BuiltOnFirstUse(builds)) as http:
        with pytest.raises(RuntimeError, match="build failed"):
            await http.get("/")
        assert (await http.get("/")).text == "built 2"
        assert (await http.get("/")).text == "built 2"
    assert builds.count == 2
