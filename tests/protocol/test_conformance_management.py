"""Conformance workflow 4, Content Management (conformance/04_management_test.go), check for
check and in order: deleting tags, manifests and blobs.

The steps share one repository and run in the order written. Spec: "Workflow Categories /
Content Management" ("Deleting tags", "Deleting Manifests", "Deleting Blobs").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.protocol.conftest import (
    TEST_TAG,
    ConformanceData,
    OciClient,
    describe,
    errors,
    expect_error,
    expect_status,
    populate_blob,
    populate_manifest,
    random_blob,
    tag_list,
)


@dataclass
class ManagementState:
    """The suite's shared variables: tagToDelete, numTags, blobDeleteAllowed."""

    tag_to_delete: str = ""
    num_tags: int = 0
    blob_delete_allowed: bool = True


@pytest.fixture(scope="module")
def state() -> ManagementState:
    return ManagementState()


# --- Setup ---------------------------------------------------------------------------------


def test_setup_populate_registry_with_test_config_blob(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Setup: configs[3]. Spec: "POST then PUT"."""
    populate_blob(workflow, suite.configs[3])


def test_setup_populate_registry_with_test_layer(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Setup: the layer. Spec: "POST then PUT"."""
    populate_blob(workflow, suite.layer)


def test_setup_populate_registry_with_test_tag(
    workflow: OciClient, suite: ConformanceData, state: ManagementState
) -> None:
    """Setup: manifests[3] as `tagtest0`. Spec: "Pushing Manifests"."""
    state.tag_to_delete = TEST_TAG
    populate_manifest(workflow, TEST_TAG, suite.manifests[3])


def test_setup_check_how_many_tags_there_are_before_anything_gets_deleted(
    workflow: OciClient, state: ManagementState
) -> None:
    """Setup: the tag list answers 200 with a JSON tag list. Spec: "Listing Tags"."""
    resp = expect_status(workflow.list_tags(), 200)
    state.num_tags = len(resp.json().get("tags") or [])  # the body must be JSON; null is empty


# --- Manifest delete -----------------------------------------------------------------------


def test_delete_request_to_manifest_tag_should_return_202_unless_tag_deletion_is_disallowed(
    workflow: OciClient, state: ManagementState
) -> None:
    """DELETE of a tag: 202, or 400 (UNSUPPORTED) / 405 where tag deletion is disabled.

    Spec: "Deleting tags" (end-9).
    """
    resp = expect_status(workflow.delete_manifest(state.tag_to_delete), 400, 202, 405)
    if resp.status_code == 400:
        assert errors(resp)[0].code == "UNSUPPORTED", describe(resp)


def test_delete_request_to_manifest_digest_should_yield_202_unless_already_deleted(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Deleting Manifests" — 202 (404 if the tag delete already removed it) (end-9)."""
    expect_status(workflow.delete_manifest(suite.manifests[3].digest), 202, 404)


def test_get_request_to_deleted_manifest_url_should_yield_404_unless_delete_is_disallowed(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Deleting Manifests" — once deleted, GET by digest: 404."""
    expect_status(workflow.get_manifest(suite.manifests[3].digest), 404, 200)


def test_get_request_to_tags_list_should_reflect_manifest_deletion(
    workflow: OciClient, state: ManagementState
) -> None:
    """Spec: "Deleting Manifests" — the tags pointing at it are gone too (end-8a)."""
    resp = expect_status(workflow.list_tags(), 200)
    assert len(resp.json().get("tags") or []) < state.num_tags, describe(resp)


# --- Blob delete ---------------------------------------------------------------------------


def test_delete_request_to_blob_url_should_yield_202(
    workflow: OciClient, suite: ConformanceData, state: ManagementState
) -> None:
    """DELETE the config and the layer blob: 202, 404 or 405 each. Spec: "Deleting Blobs"."""
    expect_status(workflow.delete_blob(suite.configs[3].digest), 202, 404, 405)
    resp = expect_status(workflow.delete_blob(suite.layer.digest), 202, 404, 405)
    if resp.status_code == 405:
        state.blob_delete_allowed = False


def test_get_request_to_deleted_blob_url_should_yield_404(
    workflow: OciClient, suite: ConformanceData, state: ManagementState
) -> None:
    """Spec: "Deleting Blobs" — once deleted, the blob is not found (end-2)."""
    if not state.blob_delete_allowed:
        pytest.skip("blob deletion is disabled (405)")
    expect_status(workflow.get_blob(suite.configs[3].digest), 404)


# --- Beyond the suite: what the suite leaves optional, required of moorage -----------------


def test_extra_tag_delete_removes_only_the_tag(oci: OciClient) -> None:
    """Spec: "Deleting tags" — 202; GET of the tag then 404; the manifest and its other tags
    stay."""
    manifest = oci.push_image("keep")
    oci.push_manifest("drop", manifest)
    expect_status(oci.delete_manifest("drop"), 202)
    expect_error(oci.get_manifest("drop"), 404, "MANIFEST_UNKNOWN")
    expect_status(oci.get_manifest("keep"), 200)
    expect_status(oci.get_manifest(manifest.digest), 200)
    assert tag_list(oci.list_tags()) == ["keep"]


def test_extra_manifest_delete_removes_it_and_every_tag_on_it(oci: OciClient) -> None:
    """Spec: "Deleting Manifests" — 202; GET by digest and of every tag on it then 404."""
    manifest = oci.push_image("one")
    oci.push_manifest("two", manifest)
    other = oci.push_image("other")
    expect_status(oci.delete_manifest(manifest.digest), 202)
    for reference in (manifest.digest, "one", "two"):
        expect_error(oci.get_manifest(reference), 404, "MANIFEST_UNKNOWN")
        expect_status(oci.head_manifest(reference), 404)
    assert tag_list(oci.list_tags()) == ["other"]
    expect_status(oci.get_manifest(other.digest), 200)
    expect_error(oci.delete_manifest(manifest.digest), 404, "MANIFEST_UNKNOWN")


def test_extra_deleted_manifest_can_be_pushed_again(oci: OciClient) -> None:
    """A manifest deleted while its blobs stay can be pushed again (201) and pulled."""
    manifest = oci.push_image("again")
    expect_status(oci.delete_manifest(manifest.digest), 202)
    oci.push_manifest("again", manifest)
    resp = expect_status(oci.get_manifest("again"), 200)
    assert resp.content == manifest.content, describe(resp)


def test_extra_blob_delete_then_404_everywhere_in_the_repository(oci: OciClient) -> None:
    """Spec: "Deleting Blobs" — 202; then GET/HEAD 404 BLOB_UNKNOWN; deleting again: 404."""
    blob = oci.push_blob(random_blob(128))
    expect_status(oci.delete_blob(blob.digest), 202)
    expect_error(oci.get_blob(blob.digest), 404, "BLOB_UNKNOWN")
    expect_status(oci.head_blob(blob.digest), 404)
    expect_error(oci.delete_blob(blob.digest), 404, "BLOB_UNKNOWN")


def test_extra_blob_delete_is_per_repository(
    oci: OciClient, new_repository: Callable[[str], str]
) -> None:
    """A blob stored once for the deployment but pushed to two repositories stays readable in
    the second after it is deleted from the first."""
    blob = random_blob(96)
    other = oci.for_repository(new_repository("sibling"))
    oci.push_blob(blob)
    other.push_blob(blob)
    expect_status(oci.delete_blob(blob.digest), 202)
    expect_status(oci.get_blob(blob.digest), 404)
    resp = expect_status(other.get_blob(blob.digest), 200)
    assert resp.content == blob.content, describe(resp)
