"""Stored bytes stay true: a registry's usage equals a from-scratch recount after any sequence
of pushes, mounts, tag and artifact deletes, image deletes, cleanup runs and GC runs.

Hypothesis drives the real services over each metadata backend (SQLite, PostgreSQL and the
fakes) with an in-memory blob store. The recount reads only manifests: for each registry, the
distinct blobs its artifacts' manifests name, summed by the sizes the manifests give. After
every GC run, every blob a manifest names must still be stored, and nothing unreferenced is
left once the grace window has passed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.content.browse import BrowseService
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import UploadService
from moorage.domain.gc.service import GcService
from moorage.domain.kernel.errors import DomainError
from moorage.domain.kernel.model import ArtifactSummary, PageRequest
from moorage.domain.policies import cleanup
from moorage.domain.policies.runs import CleanupRunService
from moorage.domain.policies.selectors import Selector, TagSelector
from moorage.domain.policies.service import CleanupSpec, PolicyService
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from moorage.storage.memory import MemoryBlobStore
from tests.contract.backends import Database
from tests.unit.domain.test_services import FixedClock, image_manifest

T = TypeVar("T")
REGISTRIES = ("north", "south")
IMAGES = ("app", "db")
TAGS = ("v1", "v2", "latest")
LAYERS = tuple(f"layer {n}".encode() * (n + 1) for n in range(6))  # sizes differ
GRACE = 60.0
EVERYTHING = PageRequest(page=1, page_size=100)


async def _chunks(data: bytes) -> Any:
    yield data


class Deployment:
    """The services, built over one database, on a clock the machine moves."""

    def __init__(self, db: Database, portal: BlockingPortal, prefix: str) -> None:
        self.portal = portal
        self.clock = FixedClock()
        self.blobs = MemoryBlobStore(self.clock)
        uow = db.uow
        self.registries = RegistryService(uow, self.clock)
        self.browse = BrowseService(uow)
        self.artifacts = ArtifactService(uow, self.clock)
        self.uploads = UploadService(uow, self.blobs, self.clock)
        self.policies = PolicyService(uow)
        self.cleanup = CleanupRunService(uow, self.artifacts, self.clock)
        self.gc = GcService(
            uow, self.blobs, self.uploads, self.clock, grace_seconds=GRACE, orphan_settle_seconds=0
        )
        self.names = {r: f"{prefix}{r}" for r in REGISTRIES}
        for name in self.names.values():
            self.registries.create(name)

    def wait(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.portal.call(fn, *args)

    def repository(self, registry: str, image: str) -> str:
        return f"{self.names[registry]}/{image}"

    def push_blob(self, repository: str, data: bytes) -> None:
        started = self.wait(self.uploads.start, repository)
        self.wait(self.uploads.finish, repository, started.id, str(Digest.of(data)), _chunks(data))

    def stored_bytes(self, registry: str) -> int:
        return self.registries.get(self.names[registry]).stored_bytes

    def manifests(self, registry: str) -> Iterator[dict[str, Any]]:
        name = self.names[registry]
        for image in self.registries_images(name):
            repository = f"{name}/{image}"
            page = self.artifacts_page(repository)
            for summary in page:
                fetched = self.artifacts.get_manifest(repository, summary.digest, with_body=True)
                assert fetched.body is not None
                yield json.loads(fetched.body)

    def registries_images(self, name: str) -> list[str]:
        return [i.name for i in self.browse.images(name, EVERYTHING).items]

    def artifacts_page(self, repository: str) -> list[ArtifactSummary]:
        return list(self.browse.artifacts(repository, EVERYTHING).items)

    def recount(self, registry: str) -> tuple[int, set[str]]:
        """Bytes of the distinct blobs the registry's manifests name, and those digests."""
        sizes: dict[str, int] = {}
        for manifest in self.manifests(registry):
            for descriptor in [manifest["config"], *manifest["layers"]]:
                sizes[descriptor["digest"]] = descriptor["size"]
        return sum(sizes.values()), set(sizes)


class UsageMachine(RuleBasedStateMachine):
    deployment: Deployment  # set before each run by the test

    @rule(
        registry=st.sampled_from(REGISTRIES),
        image=st.sampled_from(IMAGES),
        tag=st.sampled_from(TAGS),
        layers=st.sets(st.integers(0, len(LAYERS) - 1), min_size=1, max_size=3),
        config=st.integers(0, 3),
    )
    def push(self, registry: str, image: str, tag: str, layers: set[int], config: int) -> None:
        d = self.deployment
        repository = d.repository(registry, image)
        config_body = json.dumps({"config": config}).encode()
        chosen = [LAYERS[n] for n in sorted(layers)]
        for blob in (config_body, *chosen):
            d.push_blob(repository, blob)
        body = image_manifest(config_body, *chosen)
        d.artifacts.put_manifest(repository, tag, mt.OCI_MANIFEST, body)

    @rule(
        source=st.sampled_from(REGISTRIES),
        destination=st.sampled_from(REGISTRIES),
        image=st.sampled_from(IMAGES),
        layer=st.integers(0, len(LAYERS) - 1),
        tag=st.sampled_from(TAGS),
    )
    def mount_and_push(
        self, source: str, destination: str, image: str, layer: int, tag: str
    ) -> None:
        """Mount a layer from another repository, then push a manifest that uses it."""
        d = self.deployment
        digest = str(Digest.of(LAYERS[layer]))
        from_repo = d.repository(source, image)
        to_repo = d.repository(destination, "mounted")
        if d.wait(d.uploads.mount, to_repo, digest, from_repo) is None:
            return  # not linked there (yet), or being collected: a client would upload
        config = json.dumps({"mounted": layer}).encode()
        d.push_blob(to_repo, config)
        body = image_manifest(config, LAYERS[layer])
        # refused when the mounted blob was collected in between: nothing is recorded
        with contextlib.suppress(DomainError):
            d.artifacts.put_manifest(to_repo, tag, mt.OCI_MANIFEST, body)

    @rule(
        registry=st.sampled_from(REGISTRIES),
        image=st.sampled_from(IMAGES),
        tag=st.sampled_from(TAGS),
    )
    def delete_tag(self, registry: str, image: str, tag: str) -> None:
        d = self.deployment
        with contextlib.suppress(DomainError):  # no such tag or image
            d.artifacts.delete_manifest(d.repository(registry, image), tag)

    @rule(
        registry=st.sampled_from(REGISTRIES),
        image=st.sampled_from((*IMAGES, "mounted")),
        pick=st.integers(0, 5),
    )
    def delete_artifact(self, registry: str, image: str, pick: int) -> None:
        d = self.deployment
        repository = d.repository(registry, image)
        try:
            found = d.artifacts_page(repository)
        except DomainError:
            return
        if found:
            d.artifacts.delete_artifacts(repository, [found[pick % len(found)].digest], None)

    @rule(registry=st.sampled_from(REGISTRIES), image=st.sampled_from(IMAGES))
    def delete_image(self, registry: str, image: str) -> None:
        d = self.deployment
        with contextlib.suppress(DomainError):  # no such image
            d.artifacts.delete_images(d.names[registry], [image], None)

    @rule(registry=st.sampled_from(REGISTRIES), keep=st.integers(0, 2))
    def cleanup_run(self, registry: str, keep: int) -> None:
        """Keep the `keep` latest pushes of every image (untagged included), delete the rest."""
        d = self.deployment
        name = d.names[registry]
        for policy in d.policies.cleanup_policies(name):
            d.policies.delete_cleanup(name, policy.id)
        rule_ = cleanup.latest_pushed(keep) if keep else cleanup.always()
        spec = CleanupSpec(Selector("**", True), TagSelector("**", True, untagged=True), rule_)
        d.policies.add_cleanup(name, spec)
        execution = d.cleanup.start(name, dry_run=False, enqueue=False)
        d.cleanup.run(execution.id)

    @rule(later=st.booleans(), delete_untagged=st.booleans())
    def gc_run(self, later: bool, delete_untagged: bool) -> None:
        d = self.deployment
        if later:
            d.clock.advance(timedelta(seconds=GRACE + 1))
        started = d.gc.start_run(delete_untagged=delete_untagged, enqueue=False)
        d.wait(d.gc.run, started.id)
        for registry in REGISTRIES:  # nothing a manifest names was collected
            for digest in d.recount(registry)[1]:
                key = d.blobs.key_for(Digest.parse(digest))
                assert d.wait(d.blobs.stat, key) is not None, f"{digest} was collected"

    @invariant()
    def stored_bytes_equal_a_recount(self) -> None:
        d = self.deployment
        for registry in REGISTRIES:
            assert d.stored_bytes(registry) == d.recount(registry)[0], registry

    def teardown(self) -> None:
        """Once nothing is pushed and the grace window passed twice, nothing unreferenced
        is left, in the metadata or in the store."""
        d = self.deployment
        for _ in range(2):
            d.clock.advance(timedelta(seconds=GRACE + 1))
            d.wait(d.gc.run, d.gc.start_run(enqueue=False).id)
        assert d.gc.storage_totals().unreferenced_blobs == 0


@contextmanager
def deployments(db: Database) -> Iterator[Callable[[], Deployment]]:
    counter = iter(range(1_000_000))
    with start_blocking_portal() as portal:
        yield lambda: Deployment(db, portal, f"m{next(counter)}")


@pytest.mark.parametrize("examples", [25])
def test_usage_equals_a_recount_after_any_sequence(db: Database, examples: int) -> None:
    with deployments(db) as new_deployment:

        class Machine(UsageMachine):
            def __init__(self) -> None:
                super().__init__()
                self.deployment = new_deployment()

        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
