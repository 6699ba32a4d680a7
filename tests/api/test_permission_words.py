"""What the REST API tells a caller it may do: `permissions` on every registry (list, get,
create) and on `/users/me`, derived from the same role matrix the endpoints enforce."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import (
    Account,
    Team,
    expect_json,
    new_account,
    rest,
    unique,
)
from tests.support.server import ServerProcess

EVERYTHING = ["pull", "push", "delete", "manage_policies", "manage_members", "replicate"]
WRITER = ["pull", "push", "delete", "manage_policies", "replicate"]
EXPECTED = {
    "project_admin": EVERYTHING,
    "project_member": WRITER,
    "service_admin": WRITER,
    "service_viewer": ["pull"],
}


def listed(http: httpx.Client, registry: str) -> dict[str, object]:
    body = expect_json(http.get("/registries", params={"q": registry}))
    rows = [row for row in body["items"] if row["name"] == registry]
    assert len(rows) == 1, body
    return dict(rows[0])


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_registry_permissions_follow_the_role(
    live_server: ServerProcess, team: Team, role: str
) -> None:
    with rest(live_server, team.roles[role].auth) as http:
        got = expect_json(http.get(f"/registries/{team.registry}"))
        assert got["permissions"] == EXPECTED[role]
        assert listed(http, team.registry)["permissions"] == EXPECTED[role]


def test_admin_may_do_everything_in_every_registry(admin_api: httpx.Client, team: Team) -> None:
    for registry in (team.registry, team.other_registry):
        assert expect_json(admin_api.get(f"/registries/{registry}"))["permissions"] == EVERYTHING
    body = expect_json(admin_api.get("/registries", params={"page_size": 100}))
    assert all(row["permissions"] == EVERYTHING for row in body["items"])


def test_created_registry_carries_the_creators_permissions(
    live_server: ServerProcess, team: Team
) -> None:
    member = team.roles["project_member"]
    with rest(live_server, member.auth) as http:
        body = {"name": unique("r"), "project": team.project}
        created = expect_json(http.post("/registries", json=body), 201)
    assert created["permissions"] == WRITER


def me(live_server: ServerProcess, account: Account) -> dict[str, object]:
    with rest(live_server, account.auth) as http:
        return dict(expect_json(http.get("/users/me")))


def test_me_carries_deployment_permissions(
    live_server: ServerProcess, admin: Account, admin_api: httpx.Client, team: Team
) -> None:
    assert me(live_server, admin)["permissions"] == [
        "create_registry",
        "manage_projects",
        "manage_users",
        "gc",
    ]
    # Someone who may push in a project may create registries there; a viewer may not.
    assert me(live_server, team.roles["project_member"])["permissions"] == ["create_registry"]
    assert me(live_server, team.roles["service_viewer"])["permissions"] == []
    assert me(live_server, new_account(admin_api))["permissions"] == []


def test_permissions_are_documented(admin_api: httpx.Client) -> None:
    document = expect_json(admin_api.get("/openapi.json"))
    schemas = document["components"]["schemas"]
    assert "permissions" in schemas["RegistryOut"]["required"]
    assert "permissions" in schemas["MeOut"]["required"]
