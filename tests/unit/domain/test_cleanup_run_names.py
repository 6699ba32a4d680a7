"""A cleanup run's lines name the policies behind each verdict by what they select, as they
were when the run judged: policy ids are global, so clients show these words instead."""

from __future__ import annotations

from datetime import timedelta

import pytest

from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import UploadService
from moorage.domain.policies.cleanup import latest_pushed
from moorage.domain.policies.runs import CleanupRunService
from moorage.domain.policies.selectors import Selector, TagSelector
from moorage.domain.policies.service import CleanupSpec, PolicyService, ProtectionSpec
from moorage.storage.memory import MemoryBlobStore
from tests.fakes.memory import migrated_memory_uow
from tests.unit.domain.test_services import Env, FixedClock, pushed_image, put, sha256


@pytest.fixture
def env() -> Env:
    uow = migrated_memory_uow()
    clock, blobs = FixedClock(), MemoryBlobStore()
    registries = RegistryService(uow, clock)
    registries.create("reg")
    uploads = UploadService(uow, blobs, clock)
    return Env(uow, blobs, clock, ArtifactService(uow, clock), uploads, registries)


@pytest.mark.anyio
async def test_lines_describe_the_keeping_and_protecting_policies(env: Env) -> None:
    oldest = await pushed_image(env, "oldest")
    put(env, "v1", oldest)
    env.clock.advance(timedelta(minutes=1))
    middle = await pushed_image(env, "middle")
    put(env, "dev", middle)
    env.clock.advance(timedelta(minutes=1))
    newest = await pushed_image(env, "newest")
    put(env, "v2", newest)
    policies = PolicyService(env.uow, env.clock)
    policies.add_protection("reg", ProtectionSpec(Selector("app", True), Selector("v1", True)))
    keep = CleanupSpec(Selector("**", True), TagSelector("**", True, False), latest_pushed(1))
    policies.add_cleanup("reg", keep)
    runs = CleanupRunService(env.uow, env.artifacts, env.clock)
    run = runs.start("reg", dry_run=True, enqueue=False)
    runs.run(run.id)

    (task,) = runs.detail("reg", run.id).tasks
    lines = {line["digest"]: line for line in task.lines}
    kept, doomed, shielded = lines[sha256(newest)], lines[sha256(middle)], lines[sha256(oldest)]
    assert kept["verdict"] == "kept"
    assert kept["kept_by_policies"] == [
        "images '**', tags '**', tagged only: keep the 1 most recently pushed"
    ]
    assert kept["protected_by_policy"] is None
    assert (doomed["verdict"], doomed["kept_by_policies"]) == ("deleted", [])
    assert shielded["verdict"] == "kept_protected"
    assert shielded["protected_by_policy"] == "images 'app', tags 'v1'"
    assert isinstance(shielded["protected_by"], int)
