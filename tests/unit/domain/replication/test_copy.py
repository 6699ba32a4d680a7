"""The copy engine over registries in memory: order of writes, skips, override, failures."""

from __future__ import annotations

import pytest

from moorage.domain.replication.copy import BlobPlaces, CopyResult, copy_artifact
from moorage.domain.replication.endpoints import EndpointError
from tests.fakes.endpoints import (
    MemoryEndpoint,
    blob_digests,
    image,
    index_of,
    referrer,
)

pytestmark = pytest.mark.anyio


async def _copy(
    source: MemoryEndpoint,
    destination: MemoryEndpoint,
    reference: str,
    *,
    override: bool = True,
    repo: str = "app",
    places: BlobPlaces | None = None,
) -> tuple[CopyResult, list[str]]:
    lines: list[str] = []
    result = await copy_artifact(
        source,
        destination,
        "app",
        repo,
        reference,
        override=override,
        log=lines.append,
        places=places,
    )
    return result, lines


async def test_an_index_goes_children_first_referrers_after_their_subject_and_the_tag_last() -> (
    None
):
    source, destination = MemoryEndpoint(), MemoryEndpoint()
    index, children = index_of(source, "app", "v1")
    signature = referrer(source, "app", index, "signed the index")
    child_sbom = referrer(source, "app", children[1], "an SBOM of arm64")

    result, _ = await _copy(source, destination, "v1")

    assert (result.status, result.digest) == ("copied", index.digest)
    writes = destination.writes
    position = {(kind, ref): i for i, (kind, _, ref) in enumerate(writes)}
    for child in children:
        child_at = position[("manifest", child.digest)]
        for blob in blob_digests(child):
            assert position[("blob", blob)] < child_at
        assert child_at < position[("manifest", index.digest)]
    assert position[("manifest", index.digest)] < position[("manifest", signature.digest)]
    assert position[("manifest", children[1].digest)] < position[("manifest", child_sbom.digest)]
    assert writes[-1] == ("manifest", "app", "v1")
    assert destination.repos["app"].tags == {"v1": index.digest}
    # The layer both platforms share was sent once; what was sent is counted.
    sent_blobs = [ref for kind, _, ref in writes if kind == "blob"]
    assert len(sent_blobs) == len(set(sent_blobs))
    manifests_sent = sum(
        len(destination.repos["app"].manifests[ref].body)
        for kind, _, ref in writes
        if kind == "manifest" and ":" in ref
    ) + len(index.body)
    assert result.bytes_sent == manifests_sent + sum(len(source.data[d]) for d in sent_blobs)


async def test_an_identical_artifact_is_skipped_and_only_new_referrers_are_sent() -> None:
    source, destination = MemoryEndpoint(), MemoryEndpoint()
    pushed = image(source, "app", "amd64", tag="v1")
    await _copy(source, destination, "v1")
    destination.writes.clear()

    result, lines = await _copy(source, destination, "v1")
    assert (result.status, result.bytes_sent, destination.writes) == ("skipped", 0, [])
    assert any("already" in line for line in lines)

    signature = referrer(source, "app", pushed, "signed later")
    result, _ = await _copy(source, destination, "v1")
    assert result.status == "skipped"
    assert ("manifest", "app", signature.digest) in destination.writes
    assert not any(ref == "v1" for _, _, ref in destination.writes)


async def test_override_off_keeps_a_tag_that_points_elsewhere() -> None:
    source, destination = MemoryEndpoint(), MemoryEndpoint()
    image(source, "app", "amd64", tag="v1")
    other = image(destination, "app", "arm64", tag="v1")

    result, lines = await _copy(source, destination, "v1", override=False)
    assert (result.status, result.bytes_sent) == ("kept", 0)
    assert destination.repos["app"].tags["v1"] == other.digest
    assert destination.writes == []
    assert any("kept" in line for line in lines)

    result, _ = await _copy(source, destination, "v1", override=True)
    assert result.status == "copied"
    assert destination.repos["app"].tags["v1"] == result.digest


async def test_a_failing_blob_leaves_no_tag_and_a_retry_finishes() -> None:
    source, destination = MemoryEndpoint(), MemoryEndpoint()
    index, children = index_of(source, "app", "v1")
    doomed = blob_digests(children[1])[-1]
    destination.failing_blobs.add(doomed)

    with pytest.raises(EndpointError):
        await _copy(source, destination, "v1")
    assert destination.repos["app"].tags == {}
    assert index.digest not in destination.repos["app"].manifests

    destination.failing_blobs.clear()
    before = set(destination.repos["app"].blobs)
    destination.writes.clear()
    result, _ = await _copy(source, destination, "v1")
    assert result.status == "copied"
    resent = {ref for kind, _, ref in destination.writes if kind == "blob"}
    assert not resent & before  # what the destination held was not sent again
    assert destination.repos["app"].tags == {"v1": index.digest}


async def test_blobs_written_earlier_in_the_run_are_mounted_in_another_repository() -> None:
    source, destination = MemoryEndpoint(), MemoryEndpoint()
    pushed = image(source, "app", "amd64", tag="v1")
    places = BlobPlaces()
    first, _ = await _copy(source, destination, "v1", places=places)
    destination.writes.clear()

    second, lines = await _copy(source, destination, "v1", repo="mirror", places=places)
    assert second.status == "copied"
    kinds = [kind for kind, _, _ in destination.writes]
    assert kinds == ["mount"] * len(blob_digests(pushed)) + ["manifest"]
    assert second.bytes_sent == len(pushed.body) < first.bytes_sent
    assert any("mounted from app" in line for line in lines)


async def test_an_untagged_artifact_is_copied_by_digest() -> None:
    source, destination = MemoryEndpoint(), MemoryEndpoint()
    pushed = image(source, "app", "amd64")
    result, _ = await _copy(source, destination, pushed.digest)
    assert result.status == "copied"
    assert destination.repos["app"].manifests[pushed.digest] == pushed
    assert destination.repos["app"].tags == {}


async def test_an_artifact_gone_from_the_source_is_an_endpoint_error() -> None:
    with pytest.raises(EndpointError, match="not at the source"):
        await _copy(MemoryEndpoint(), MemoryEndpoint(), "v1")
