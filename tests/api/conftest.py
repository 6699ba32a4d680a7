"""Helpers for the REST API suites: users, projects, members, registries and access keys made
with the admin CLI (or, where many are needed, the REST API); REST and registry clients with
Basic credentials or the token flow; images pushed over plain HTTP for content; assertions on
problem details.

Failed sign-ins are throttled per client address. Tests that fail on purpose connect from an
address of their own on the loopback network (`isolated_address`), so the shared server never
slows down for the tests that follow.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.protocol.conftest import OciClient, describe
from tests.support.oci_auth import DockerTokenAuth
from tests.support.server import ServerProcess, moorage_command

API_PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"
WRITER_ROLES = ("project_admin", "project_member", "service_admin")
VIEWER_ROLE = "service_viewer"
TOKEN_SERVICE = "moorage"  # the servers' default `token_service`

Auth = tuple[str, str]


def unique(prefix: str) -> str:
    """A fresh lowercase name, valid for users, projects and registries."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# --- the admin CLI ---------------------------------------------------------------------------


def cli_with_input(server: ServerProcess, args: Sequence[str], stdin: str) -> str:
    """`moorage ARGS --data-dir D` with `stdin` as its standard input; returns its output."""
    command = [*moorage_command(), *args, "--data-dir", str(server.data_dir)]
    proc = subprocess.run(
        command, input=stdin, env=server.env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    password: str

    @property
    def auth(self) -> Auth:
        return (self.username, self.password)


@dataclass(frozen=True, slots=True)
class KeyPair:
    key_id: str
    secret: str

    @property
    def auth(self) -> Auth:
        return (self.key_id, self.secret)


def create_user(server: ServerProcess) -> Account:
    """A new user, its password given on standard input (`--password-stdin`)."""
    account = Account(unique("u"), f"pw-{uuid.uuid4().hex}")
    cli_with_input(
        server, ["user", "create", account.username, "--password-stdin"], account.password
    )
    return account


def create_project(server: ServerProcess) -> str:
    project = unique("p")
    server.cli("project", "create", project)
    return project


def add_member(server: ServerProcess, project: str, username: str, role: str) -> None:
    server.cli("member", "add", project, username, role)


def create_registry(server: ServerProcess, project: str) -> str:
    registry = unique("r")
    server.cli("registry", "create", registry, "--project", project)
    return registry


def create_key(server: ServerProcess, username: str) -> KeyPair:
    row = server.cli_json("key", "create", "--user", username)
    assert isinstance(row, dict)
    return KeyPair(str(row["key_id"]), str(row["secret"]))


# --- clients ---------------------------------------------------------------------------------

_addresses = itertools.count(random.randrange(1, 200) * 250)


def isolated_address() -> str:
    """A loopback source address no other client of this run uses (127.0.0.1 excluded)."""
    n = next(_addresses) % 60_000 + 256
    return f"127.0.{n // 250}.{n % 250 + 2}"


def client(
    server: ServerProcess,
    auth: httpx.Auth | Auth | None = None,
    *,
    api: bool = False,
    source: str | None = None,
) -> httpx.Client:
    """An httpx client on the server (`api`: based at /api/v1), from `source` if given."""
    transport = httpx.HTTPTransport(local_address=source) if source else None
    return httpx.Client(
        base_url=server.url + (API_PREFIX if api else ""),
        auth=auth,
        timeout=30,
        transport=transport,
        headers={"User-Agent": "moorage-api-tests"},
    )


def rest(server: ServerProcess, auth: Auth | None, *, source: str | None = None) -> httpx.Client:
    """A REST API client with Basic credentials (or none)."""
    return client(server, auth, api=True, source=source)


def token_client(server: ServerProcess, auth: Auth) -> httpx.Client:
    """A /v2/ client that answers challenges through the Docker token flow."""
    return client(server, DockerTokenAuth(*auth))


class AnonymousTokenAuth(DockerTokenAuth):
    """The token flow without credentials: the token endpoint's anonymous answer."""

    def __init__(self) -> None:
        super().__init__("", "")

    def fetch_token(self, realm: str, service: str, scope: str | None) -> str:
        params = {"service": service, **({"scope": scope} if scope else {})}
        response = httpx.get(realm, params=params, timeout=30)
        response.raise_for_status()
        return str(response.json()["token"])


def ask_token(
    server: ServerProcess, auth: Auth | None, scope: str, source: str | None = None
) -> httpx.Response:
    """GET /auth/token for `scope` (several: space-separated), with Basic credentials or none."""
    with client(server, auth, source=source) as http:
        return http.get("/auth/token", params={"service": TOKEN_SERVICE, "scope": scope})


def token_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, not verified (a test reads what was granted)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(claims, dict)
    return claims


# --- content ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pushed:
    """One image manifest pushed as `repository:tag`."""

    repository: str
    tag: str
    digest: str
    config_digest: str
    layer_digests: tuple[str, ...]
    manifest: bytes

    @property
    def registry(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def image(self) -> str:
        return self.repository.split("/", 1)[1]

    @property
    def image_path(self) -> str:
        """The image's REST path, its name percent-encoded."""
        return f"/registries/{self.registry}/images/{self.image.replace('/', '%2F')}"


def push_image(http: httpx.Client, repository: str, tag: str = "v1", *, layers: int = 1) -> Pushed:
    """Push a small image (config, random layers, manifest) with the client's credentials."""
    manifest = OciClient(http, repository).push_image(tag, layers=layers)
    doc = json.loads(manifest.content)
    return Pushed(
        repository,
        tag,
        manifest.digest,
        doc["config"]["digest"],
        tuple(layer["digest"] for layer in doc["layers"]),
        manifest.content,
    )


# --- assertions ------------------------------------------------------------------------------


def expect(resp: httpx.Response, status: int) -> httpx.Response:
    assert resp.status_code == status, f"expected {status}: " + describe(resp)
    return resp


def expect_json(resp: httpx.Response, status: int = 200) -> Any:
    expect(resp, status)
    assert resp.headers.get("content-type", "").startswith("application/json"), describe(resp)
    return resp.json()


def expect_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem (`application/problem+json`, type/title/status/detail)."""
    expect(resp, status)
    assert resp.headers.get("content-type", "").startswith(PROBLEM_JSON), describe(resp)
    body = resp.json()
    assert isinstance(body, dict), describe(resp)
    for key, kind in (("type", str), ("title", str), ("status", int), ("detail", str)):
        assert isinstance(body.get(key), kind), f"problem without a {key}: " + describe(resp)
    assert body["status"] == status, describe(resp)
    return body


def expect_page(body: Any, total: int, page: int = 1, page_size: int = 25) -> list[Any]:
    """A page's envelope; returns its items."""
    assert isinstance(body, dict)
    assert set(body) == {"items", "total", "page", "page_size"}, body
    assert (body["total"], body["page"], body["page_size"]) == (total, page, page_size), body
    items = body["items"]
    assert isinstance(items, list)
    assert len(items) == max(0, min(page_size, total - (page - 1) * page_size)), body
    return items


# --- fixtures --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Team:
    """Project `project` (registry `registry`) with one user per role; `outsider` is the
    Project Admin of another project (`other_project`, registry `other_registry`)."""

    project: str
    registry: str
    other_project: str
    other_registry: str
    roles: dict[str, Account]
    outsider: Account


def make_registry(
    admin_api: httpx.Client, project: str = "default", name: str | None = None
) -> str:
    """A registry made through the REST API by the administrator."""
    registry = name or unique("r")
    expect(admin_api.post("/registries", json={"name": registry, "project": project}), 201)
    return registry


def new_account(admin_api: httpx.Client) -> Account:
    """A user made through the REST API by the administrator (faster than the CLI)."""
    account = Account(unique("u"), f"pw-{uuid.uuid4().hex}")
    body = {"username": account.username, "password": account.password}
    expect(admin_api.post("/users", json=body), 201)
    return account


@pytest.fixture(scope="session")
def team(admin_api: httpx.Client) -> Team:
    """Made once per server by the administrator through the REST API: the CLI starts a
    process per command, about a second each, and the matrix needs a dozen of them."""
    return make_team(admin_api)


def make_team(admin_api: httpx.Client) -> Team:
    """Two projects, a registry in each, a user per role in the first and an outsider."""
    project, other = unique("team"), unique("other")
    for name in (project, other):
        expect(admin_api.post("/projects", json={"name": name}), 201)
    accounts = [new_account(admin_api) for _ in range(5)]
    roles = dict(zip((*WRITER_ROLES, VIEWER_ROLE), accounts[:4], strict=True))
    outsider = accounts[4]
    memberships = [*((project, a, r) for r, a in roles.items()), (other, outsider, "project_admin")]
    for where, account, role in memberships:
        path = f"/projects/{where}/members/{account.username}"
        expect(admin_api.put(path, json={"role": role}), 200)
    return Team(
        project,
        make_registry(admin_api, project),
        other,
        make_registry(admin_api, other),
        roles,
        outsider,
    )


@pytest.fixture(scope="session")
def admin(live_server: ServerProcess) -> Account:
    return Account(live_server.username, live_server.password)


@pytest.fixture(scope="session")
def admin_api(live_server: ServerProcess, admin: Account) -> Iterator[httpx.Client]:
    """The REST API as the system administrator (Basic)."""
    with rest(live_server, admin.auth) as http:
        yield http


@pytest.fixture(scope="session")
def admin_v2(live_server: ServerProcess, admin: Account) -> Iterator[httpx.Client]:
    """The registry protocol as the system administrator (Basic on /v2/), to seed content."""
    with client(live_server, admin.auth) as http:
        yield http
