"""Every endpoint of the REST API v1: what it answers (pages with totals, sorting, search,
paging), what it changes (checked on the registry protocol too), and how it refuses bad input
(RFC 9457 problem details, nothing changed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    Account,
    Pushed,
    add_member,
    ask_token,
    client,
    create_key,
    create_project,
    create_registry,
    create_user,
    expect,
    expect_json,
    expect_page,
    expect_problem,
    isolated_address,
    make_registry,
    new_account,
    push_image,
    rest,
    unique,
)
from tests.protocol.conftest import OCI_CONFIG, OCI_MANIFEST, OciClient, describe, expect_error
from tests.support.server import ServerProcess

REGISTRY_FIELDS = {
    "name",
    "project",
    "public_uri",
    "private_uri",
    "image_count",
    "stored_bytes",
    "created_at",
    "docker_login",
    "docker_push_example",
}
IMAGE_FIELDS = {
    "name",
    "repository",
    "artifact_count",
    "tag_count",
    "pushed_at",
    "pulled_at",
    "created_at",
}
ARTIFACT_FIELDS = {
    "digest",
    "media_type",
    "artifact_type",
    "size",
    "platforms",
    "pushed_at",
    "pulled_at",
    "tags",
}
TAG_FIELDS = {"name", "digest", "pushed_at", "pulled_at"}
KEY_FIELDS = {"key_id", "enabled", "created_at", "last_used_at", "age_days", "rotation_due"}
MISSING_DIGEST = "sha256:" + "0" * 64
CATALOG = "registry:catalog:*"


def timestamp(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"{value} has no time zone"
    return parsed


def assert_fields(item: dict[str, Any], fields: set[str]) -> None:
    """The documented fields are all there (new ones may join them; the OpenAPI test watches
    for unintended changes)."""
    missing = fields - set(item)
    assert not missing, f"missing {sorted(missing)} in {item}"


def names(items: list[dict[str, Any]], key: str = "name") -> list[str]:
    return [str(item[key]) for item in items]


def delete_with_body(http: httpx.Client, path: str, body: object) -> httpx.Response:
    return http.request("DELETE", path, json=body)


def oci_as_admin(admin_v2: httpx.Client, repository: str) -> OciClient:
    return OciClient(admin_v2, repository)


@pytest.fixture
def fresh_registry(admin_api: httpx.Client) -> str:
    """A fresh empty registry in the default project."""
    return make_registry(admin_api)


@pytest.fixture
def user(admin_api: httpx.Client) -> Account:
    """A fresh user without any membership."""
    return new_account(admin_api)


@pytest.fixture
def cli_user(live_server: ServerProcess) -> Account:
    """A fresh user made with the CLI (its password read from standard input)."""
    return create_user(live_server)


@pytest.fixture
def user_api(live_server: ServerProcess, user: Account) -> Iterator[httpx.Client]:
    with rest(live_server, user.auth) as http:
        yield http


@pytest.fixture
def source() -> str:
    """A loopback address of the test's own, for requests that fail sign-in on purpose."""
    return isolated_address()


# --- registries ------------------------------------------------------------------------------


def test_create_get_and_list_registries(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    prefix = unique("list")
    created = []
    for suffix in ("b", "c", "a"):
        body = {"name": f"{prefix}-{suffix}", "project": "default"}
        created.append(expect_json(admin_api.post("/registries", json=body), 201))
    one = created[0]
    assert_fields(one, REGISTRY_FIELDS)
    assert one["name"] == f"{prefix}-b"
    assert one["project"] == "default"
    assert one["public_uri"] == f"{live_server.host}/{prefix}-b"
    assert one["private_uri"] is None
    assert (one["image_count"], one["stored_bytes"]) == (0, 0)
    assert one["docker_login"] == f"docker login {live_server.host}"
    assert f"{live_server.host}/{prefix}-b/IMAGE:TAG" in one["docker_push_example"]
    timestamp(one["created_at"])
    assert expect_json(admin_api.get(f"/registries/{prefix}-b")) == one

    def listed(**params: str | int) -> Any:
        return expect_json(admin_api.get("/registries", params={"q": prefix, **params}))

    everything = [f"{prefix}-{s}" for s in "abc"]
    assert names(expect_page(listed(), 3)) == everything
    assert names(expect_page(listed(sort="-name"), 3)) == everything[::-1]
    assert names(expect_page(listed(sort="created_at"), 3)) == [f"{prefix}-{s}" for s in "bca"]
    assert names(expect_page(listed(page_size=2), 3, 1, 2)) == everything[:2]
    assert names(expect_page(listed(page_size=2, page=2), 3, 2, 2)) == everything[2:]
    assert expect_page(listed(page=5), 3, 5) == []
    expect_problem(admin_api.post("/registries", json={"name": f"{prefix}-a"}), 409)


def test_registry_usage_counts_images_and_bytes(
    admin_api: httpx.Client, admin_v2: httpx.Client, fresh_registry: str
) -> None:
    for image in ("one", "two/deep"):
        push_image(admin_v2, f"{fresh_registry}/{image}")
    usage = expect_json(admin_api.get(f"/registries/{fresh_registry}"))
    assert usage["image_count"] == 2
    assert usage["stored_bytes"] >= 2 * 64, usage  # at least the two random layers
    listed = expect_json(admin_api.get("/registries", params={"q": fresh_registry}))
    assert expect_page(listed, 1) == [usage]


def test_registry_delete_needs_force_while_it_holds_images(
    admin_api: httpx.Client, admin_v2: httpx.Client, fresh_registry: str
) -> None:
    pushed = push_image(admin_v2, f"{fresh_registry}/app")
    problem = expect_problem(admin_api.delete(f"/registries/{fresh_registry}"), 409)
    assert "force" in problem["detail"]
    expect(admin_api.get(f"/registries/{fresh_registry}"), 200)
    expect(oci_as_admin(admin_v2, pushed.repository).head_manifest("v1"), 200)

    expect(admin_api.delete(f"/registries/{fresh_registry}", params={"force": "true"}), 204)
    expect_problem(admin_api.get(f"/registries/{fresh_registry}"), 404)
    expect_error(oci_as_admin(admin_v2, pushed.repository).list_tags(), 404, "NAME_UNKNOWN")


def test_an_empty_registry_is_deleted_without_force(
    admin_api: httpx.Client, fresh_registry: str
) -> None:
    expect(admin_api.delete(f"/registries/{fresh_registry}"), 204)
    expect_problem(admin_api.get(f"/registries/{fresh_registry}"), 404)
    expect_problem(admin_api.delete(f"/registries/{fresh_registry}"), 404)


# --- images ----------------------------------------------------------------------------------


@pytest.fixture
def three_images(admin_v2: httpx.Client, fresh_registry: str) -> dict[str, Pushed]:
    return {
        name: push_image(admin_v2, f"{fresh_registry}/{name}")
        for name in ("tools", "team/app", "team/web")
    }


def test_list_images_with_search_sorting_and_paging(
    admin_api: httpx.Client, fresh_registry: str, three_images: dict[str, Pushed]
) -> None:
    def listed(**params: str | int) -> Any:
        return expect_json(admin_api.get(f"/registries/{fresh_registry}/images", params=params))

    items = expect_page(listed(), 3)
    assert names(items) == ["team/app", "team/web", "tools"]
    first = items[0]
    assert_fields(first, IMAGE_FIELDS)
    assert first["repository"] == f"{fresh_registry}/team/app"
    assert (first["artifact_count"], first["tag_count"]) == (1, 1)
    assert first["pulled_at"] is None
    timestamp(first["pushed_at"])
    timestamp(first["created_at"])
    assert names(expect_page(listed(q="team/"), 2)) == ["team/app", "team/web"]
    assert names(expect_page(listed(sort="-name"), 3)) == ["tools", "team/web", "team/app"]
    assert names(expect_page(listed(sort="created_at"), 3)) == ["tools", "team/app", "team/web"]
    assert names(expect_page(listed(page_size=2, page=2), 3, 2, 2)) == ["tools"]
    assert expect_page(listed(q="nothing-like-it"), 0) == []


def test_nested_image_names_go_percent_encoded(
    admin_api: httpx.Client, three_images: dict[str, Pushed]
) -> None:
    pushed = three_images["team/app"]
    assert pushed.image_path.endswith("/images/team%2Fapp")
    artifacts = expect_page(expect_json(admin_api.get(f"{pushed.image_path}/artifacts")), 1)
    assert names(artifacts, "digest") == [pushed.digest]
    tags = expect_page(expect_json(admin_api.get(f"{pushed.image_path}/tags")), 1)
    assert names(tags) == ["v1"]
    detail = expect_json(admin_api.get(f"{pushed.image_path}/artifacts/v1"))
    assert detail["digest"] == pushed.digest


def test_delete_one_image(
    admin_api: httpx.Client,
    admin_v2: httpx.Client,
    fresh_registry: str,
    three_images: dict[str, Pushed],
) -> None:
    gone = three_images["team/app"]
    expect(admin_api.delete(gone.image_path), 204)
    listed = expect_json(admin_api.get(f"/registries/{fresh_registry}/images"))
    assert names(expect_page(listed, 2)) == ["team/web", "tools"]
    expect_error(oci_as_admin(admin_v2, gone.repository).list_tags(), 404, "NAME_UNKNOWN")
    expect(oci_as_admin(admin_v2, three_images["team/web"].repository).head_manifest("v1"), 200)
    expect_problem(admin_api.delete(gone.image_path), 404)


def test_delete_many_images_is_all_or_nothing(
    admin_api: httpx.Client,
    admin_v2: httpx.Client,
    fresh_registry: str,
    three_images: dict[str, Pushed],
) -> None:
    path = f"/registries/{fresh_registry}/images"
    expect_problem(delete_with_body(admin_api, path, {"names": ["team/app", "missing"]}), 404)
    assert expect_json(admin_api.get(path))["total"] == 3
    expect(oci_as_admin(admin_v2, f"{fresh_registry}/team/app").head_manifest("v1"), 200)

    expect(delete_with_body(admin_api, path, {"names": ["team/app", "tools"]}), 204)
    assert names(expect_page(expect_json(admin_api.get(path)), 1)) == ["team/web"]
    for gone in ("team/app", "tools"):
        expect_error(
            oci_as_admin(admin_v2, f"{fresh_registry}/{gone}").list_tags(), 404, "NAME_UNKNOWN"
        )


# --- artifacts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoArtifacts:
    """`small` (tag v1, one layer) pushed before `large` (tag v2, three layers)."""

    small: Pushed
    large: Pushed

    @property
    def path(self) -> str:
        return self.small.image_path


@pytest.fixture
def two_artifacts(admin_v2: httpx.Client, fresh_registry: str) -> TwoArtifacts:
    repository = f"{fresh_registry}/team/app"
    small = push_image(admin_v2, repository, "v1", layers=1)
    time.sleep(0.01)  # distinct push times
    return TwoArtifacts(small, push_image(admin_v2, repository, "v2", layers=3))


def test_list_artifacts_with_sorting_and_search(
    admin_api: httpx.Client, two_artifacts: TwoArtifacts
) -> None:
    small, large = two_artifacts.small, two_artifacts.large

    def listed(**params: str | int) -> list[dict[str, Any]]:
        body = expect_json(admin_api.get(f"{two_artifacts.path}/artifacts", params=params))
        return expect_page(body, int(body["total"]), 1, int(params.get("page_size", 25)))

    items = listed()
    assert names(items, "digest") == [large.digest, small.digest]  # newest first
    item = items[1]
    assert_fields(item, ARTIFACT_FIELDS)
    assert item["media_type"] == OCI_MANIFEST
    assert item["artifact_type"] == OCI_CONFIG  # no artifactType: the config's media type
    assert item["platforms"] == ["linux/amd64"]  # read from the image config at push
    assert item["tags"] == ["v1"]
    assert item["pulled_at"] is None
    assert item["size"] >= len(small.manifest) + 64
    assert items[0]["size"] > item["size"]
    assert names(listed(sort="pushed_at"), "digest") == [small.digest, large.digest]
    assert names(listed(sort="size"), "digest") == [small.digest, large.digest]
    assert names(listed(sort="-size"), "digest") == [large.digest, small.digest]
    assert names(listed(sort="digest"), "digest") == sorted([small.digest, large.digest])
    assert names(listed(q=large.digest[:20]), "digest") == [large.digest]
    assert names(listed(q="v1"), "digest") == [small.digest]
    assert names(listed(page_size=1), "digest") == [large.digest]


def test_artifact_pull_time_is_recorded(
    admin_api: httpx.Client, admin_v2: httpx.Client, two_artifacts: TwoArtifacts
) -> None:
    small = two_artifacts.small
    expect(oci_as_admin(admin_v2, small.repository).get_manifest("v1"), 200)
    deadline = time.monotonic() + 10
    while True:
        detail = expect_json(admin_api.get(f"{two_artifacts.path}/artifacts/{small.digest}"))
        if detail["pulled_at"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert detail["pulled_at"] is not None, "the pull was never recorded"
    assert timestamp(detail["pulled_at"]) >= timestamp(detail["pushed_at"])


def test_artifact_detail_by_digest_and_by_tag(
    admin_api: httpx.Client, two_artifacts: TwoArtifacts
) -> None:
    large = two_artifacts.large
    detail = expect_json(admin_api.get(f"{two_artifacts.path}/artifacts/{large.digest}"))
    assert_fields(
        detail,
        ARTIFACT_FIELDS
        | {
            "config_digest",
            "layers",
            "children",
            "subject_digest",
            "annotations",
            "manifest",
        },
    )
    assert detail["digest"] == large.digest
    assert detail["config_digest"] == large.config_digest
    assert [layer["digest"] for layer in detail["layers"]] == list(large.layer_digests)
    assert all(layer["size"] == 64 for layer in detail["layers"])
    assert (detail["children"], detail["subject_digest"], detail["annotations"]) == ([], None, {})
    assert detail["manifest"] == httpx.Response(200, content=large.manifest).json()
    assert expect_json(admin_api.get(f"{two_artifacts.path}/artifacts/v2")) == detail
    expect_problem(admin_api.get(f"{two_artifacts.path}/artifacts/{MISSING_DIGEST}"), 404)
    expect_problem(admin_api.get(f"{two_artifacts.path}/artifacts/nope"), 404)


def test_delete_one_artifact(
    admin_api: httpx.Client, admin_v2: httpx.Client, two_artifacts: TwoArtifacts
) -> None:
    small, large = two_artifacts.small, two_artifacts.large
    expect(admin_api.delete(f"{two_artifacts.path}/artifacts/{small.digest}"), 204)
    oci = oci_as_admin(admin_v2, small.repository)
    expect_error(oci.get_manifest(small.digest), 404, "MANIFEST_UNKNOWN")
    expect(oci.head_manifest("v1"), 404)
    listed = expect_json(admin_api.get(f"{two_artifacts.path}/artifacts"))
    assert names(expect_page(listed, 1), "digest") == [large.digest]
    expect_problem(admin_api.delete(f"{two_artifacts.path}/artifacts/{small.digest}"), 404)


def test_delete_many_artifacts_is_all_or_nothing(
    admin_api: httpx.Client, admin_v2: httpx.Client, two_artifacts: TwoArtifacts
) -> None:
    small, large = two_artifacts.small, two_artifacts.large
    path = f"{two_artifacts.path}/artifacts"
    refused = delete_with_body(admin_api, path, {"references": [small.digest, MISSING_DIGEST]})
    expect_problem(refused, 404)
    assert expect_json(admin_api.get(path))["total"] == 2
    expect(oci_as_admin(admin_v2, small.repository).head_manifest("v1"), 200)

    expect(delete_with_body(admin_api, path, {"references": [small.digest, "v2"]}), 204)
    oci = oci_as_admin(admin_v2, small.repository)
    for digest in (small.digest, large.digest):
        expect_error(oci.get_manifest(digest), 404, "MANIFEST_UNKNOWN")


# --- tags ------------------------------------------------------------------------------------


def test_create_move_and_delete_a_tag(
    admin_api: httpx.Client, admin_v2: httpx.Client, two_artifacts: TwoArtifacts
) -> None:
    small, large = two_artifacts.small, two_artifacts.large
    oci = oci_as_admin(admin_v2, small.repository)

    def tag_on(artifact: Pushed) -> str:
        return f"{two_artifacts.path}/artifacts/{artifact.digest}/tags"

    def points_at(tag: str) -> str | None:
        head = oci.head_manifest(tag)
        return head.headers["Docker-Content-Digest"] if head.status_code == 200 else None

    created = expect_json(admin_api.post(tag_on(small), json={"name": "stable"}), 201)
    assert_fields(created, TAG_FIELDS)
    assert (created["name"], created["digest"], created["pulled_at"]) == (
        "stable",
        small.digest,
        None,
    )
    timestamp(created["pushed_at"])
    assert points_at("stable") == small.digest

    refused = expect_problem(admin_api.post(tag_on(large), json={"name": "stable"}), 409)
    assert refused["type"].endswith("/already-exists")
    assert (refused["tag"], refused["digest"]) == ("stable", small.digest)
    assert small.digest in refused["detail"]
    assert points_at("stable") == small.digest  # not moved
    again = expect_json(admin_api.post(tag_on(small), json={"name": "stable"}), 201)
    assert again["digest"] == small.digest  # tagging where it already points is no move

    body = {"name": "stable", "move": True}
    moved = expect_json(admin_api.post(tag_on(large), json=body), 201)
    assert moved["digest"] == large.digest
    assert points_at("stable") == large.digest
    assert names(expect_page(expect_json(admin_api.get(tag_on(small))), 1)) == ["v1"]
    assert names(expect_page(expect_json(admin_api.get(tag_on(large))), 2)) == ["stable", "v2"]

    expect_problem(admin_api.delete(f"{tag_on(small)}/stable"), 404)  # not on that artifact
    expect(admin_api.delete(f"{tag_on(large)}/stable"), 204)
    assert points_at("stable") is None
    assert points_at("v2") == large.digest
    expect_problem(admin_api.delete(f"{tag_on(large)}/stable"), 404)
    expect_problem(
        admin_api.post(f"{two_artifacts.path}/artifacts/{MISSING_DIGEST}/tags", json={"name": "x"}),
        404,
    )


def test_a_protected_tag_is_not_moved_even_when_asked(
    admin_api: httpx.Client, two_artifacts: TwoArtifacts
) -> None:
    small, large = two_artifacts.small, two_artifacts.large
    registry = small.registry
    policy = {"image": {"pattern": "**"}, "tag": {"pattern": "release"}}
    expect(admin_api.post(f"/registries/{registry}/protection-policies", json=policy), 201)
    on_small = f"{two_artifacts.path}/artifacts/{small.digest}/tags"
    on_large = f"{two_artifacts.path}/artifacts/{large.digest}/tags"
    expect(admin_api.post(on_small, json={"name": "release"}), 201)
    asked = expect_problem(admin_api.post(on_large, json={"name": "release"}), 409)
    assert asked["digest"] == small.digest
    expect_problem(admin_api.post(on_large, json={"name": "release", "move": True}), 412)
    assert names(expect_page(expect_json(admin_api.get(on_small)), 2)) == ["release", "v1"]


def test_list_image_tags_with_search_sorting_and_paging(
    admin_api: httpx.Client, two_artifacts: TwoArtifacts
) -> None:
    small = two_artifacts.small
    created = [f"t-{n:02d}" for n in range(12)]
    for tag in created:
        body = {"name": tag}
        expect(admin_api.post(f"{small.image_path}/artifacts/{small.digest}/tags", json=body), 201)
    path = f"{small.image_path}/tags"

    def listed(total: int, page: int = 1, page_size: int = 25, **params: str | int) -> list[str]:
        query = {"page": page, "page_size": page_size, **params}
        return names(
            expect_page(expect_json(admin_api.get(path, params=query)), total, page, page_size)
        )

    everything = sorted([*created, "v1", "v2"])
    assert listed(14) == everything
    assert listed(14, sort="-name") == everything[::-1]
    assert listed(14, 3, 5) == everything[10:]
    assert listed(10, q="t-0") == created[:10]
    assert listed(2, q="t-1", sort="-name") == ["t-11", "t-10"]
    assert listed(14, sort="pushed_at")[-12:] == created
    items = expect_page(expect_json(admin_api.get(path, params={"q": "v2"})), 1)
    assert items[0]["digest"] == two_artifacts.large.digest
    assert_fields(items[0], TAG_FIELDS)


# --- projects, members, users ----------------------------------------------------------------


def test_projects_are_created_and_listed(
    admin_api: httpx.Client, user: Account, user_api: httpx.Client, live_server: ServerProcess
) -> None:
    project = unique("proj")
    created = expect_json(admin_api.post("/projects", json={"name": project}), 201)
    assert set(created) == {"name", "created_at"}
    assert created["name"] == project
    timestamp(created["created_at"])
    expect_problem(admin_api.post("/projects", json={"name": project}), 409)
    found = expect_page(expect_json(admin_api.get("/projects", params={"q": project})), 1)
    assert found == [created]
    everything = expect_json(admin_api.get("/projects", params={"page_size": 100}))
    assert {"default", project} <= set(names(everything["items"]))

    # Someone else sees only their own projects, and may not create one.
    assert expect_page(expect_json(user_api.get("/projects")), 0) == []
    expect(
        admin_api.put(
            f"/projects/{project}/members/{user.username}", json={"role": "service_viewer"}
        ),
        200,
    )
    assert names(expect_page(expect_json(user_api.get("/projects")), 1)) == [project]
    expect_problem(user_api.post("/projects", json={"name": unique("proj")}), 403)


def test_members_are_added_changed_and_removed(
    live_server: ServerProcess, admin_api: httpx.Client, user: Account, user_api: httpx.Client
) -> None:
    project = unique("proj")
    expect(admin_api.post("/projects", json={"name": project}), 201)
    path = f"/projects/{project}/members"
    assert expect_page(expect_json(admin_api.get(path)), 0) == []

    added = expect_json(admin_api.put(f"{path}/{user.username}", json={"role": "project_member"}))
    assert set(added) == {"username", "role", "created_at"}
    assert (added["username"], added["role"]) == (user.username, "project_member")
    assert expect_page(expect_json(admin_api.get(path)), 1) == [added]

    # A Project Member reads the member list but does not manage it.
    assert expect_page(expect_json(user_api.get(path)), 1) == [added]
    newcomer = new_account(admin_api)
    expect_problem(
        user_api.put(f"{path}/{newcomer.username}", json={"role": "service_viewer"}), 403
    )

    # Made Project Admin, the same user manages members.
    changed = expect_json(admin_api.put(f"{path}/{user.username}", json={"role": "project_admin"}))
    assert changed["role"] == "project_admin"
    me = expect_json(user_api.get("/users/me"))
    assert {"project": project, "role": "project_admin"} in me["projects"]
    expect(user_api.put(f"{path}/{newcomer.username}", json={"role": "service_viewer"}), 200)
    listed = expect_json(admin_api.get(path, params={"page_size": 1}))
    assert len(expect_page(listed, 2, 1, 1)) == 1

    expect(user_api.delete(f"{path}/{newcomer.username}"), 204)
    expect_problem(user_api.delete(f"{path}/{newcomer.username}"), 404)
    expect(admin_api.delete(f"{path}/{user.username}"), 204)
    assert expect_page(expect_json(admin_api.get(path)), 0) == []
    expect_problem(user_api.get(path), 403)
    expect_problem(admin_api.get(f"/projects/{unique('none')}/members"), 404)


def test_users_are_created_listed_and_deleted(
    live_server: ServerProcess, admin_api: httpx.Client, user_api: httpx.Client, source: str
) -> None:
    account = Account(unique("u"), "a-long-enough-password")
    body = {"username": account.username, "password": account.password}
    created = expect_json(admin_api.post("/users", json=body), 201)
    assert set(created) == {"username", "is_admin", "created_at", "disabled"}
    assert (created["username"], created["is_admin"]) == (account.username, False)
    assert "password" not in str(created)
    expect_problem(admin_api.post("/users", json=body), 409)
    found = expect_json(admin_api.get("/users", params={"q": account.username}))
    assert expect_page(found, 1) == [created]

    with rest(live_server, account.auth, source=source) as theirs:
        me = expect_json(theirs.get("/users/me"))
        assert {k: me[k] for k in ("username", "is_admin", "projects")} == {
            "username": account.username,
            "is_admin": False,
            "projects": [],
        }
        assert me["permissions"] == []  # a user of no project may do nothing
        expect_problem(user_api.get("/users"), 403)
        expect_problem(user_api.post("/users", json={**body, "username": unique("u")}), 403)
        expect_problem(user_api.delete(f"/users/{account.username}"), 403)

        expect(admin_api.delete(f"/users/{account.username}"), 204)
        expect_problem(theirs.get("/users/me"), 401)
    expect_problem(admin_api.delete(f"/users/{account.username}"), 404)
    assert expect_json(admin_api.get("/users", params={"q": account.username}))["total"] == 0


def test_users_me_describes_the_caller_as_the_cli_made_them(
    live_server: ServerProcess, admin_api: httpx.Client, cli_user: Account
) -> None:
    with rest(live_server, cli_user.auth) as theirs:
        me = expect_json(theirs.get("/users/me"))
        assert me == {
            "username": cli_user.username,
            "is_admin": False,
            "projects": [],
            "permissions": [],  # a user in no project may do nothing deployment-wide
            "region": "local",  # the deployment's, for the console's header
        }
        project = create_project(live_server)
        add_member(live_server, project, cli_user.username, "service_viewer")
        registry = create_registry(live_server, project)
        me = expect_json(theirs.get("/users/me"))
        assert me["projects"] == [{"project": project, "role": "service_viewer"}]
        listed = expect_page(expect_json(theirs.get("/registries")), 1)
        assert [(r["name"], r["project"]) for r in listed] == [(registry, project)]
    members = expect_json(admin_api.get(f"/projects/{project}/members"))
    assert [(m["username"], m["role"]) for m in expect_page(members, 1)] == [
        (cli_user.username, "service_viewer")
    ]
    admin_me = expect_json(admin_api.get("/users/me"))
    assert (admin_me["username"], admin_me["is_admin"]) == ("admin", True)


def test_changing_my_password(live_server: ServerProcess, user: Account, source: str) -> None:
    with rest(live_server, user.auth, source=source) as mine:
        wrong = {"current_password": "not-" + user.password, "new_password": "a-new-password-1"}
        expect_problem(mine.put("/users/me/password", json=wrong), 403)
        right = {"current_password": user.password, "new_password": "a-new-password-1"}
        expect(mine.put("/users/me/password", json=right), 204)
        expect_problem(mine.get("/users/me"), 401)  # the old password no longer works
    with rest(live_server, (user.username, "a-new-password-1")) as renewed:
        expect(renewed.get("/users/me"), 200)


# --- access keys -----------------------------------------------------------------------------


def test_access_key_lifecycle(
    live_server: ServerProcess, user: Account, user_api: httpx.Client, source: str
) -> None:
    created = expect_json(user_api.post("/users/me/access-keys"), 201)
    assert set(created) == KEY_FIELDS | {"secret"}
    key = (created["key_id"], created["secret"])
    assert created["key_id"].startswith("MRG")
    assert (created["enabled"], created["age_days"], created["rotation_due"]) == (True, 0, False)
    assert created["last_used_at"] is None

    listed = user_api.get("/users/me/access-keys")
    item = expect_page(expect_json(listed), 1)[0]
    assert set(item) == KEY_FIELDS
    assert created["secret"] not in listed.text

    with rest(live_server, key, source=source) as by_key:
        assert expect_json(by_key.get("/users/me"))["username"] == user.username
        expect(ask_token(live_server, key, CATALOG, source), 200)
        used = expect_page(expect_json(user_api.get("/users/me/access-keys")), 1)[0]
        assert used["last_used_at"] is not None

        path = f"/users/me/access-keys/{created['key_id']}"
        disabled = expect_json(user_api.patch(path, json={"enabled": False}))
        assert (disabled["key_id"], disabled["enabled"]) == (created["key_id"], False)
        expect_problem(by_key.get("/users/me"), 401)
        expect_error(ask_token(live_server, key, CATALOG, source), 401, "UNAUTHORIZED")

        assert expect_json(user_api.patch(path, json={"enabled": True}))["enabled"] is True
        expect(by_key.get("/users/me"), 200)

        expect(user_api.delete(path), 204)
        expect_problem(by_key.get("/users/me"), 401)
    assert expect_page(expect_json(user_api.get("/users/me/access-keys")), 0) == []
    expect_problem(user_api.delete(path), 404)
    expect_problem(user_api.patch(path, json={"enabled": True}), 404)


def test_a_disabled_key_s_tokens_stop_working(
    live_server: ServerProcess, user_api: httpx.Client
) -> None:
    created = expect_json(user_api.post("/users/me/access-keys"), 201)
    token = expect_json(ask_token(live_server, (created["key_id"], created["secret"]), CATALOG))[
        "token"
    ]
    with client(live_server) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        expect(http.get("/v2/_catalog"), 200)
        path = f"/users/me/access-keys/{created['key_id']}"
        expect(user_api.patch(path, json={"enabled": False}), 200)
        expect_error(http.get("/v2/_catalog"), 401, "UNAUTHORIZED")


def test_a_sixth_access_key_is_refused(user_api: httpx.Client) -> None:
    for _ in range(5):
        expect(user_api.post("/users/me/access-keys"), 201)
    problem = expect_problem(user_api.post("/users/me/access-keys"), 409)
    assert "5" in problem["detail"]
    assert "delete one" in problem["detail"]
    assert expect_json(user_api.get("/users/me/access-keys"))["total"] == 5


def test_keys_belong_to_their_owner(
    live_server: ServerProcess, cli_user: Account, admin_api: httpx.Client
) -> None:
    user = cli_user
    key = create_key(live_server, user.username)  # made with the CLI
    path = f"/users/me/access-keys/{key.key_id}"
    expect_problem(admin_api.patch(path, json={"enabled": False}), 404)
    expect_problem(admin_api.delete(path), 404)
    with rest(live_server, key.auth) as by_key:
        assert expect_json(by_key.get("/users/me"))["username"] == user.username


# --- console sessions ------------------------------------------------------------------------


def test_session_cookie_csrf_and_sign_out(
    live_server: ServerProcess, admin: Account, admin_api: httpx.Client
) -> None:
    with rest(live_server, None) as browser:
        resp = browser.post(
            "/session", json={"username": admin.username, "password": admin.password}
        )
        session = expect_json(resp, 201)
        assert set(session) == {"username", "is_admin", "csrf_token", "expires_at"}
        assert (session["username"], session["is_admin"]) == ("admin", True)
        expires = timestamp(session["expires_at"])
        assert 0 < (expires - datetime.now(UTC)).total_seconds() <= 12 * 3600 + 60
        cookie = resp.headers["set-cookie"]
        attributes = {part.strip().lower() for part in cookie.split(";")}
        assert cookie.startswith("moorage_session=")
        assert "httponly" in attributes
        assert "samesite=strict" in attributes
        assert "path=/" in attributes
        assert session["csrf_token"] not in cookie.split(";")[0]

        assert expect_json(browser.get("/users/me"))["username"] == "admin"
        name = unique("csrf")
        body = {"name": name, "project": "default"}
        problem = expect_problem(browser.post("/registries", json=body), 403)
        assert "X-CSRF-Token" in problem["detail"]
        wrong = {"X-CSRF-Token": session["csrf_token"] + "x"}
        expect_problem(browser.post("/registries", json=body, headers=wrong), 403)
        expect_problem(browser.delete(f"/registries/{name}"), 403)
        expect_problem(admin_api.get(f"/registries/{name}"), 404)  # nothing was created
        right = {"X-CSRF-Token": session["csrf_token"]}
        expect(browser.post("/registries", json=body, headers=right), 201)
        expect(browser.delete(f"/registries/{name}", headers=right), 204)

        signed_out = expect(browser.delete("/session", headers=right), 204)
        cleared = signed_out.headers["set-cookie"].lower()
        assert cleared.startswith("moorage_session=")
        assert "max-age=0" in cleared or "expires=thu, 01 jan 1970" in cleared, cleared
        assert "moorage_session" not in browser.cookies
        expect_problem(browser.get("/users/me"), 401)


def test_session_sign_in_failures(live_server: ServerProcess, admin: Account, source: str) -> None:
    with rest(live_server, None, source=source) as browser:
        wrong = {"username": admin.username, "password": "not-" + admin.password}
        expect_problem(browser.post("/session", json=wrong), 401)
        assert "moorage_session" not in browser.cookies
        # The console asks without a Basic challenge, so browsers do not prompt.
        resp = browser.get("/users/me", headers={"X-Moorage-Console": "1"})
        expect_problem(resp, 401)
        assert "www-authenticate" not in resp.headers
        expect_problem(browser.get("/users/me", headers={"Cookie": "moorage_session=forged"}), 401)


# --- bad input -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """One malformed request (paths may use {registry}, {image}, {digest}, {name})."""

    method: str
    path: str
    status: int
    body: object = None
    params: dict[str, str] | None = None
    raw: bytes | None = None


LONG = "x" * 256
BAD_INPUT: dict[str, Bad] = {
    "registry-unknown-field": Bad("POST", "/registries", 422, {"name": "{name}", "colour": "red"}),
    "registry-name-wrong-type": Bad("POST", "/registries", 422, {"name": 42}),
    "registry-name-invalid": Bad("POST", "/registries", 400, {"name": "Bad_{name}!"}),
    "registry-name-too-long": Bad("POST", "/registries", 422, {"name": LONG}),
    "registry-name-empty": Bad("POST", "/registries", 422, {"name": ""}),
    "registry-body-not-json": Bad("POST", "/registries", 422, raw=b"name={name}"),
    "registry-body-a-list": Bad("POST", "/registries", 422, ["{name}"]),
    "registry-project-missing": Bad(
        "POST", "/registries", 404, {"name": "{name}", "project": "no-{name}"}
    ),
    "registry-force-not-bool": Bad(
        "DELETE", "/registries/{registry}", 422, params={"force": "maybe"}
    ),
    "user-unknown-field": Bad(
        "POST", "/users", 422, {"username": "{name}", "password": "long-enough-1", "role": "x"}
    ),
    "user-password-short": Bad("POST", "/users", 400, {"username": "{name}", "password": "short"}),
    "user-name-invalid": Bad(
        "POST", "/users", 400, {"username": "Bad {name}", "password": "long-enough-1"}
    ),
    "user-password-wrong-type": Bad(
        "POST", "/users", 422, {"username": "{name}", "password": 12345678}
    ),
    "user-admin-wrong-type": Bad(
        "POST",
        "/users",
        422,
        {"username": "{name}", "password": "long-enough-1", "is_admin": "maybe"},
    ),
    "project-unknown-field": Bad("POST", "/projects", 422, {"name": "{name}", "owner": "me"}),
    "project-name-invalid": Bad("POST", "/projects", 400, {"name": "UPPER-{name}"}),
    "member-unknown-role": Bad("PUT", "/projects/default/members/admin", 422, {"role": "king"}),
    "member-unknown-field": Bad(
        "PUT", "/projects/default/members/admin", 422, {"role": "project_member", "x": 1}
    ),
    "key-enabled-wrong-type": Bad(
        "PATCH", "/users/me/access-keys/MRGNOSUCHKEY0000000", 422, {"enabled": "nah"}
    ),
    "password-missing-field": Bad(
        "PUT", "/users/me/password", 422, {"new_password": "long-enough-1"}
    ),
    "session-unknown-field": Bad(
        "POST", "/session", 422, {"username": "admin", "password": "x", "otp": "1"}
    ),
    "tag-name-invalid": Bad("POST", "{image}/artifacts/{digest}/tags", 400, {"name": "-bad tag"}),
    "tag-name-too-long": Bad("POST", "{image}/artifacts/{digest}/tags", 422, {"name": LONG}),
    "tag-unknown-field": Bad(
        "POST", "{image}/artifacts/{digest}/tags", 422, {"name": "ok", "force": True}
    ),
    "tag-on-missing-artifact": Bad(
        "POST", "{image}/artifacts/" + MISSING_DIGEST + "/tags", 404, {"name": "ok"}
    ),
    "artifacts-delete-empty": Bad("DELETE", "{image}/artifacts", 422, {"references": []}),
    "artifacts-delete-not-a-list": Bad(
        "DELETE", "{image}/artifacts", 422, {"references": "{digest}"}
    ),
    "artifacts-delete-too-many": Bad(
        "DELETE", "{image}/artifacts", 422, {"references": ["{digest}"] * 101}
    ),
    "artifacts-delete-no-body": Bad("DELETE", "{image}/artifacts", 422),
    "images-delete-wrong-type": Bad(
        "DELETE", "/registries/{registry}/images", 422, {"names": "app"}
    ),
    "images-delete-unknown-field": Bad(
        "DELETE", "/registries/{registry}/images", 422, {"names": ["app"], "all": True}
    ),
    "tag-delete-wrong-artifact": Bad(
        "DELETE", "{image}/artifacts/" + MISSING_DIGEST + "/tags/v1", 404
    ),
    "unknown-route": Bad("GET", "/no-such-thing", 404),
    "wrong-method": Bad("PATCH", "/registries/{registry}", 405, {}),
}
LISTS = {
    "registries": "/registries",
    "images": "/registries/{registry}/images",
    "artifacts": "{image}/artifacts",
    "image-tags": "{image}/tags",
    "artifact-tags": "{image}/artifacts/{digest}/tags",
    "projects": "/projects",
    "members": "/projects/default/members",
    "users": "/users",
    "access-keys": "/users/me/access-keys",
}
BAD_PAGING = {
    "page-zero": {"page": "0"},
    "page-negative": {"page": "-1"},
    "page-not-a-number": {"page": "two"},
    "page-huge": {"page": "1000001"},
    "page-size-zero": {"page_size": "0"},
    "page-size-over-100": {"page_size": "101"},
    "search-too-long": {"q": LONG},
}
for list_name, list_path in LISTS.items():
    for paging_name, paging in BAD_PAGING.items():
        BAD_INPUT[f"{list_name}-{paging_name}"] = Bad("GET", list_path, 422, params=paging)


@dataclass(frozen=True)
class Scene:
    """A registry with one image; its state is compared before and after a bad request."""

    registry: str
    pushed: Pushed

    def fill(self, text: str, name: str) -> str:
        return (
            text.replace("{registry}", self.registry)
            .replace("{image}", self.pushed.image_path)
            .replace("{digest}", self.pushed.digest)
            .replace("{name}", name)
        )

    def fill_any(self, value: object, name: str) -> object:
        if isinstance(value, str):
            return self.fill(value, name)
        if isinstance(value, list):
            return [self.fill_any(v, name) for v in value]
        if isinstance(value, dict):
            return {k: self.fill_any(v, name) for k, v in value.items()}
        return value


@pytest.fixture(scope="module")
def scene(admin_api: httpx.Client, admin_v2: httpx.Client) -> Scene:
    registry = make_registry(admin_api)
    return Scene(registry, push_image(admin_v2, f"{registry}/team/app"))


def state(admin_api: httpx.Client, scene: Scene) -> tuple[object, ...]:
    """What a bad request must not change: counts, the image's artifacts and tags, keys."""

    def get(path: str, **params: str | int) -> Any:
        return expect_json(admin_api.get(path, params={"page_size": 100, **params}))

    image = scene.pushed.image_path
    return (
        get("/registries")["total"],
        get("/users")["total"],
        get("/projects")["total"],
        get("/projects/default/members")["items"],
        get(f"/registries/{scene.registry}/images")["items"],
        get(f"{image}/artifacts")["items"],
        get(f"{image}/tags")["items"],
        get("/users/me/access-keys")["items"],
    )


def send(http: httpx.Client, scene: Scene, bad: Bad, name: str) -> httpx.Response:
    path = scene.fill(bad.path, name)
    if bad.raw is not None:
        content = scene.fill(bad.raw.decode(), name).encode()
        headers = {"Content-Type": "application/json"}
        return http.request(bad.method, path, content=content, headers=headers, params=bad.params)
    body = scene.fill_any(bad.body, name)
    return http.request(bad.method, path, json=body, params=bad.params)


@pytest.mark.parametrize("bad", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_a_problem_and_changes_nothing(
    admin_api: httpx.Client, scene: Scene, bad: Bad
) -> None:
    before = state(admin_api, scene)
    problem = expect_problem(send(admin_api, scene, bad, unique("bad")), bad.status)
    assert problem["detail"], problem
    if bad.status == 422:
        assert problem.get("errors"), "a validation problem lists its errors: " + str(problem)
    assert state(admin_api, scene) == before


SORTS = {
    name: LISTS[name]
    for name in (
        "registries",
        "images",
        "artifacts",
        "image-tags",
        "artifact-tags",
        "projects",
        "members",
        "users",
        "access-keys",
    )
}


@pytest.mark.parametrize("path", SORTS.values(), ids=SORTS.keys())
def test_an_unknown_sort_field_is_refused(admin_api: httpx.Client, scene: Scene, path: str) -> None:
    resp = admin_api.get(scene.fill(path, ""), params={"sort": "colour"})
    assert resp.status_code in (400, 422), describe(resp)
    problem = expect_problem(resp, resp.status_code)
    assert "sort" in problem["detail"], describe(resp)
