"""Conformance workflow 1, Pull (conformance/01_pull_test.go), check for check and in order.

The steps share one repository and run in the order written, as the suite's specs do.
Spec: "Workflow Categories / Pull" (end-2, end-3) of the OCI Distribution Spec v1.1.
"""

from __future__ import annotations

import pytest

from tests.protocol.conftest import (
    INVALID_MANIFEST,
    NONEXISTENT_MANIFEST,
    OCI_MANIFEST,
    SUITE_ERROR_CODES,
    TEST_TAG,
    ConformanceData,
    OciClient,
    describe,
    errors,
    expect_2xx_or,
    expect_error,
    expect_status,
    populate_blob,
    populate_manifest,
)

# --- Setup ---------------------------------------------------------------------------------


def test_setup_populate_registry_with_test_blob_config0(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Setup: Populate registry with test blob (configs[0]).

    Spec: "POST then PUT" (end-4a, end-6).
    """
    populate_blob(workflow, suite.configs[0])


def test_setup_populate_registry_with_test_blob_config1(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Setup: Populate registry with test blob (configs[1]). Spec: "POST then PUT"."""
    populate_blob(workflow, suite.configs[1])


def test_setup_populate_registry_with_test_layer(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Setup: Populate registry with test layer. Spec: "POST then PUT"."""
    populate_blob(workflow, suite.layer)


def test_setup_populate_registry_with_test_manifest_by_tag(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Setup: Populate registry with test manifest (manifests[0] as tag `tagtest0`).

    Spec: "Pushing Manifests" (end-7).
    """
    populate_manifest(workflow, TEST_TAG, suite.manifests[0])


def test_setup_populate_registry_with_test_manifest_by_digest(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Setup: Populate registry with test manifest (manifests[1] by digest). Spec: end-7."""
    populate_manifest(workflow, suite.manifests[1].digest, suite.manifests[1])


# --- Pull blobs ----------------------------------------------------------------------------


def test_head_request_to_nonexistent_blob_should_result_in_404(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Checking if content exists in the registry" — absent blob: 404 (end-2)."""
    expect_status(workflow.head_blob(suite.dummy_digest), 404)


def test_head_request_to_existing_blob_should_yield_200(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Checking if content exists in the registry": 200, Docker-Content-Digest if set."""
    resp = expect_status(workflow.head_blob(suite.configs[0].digest), 200)
    if digest := resp.headers.get("Docker-Content-Digest"):
        assert digest == suite.configs[0].digest, describe(resp)


def test_get_nonexistent_blob_should_result_in_404(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Pulling blobs" — a blob not in the repository: 404 (end-2)."""
    expect_status(workflow.get_blob(suite.dummy_digest), 404)


def test_get_request_to_existing_blob_url_should_yield_200(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Pulling blobs" — an existing blob: 200 (end-2)."""
    expect_status(workflow.get_blob(suite.configs[0].digest), 200)


# --- Pull manifests ------------------------------------------------------------------------


def test_head_request_to_nonexistent_manifest_should_return_404(workflow: OciClient) -> None:
    """Spec: "Checking if content exists in the registry" — absent manifest: 404 (end-3)."""
    expect_status(workflow.head_manifest(NONEXISTENT_MANIFEST), 404)


@pytest.mark.parametrize("index", [0, 1], ids=["manifest0", "manifest1"])
def test_head_request_to_manifest_path_digest_should_yield_200(
    workflow: OciClient, suite: ConformanceData, index: int
) -> None:
    """HEAD request to manifest[i] path (digest) should yield 200 response.

    Spec: "Checking if content exists in the registry" (end-3).
    """
    digest = suite.manifests[index].digest
    resp = expect_status(workflow.head_manifest(digest), 200)
    if header := resp.headers.get("Docker-Content-Digest"):
        assert header == digest, describe(resp)


def test_head_request_to_manifest_path_tag_should_yield_200(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Checking if content exists in the registry" — by tag (end-3)."""
    resp = expect_status(workflow.head_manifest(TEST_TAG), 200)
    if header := resp.headers.get("Docker-Content-Digest"):
        assert header == suite.manifests[0].digest, describe(resp)


def test_get_nonexistent_manifest_should_return_404(workflow: OciClient) -> None:
    """Spec: "Pulling manifests" — not found in the repository: 404 (end-3)."""
    expect_status(workflow.get_manifest(NONEXISTENT_MANIFEST), 404)


@pytest.mark.parametrize("index", [0, 1], ids=["manifest0", "manifest1"])
def test_get_request_to_manifest_path_digest_should_yield_200(
    workflow: OciClient, suite: ConformanceData, index: int
) -> None:
    """GET request to manifest[i] path (digest) should yield 200 response. Spec: "Pulling
    manifests" (end-3)."""
    expect_status(workflow.get_manifest(suite.manifests[index].digest), 200)


def test_get_request_to_manifest_path_tag_should_yield_200(workflow: OciClient) -> None:
    """Spec: "Pulling manifests" — by tag (end-3)."""
    expect_status(workflow.get_manifest(TEST_TAG), 200)


# --- Error codes ---------------------------------------------------------------------------


def test_400_response_body_should_contain_oci_conforming_json_message(
    workflow: OciClient,
) -> None:
    """GET of the reference `sha256:totallywrong`: 400 with a listed code, or 404.

    Spec: "Error Codes".
    """
    resp = workflow.send(
        "GET",
        workflow.path("manifests/sha256:totallywrong"),
        headers={"Content-Type": OCI_MANIFEST},
        content=INVALID_MANIFEST,
    )
    expect_status(resp, 400, 404)
    if resp.status_code == 400:
        assert errors(resp)[0].code in SUITE_ERROR_CODES, describe(resp)


# --- Beyond the suite: what the suite leaves optional, required of moorage -----------------


def test_blob_get_returns_the_bytes_with_digest_and_length(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Pulling blobs" — the expected blob; Docker-Content-Digest matches the body;
    "Checking if content exists": HEAD gives Content-Length."""
    blob = suite.configs[0]
    resp = expect_status(workflow.get_blob(blob.digest), 200)
    assert resp.content == blob.content, describe(resp)
    assert resp.headers.get("Docker-Content-Digest") == blob.digest, describe(resp)
    head = expect_status(workflow.head_blob(blob.digest), 200)
    assert head.headers.get("Content-Length") == blob.length, describe(head)
    assert head.headers.get("Docker-Content-Digest") == blob.digest, describe(head)


def test_blob_get_with_range_returns_206_and_the_part(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Pulling blobs" — a registry SHOULD support `Range` (RFC 9110)."""
    blob = suite.layer
    resp = expect_status(workflow.get_blob(blob.digest, headers={"Range": "bytes=10-19"}), 206)
    assert resp.content == blob.content[10:20], describe(resp)
    assert resp.headers.get("Content-Range") == f"bytes 10-19/{blob.size}", describe(resp)


def test_manifest_get_returns_exact_bytes_type_and_digest(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Pushing Manifests" — stored in the exact byte representation; "Pulling manifests" —
    Content-Type is the pushed type, Docker-Content-Digest the manifest's digest."""
    manifest = suite.manifests[0]
    for reference in (TEST_TAG, manifest.digest):
        resp = expect_status(workflow.get_manifest(reference), 200)
        assert resp.content == manifest.content, describe(resp)
        assert resp.headers.get("Content-Type") == OCI_MANIFEST, describe(resp)
        assert resp.headers.get("Docker-Content-Digest") == manifest.digest, describe(resp)
        head = expect_status(workflow.head_manifest(reference), 200)
        assert head.headers.get("Content-Length") == manifest.length, describe(head)
        assert head.headers.get("Docker-Content-Digest") == manifest.digest, describe(head)


def test_not_found_bodies_name_blob_and_manifest_unknown(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Error Codes" — BLOB_UNKNOWN (code-1) and MANIFEST_UNKNOWN (code-7) on GET 404s."""
    expect_error(workflow.get_blob(suite.dummy_digest), 404, "BLOB_UNKNOWN")
    expect_error(workflow.get_manifest("no-such-tag"), 404, "MANIFEST_UNKNOWN")
    expect_error(workflow.get_manifest(suite.dummy_digest), 404, "MANIFEST_UNKNOWN")


# --- Teardown (the suite's default: manifests before blobs) --------------------------------


@pytest.mark.parametrize("index", [0, 1], ids=["manifest0", "manifest1"])
def test_teardown_delete_manifest_created_in_setup(
    workflow: OciClient, suite: ConformanceData, index: int
) -> None:
    """Teardown: Delete manifest[i] created in setup: 2xx or 405. Spec: "Deleting Manifests"."""
    expect_2xx_or(workflow.delete_manifest(suite.manifests[index].digest), 405)


@pytest.mark.parametrize("which", ["config0", "config1", "layer"])
def test_teardown_delete_blob_created_in_setup(
    workflow: OciClient, suite: ConformanceData, which: str
) -> None:
    """Teardown: Delete config[0], config[1] and layer blobs: 2xx, 404 or 405.

    Spec: "Deleting Blobs" (end-10).
    """
    blob = {"config0": suite.configs[0], "config1": suite.configs[1], "layer": suite.layer}[which]
    expect_2xx_or(workflow.delete_blob(blob.digest), 404, 405)
