"""Deleting several tags of an image in one request (`DELETE …/images/{image}/tags`): all of
them or none — an unknown or protected tag refuses the whole request."""

from __future__ import annotations

import httpx

from tests.api.conftest import (
    VIEWER_ROLE,
    Pushed,
    Team,
    expect,
    expect_json,
    expect_problem,
    make_registry,
    push_image,
    rest,
    unique,
)
from tests.support.server import ServerProcess


def tag_names(admin_api: httpx.Client, pushed: Pushed) -> set[str]:
    page = expect_json(admin_api.get(f"{pushed.image_path}/tags", params={"page_size": 100}))
    return {t["name"] for t in page["items"]}


def tagged(
    admin_api: httpx.Client, admin_v2: httpx.Client, registry: str, image: str = "app"
) -> Pushed:
    """IMAGE:v1 with the tags stable and v1.1 on the same artifact, and IMAGE:v2 elsewhere."""
    pushed = push_image(admin_v2, f"{registry}/{image}", "v1")
    for name in ("stable", "v1.1"):
        path = f"{pushed.image_path}/artifacts/{pushed.digest}/tags"
        expect(admin_api.post(path, json={"name": name}), 201)
    push_image(admin_v2, f"{registry}/{image}", "v2")
    return pushed


def delete_tags(http: httpx.Client, pushed: Pushed, names: list[str]) -> httpx.Response:
    return http.request("DELETE", f"{pushed.image_path}/tags", json={"names": names})


def test_the_named_tags_are_deleted_and_their_artifacts_stay(
    admin_api: httpx.Client, admin_v2: httpx.Client
) -> None:
    pushed = tagged(admin_api, admin_v2, make_registry(admin_api))
    expect(delete_tags(admin_api, pushed, ["stable", "v2", "v1"]), 204)
    assert tag_names(admin_api, pushed) == {"v1.1"}
    artifacts = expect_json(admin_api.get(f"{pushed.image_path}/artifacts"))
    assert artifacts["total"] == 2  # v2's artifact is untagged now, not deleted


def test_one_protected_tag_refuses_them_all(
    admin_api: httpx.Client, admin_v2: httpx.Client
) -> None:
    registry = make_registry(admin_api)
    pushed = tagged(admin_api, admin_v2, registry)
    policy = {"image": {"pattern": "app"}, "tag": {"pattern": "v1.*"}}
    expect(admin_api.post(f"/registries/{registry}/protection-policies", json=policy), 201)
    problem = expect_problem(delete_tags(admin_api, pushed, ["stable", "v1.1", "v2"]), 412)
    assert "'v1.1'" in problem["detail"]
    assert "images 'app', tags 'v1.*'" in problem["detail"]
    assert tag_names(admin_api, pushed) == {"v1", "stable", "v1.1", "v2"}


def test_an_unknown_tag_refuses_them_all(admin_api: httpx.Client, admin_v2: httpx.Client) -> None:
    pushed = tagged(admin_api, admin_v2, make_registry(admin_api))
    problem = expect_problem(delete_tags(admin_api, pushed, ["stable", "nope"]), 404)
    assert "nope" in problem["detail"]
    assert tag_names(admin_api, pushed) == {"v1", "stable", "v1.1", "v2"}


def test_a_viewer_may_not_delete_tags(
    live_server: ServerProcess, admin_api: httpx.Client, admin_v2: httpx.Client, team: Team
) -> None:
    pushed = tagged(admin_api, admin_v2, team.registry, unique("app"))
    with rest(live_server, team.roles[VIEWER_ROLE].auth) as viewer:
        expect_problem(delete_tags(viewer, pushed, ["stable"]), 403)
    assert tag_names(admin_api, pushed) == {"v1", "stable", "v1.1", "v2"}


def test_the_list_of_names_is_checked(admin_api: httpx.Client, admin_v2: httpx.Client) -> None:
    pushed = tagged(admin_api, admin_v2, make_registry(admin_api))
    expect_problem(delete_tags(admin_api, pushed, []), 422)
    expect_problem(delete_tags(admin_api, pushed, ["Not A Tag!"]), 404)
