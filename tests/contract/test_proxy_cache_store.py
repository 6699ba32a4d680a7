"""Contract of proxy caches' store (`ProxyCacheStore`) on SQLite, PostgreSQL and the fakes:
upstreams with their sealed secret, tag state for revalidation, and the marks that go with
the artifacts and tags they mark."""

from __future__ import annotations

from typing import Any

import pytest

from moorage.domain.kernel.errors import AlreadyExists
from moorage.domain.ports import UnitOfWorkFactory
from tests.contract.backends import Database
from tests.contract.test_metadata import (
    T0,
    T1,
    T2,
    create_registry,
    digest,
    manifest,
    new_image,
    push,
)

SECRET = bytes(range(256))
SOURCE = "https://mirror.example.com/library/app"


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


def values(**changes: Any) -> dict[str, Any]:
    return {
        "url": "https://mirror.example.com",
        "namespace": "library",
        "username": "robot",
        "secret": SECRET,
        "verify_tls": True,
        "revalidate_seconds": None,
        **changes,
    }


def test_an_upstream_is_listed_by_registry_without_its_secret(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as tx:
        cache = create_registry(tx, "cache", T0)
        other = create_registry(tx, "another", T0)
        create_registry(tx, "plain", T0)
        tx.proxy_cache.add_upstream(cache.id, values(), T0)
        tx.proxy_cache.add_upstream(other.id, values(secret=None, revalidate_seconds=60), T1)
    with uow() as tx:
        found = tx.proxy_cache.list_upstreams()
        assert [u.registry for u in found] == ["another", "cache"]
        assert found[1].url == "https://mirror.example.com"
        assert found[1].namespace == "library"
        assert found[1].username == "robot"
        assert found[1].has_password is True
        assert found[1].verify_tls is True
        assert found[1].revalidate_seconds is None
        assert found[1].created_at == T0
        assert found[0].has_password is False
        assert found[0].revalidate_seconds == 60
        assert tx.proxy_cache.upstream_secret(cache.id) == SECRET
        assert tx.proxy_cache.upstream_secret(other.id) is None


def test_a_registry_has_one_upstream(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as tx:
        cache = create_registry(tx, "cache", T0)
        tx.proxy_cache.add_upstream(cache.id, values(), T0)
        with pytest.raises(AlreadyExists):
            tx.proxy_cache.add_upstream(cache.id, values(), T0)


def test_tag_state_tells_the_digest_and_the_last_revalidation(uow: UnitOfWorkFactory) -> None:
    first, second = manifest("first"), manifest("second")
    with uow(write=True) as tx:
        image = new_image(tx, "cache", "library/app")
        push(tx, image, first, "1.0")
        push(tx, image, second, "2.0")
        assert tx.proxy_cache.tag_state("cache", "library/app", "1.0") is not None
        tx.proxy_cache.mark(image.id, first.digest, SOURCE, "1.0", T1)
    with uow() as tx:
        state = tx.proxy_cache.tag_state("cache", "library/app", "1.0")
        assert state is not None
        assert (state.image_id, state.digest, state.revalidated_at) == (image.id, first.digest, T1)
        unmarked = tx.proxy_cache.tag_state("cache", "library/app", "2.0")
        assert unmarked is not None
        assert (unmarked.digest, unmarked.revalidated_at) == (second.digest, None)
        assert tx.proxy_cache.tag_state("cache", "library/app", "3.0") is None
        assert tx.proxy_cache.tag_state("cache", "library/other", "1.0") is None
        assert tx.proxy_cache.tag_state("elsewhere", "library/app", "1.0") is None


def test_marks_are_renewed_and_keep_the_first_caching_time(uow: UnitOfWorkFactory) -> None:
    art = manifest("art")
    with uow(write=True) as tx:
        image = new_image(tx, "cache", "library/app")
        artifact_id = push(tx, image, art, "latest")
        untagged_id = push(tx, image, manifest("child"))
        tx.proxy_cache.mark(image.id, art.digest, SOURCE, "latest", T0)
        tx.proxy_cache.mark(image.id, manifest("child").digest, SOURCE, None, T0)
    with uow(write=True) as tx:
        tx.proxy_cache.mark(image.id, art.digest, SOURCE + "2", "latest", T2)
        tx.proxy_cache.mark(image.id, "sha256:" + "0" * 64, SOURCE, "latest", T2)  # absent
    with uow() as tx:
        marks = tx.proxy_cache.marks([artifact_id, untagged_id, artifact_id + 100])
        assert set(marks) == {artifact_id, untagged_id}
        assert marks[artifact_id].upstream == SOURCE + "2"
        assert (marks[artifact_id].cached_at, marks[artifact_id].revalidated_at) == (T0, T2)
        assert marks[untagged_id].revalidated_at == T0
        state = tx.proxy_cache.tag_state("cache", "library/app", "latest")
        assert state is not None
        assert state.revalidated_at == T2


def test_marks_go_with_what_they_mark(uow: UnitOfWorkFactory) -> None:
    art = manifest("art")
    with uow(write=True) as tx:
        image = new_image(tx, "cache", "library/app")
        artifact_id = push(tx, image, art, "latest")
        tx.proxy_cache.mark(image.id, art.digest, SOURCE, "latest", T0)
        tx.tags.delete_tag(image.id, "latest")
        tx.tags.put_tag(image.id, "latest", artifact_id, T1)
    with uow() as tx:
        state = tx.proxy_cache.tag_state("cache", "library/app", "latest")
        assert state is not None
        assert state.revalidated_at is None  # a new tag: never confirmed
    with uow(write=True) as tx:
        tx.artifacts.delete_artifact(artifact_id)
    with uow() as tx:
        assert tx.proxy_cache.marks([artifact_id]) == {}
    with uow(write=True) as tx:
        registry = tx.registries.get_registry("cache")
        assert registry is not None
        tx.proxy_cache.add_upstream(registry.id, values(), T0)
        tx.registries.delete_registry(registry.id)
    with uow() as tx:
        assert tx.proxy_cache.list_upstreams() == []


def test_a_blob_a_proxy_cache_never_fetched_is_not_missing(uow: UnitOfWorkFactory) -> None:
    fetched, quarantined = digest("fetched"), digest("quarantined")
    never = digest("never fetched")
    with uow(write=True) as tx:
        image = new_image(tx, "cache", "library/app")
        for blob in (fetched, quarantined):
            tx.blobs.add_blob(blob, 10, T0)
            tx.blobs.link_blob(image.id, blob, T0)
        tx.blobs.quarantine_blob(quarantined)
        cached = manifest("cached", blobs=(fetched, quarantined, never))
        push(tx, image, cached, "latest")
        tx.proxy_cache.mark(image.id, cached.digest, SOURCE, "latest", T0)
        pushed = manifest("pushed", blobs=(never,))
        push(tx, new_image(tx, "local", "app"), pushed, "v1")
    with uow() as tx:
        missing = {(m.repository, m.blob_digest) for m in tx.gc.missing_references(10)}
    assert missing == {("cache/library/app", quarantined), ("local/app", never)}
