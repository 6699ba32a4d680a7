"""A bearer header's answer for one repository and set of actions is reused: the next
request with it costs one lookup. It is not reused for another repository or other actions,
after anything is revoked in this process, past GRANT_RECHECK_SECONDS, or past the token's
expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from moorage import wiring
from moorage.api import auth
from moorage.api.app import create_app
from moorage.api.tokens import Token, TokenSigner
from moorage.config import Settings

ADMIN_PASSWORD = "grants-Passw0rd-for-tests"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[wiring.Container]:
    settings = Settings(data_dir=tmp_path, auth="token")
    container = wiring.build(settings)
    container.registries.create("reg")
    container.identities.create_user("admin", ADMIN_PASSWORD, is_admin=True)
    yield container
    container.close()


def with_client(
    container: wiring.Container, steps: Callable[[httpx.AsyncClient], Awaitable[None]]
) -> None:
    async def run() -> None:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://moorage") as client:
            await steps(client)

    asyncio.run(run())


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each token the signer checks from now on."""
    seen: list[str] = []
    verify = TokenSigner.verify

    def counting(self: TokenSigner, token: str) -> Token:
        seen.append(token)
        return verify(self, token)

    monkeypatch.setattr(TokenSigner, "verify", counting)
    return seen


async def pull_token(client: httpx.AsyncClient, repository: str) -> dict[str, str]:
    answer = await client.get(
        "/auth/token",
        params={"service": "moorage", "scope": f"repository:{repository}:pull"},
        auth=("admin", ADMIN_PASSWORD),
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


async def tags(client: httpx.AsyncClient, repository: str, headers: dict[str, str]) -> int:
    # 404 (no such image yet) once authorized, 401 when not.
    return (await client.get(f"/v2/{repository}/tags/list", headers=headers)).status_code


def test_the_same_header_for_the_same_repository_is_answered_from_memory(
    node: wiring.Container, verified: list[str]
) -> None:
    with_client(node, lambda client: same_header(client, verified))


async def same_header(client: httpx.AsyncClient, verified: list[str]) -> None:
    headers = await pull_token(client, "reg/app")
    assert await tags(client, "reg/app", headers) == 404
    assert len(verified) == 1
    assert await tags(client, "reg/app", headers) == 404
    assert len(verified) == 1  # no second check
    # Another repository: the full check, which refuses it (the token does not name it).
    assert await tags(client, "reg/other", headers) == 401
    assert len(verified) == 2


def test_a_revocation_a_recheck_or_the_expiry_sends_it_through_the_full_check(
    node: wiring.Container, verified: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_client(node, lambda client: each_end(node, client, verified, monkeypatch))


async def each_end(
    container: wiring.Container,
    client: httpx.AsyncClient,
    verified: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = await pull_token(client, "reg/app")
    assert await tags(client, "reg/app", headers) == 404
    assert len(verified) == 1

    container.identities.revocations += 1  # as any revoking change in this process does
    assert await tags(client, "reg/app", headers) == 404
    assert len(verified) == 2

    monotonic = time.monotonic
    later: Any = lambda: monotonic() + auth.GRANT_RECHECK_SECONDS + 0.1  # noqa: E731
    monkeypatch.setattr(time, "monotonic", later)
    assert await tags(client, "reg/app", headers) == 404
    assert len(verified) == 3
    monkeypatch.setattr(time, "monotonic", monotonic)

    wall = time.time
    monkeypatch.setattr(time, "time", lambda: wall() + 13 * 3600)  # past any token's life
    # The grant is not used: the signer is asked again (and its own clock decides).
    await tags(client, "reg/app", headers)
    assert len(verified) == 4
