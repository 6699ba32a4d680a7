"""A cleanup run's record says what happened to an artifact's index children and referrers:
they share its verdict (deleted with it in a real run, listed as such in a test run)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import UploadService
from moorage.domain.policies.cleanup import latest_pushed
from moorage.domain.policies.runs import CleanupRunService
from moorage.domain.policies.selectors import Selector, TagSelector
from moorage.domain.policies.service import CleanupSpec, PolicyService
from moorage.storage.memory import MemoryBlobStore
from tests.fakes.memory import migrated_memory_uow
from tests.unit.domain.test_services import (
    Env,
    FixedClock,
    image_manifest,
    index_manifest,
    push_blob,
    pushed_image,
    put,
    sha256,
)

SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"


@pytest.fixture
def env() -> Env:
    uow = migrated_memory_uow()
    clock, blobs = FixedClock(), MemoryBlobStore()
    registries = RegistryService(uow, clock)
    registries.create("reg")
    uploads = UploadService(uow, blobs, clock)
    return Env(uow, blobs, clock, ArtifactService(uow, clock), uploads, registries)


@pytest.mark.anyio
@pytest.mark.parametrize("dry_run", [True, False])
async def test_children_and_referrers_are_recorded_with_their_artifact(
    env: Env, dry_run: bool
) -> None:
    child = await pushed_image(env, "platform")
    put(env, sha256(child), child)
    index = index_manifest(child)
    put(env, "old", index)
    await push_blob(env, b"{}")
    signature = image_manifest(b"{}", subject=index, artifact_type=SIGNATURE)
    put(env, sha256(signature), signature)
    env.clock.advance(timedelta(minutes=1))
    newer = await pushed_image(env, "newer")
    put(env, "new", newer)
    keep_newest = CleanupSpec(Selector("**", True), TagSelector("**", True, True), latest_pushed(1))
    PolicyService(env.uow, env.clock).add_cleanup("reg", keep_newest)
    runs = CleanupRunService(env.uow, env.artifacts, env.clock)
    run = runs.start("reg", dry_run=dry_run, enqueue=False)
    runs.run(run.id)

    (task,) = runs.detail("reg", run.id).tasks
    lines = {line["digest"]: line for line in task.lines}
    assert set(lines) == {sha256(index), sha256(newer)}
    assert lines[sha256(index)]["verdict"] == "deleted"
    assert lines[sha256(index)]["dependents"] == [
        {"digest": sha256(child), "kind": "child"},
        {"digest": sha256(signature), "kind": "referrer"},
    ]
    assert lines[sha256(newer)]["dependents"] == []
    with env.uow() as store:
        image = store.images.get_image("reg", "app")
        assert image is not None
        gone = {sha256(b) for b in (child, index, signature)}
        present = store.artifacts.artifact_digests_present(image.id, sorted(gone))
    assert present == (gone if dry_run else set())
