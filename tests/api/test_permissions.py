"""The permission matrix (SPEC §5: the guide's table of actions per role), on the registry
protocol — through the Docker token flow and with plain Basic credentials — and on the REST API.

`MATRIX` is the table: one row per action and way of doing it, with the status each group of
callers must get. Project Admin, Project Member and Service Admin ("writer") may do everything
in their project; a Service Viewer may only view and pull; a member of another project
("outsider") may do nothing here; an anonymous caller gets 401. Every 401 and 403 is checked
in its protocol's error format, and a refused change must have changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import httpx
import pytest

from tests.api.conftest import (
    WRITER_ROLES,
    Account,
    AnonymousTokenAuth,
    Pushed,
    Team,
    ask_token,
    client,
    expect,
    expect_json,
    expect_problem,
    make_registry,
    push_image,
    rest,
    token_claims,
    token_client,
    unique,
)
from tests.protocol.conftest import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCTET_STREAM,
    Blob,
    OciClient,
    describe,
    descriptor,
    expect_error,
    image_config,
    image_manifest,
    random_blob,
)
from tests.support.server import ServerProcess

Caller = Literal[
    "project_admin", "project_member", "service_admin", "service_viewer", "outsider", "anonymous"
]
CALLERS: tuple[Caller, ...] = (
    "project_admin",
    "project_member",
    "service_admin",
    "service_viewer",
    "outsider",
    "anonymous",
)
Via = Literal["token", "basic", "rest"]
V2: tuple[Via, ...] = ("token", "basic")
REST: tuple[Via, ...] = ("rest",)


def group(caller: Caller) -> str:
    return "writer" if caller in WRITER_ROLES else caller


@dataclass
class Ctx:
    """What one case works on: the caller's client and content the administrator made."""

    http: httpx.Client
    team: Team
    admin_api: httpx.Client
    admin_v2: httpx.Client
    image: Pushed
    name: str = field(default_factory=lambda: unique("n"))

    def oci(self, repository: str | None = None) -> OciClient:
        return OciClient(self.http, repository or self.image.repository)

    def admin_oci(self, repository: str | None = None) -> OciClient:
        return OciClient(self.admin_v2, repository or self.image.repository)


Action = Callable[[Ctx], httpx.Response]
Check = Callable[[Ctx], None]


def first_failure(*steps: Callable[[], httpx.Response]) -> httpx.Response:
    """Run the steps in order; the first answer that is not 2xx, or the last one."""
    resp: httpx.Response | None = None
    for step in steps:
        resp = step()
        if not resp.is_success:
            return resp
    assert resp is not None
    return resp


# --- the registry protocol -------------------------------------------------------------------


def v2_image_view(c: Ctx) -> httpx.Response:
    return c.oci().head_manifest(c.image.tag)


def v2_image_pull(c: Ctx) -> httpx.Response:
    oci = c.oci()
    return first_failure(
        lambda: oci.get_manifest(c.image.tag),
        lambda: oci.get_blob(c.image.config_digest),
        *(lambda d=d: oci.get_blob(d) for d in c.image.layer_digests),
    )


def _upload(oci: OciClient, blob: Blob) -> httpx.Response:
    headers = {"Content-Type": OCTET_STREAM}
    return oci.start_upload({"digest": blob.digest}, content=blob.content, headers=headers)


def v2_image_push(c: Ctx) -> httpx.Response:
    oci = c.oci(f"{c.team.registry}/{c.name}")
    config, layer = image_config(c.name), random_blob(64)
    manifest = image_manifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER_GZIP, layer)])
    return first_failure(
        lambda: _upload(oci, config),
        lambda: _upload(oci, layer),
        lambda: oci.put_manifest("v1", manifest),
    )


def v2_image_delete(c: Ctx) -> httpx.Response:
    """Every artifact of the image, by digest (the protocol has no whole-image delete)."""
    oci = c.oci()
    listed = oci.list_tags()
    if not listed.is_success:
        return listed
    digests = []
    for tag in listed.json()["tags"]:
        head = oci.head_manifest(tag)
        if not head.is_success:
            return head
        digests.append(head.headers["Docker-Content-Digest"])
    return first_failure(*(lambda d=d: oci.delete_manifest(d) for d in digests))


def v2_artifact_view(c: Ctx) -> httpx.Response:
    return c.oci().referrers(c.image.digest)


def v2_artifact_delete(c: Ctx) -> httpx.Response:
    return c.oci().delete_manifest(c.image.digest)


def v2_tag_view(c: Ctx) -> httpx.Response:
    return c.oci().list_tags()


def v2_tag_create(c: Ctx) -> httpx.Response:
    return c.oci().put_manifest("v2", c.image.manifest)


def v2_tag_delete(c: Ctx) -> httpx.Response:
    return c.oci().delete_manifest(c.image.tag)


# --- the REST API ----------------------------------------------------------------------------


def rest_registry_view(c: Ctx) -> httpx.Response:
    return c.http.get(f"/registries/{c.team.registry}")


def rest_registry_create(c: Ctx) -> httpx.Response:
    return c.http.post("/registries", json={"name": c.name, "project": c.team.project})


def rest_registry_delete(c: Ctx) -> httpx.Response:
    return c.http.delete(f"/registries/{c.name}")


def rest_image_view(c: Ctx) -> httpx.Response:
    return c.http.get(f"/registries/{c.image.registry}/images")


def rest_image_delete(c: Ctx) -> httpx.Response:
    return c.http.delete(c.image.image_path)


def rest_artifact_view(c: Ctx) -> httpx.Response:
    return c.http.get(f"{c.image.image_path}/artifacts/{c.image.digest}")


def rest_artifact_delete(c: Ctx) -> httpx.Response:
    return c.http.delete(f"{c.image.image_path}/artifacts/{c.image.digest}")


def rest_tag_view(c: Ctx) -> httpx.Response:
    return c.http.get(f"{c.image.image_path}/tags")


def rest_tag_create(c: Ctx) -> httpx.Response:
    return c.http.post(f"{c.image.image_path}/artifacts/{c.image.digest}/tags", json={"name": "v2"})


def rest_tag_delete(c: Ctx) -> httpx.Response:
    return c.http.delete(f"{c.image.image_path}/artifacts/{c.image.digest}/tags/{c.image.tag}")


# --- what a refused change must have left alone ----------------------------------------------


def tag_still_there(c: Ctx) -> None:
    head = expect(c.admin_oci().head_manifest(c.image.tag), 200)
    assert head.headers["Docker-Content-Digest"] == c.image.digest


def no_new_tag(c: Ctx) -> None:
    expect(c.admin_oci().head_manifest("v2"), 404)
    tag_still_there(c)


def nothing_pushed(c: Ctx) -> None:
    expect(c.admin_oci(f"{c.team.registry}/{c.name}").list_tags(), 404)


def registry_absent(c: Ctx) -> None:
    expect(c.admin_api.get(f"/registries/{c.name}"), 404)


def registry_present(c: Ctx) -> None:
    expect(c.admin_api.get(f"/registries/{c.name}"), 200)


def prepare_registry(c: Ctx) -> None:
    make_registry(c.admin_api, c.team.project, c.name)


# --- the matrix ------------------------------------------------------------------------------

FRESH = True  # the case changes content: it gets an image of its own
OK = 0  # the row's own success status
READ = {"writer": OK, "service_viewer": OK, "outsider": 403, "anonymous": 401}
WRITE = {"writer": OK, "service_viewer": 403, "outsider": 403, "anonymous": 401}


@dataclass(frozen=True)
class Row:
    """One way of doing one of the guide's actions: `expected` maps each group of callers to
    a status, OK standing for the row's success status `ok`."""

    action: str
    via: tuple[Via, ...]
    do: Action
    ok: int
    expected: dict[str, int]
    fresh_image: bool = False
    prepare: Check | None = None
    unchanged: Check | None = None


MATRIX: tuple[Row, ...] = (
    Row("registry-view", REST, rest_registry_view, 200, READ),
    Row("registry-create", REST, rest_registry_create, 201, WRITE, unchanged=registry_absent),
    Row(
        "registry-delete",
        REST,
        rest_registry_delete,
        204,
        WRITE,
        prepare=prepare_registry,
        unchanged=registry_present,
    ),
    Row("image-view", V2, v2_image_view, 200, READ),
    Row("image-view", REST, rest_image_view, 200, READ),
    Row("image-pull", V2, v2_image_pull, 200, READ),
    Row("image-push", V2, v2_image_push, 201, WRITE, unchanged=nothing_pushed),
    Row("image-delete", V2, v2_image_delete, 202, WRITE, FRESH, unchanged=tag_still_there),
    Row("image-delete", REST, rest_image_delete, 204, WRITE, FRESH, unchanged=tag_still_there),
    Row("artifact-view", V2, v2_artifact_view, 200, READ),
    Row("artifact-view", REST, rest_artifact_view, 200, READ),
    Row("artifact-delete", V2, v2_artifact_delete, 202, WRITE, FRESH, unchanged=tag_still_there),
    Row(
        "artifact-delete", REST, rest_artifact_delete, 204, WRITE, FRESH, unchanged=tag_still_there
    ),
    Row("tag-view", V2, v2_tag_view, 200, READ),
    Row("tag-view", REST, rest_tag_view, 200, READ),
    Row("tag-create", V2, v2_tag_create, 201, WRITE, FRESH, unchanged=no_new_tag),
    Row("tag-create", REST, rest_tag_create, 201, WRITE, FRESH, unchanged=no_new_tag),
    Row("tag-delete", V2, v2_tag_delete, 202, WRITE, FRESH, unchanged=tag_still_there),
    Row("tag-delete", REST, rest_tag_delete, 204, WRITE, FRESH, unchanged=tag_still_there),
)
CASES = [
    pytest.param(row, via, caller, id=f"{row.action}-{via}-{caller}")
    for row in MATRIX
    for via in row.via
    for caller in CALLERS
]


@pytest.fixture(scope="session")
def shared_image(team: Team, admin_v2: httpx.Client) -> Pushed:
    """Content the read-only cases look at."""
    return push_image(admin_v2, f"{team.registry}/shared/app")


@pytest.fixture(scope="session")
def callers(
    live_server: ServerProcess, team: Team
) -> Iterator[Callable[[Caller, Via], httpx.Client]]:
    """(caller, way) → a client, made once and kept for the session."""
    made: dict[tuple[Caller, Via], httpx.Client] = {}

    def get(caller: Caller, via: Via) -> httpx.Client:
        if (caller, via) not in made:
            account = team.outsider if caller == "outsider" else team.roles.get(caller)
            auth = account.auth if account else None
            if via == "rest":
                made[caller, via] = rest(live_server, auth)
            elif via == "basic":
                made[caller, via] = client(live_server, auth)
            elif account is None:
                made[caller, via] = client(live_server, AnonymousTokenAuth())
            else:
                made[caller, via] = token_client(live_server, account.auth)
        return made[caller, via]

    yield get
    for http in made.values():
        http.close()


def check_refusal(resp: httpx.Response, status: int, via: Via) -> None:
    """A 401 or 403 in the error format of the protocol the request used."""
    if via == "rest":
        expect_problem(resp, status)
        if status == 401:
            assert resp.headers.get("WWW-Authenticate", "").startswith("Basic "), describe(resp)
        return
    if resp.request.method == "HEAD":  # no body to carry the error code
        expect(resp, status)
    elif status == 401:
        expect_error(resp, 401, "UNAUTHORIZED")
    else:
        expect_error(resp, 403, "DENIED")
    if status == 401:
        assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer realm="), describe(resp)


@pytest.mark.parametrize(("row", "via", "caller"), CASES)
def test_permission_matrix(
    row: Row,
    via: Via,
    caller: Caller,
    team: Team,
    callers: Callable[[Caller, Via], httpx.Client],
    admin_api: httpx.Client,
    admin_v2: httpx.Client,
    shared_image: Pushed,
) -> None:
    image = push_image(admin_v2, f"{team.registry}/{unique('img')}") if row.fresh_image else None
    ctx = Ctx(callers(caller, via), team, admin_api, admin_v2, image or shared_image)
    if row.prepare:
        row.prepare(ctx)
    want = row.expected[group(caller)]
    want = row.ok if want == OK else want
    resp = row.do(ctx)
    if want == row.ok:
        assert resp.status_code == want, f"{caller} may {row.action}: " + describe(resp)
        return
    check_refusal(resp, want, via)
    if row.unchanged:
        row.unchanged(ctx)


# --- the token endpoint, the catalog and mounts ----------------------------------------------


def granted_actions(server: ServerProcess, account: Account | None, scope: str) -> list[object]:
    token = expect_json(ask_token(server, account.auth if account else None, scope))["token"]
    access = token_claims(token)["access"]
    assert isinstance(access, list)
    return access


@pytest.mark.parametrize(
    ("caller", "actions"),
    [
        ("project_admin", ["delete", "pull", "push"]),
        ("project_member", ["delete", "pull", "push"]),
        ("service_admin", ["delete", "pull", "push"]),
        ("service_viewer", ["pull"]),
        ("outsider", []),
        ("anonymous", []),
    ],
)
def test_token_grants_the_intersection_of_request_and_role(
    live_server: ServerProcess, team: Team, caller: Caller, actions: list[str]
) -> None:
    account = team.outsider if caller == "outsider" else team.roles.get(caller)
    repository = f"{team.registry}/any/image"
    access = granted_actions(live_server, account, f"repository:{repository}:pull,push,delete")
    assert access == [{"type": "repository", "name": repository, "actions": actions}]


def catalog(http: httpx.Client) -> set[str]:
    return set(expect_json(http.get("/v2/_catalog", params={"n": "10000"}))["repositories"])


@pytest.mark.parametrize("via", V2)
def test_catalog_lists_only_readable_repositories(
    live_server: ServerProcess,
    team: Team,
    admin_v2: httpx.Client,
    callers: Callable[[Caller, Via], httpx.Client],
    via: Via,
) -> None:
    mine = push_image(admin_v2, f"{team.registry}/cat/{unique('a')}").repository
    theirs = push_image(admin_v2, f"{team.other_registry}/cat/{unique('b')}").repository
    for caller in ("project_member", "service_viewer"):
        listed = catalog(callers(caller, via))
        assert mine in listed
        assert not {r for r in listed if not r.startswith(f"{team.registry}/")}, listed
    outsider = catalog(callers("outsider", via))
    assert theirs in outsider
    assert mine not in outsider
    assert all(r.startswith(f"{team.other_registry}/") for r in outsider), outsider
    assert {mine, theirs} <= catalog(admin_v2)


def test_rest_registry_list_shows_only_readable_registries(
    team: Team, callers: Callable[[Caller, Via], httpx.Client]
) -> None:
    cases: tuple[tuple[Caller, str, str], ...] = (
        ("service_viewer", team.registry, team.other_registry),
        ("outsider", team.other_registry, team.registry),
    )
    for caller, mine, theirs in cases:
        body = expect_json(callers(caller, "rest").get("/registries", params={"page_size": 100}))
        names = {r["name"] for r in body["items"]}
        assert mine in names
        assert theirs not in names
        project = team.project if mine == team.registry else team.other_project
        assert {r["project"] for r in body["items"]} == {project}, body
        assert body["total"] == len(names)
    expect_problem(callers("anonymous", "rest").get("/registries"), 401)


@pytest.mark.parametrize("via", V2)
def test_mount_from_an_unreadable_registry_falls_back_to_an_upload(
    team: Team,
    admin_v2: httpx.Client,
    callers: Callable[[Caller, Via], httpx.Client],
    via: Via,
) -> None:
    source = push_image(admin_v2, f"{team.registry}/{unique('src')}")
    blob = source.layer_digests[0]
    outsider = OciClient(callers("outsider", via), f"{team.other_registry}/{unique('dst')}")
    resp = outsider.mount(blob, source.repository)
    assert resp.status_code == 202, "a mount the caller may not read must not happen: " + (
        describe(resp)
    )
    assert resp.headers.get("Location"), describe(resp)
    expect(outsider.head_blob(blob), 404)
    # The same mount by a member of the source's project links the blob.
    member = OciClient(callers("project_member", via), f"{team.registry}/{unique('dst')}")
    expect(member.mount(blob, source.repository), 201)
    expect(member.head_blob(blob), 200)


def test_the_matrix_covers_every_caller_and_way() -> None:
    rows = {(row.action, via) for row in MATRIX for via in row.via}
    actions = {
        "registry-view",
        "registry-create",
        "registry-delete",
        "image-view",
        "image-push",
        "image-pull",
        "image-delete",
        "artifact-view",
        "artifact-delete",
        "tag-view",
        "tag-create",
        "tag-delete",
    }
    assert {a for a, _ in rows} == actions
    protocol_only = {"image-push", "image-pull"}
    rest_only = {"registry-view", "registry-create", "registry-delete"}
    for action in actions - rest_only:
        assert {(action, "token"), (action, "basic")} <= rows
    for action in actions - protocol_only:
        assert (action, "rest") in rows
