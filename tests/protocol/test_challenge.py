"""The Bearer challenge's scope, followed literally (spec: "Token Authentication";
Distribution's and Harbor's challenges).

A push reads as well as writes: clients HEAD each blob to skip what is there and may GET
the manifest after. Clients that ask the token endpoint for exactly the scope challenged
(most do) must therefore be challenged for `pull,push`, or their token could not check
what already exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.protocol.conftest import (
    OCTET_STREAM,
    Target,
    describe,
    expect_error,
    expect_status,
    sha256,
)
from tests.support.oci_auth import parse_challenge


@pytest.fixture
def anonymous(protocol_target: Target) -> Iterator[httpx.Client]:
    if protocol_target.credentials is None:
        pytest.skip("the server under test asks for no credentials")
    with httpx.Client(base_url=protocol_target.url, timeout=30) as http:
        yield http


def _challenge(resp: httpx.Response) -> dict[str, str]:
    expect_error(resp, 401, "UNAUTHORIZED")
    scheme, params = parse_challenge(resp.headers.get("www-authenticate", ""))
    assert scheme == "bearer", describe(resp)
    return params


def _literal_token(target: Target, params: dict[str, str]) -> str:
    """A token for exactly the challenged scope, as docker, containerd and skopeo ask."""
    assert target.credentials is not None
    resp = httpx.get(
        params["realm"],
        params={"service": params["service"], "scope": params["scope"]},
        auth=target.credentials,
        timeout=30,
    )
    return str(expect_status(resp, 200).json()["token"])


PUSHES: dict[str, Callable[[httpx.Client, str], httpx.Response]] = {
    "upload": lambda http, name: http.post(f"/v2/{name}/blobs/uploads/"),
    "manifest-put": lambda http, name: http.put(
        f"/v2/{name}/manifests/v1",
        content=b"{}",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    ),
}


@pytest.mark.parametrize("push", PUSHES.values(), ids=PUSHES.keys())
def test_a_push_is_challenged_for_pull_and_push(
    push: Callable[[httpx.Client, str], httpx.Response],
    anonymous: httpx.Client,
    protocol_target: Target,
    new_repository: Callable[[str], str],
) -> None:
    name = new_repository("challenge")
    params = _challenge(push(anonymous, name))
    assert params["scope"] == f"repository:{name}:pull,push"

    headers = {"Authorization": f"Bearer {_literal_token(protocol_target, params)}"}
    missing = "sha256:" + "0" * 64
    expect_status(anonymous.head(f"/v2/{name}/blobs/{missing}", headers=headers), 404)
    data = b"pushed with the challenged scope"
    started = expect_status(anonymous.post(f"/v2/{name}/blobs/uploads/", headers=headers), 202)
    done = anonymous.put(
        started.headers["Location"],
        params={"digest": sha256(data)},
        headers={**headers, "Content-Type": OCTET_STREAM},
        content=data,
    )
    digest = expect_status(done, 201).headers["Docker-Content-Digest"]
    expect_status(anonymous.head(f"/v2/{name}/blobs/{digest}", headers=headers), 200)


def test_a_pull_is_challenged_for_pull_only(
    anonymous: httpx.Client, new_repository: Callable[[str], str]
) -> None:
    name = new_repository("challenge")
    params = _challenge(anonymous.get(f"/v2/{name}/tags/list"))
    assert params["scope"] == f"repository:{name}:pull"
