"""Image protection end to end: a protected tag can be re-pushed with its own digest but never
moved or deleted, nor its artifact deleted, whichever client or API asks; disabling the
policy lifts that. Runs on the session's live servers (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.conftest import AMD64_TAG, ARM64_TAG, OciLayout, RegistryAccess, Skopeo
from tests.e2e.test_cleanup_scenarios import (
    PROBLEM_JSON,
    expect_manifest,
    expect_manifest_gone,
    expect_problem,
    image_path,
    listed_artifacts,
    new_registry,
    ok,
    push_image,
    rest_client,
    selector,
)
from tests.protocol.conftest import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    Blob,
    OciClient,
    descriptor,
    errors,
    expect_status,
    image_config,
    image_manifest,
    random_blob,
)
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

IMAGE = "app"
PROTECTED = "release-1"
SIDE_TAG = "latest"  # a second, unprotected tag on the protected artifact

State = dict[str, tuple[str, ...]] | None  # digest → tags; None: the registry is gone


@pytest.fixture
def api(live_server: ServerProcess) -> Iterator[httpx.Client]:
    with rest_client(live_server) as client:
        yield client


@pytest.fixture
def registry(api: httpx.Client) -> str:
    return new_registry(api, "p")


def layout_manifest(layout: OciLayout, tag: str) -> Blob:
    """The layout's manifest for `tag`, byte for byte."""
    return Blob(layout.blob(layout.descriptor(tag)["digest"]))


@dataclass
class Protected:
    """`app:release-1` (also tagged `latest`), pushed by skopeo from the test layout and
    protected by `policy` (image `**`, tag `release-*`); `app:dev` and an untagged artifact
    beside it."""

    registry: str
    api: httpx.Client
    http: httpx.Client
    skopeo: Skopeo
    access: RegistryAccess
    layout: OciLayout
    policy: int
    digest: str
    dev: str
    untagged: str

    @property
    def repository(self) -> str:
        return f"{self.registry}/{IMAGE}"

    @property
    def oci(self) -> OciClient:
        return OciClient(self.http, self.repository)

    @property
    def artifacts_path(self) -> str:
        return f"{image_path(self.registry, IMAGE)}/artifacts"

    def ref(self, tag: str) -> str:
        return self.access.docker_ref(self.registry, IMAGE, tag)

    def state(self) -> State:
        """The image's artifacts and their tags, as the REST API lists them."""
        if self.api.get(f"/registries/{self.registry}").status_code == 404:
            return None
        found = listed_artifacts(self.api, self.registry, IMAGE)
        return {digest: tuple(sorted(a["tags"])) for digest, a in found.items()}

    def names_policy(self, text: str, tag: str = PROTECTED) -> None:
        assert "the protection policy on images '**', tags 'release-*'" in text, text
        assert tag in text, text

    def set_enabled(self, enabled: bool) -> None:
        body = {"image": selector("**"), "tag": selector("release-*"), "enabled": enabled}
        path = f"/registries/{self.registry}/protection-policies/{self.policy}"
        assert ok(self.api.put(path, json=body))["enabled"] is enabled


@pytest.fixture
def protected(
    api: httpx.Client,
    http: httpx.Client,
    skopeo: Skopeo,
    access: RegistryAccess,
    oci_layout: OciLayout,
    registry: str,
) -> Protected:
    repository = f"{registry}/{IMAGE}"
    skopeo.copy(oci_layout.ref(AMD64_TAG), access.docker_ref(registry, IMAGE, PROTECTED))
    digest = oci_layout.descriptor(AMD64_TAG)["digest"]
    OciClient(http, repository).push_manifest(SIDE_TAG, layout_manifest(oci_layout, AMD64_TAG))
    dev = push_image(http, repository, "dev")
    untagged = push_image(http, repository)
    body = {"image": selector("**"), "tag": selector("release-*")}
    policy = ok(api.post(f"/registries/{registry}/protection-policies", json=body), 201)
    assert policy["enabled"] is True
    found = Protected(
        registry, api, http, skopeo, access, oci_layout, policy["id"], digest, dev, untagged
    )
    assert found.state() == {digest: (SIDE_TAG, PROTECTED), dev: ("dev",), untagged: ()}
    return found


def other_manifest(oci: OciClient) -> Blob:
    """A different image's manifest, its blobs already pushed."""
    return image_manifest(
        descriptor(OCI_CONFIG, oci.push_blob(image_config("someone else"))),
        [descriptor(OCI_LAYER_GZIP, oci.push_blob(random_blob(64)))],
    )


def expect_denied(resp: httpx.Response, p: Protected, tag: str = PROTECTED) -> None:
    """The registry protocol's refusal: 412 with DENIED naming the policy and the tag."""
    assert resp.status_code == 412, f"{resp.request.method} {resp.request.url}: {resp.text}"
    denied = [e.message for e in errors(resp) if e.code == "DENIED"]
    assert denied, resp.text
    p.names_policy(denied[0], tag)


# --- pushes --------------------------------------------------------------------------------


def test_skopeo_cannot_push_another_image_to_a_protected_tag(protected: Protected) -> None:
    p = protected
    before = p.state()
    refused = p.skopeo.tool(
        "copy",
        "--quiet",
        *p.access.flags("src-"),
        *p.access.flags("dest-"),
        p.layout.ref(ARM64_TAG),
        p.ref(PROTECTED),
        check=False,
    )
    assert refused.returncode != 0, refused.stdout
    assert "denied: " in refused.stderr, refused.stderr  # skopeo's word for the 412
    p.names_policy(refused.stderr)
    expect_manifest(p.http, p.repository, PROTECTED, p.digest)
    assert p.state() == before


def test_plain_http_cannot_push_another_image_to_a_protected_tag(protected: Protected) -> None:
    p = protected
    before = p.state()
    expect_denied(p.oci.put_manifest(PROTECTED, other_manifest(p.oci)), p)
    # Nor can an existing artifact take the tag through the REST API, even when asked to.
    moved = {"name": PROTECTED, "move": True}
    resp = p.api.post(f"{p.artifacts_path}/{p.dev}/tags", json=moved)
    p.names_policy(expect_problem(resp, 412))
    expect_manifest(p.http, p.repository, PROTECTED, p.digest)
    assert p.state() == before


def test_the_identical_digest_can_be_pushed_again(protected: Protected) -> None:
    p = protected
    before = p.state()
    p.skopeo.copy(p.layout.ref(AMD64_TAG), p.ref(PROTECTED))
    expect_status(p.oci.put_manifest(PROTECTED, layout_manifest(p.layout, AMD64_TAG)), 201)
    ok(p.api.post(f"{p.artifacts_path}/{p.digest}/tags", json={"name": PROTECTED}), 201)
    expect_manifest(p.http, p.repository, PROTECTED, p.digest)
    assert p.state() == before


def test_a_new_protected_tag_can_be_created_then_stays(protected: Protected) -> None:
    p = protected
    p.skopeo.copy(p.layout.ref(ARM64_TAG), p.ref("release-2"))
    expect_denied(p.oci.put_manifest("release-2", other_manifest(p.oci)), p, "release-2")
    arm64 = p.layout.descriptor(ARM64_TAG)["digest"]
    expect_manifest(p.http, p.repository, "release-2", arm64)


def test_the_unprotected_tags_of_a_protected_artifact_move_and_go(protected: Protected) -> None:
    p = protected
    moved = {"name": SIDE_TAG, "move": True}
    ok(p.api.post(f"{p.artifacts_path}/{p.dev}/tags", json=moved), 201)
    expect_manifest(p.http, p.repository, SIDE_TAG, p.dev)
    expect_status(p.oci.delete_manifest(SIDE_TAG), 202)
    expect_manifest_gone(p.http, p.repository, SIDE_TAG)
    assert p.state() == {p.digest: (PROTECTED,), p.dev: ("dev",), p.untagged: ()}


# --- deletes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tried:
    """The answer to a delete: refused by protection (with its message) or done."""

    refused: bool
    done: bool
    message: str


def oci_answer(resp: httpx.Response) -> Tried:
    if resp.status_code == 412:
        denied = [e.message for e in errors(resp) if e.code == "DENIED"]
        assert denied, resp.text
        return Tried(True, False, denied[0])
    return Tried(False, resp.status_code == 202, resp.text)


def rest_answer(resp: httpx.Response) -> Tried:
    if resp.status_code == 412:
        assert resp.headers["content-type"].startswith(PROBLEM_JSON)
        return Tried(True, False, str(resp.json()["detail"]))
    return Tried(False, resp.status_code == 204, resp.text)


def skopeo_delete(p: Protected) -> Tried:
    done = p.skopeo("delete", p.ref(PROTECTED), check=False)
    return Tried(done.returncode != 0 and "412" in done.stderr, done.returncode == 0, done.stderr)


@dataclass(frozen=True)
class Delete:
    attempt: Callable[[Protected], Tried]
    after: Callable[[Protected], State]  # what is left once the delete is allowed


def without_artifact(p: Protected) -> State:
    return {p.dev: ("dev",), p.untagged: ()}


DELETES = {
    "oci-manifest-by-tag": Delete(
        lambda p: oci_answer(p.oci.delete_manifest(PROTECTED)),
        lambda p: {p.digest: (SIDE_TAG,), p.dev: ("dev",), p.untagged: ()},
    ),
    "oci-manifest-by-digest": Delete(
        lambda p: oci_answer(p.oci.delete_manifest(p.digest)), without_artifact
    ),
    "skopeo-delete": Delete(skopeo_delete, without_artifact),
    "rest-artifact": Delete(
        lambda p: rest_answer(p.api.delete(f"{p.artifacts_path}/{p.digest}")), without_artifact
    ),
    "rest-artifacts": Delete(
        lambda p: rest_answer(
            p.api.request("DELETE", p.artifacts_path, json={"references": [p.untagged, PROTECTED]})
        ),
        lambda p: {p.dev: ("dev",)},
    ),
    "rest-tag": Delete(
        lambda p: rest_answer(p.api.delete(f"{p.artifacts_path}/{p.digest}/tags/{PROTECTED}")),
        lambda p: {p.digest: (SIDE_TAG,), p.dev: ("dev",), p.untagged: ()},
    ),
    "rest-image": Delete(
        lambda p: rest_answer(p.api.delete(image_path(p.registry, IMAGE))), lambda p: {}
    ),
    "rest-images": Delete(
        lambda p: rest_answer(
            p.api.request("DELETE", f"/registries/{p.registry}/images", json={"names": [IMAGE]})
        ),
        lambda p: {},
    ),
    "rest-registry-force": Delete(
        lambda p: rest_answer(p.api.delete(f"/registries/{p.registry}", params={"force": "1"})),
        lambda p: None,
    ),
}


@pytest.mark.parametrize("way", list(DELETES))
def test_deleting_a_protected_tag_or_its_artifact_is_refused_until_disabled(
    protected: Protected, way: str
) -> None:
    p, delete = protected, DELETES[way]
    before = p.state()
    tried = delete.attempt(p)
    assert tried.refused, f"{way} was not refused: {tried}"
    p.names_policy(tried.message)
    assert p.state() == before, "a refused delete changed nothing"
    expect_manifest(p.http, p.repository, PROTECTED, p.digest)

    p.set_enabled(False)
    tried = delete.attempt(p)
    assert tried.done, f"{way} failed with the policy disabled: {tried}"
    assert p.state() == delete.after(p)


# --- listings ------------------------------------------------------------------------------


def test_listings_say_what_is_protected(protected: Protected) -> None:
    p = protected
    artifacts = listed_artifacts(p.api, p.registry, IMAGE)
    assert {d: a["protected"] for d, a in artifacts.items()} == {
        p.digest: True,
        p.dev: False,
        p.untagged: False,
    }
    tags = ok(p.api.get(f"{image_path(p.registry, IMAGE)}/tags", params={"page_size": 100}))
    assert {t["name"]: t["protected"] for t in tags["items"]} == {
        PROTECTED: True,
        SIDE_TAG: False,
        "dev": False,
    }
    of_artifact = ok(p.api.get(f"{p.artifacts_path}/{p.digest}/tags"))
    assert {t["name"]: t["protected"] for t in of_artifact["items"]} == {
        PROTECTED: True,
        SIDE_TAG: False,
    }
    detail = ok(p.api.get(f"{p.artifacts_path}/{PROTECTED}"))
    assert (detail["digest"], detail["protected"]) == (p.digest, True)

    p.set_enabled(False)
    artifacts = listed_artifacts(p.api, p.registry, IMAGE)
    assert not any(a["protected"] for a in artifacts.values())


def test_untagged_artifacts_are_never_protected(protected: Protected) -> None:
    p = protected
    body = {"image": selector("**"), "tag": selector("**")}  # every tag there is
    ok(p.api.post(f"/registries/{p.registry}/protection-policies", json=body), 201)
    artifacts = listed_artifacts(p.api, p.registry, IMAGE)
    assert {d: a["protected"] for d, a in artifacts.items()} == {
        p.digest: True,
        p.dev: True,
        p.untagged: False,
    }
    expect_status(p.oci.delete_manifest(p.untagged), 202)
    expect_manifest_gone(p.http, p.repository, p.untagged)
    assert p.state() == {p.digest: (SIDE_TAG, PROTECTED), p.dev: ("dev",)}
