"""Conformance workflow 3, Content Discovery (conformance/03_discovery_test.go), check for check
and in order: tag listing and the referrers API.

The steps share one repository and run in the order written. Spec: "Workflow Categories /
Content Discovery" ("Listing Tags", "Listing Referrers") and "Pushing Manifests with Subject".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.protocol.conftest import (
    ANNOTATION_KEY,
    EMPTY_JSON_DIGEST,
    OCI_INDEX,
    OCI_MANIFEST,
    REF_TYPE_A,
    REF_TYPE_B,
    REF_TYPE_INDEX,
    TEST_TAG,
    Blob,
    ConformanceData,
    OciClient,
    describe,
    expect_2xx,
    expect_2xx_or,
    expect_status,
    populate_blob,
    populate_manifest,
    tag_list,
)

NUM_TAGS = 4
LINK_NEXT = re.compile(r'^<([^>]+)>\s*;\s*rel="?next"?$')


@dataclass
class DiscoveryState:
    """The suite's shared variables: numTags and tagList."""

    num_tags: int = NUM_TAGS
    tags: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def state() -> DiscoveryState:
    return DiscoveryState()


def index_manifests(resp: httpx.Response) -> list[dict[str, Any]]:
    """The referrers response: 200, an image index Content-Type, its `manifests`."""
    expect_status(resp, 200)
    assert resp.headers.get("Content-Type") == OCI_INDEX, describe(resp)
    body = resp.json()
    manifests = body.get("manifests")
    assert isinstance(manifests, list), describe(resp)
    return manifests


def assert_suite_annotations(
    manifests: list[dict[str, Any]], suite: ConformanceData, resp: httpx.Response
) -> None:
    """Each descriptor carries the referrer's one annotation (the suite's loop)."""
    for entry in manifests:
        annotations = entry.get("annotations") or {}
        assert len(annotations) == 1, describe(resp)
        assert annotations.get(ANNOTATION_KEY) == suite.annotations.get(entry["digest"]), describe(
            resp
        )


def push_referrer(client: OciClient, manifest: Blob, subject: Blob, media_type: str) -> None:
    resp = expect_2xx(client.put_manifest(manifest.digest, manifest, media_type))
    assert resp.headers.get("OCI-Subject") == subject.digest, describe(resp)


# --- Setup ---------------------------------------------------------------------------------


def test_setup_populate_registry_with_test_blob(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Setup: configs[2]. Spec: "POST then PUT"."""
    populate_blob(workflow, suite.configs[2])


def test_setup_populate_registry_with_test_layer(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Setup: the layer. Spec: "POST then PUT"."""
    populate_blob(workflow, suite.layer)


def test_setup_populate_registry_with_test_tags(
    workflow: OciClient, suite: ConformanceData, state: DiscoveryState
) -> None:
    """Setup: manifests[2] as test0..test3, then the tag list. Spec: "Pushing Manifests"."""
    for i in range(NUM_TAGS):
        populate_manifest(workflow, f"test{i}", suite.manifests[2])
    state.tags = tag_list(workflow.list_tags())


def test_setup_references(workflow: OciClient, suite: ConformanceData) -> None:
    """References setup: referrers pushed before and after their subject, each answered with
    `OCI-Subject: <subject digest>`; one referrer's subject is never pushed.

    Spec: "Push" — a manifest whose subject does not exist MUST be accepted; "Pushing Manifests
    with Subject" — OCI-Subject.
    """
    assert suite.empty_json.digest == EMPTY_JSON_DIGEST
    populate_blob(workflow, suite.empty_json)
    populate_blob(workflow, suite.ref_blob_a)  # before the image manifest is pushed
    subject = suite.manifests[4]
    push_referrer(workflow, suite.refs_a_config, subject, OCI_MANIFEST)
    push_referrer(workflow, suite.refs_a_layer, subject, OCI_MANIFEST)
    push_referrer(workflow, suite.refs_index, subject, OCI_INDEX)
    populate_blob(workflow, suite.configs[4])
    populate_blob(workflow, suite.layer)
    populate_manifest(workflow, TEST_TAG, subject)
    populate_blob(workflow, suite.ref_blob_b)  # after the image manifest is pushed
    push_referrer(workflow, suite.refs_b_config, subject, OCI_MANIFEST)
    push_referrer(workflow, suite.refs_b_layer, subject, OCI_MANIFEST)
    push_referrer(workflow, suite.refs_c_layer, suite.manifests[3], OCI_MANIFEST)


# --- Test content discovery endpoints (listing tags) ---------------------------------------


def test_get_request_to_list_tags_should_yield_200(
    workflow: OciClient, state: DiscoveryState
) -> None:
    """Spec: "Listing Tags" — 200 (end-8a)."""
    resp = expect_status(workflow.list_tags(), 200)
    state.tags = tag_list(resp)
    state.num_tags = len(state.tags)


def test_get_number_of_tags_should_be_limitable_by_n_query_parameter(
    workflow: OciClient, state: DiscoveryState
) -> None:
    """Spec: "Listing Tags" — `n` (end-8b)."""
    results = state.num_tags // 2
    resp = expect_status(workflow.list_tags(n=results), 200)
    state.tags = tag_list(resp)
    assert len(state.tags) == results, describe(resp)


def test_get_start_of_tag_is_set_by_last_query_parameter(
    workflow: OciClient, state: DiscoveryState
) -> None:
    """Spec: "Listing Tags" — `n` and `last` (end-8b)."""
    results = state.num_tags // 2
    first = workflow.list_tags(n=results)
    state.tags = tag_list(first)
    assert len(state.tags) >= results, describe(first)
    resp = expect_status(workflow.list_tags(n=results, last=state.tags[results - 1]), 200)
    assert len(state.tags) <= results, describe(resp)
    assert state.tags[results - 1] in state.tags


# --- Test content discovery endpoints (listing references) ---------------------------------


def test_get_request_to_nonexistent_blob_should_result_in_empty_200_response(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Referrers of an unknown digest: 200, an empty index. Spec: "Listing Referrers" (end-12a)."""
    assert index_manifests(workflow.referrers(suite.dummy_digest)) == []


def test_get_request_to_existing_blob_should_yield_200(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Referrers of manifests[4]: the five referrers with their annotations.

    Spec: "Listing Referrers" — descriptors include annotations (end-12a).
    """
    resp = workflow.referrers(suite.manifests[4].digest)
    manifests = index_manifests(resp)
    assert len(manifests) == 5, describe(resp)
    assert manifests[0]["digest"] != manifests[1]["digest"], describe(resp)
    assert_suite_annotations(manifests, suite, resp)


def test_get_request_to_existing_blob_with_filter_should_yield_200(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Referrers filtered by artifactType: two with `OCI-Filters-Applied: artifactType`, or the
    five unfiltered (the suite warns; required below). Spec: "Listing Referrers" (end-12b)."""
    resp = workflow.referrers(suite.manifests[4].digest, REF_TYPE_A)
    manifests = index_manifests(resp)
    if resp.headers.get("OCI-Filters-Applied"):
        assert len(manifests) == 2, describe(resp)
        assert resp.headers["OCI-Filters-Applied"] == "artifactType", describe(resp)
    else:
        assert len(manifests) == 5, describe(resp)
    assert_suite_annotations(manifests, suite, resp)


def test_get_request_to_missing_manifest_should_yield_200(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Referrers of a subject never pushed: the one referrer (refsManifestCLayerArtifact).

    Spec: "Listing Referrers"; "Push" — referrers may come before their subject.
    """
    resp = workflow.referrers(suite.manifests[3].digest)
    manifests = index_manifests(resp)
    assert len(manifests) == 1, describe(resp)
    assert manifests[0]["digest"] == suite.refs_c_layer.digest, describe(resp)


# --- Beyond the suite: what the suite leaves optional, required of moorage -----------------


def test_extra_tags_are_listed_in_lexical_order(workflow: OciClient) -> None:
    """Spec: "Listing Tags" — `{"name", "tags"}`, tags in lexical order."""
    resp = expect_status(workflow.list_tags(), 200)
    assert resp.json() == {
        "name": workflow.name,
        "tags": ["tagtest0", "test0", "test1", "test2", "test3"],
    }, describe(resp)


def test_extra_n_and_last_page_through_the_tags(workflow: OciClient) -> None:
    """Spec: "Listing Tags" — `n` results from the start; `last` is excluded and may be used
    without `n`; `n=0` is an empty list without a Link header."""
    assert tag_list(workflow.list_tags(n=2)) == ["tagtest0", "test0"]
    assert tag_list(workflow.list_tags(n=2, last="test0")) == ["test1", "test2"]
    assert tag_list(workflow.list_tags(last="test1")) == ["test2", "test3"]
    assert tag_list(workflow.list_tags(n=10, last="test3")) == []
    zero = expect_status(workflow.list_tags(n=0), 200)
    assert tag_list(zero) == [], describe(zero)
    assert "Link" not in zero.headers, describe(zero)


def test_extra_link_header_leads_to_the_next_page(workflow: OciClient) -> None:
    """Spec: "Listing Tags" — a page of `n` with more tags after it carries
    `Link: <...>; rel="next"` (RFC 5988); following the links lists every tag once."""
    seen: list[str] = []
    resp = expect_status(workflow.list_tags(n=2), 200)
    for _ in range(5):
        seen += tag_list(resp)
        link = resp.headers.get("Link")
        if len(seen) < 5:
            assert link, "no Link header while tags remain: " + describe(resp)
        if not link:
            break
        match = LINK_NEXT.match(link.strip())
        assert match, f"malformed Link header {link!r}"
        resp = expect_status(workflow.send("GET", match.group(1)), 200)
    assert seen == ["tagtest0", "test0", "test1", "test2", "test3"]


def test_extra_referrer_descriptors_carry_artifact_type_and_identity(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Listing Referrers" — descriptors of image manifests or indexes with `artifactType`
    (the manifest's, else its config's media type) and the manifest's own digest and size."""
    manifests = index_manifests(workflow.referrers(suite.manifests[4].digest))
    got = {m["digest"]: (m["mediaType"], m["size"], m.get("artifactType")) for m in manifests}
    expected = {
        suite.refs_a_config.digest: (OCI_MANIFEST, suite.refs_a_config.size, REF_TYPE_A),
        suite.refs_a_layer.digest: (OCI_MANIFEST, suite.refs_a_layer.size, REF_TYPE_A),
        suite.refs_b_config.digest: (OCI_MANIFEST, suite.refs_b_config.size, REF_TYPE_B),
        suite.refs_b_layer.digest: (OCI_MANIFEST, suite.refs_b_layer.size, REF_TYPE_B),
        suite.refs_index.digest: (OCI_INDEX, suite.refs_index.size, REF_TYPE_INDEX),
    }
    assert got == expected


@pytest.mark.parametrize(
    ("artifact_type", "expected"),
    [
        (REF_TYPE_A, ["refs_a_config", "refs_a_layer"]),
        (REF_TYPE_B, ["refs_b_config", "refs_b_layer"]),
        (REF_TYPE_INDEX, ["refs_index"]),
        ("application/vnd.example.nothing", []),
    ],
    ids=["type-a", "type-b", "index-type", "no-match"],
)
def test_extra_artifact_type_filter_is_applied(
    workflow: OciClient, suite: ConformanceData, artifact_type: str, expected: list[str]
) -> None:
    """Spec: "Listing Referrers" — the filter is applied and said so with
    `OCI-Filters-Applied: artifactType` (end-12b)."""
    resp = workflow.referrers(suite.manifests[4].digest, artifact_type)
    manifests = index_manifests(resp)
    assert resp.headers.get("OCI-Filters-Applied") == "artifactType", describe(resp)
    wanted = sorted(getattr(suite, name).digest for name in expected)
    assert sorted(m["digest"] for m in manifests) == wanted, describe(resp)


def test_extra_referrers_body_is_an_image_index(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Listing Referrers" — the body is an image index (schemaVersion 2, its mediaType)."""
    resp = workflow.referrers(suite.manifests[4].digest)
    index_manifests(resp)
    body = resp.json()
    assert body.get("schemaVersion") == 2, describe(resp)
    assert body.get("mediaType") == OCI_INDEX, describe(resp)


def test_extra_referrers_stay_in_their_repository(
    workflow: OciClient, new_repository: Callable[[str], str], suite: ConformanceData
) -> None:
    """Spec: "Listing Referrers" — descriptors of manifests in the same `<name>` only."""
    other = workflow.for_repository(new_repository("other"))
    other.push_blob(b"x")  # the repository exists
    assert index_manifests(other.referrers(suite.manifests[4].digest)) == []


def test_extra_deleted_referrer_leaves_the_list(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Deleting Manifests" / "Listing Referrers" — a deleted referrer is no longer listed."""
    expect_status(workflow.delete_manifest(suite.refs_b_layer.digest), 202)
    manifests = index_manifests(workflow.referrers(suite.manifests[4].digest))
    digests = {m["digest"] for m in manifests}
    assert suite.refs_b_layer.digest not in digests
    assert len(digests) == 4


# --- Teardown (the suite's default: manifests before blobs) --------------------------------


def test_teardown_delete_created_manifest_and_associated_tags(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Teardown: each reference: 2xx, 404 or 405. Spec: "Deleting Manifests" (end-9)."""
    references = [
        suite.refs_index.digest,
        suite.manifests[2].digest,
        suite.manifests[4].digest,
        suite.refs_a_config.digest,
        suite.refs_a_layer.digest,
        TEST_TAG,
        suite.refs_b_config.digest,
        suite.refs_b_layer.digest,
        suite.refs_c_layer.digest,
    ]
    for reference in references:
        expect_2xx_or(workflow.delete_manifest(reference), 405, 404)


def test_teardown_delete_config_blob_created_in_tests(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Teardown: configs[2]: 2xx or 405 (not 404). Spec: "Deleting Blobs" (end-10)."""
    expect_2xx_or(workflow.delete_blob(suite.configs[2].digest), 405)


def test_teardown_delete_layer_blob_created_in_setup(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Teardown: the layer: 2xx or 405 (not 404). Spec: "Deleting Blobs" (end-10)."""
    expect_2xx_or(workflow.delete_blob(suite.layer.digest), 405)


def test_teardown_references(workflow: OciClient, suite: ConformanceData) -> None:
    """References teardown: manifests again, then the blobs: 2xx, 404 or 405 each.

    Spec: "Deleting Manifests", "Deleting Blobs".
    """
    for manifest in (
        suite.refs_index,
        suite.refs_a_config,
        suite.refs_a_layer,
        suite.manifests[4],
        suite.refs_b_config,
        suite.refs_b_layer,
    ):
        expect_2xx_or(workflow.delete_manifest(manifest.digest), 405, 404)
    for blob in (suite.configs[4], suite.ref_blob_a, suite.ref_blob_b, suite.empty_json):
        expect_2xx_or(workflow.delete_blob(blob.digest), 405, 404)


def test_teardown_leaves_no_tag(workflow: OciClient) -> None:
    """After the teardown no tag is left (beyond the suite; an emptied repository may be gone)."""
    resp = workflow.list_tags()
    assert resp.status_code in (200, 404), describe(resp)
    assert tag_list(resp) == [], describe(resp)
