"""Proxy-cache registries through the REST API and the CLI (both backends): created with
their upstream in one transaction (a refused upstream leaves no registry), the password
never shown back, the kind in every rendering, pushes through the protocol refused with
DENIED naming the kind. Pulls through a real upstream are in tests/e2e/test_proxy_cache.py."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.conftest import cli_with_input, expect, expect_json, expect_problem, unique
from tests.support.server import ServerProcess

UPSTREAM = "https://mirror.example.invalid"  # not resolvable: accepted, never called here


def create(admin_api: httpx.Client, name: str, **proxy: object) -> httpx.Response:
    return admin_api.post("/registries", json={"name": name, "proxy_cache": proxy})


def test_a_proxy_cache_is_created_with_its_upstream_and_shown_as_one(
    admin_api: httpx.Client,
) -> None:
    name = unique("hub")
    body = {
        "url": UPSTREAM + "/",
        "namespace": "/library/",
        "username": "robot",
        "password": "tok-3f9a",
        "verify_tls": False,
        "revalidate_seconds": 60,
    }
    created = expect_json(create(admin_api, name, **body), 201)
    upstream = {
        "url": UPSTREAM,
        "namespace": "library",
        "username": "robot",
        "has_password": True,
        "verify_tls": False,
        "revalidate_seconds": 60,
    }
    assert (created["kind"], created["upstream"]) == ("proxy_cache", upstream)
    got = admin_api.get(f"/registries/{name}")
    assert expect_json(got)["upstream"] == upstream
    assert "tok-3f9a" not in got.text
    listed = expect_json(admin_api.get("/registries", params={"q": name, "page_size": 100}))
    assert [(r["kind"], r["upstream"]) for r in listed["items"] if r["name"] == name] == [
        ("proxy_cache", upstream)
    ]
    plain = unique("plain")
    made = expect_json(admin_api.post("/registries", json={"name": plain}), 201)
    assert (made["kind"], made["upstream"]) == ("local", None)
    defaulted = expect_json(create(admin_api, unique("hub"), url=UPSTREAM), 201)
    assert defaulted["upstream"]["revalidate_seconds"] == 300  # the setting
    assert defaulted["upstream"]["has_password"] is False


@pytest.mark.parametrize(
    ("proxy", "field"),
    [
        ({"url": "http://127.0.0.1:5000"}, "proxy_cache.url"),
        ({"url": "http://10.1.2.3"}, "proxy_cache.url"),
        ({"url": "ftp://mirror.example.invalid"}, "proxy_cache.url"),
        ({"url": "https://u:p@mirror.example.invalid"}, "proxy_cache.url"),
        ({"url": UPSTREAM, "namespace": "a//b"}, "proxy_cache.namespace"),
    ],
)
def test_a_refused_upstream_leaves_no_registry(
    admin_api: httpx.Client, proxy: dict[str, str], field: str
) -> None:
    name = unique("refused")
    problem = expect_problem(create(admin_api, name, **proxy), 400)
    assert [e["field"] for e in problem["errors"]] == [field]
    expect_problem(admin_api.get(f"/registries/{name}"), 404)


def test_pushes_into_a_proxy_cache_are_denied_naming_the_kind(
    admin_api: httpx.Client, admin_v2: httpx.Client
) -> None:
    name = unique("hub")
    expect(create(admin_api, name, url=UPSTREAM), 201)
    refusal = f"registry {name} is a proxy cache of {UPSTREAM}: pushes are refused"
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    )
    for method, path, content in (
        ("POST", f"/v2/{name}/app/blobs/uploads/", b""),
        ("PUT", f"/v2/{name}/app/manifests/v1", manifest.encode()),
        ("DELETE", f"/v2/{name}/app/manifests/v1", b""),
        ("DELETE", f"/v2/{name}/app/blobs/sha256:{'0' * 64}", b""),
    ):
        answer = admin_v2.request(method, path, content=content)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["errors"] == [{"code": "DENIED", "message": refusal}]


def test_the_cli_creates_a_proxy_cache_with_the_password_from_stdin(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    name = unique("cli")
    args = [
        "registry",
        "create",
        name,
        "--proxy-cache",
        UPSTREAM,
        "--upstream-namespace",
        "library",
        "--username",
        "robot",
        "--password-stdin",
        "--json",
    ]
    out = json.loads(cli_with_input(live_server, args, "pw-from-stdin\n"))
    assert out["kind"] == "proxy_cache"
    assert out["upstream"]["has_password"] is True
    got = expect_json(admin_api.get(f"/registries/{name}"))
    assert (got["upstream"]["namespace"], got["upstream"]["username"]) == ("library", "robot")
