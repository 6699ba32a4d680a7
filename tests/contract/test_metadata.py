"""One contract for the `Transaction`, run against SQLite, PostgreSQL and the in-memory fakes.

Every test gets a database of its own at head of the Alembic migrations (on PostgreSQL, a
copy of one database migrated per session). PostgreSQL databases have a default collation
that is not byte order and a time zone that is not UTC, so ordering and timestamps must
come from the store itself. The in-memory unit of work (`tests.fakes.memory`) starts as a
migrated database does: with the default project.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.exc import StatementError

from moorage.domain.content.ports import PullRecord
from moorage.domain.content.registries import DEFAULT_PROJECT
from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import (
    Artifact,
    ArtifactHead,
    Blob,
    Image,
    Member,
    NewArtifact,
    PageRequest,
    Registry,
    Role,
    UploadSession,
)
from moorage.domain.ports import Transaction, UnitOfWorkFactory
from moorage.metadata import tables as t
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from tests.contract.backends import Database, MemoryDatabase

V = TypeVar("V")
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
T2 = T0 + timedelta(minutes=10)
KST = timezone(timedelta(hours=9))
SIGNATURE = "application/vnd.example.signature"
SBOM = "application/vnd.example.sbom"


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


# --- builders ------------------------------------------------------------------------------


def digest(content: str) -> str:
    return str(Digest.of(content.encode()))


def manifest(
    name: str,
    *,
    blobs: tuple[str, ...] = (),
    children: tuple[str, ...] = (),
    subject: str | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> NewArtifact:
    """An artifact whose body is unique to `name` (the store does not parse bodies)."""
    body = json.dumps({"name": name, "blobs": blobs, "children": children}).encode()
    return NewArtifact(
        digest=str(Digest.of(body)),
        media_type=mt.OCI_INDEX if children else mt.OCI_MANIFEST,
        artifact_type=artifact_type,
        body=body,
        subject_digest=subject,
        annotations=annotations or {},
        blob_digests=blobs,
        child_digests=children,
        platforms=("linux/amd64",) if children else (),
    )


def create_registry(store: Transaction, name: str, now: datetime) -> Registry:
    """A registry in the project every migrated database starts with."""
    project = store.projects.get_project(DEFAULT_PROJECT)
    assert project is not None
    return store.registries.create_registry(name, project, now)


def present(value: V | None) -> V:
    assert value is not None
    return value


def new_image(store: Transaction, registry: str = "reg", name: str = "app") -> Image:
    found = store.registries.get_registry(registry) or create_registry(store, registry, T0)
    return store.images.ensure_image(found, name, T0)


def add_linked_blob(store: Transaction, image: Image, content: str, size: int) -> str:
    blob_digest = digest(content)
    store.blobs.add_blob(blob_digest, size, T0)
    store.blobs.link_blob(image.id, blob_digest, T0)
    return blob_digest


def push(store: Transaction, image: Image, artifact: NewArtifact, *tags: str) -> int:
    artifact_id = store.artifacts.insert_artifact(image.id, artifact, T0)
    for tag in tags:
        store.tags.put_tag(image.id, tag, artifact_id, T0)
    return artifact_id


def upload_session(image: Image, upload_id: str, at: datetime) -> UploadSession:
    return UploadSession(upload_id, image.id, 0, {"upload_id": upload_id, "size": 0}, at, at)


def row_count(db: Database, table: Table) -> int:
    if isinstance(db, MemoryDatabase):  # its rows mirror the tables one to one
        return len(db.uow.state.table(table.name))
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- registries ----------------------------------------------------------------------------


def test_create_and_get_registry(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        created = create_registry(store, "team", T0)
    assert (created.name, created.created_at, created.project) == ("team", T0, DEFAULT_PROJECT)
    with uow() as store:
        assert store.registries.get_registry("team") == created
        assert store.registries.get_registry("other") is None


def test_duplicate_registry_is_a_conflict_and_the_transaction_goes_on(
    uow: UnitOfWorkFactory,
) -> None:
    with uow(write=True) as store:
        create_registry(store, "team", T0)
        with pytest.raises(Conflict, match="team"):
            create_registry(store, "team", T1)
        create_registry(store, "other", T1)  # the failed insert did not spoil the transaction
    with uow() as store:
        assert {u.registry.name for u in store.registries.list_registries()} == {"team", "other"}
        registry = store.registries.get_registry("team")
        assert registry is not None
        assert registry.created_at == T0


def test_list_registries_counts_images_with_artifacts_and_distinct_blob_bytes(
    uow: UnitOfWorkFactory,
) -> None:
    with uow(write=True) as store:
        one = new_image(store, "alpha", "one")
        two = new_image(store, "alpha", "two")
        new_image(store, "alpha", "no-artifacts")  # created by an upload, never pushed to
        shared_one = add_linked_blob(store, one, "shared", 100)
        only_one = add_linked_blob(store, one, "only-one", 20)
        store.blobs.link_blob(two.id, shared_one, T0)  # the same blob in two images counts once
        only_two = add_linked_blob(store, two, "only-two", 3)
        push(store, one, manifest("one", blobs=(shared_one, only_one)), "v1")
        push(store, two, manifest("two", blobs=(shared_one, only_two)), "v1")
        gamma = new_image(store, "gamma", "app")  # another registry using the same blob
        store.blobs.link_blob(gamma.id, shared_one, T0)
        push(store, gamma, manifest("gamma", blobs=(shared_one,)))
        create_registry(store, "empty", T0)
    with uow() as store:
        usage = {
            u.registry.name: (u.image_count, u.stored_bytes)
            for u in store.registries.list_registries()
        }
        alpha = store.registries.get_registry("alpha")
        assert alpha is not None
        assert store.registries.registry_image_count(alpha.id) == 2
        assert [
            u.registry for u in store.registries.list_registries() if u.registry.name == "alpha"
        ] == [alpha]
    assert usage == {"alpha": (2, 123), "gamma": (1, 100), "empty": (0, 0)}


def test_delete_registry_removes_everything_in_it(db: Database) -> None:
    with db.uow(write=True) as store:
        image = new_image(store, "doomed", "app")
        layer = add_linked_blob(store, image, "layer", 10)
        child = manifest("child", blobs=(layer,))
        child_id = push(store, image, child, "child")
        push(store, image, manifest("index", children=(child.digest,)), "latest")
        push(store, image, manifest("sig", subject=child.digest, artifact_type=SIGNATURE))
        store.uploads.create_upload(upload_session(image, "u" * 32, T0))
        store.artifacts.record_pulls([PullRecord(child_id, "child", image.id, T1)])
        kept = new_image(store, "kept", "app")
        kept_layer = add_linked_blob(store, kept, "kept-layer", 5)
        push(store, kept, manifest("kept", blobs=(kept_layer,)), "v1")
        doomed = store.registries.get_registry("doomed")
        assert doomed is not None
    with db.uow(write=True) as store:
        store.registries.delete_registry(doomed.id)
    with db.uow() as store:
        assert store.registries.get_registry("doomed") is None
        assert store.images.get_image("doomed", "app") is None
        assert store.uploads.get_upload("u" * 32) is None
        assert store.artifacts.resolve_artifact("doomed", "app", "latest", by_digest=False) is None
        assert [u.registry.name for u in store.registries.list_registries()] == ["kept"]
        assert store.blobs.get_blob(layer) is not None  # bytes are garbage collection's business
        kept_image = store.images.get_image("kept", "app")
        assert kept_image is not None
        assert store.tags.list_tags(kept_image.id, None, None) == ["v1"]
        assert set(store.blobs.linked_sizes(kept_image.id, [kept_layer])) == {kept_layer}
    for table, left in [
        (t.image, 1),
        (t.artifact, 1),
        (t.tag, 1),
        (t.image_blob, 1),
        (t.artifact_blob, 1),
        (t.artifact_child, 0),
        (t.upload, 0),
    ]:
        assert row_count(db, table) == left, table.name


# --- images --------------------------------------------------------------------------------


def test_ensure_image_is_idempotent(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        registry = create_registry(store, "reg", T0)
        first = store.images.ensure_image(registry, "team/app", T0)
        again = store.images.ensure_image(registry, "team/app", T1)
    assert first == again
    assert first == Image(first.id, registry.id, "reg", "team/app", T0)
    assert first.repository == "reg/team/app"
    with uow(write=True) as store:
        assert store.images.ensure_image(registry, "team/app", T2) == first
        assert store.images.get_image("reg", "team/app") == first
        assert store.images.get_image("reg", "team") is None
        assert store.images.get_image("other", "team/app") is None


CATALOG = ["ab-c/x", "ab.c/x", "ab/x", "ab/x-y", "ab/x.y", "ab/x/y", "ab/x0", "ab/x_y", "ab_c/x"]


def test_catalog_is_in_byte_order_and_hides_images_without_artifacts(
    uow: UnitOfWorkFactory,
) -> None:
    with uow(write=True) as store:
        for repository in reversed(CATALOG):
            registry, name = repository.split("/", 1)
            image = new_image(store, registry, name)
            push(store, image, manifest(repository))
        new_image(store, "ab", "empty")
        emptied = new_image(store, "ab", "emptied")
        store.artifacts.delete_artifact(push(store, emptied, manifest("emptied"), "v1"))
    with uow() as store:
        assert store.images.catalog(None, 100, None) == CATALOG
        assert store.images.catalog(None, 3, None) == CATALOG[:3]
        assert store.images.catalog(CATALOG[2], 3, None) == CATALOG[3:6]
        assert store.images.catalog(CATALOG[-1], 3, None) == []
        assert store.images.catalog("ab/x-", 2, None) == [
            "ab/x-y",
            "ab/x.y",
        ]  # `last` need not exist
        assert store.images.catalog(None, 100, {"ab_c", "ab-c", "missing"}) == ["ab-c/x", "ab_c/x"]
        assert store.images.catalog("ab-c/x", 100, {"ab_c", "ab-c"}) == ["ab_c/x"]
        assert store.images.catalog(None, 100, set()) == []


def test_delete_image_if_empty(db: Database) -> None:
    with db.uow(write=True) as store:
        image = new_image(store)
        add_linked_blob(store, image, "layer", 1)
        store.uploads.create_upload(upload_session(image, "a" * 32, T0))
        artifact_id = push(store, image, manifest("m"), "v1")
        assert store.images.delete_image_if_empty(image.id) is False
        store.artifacts.delete_artifact(artifact_id)
        assert store.images.delete_image_if_empty(image.id) is True
        assert store.images.get_image("reg", "app") is None
        assert store.uploads.get_upload("a" * 32) is None
    assert row_count(db, t.image_blob) == 0


def test_lock_image_serialises_writers_of_an_image(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store)
    events: list[str] = []
    locked = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with uow(write=True) as store:
                store.images.lock_image(image.id)
                locked.set()
                time.sleep(0.3)
                events.append("first done")
        except BaseException as exc:
            errors.append(exc)
            locked.set()

    def second() -> None:
        try:
            locked.wait(5)
            with uow(write=True) as store:
                store.images.lock_image(image.id)
                events.append("second locked")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert events == ["first done", "second locked"]


# --- blobs ---------------------------------------------------------------------------------


def test_add_blob_is_idempotent(uow: UnitOfWorkFactory) -> None:
    layer = digest("layer")
    with uow(write=True) as store:
        store.blobs.add_blob(layer, 42, T0)
        store.blobs.add_blob(layer, 42, T1)
    with uow(write=True) as store:
        store.blobs.add_blob(layer, 42, T2)
        assert store.blobs.get_blob(layer) == Blob(layer, 42, T0)
        assert store.blobs.get_blob(digest("other")) is None


def test_a_quarantined_blob_is_not_served_until_verified_bytes_replace_it(
    uow: UnitOfWorkFactory,
) -> None:
    layer = digest("layer")
    with uow(write=True) as store:
        image = new_image(store)
        store.blobs.add_blob(layer, 42, T0)
        store.blobs.link_blob(image.id, layer, T0)
        assert store.blobs.quarantine_blob(layer) is True
        assert store.blobs.quarantine_blob(layer) is False  # already quarantined
    with uow(write=True) as store:
        assert store.blobs.get_blob(layer) is None
        assert store.blobs.get_linked_blob(image.id, layer) is None
        assert store.blobs.linked_sizes(image.id, [layer]) == {}
        store.blobs.add_blob(layer, 42, T1)  # a verified push of the same digest
    with uow() as store:
        assert store.blobs.get_linked_blob(image.id, layer) == Blob(layer, 42, T0)
        assert store.blobs.linked_sizes(image.id, [layer]) == {layer: 42}


def test_link_and_unlink_blobs(uow: UnitOfWorkFactory) -> None:
    layer, config, unknown = digest("layer"), digest("config"), digest("unknown")
    with uow(write=True) as store:
        image = new_image(store, "reg", "app")
        other = new_image(store, "reg", "other")
        store.blobs.add_blob(layer, 10, T0)
        store.blobs.add_blob(config, 2, T0)
        store.blobs.link_blob(image.id, layer, T0)
        store.blobs.link_blob(image.id, layer, T1)  # idempotent
        store.blobs.link_blob(image.id, config, T0)
    with uow(write=True) as store:
        store.blobs.link_blob(image.id, layer, T2)  # idempotent across transactions too
        assert store.blobs.get_linked_blob(image.id, layer) == Blob(layer, 10, T0)
        assert store.blobs.get_linked_blob(other.id, layer) is None
        linked = store.blobs.linked_sizes(image.id, [layer, config, unknown])
        assert linked == {layer: 10, config: 2}
        assert store.blobs.linked_sizes(other.id, [layer, config]) == {}
        assert store.blobs.linked_sizes(image.id, []) == {}
        assert store.blobs.unlink_blob(image.id, layer) is True
        assert store.blobs.unlink_blob(image.id, layer) is False
        assert store.blobs.unlink_blob(other.id, config) is False
    with uow() as store:
        assert store.blobs.get_linked_blob(image.id, layer) is None
        assert store.blobs.linked_sizes(image.id, [layer, config]) == {config: 2}
        assert store.blobs.get_blob(layer) == Blob(layer, 10, T0)  # unlinking keeps the blob


# --- uploads -------------------------------------------------------------------------------


def test_upload_lifecycle(uow: UnitOfWorkFactory) -> None:
    upload_id = "0123456789abcdef" * 2
    with uow(write=True) as store:
        image = new_image(store)
        session = upload_session(image, upload_id, T0)
        store.uploads.create_upload(session)
    with uow(write=True) as store:
        assert store.uploads.get_upload(upload_id) == session
        assert store.uploads.get_upload("f" * 32) is None
        state = {"upload_id": upload_id, "size": 7, "parts": [{"n": 1, "etag": "x"}]}
        assert store.uploads.claim_upload(upload_id, 0, "w1", T1, T0)
        assert store.uploads.release_upload(upload_id, "w1", 7, state, T1)
    with uow(write=True) as store:
        assert store.uploads.get_upload(upload_id) == UploadSession(
            upload_id, image.id, 7, state, T0, T1
        )
        assert store.uploads.delete_upload(upload_id)
        assert not store.uploads.delete_upload(upload_id)  # deleting a missing upload is no error
    with uow() as store:
        assert store.uploads.get_upload(upload_id) is None


def test_an_upload_has_one_writer_at_a_time(uow: UnitOfWorkFactory) -> None:
    upload_id = "0123456789abcdef" * 2
    lease = timedelta(minutes=2)
    with uow(write=True) as store:
        store.uploads.create_upload(upload_session(new_image(store), upload_id, T0))
    with uow(write=True) as store:
        assert store.uploads.claim_upload(upload_id, 0, "first", T1, T1 - lease)
        # A second writer is refused while the claim is held, whatever size it expects.
        assert not store.uploads.claim_upload(upload_id, 0, "second", T1, T1 - lease)
        assert store.uploads.get_upload(upload_id).writer == "first"  # type: ignore[union-attr]
        # Only the claimant renews or releases it.
        assert not store.uploads.renew_upload_claim(upload_id, "second", T1)
        assert not store.uploads.release_upload(upload_id, "second", 9, {"size": 9}, T1)
        assert store.uploads.renew_upload_claim(upload_id, "first", T1 + timedelta(minutes=1))
        assert store.uploads.release_upload(upload_id, "first", 4, {"size": 4}, T1)
    with uow(write=True) as store:
        # Released at size 4: a claim that expects another size is refused.
        assert not store.uploads.claim_upload(upload_id, 0, "second", T1, T1 - lease)
        assert store.uploads.claim_upload(upload_id, 4, "second", T1, T1 - lease)
        # A failed write releases without recording anything.
        assert store.uploads.release_upload(upload_id, "second", None, None, T1)
        session = store.uploads.get_upload(upload_id)
        assert session is not None
        assert (session.size, session.driver_state, session.writer) == (4, {"size": 4}, None)


def test_an_abandoned_claim_lapses_after_the_lease(uow: UnitOfWorkFactory) -> None:
    upload_id = "0123456789abcdef" * 2
    lease = timedelta(minutes=2)
    with uow(write=True) as store:
        store.uploads.create_upload(upload_session(new_image(store), upload_id, T0))
        assert store.uploads.claim_upload(upload_id, 0, "dead", T0, T0 - lease)
    later = T0 + lease + timedelta(seconds=1)
    with uow(write=True) as store:
        assert store.uploads.claim_upload(upload_id, 0, "alive", later, later - lease)
        # The dead writer can neither renew nor record anything any more.
        assert not store.uploads.renew_upload_claim(upload_id, "dead", later)
        assert not store.uploads.release_upload(upload_id, "dead", 10, {"size": 10}, later)
        assert not store.uploads.delete_upload(upload_id, "dead")
        assert store.uploads.delete_upload(upload_id, "alive")


def test_expired_uploads(uow: UnitOfWorkFactory) -> None:
    ids = [f"{n:032x}" for n in range(4)]
    with uow(write=True) as store:
        image = new_image(store)
        for n, upload_id in enumerate(ids):
            store.uploads.create_upload(upload_session(image, upload_id, T0 + timedelta(hours=n)))
        later_still = T0 + timedelta(hours=5)
        assert store.uploads.claim_upload(ids[0], 0, "w", later_still, T0)
        assert store.uploads.release_upload(
            ids[0], "w", 5, {"upload_id": ids[0], "size": 5}, later_still
        )
    with uow() as store:
        before = T0 + timedelta(hours=2)
        assert {s.id for s in store.uploads.expired_uploads(before, 10)} == {ids[1]}
        later = T0 + timedelta(hours=3, minutes=30)
        assert {s.id for s in store.uploads.expired_uploads(later, 10)} == {ids[1], ids[2], ids[3]}
        assert len(store.uploads.expired_uploads(later, 2)) == 2
        assert store.uploads.expired_uploads(T0, 10) == []  # `before` is exclusive
        assert {s.id for s in store.uploads.expired_uploads(before.astimezone(KST), 10)} == {ids[1]}


# --- artifacts and tags --------------------------------------------------------------------


def test_insert_and_read_an_artifact(uow: UnitOfWorkFactory) -> None:
    subject = digest("subject")
    with uow(write=True) as store:
        image = new_image(store)
        config = add_linked_blob(store, image, "config", 2)
        layer = add_linked_blob(store, image, "layer", 3)
        new = manifest(
            "m",
            blobs=(config, layer),
            subject=subject,
            artifact_type=SIGNATURE,
            annotations={"org.opencontainers.image.created": "2026-03-01T12:00:00Z"},
        )
        artifact_id = store.artifacts.insert_artifact(image.id, new, T0)
    with uow() as store:
        artifact = store.artifacts.get_artifact(image.id, new.digest)
        assert artifact is not None
        assert artifact.id == artifact_id
        assert artifact.image_id == image.id
        assert artifact.digest == new.digest
        assert artifact.media_type == mt.OCI_MANIFEST
        assert artifact.artifact_type == SIGNATURE
        assert artifact.size == len(new.body)
        assert artifact.subject_digest == subject
        assert artifact.annotations == new.annotations
        assert (artifact.pushed_at, artifact.pulled_at, artifact.created_at) == (T0, None, T0)
        assert store.artifacts.manifest_body(artifact_id) == new.body
        assert isinstance(store.artifacts.manifest_body(artifact_id), bytes)
        assert store.artifacts.get_artifact(image.id, digest("nothing")) is None


def test_duplicate_artifact_is_a_conflict_within_an_image(uow: UnitOfWorkFactory) -> None:
    artifact = manifest("m")
    with uow(write=True) as store:
        image = new_image(store, "reg", "app")
        other = new_image(store, "reg", "other")
        first = store.artifacts.insert_artifact(image.id, artifact, T0)
        with pytest.raises(Conflict, match=artifact.digest):
            store.artifacts.insert_artifact(image.id, artifact, T1)
        second = store.artifacts.insert_artifact(
            other.id, artifact, T1
        )  # same content, other image
    assert first != second
    with uow() as store:
        found = store.artifacts.get_artifact(image.id, artifact.digest)
        assert found is not None
        assert found.id == first


def test_resolve_artifact_by_tag_and_by_digest(uow: UnitOfWorkFactory) -> None:
    artifact = manifest("m")
    with uow(write=True) as store:
        image = new_image(store, "reg", "app")
        other = new_image(store, "reg", "other")
        artifact_id = push(store, image, artifact, "v1")
        push(store, other, manifest("elsewhere"), "v2")
    head = ArtifactHead(artifact_id, artifact.digest, mt.OCI_MANIFEST, len(artifact.body))
    with uow() as store:
        assert store.artifacts.resolve_artifact("reg", "app", "v1", by_digest=False) == (
            image.id,
            head,
        )
        assert store.artifacts.resolve_artifact("reg", "app", artifact.digest, by_digest=True) == (
            image.id,
            head,
        )
        assert store.artifacts.resolve_artifact("reg", "app", "v2", by_digest=False) is None
        assert (
            store.artifacts.resolve_artifact("reg", "other", artifact.digest, by_digest=True)
            is None
        )
        assert (
            store.artifacts.resolve_artifact("reg", "app", artifact.digest, by_digest=False) is None
        )
        assert store.artifacts.resolve_artifact("nope", "app", "v1", by_digest=False) is None
        assert store.artifacts.resolve_artifact("reg", "nope", "v1", by_digest=False) is None


def test_artifact_digests_present_and_touch_push(uow: UnitOfWorkFactory) -> None:
    one, two = manifest("one"), manifest("two")
    with uow(write=True) as store:
        image = new_image(store, "reg", "app")
        other = new_image(store, "reg", "other")
        one_id = push(store, image, one)
        push(store, other, two)
        assert store.artifacts.artifact_digests_present(image.id, [one.digest, two.digest]) == {
            one.digest
        }
        assert store.artifacts.artifact_digests_present(image.id, []) == set()
        store.artifacts.touch_artifact_push(one_id, T2)
    with uow() as store:
        touched = store.artifacts.get_artifact(image.id, one.digest)
        assert touched is not None
        assert (touched.pushed_at, touched.created_at) == (T2, T0)


def test_put_tag_creates_and_moves_a_tag(uow: UnitOfWorkFactory) -> None:
    one, two = manifest("one"), manifest("two")
    with uow(write=True) as store:
        image = new_image(store)
        one_id = push(store, image, one)
        two_id = push(store, image, two)
        store.tags.put_tag(image.id, "latest", one_id, T0)
        tag = store.tags.get_tag(image.id, "latest")
        assert tag is not None
        assert (tag.name, tag.artifact_id, tag.digest, tag.pushed_at, tag.pulled_at) == (
            "latest",
            one_id,
            one.digest,
            T0,
            None,
        )
    with uow(write=True) as store:
        store.tags.put_tag(image.id, "latest", two_id, T1)
    with uow() as store:
        moved = store.tags.get_tag(image.id, "latest")
        assert moved is not None
        assert (moved.artifact_id, moved.digest, moved.pushed_at) == (two_id, two.digest, T1)
        assert store.tags.list_tags(image.id, None, None) == ["latest"]
        assert store.tags.get_tag(image.id, "Latest") is None
        assert (
            store.artifacts.get_artifact(image.id, one.digest) is not None
        )  # untagged, not deleted


def test_delete_tag_keeps_the_artifact(uow: UnitOfWorkFactory) -> None:
    artifact = manifest("m")
    with uow(write=True) as store:
        image = new_image(store)
        artifact_id = push(store, image, artifact, "v1", "v2")
        assert store.tags.delete_tag(image.id, "v1") is True
        assert store.tags.delete_tag(image.id, "v1") is False
        assert store.tags.delete_tag(image.id, "never") is False
    with uow() as store:
        assert store.tags.get_tag(image.id, "v1") is None
        assert store.tags.list_tags(image.id, None, None) == ["v2"]
        found = store.artifacts.get_artifact(image.id, artifact.digest)
        assert found is not None
        assert found.id == artifact_id


def test_delete_artifact_removes_its_tags_and_references(db: Database) -> None:
    with db.uow(write=True) as store:
        image = new_image(store)
        layer = add_linked_blob(store, image, "layer", 1)
        child = manifest("child", blobs=(layer,))
        push(store, image, child, "child")
        index = manifest("index", children=(child.digest,))
        index_id = push(store, image, index, "latest", "stable")
        kept_id = push(store, image, manifest("kept"), "kept")
    with db.uow(write=True) as store:
        store.artifacts.delete_artifact(index_id)
    with db.uow() as store:
        assert store.artifacts.get_artifact(image.id, index.digest) is None
        assert store.tags.get_tag(image.id, "latest") is None
        assert store.tags.list_tags(image.id, None, None) == ["child", "kept"]
        assert store.artifacts.artifact_parents(image.id, child.digest) == []
        kept = store.tags.get_tag(image.id, "kept")
        assert kept is not None
        assert kept.artifact_id == kept_id
        assert set(store.blobs.linked_sizes(image.id, [layer])) == {layer}  # the image's links
    assert row_count(db, t.artifact_child) == 0
    assert row_count(db, t.artifact_blob) == 1


def test_artifact_parents(uow: UnitOfWorkFactory) -> None:
    child, lonely = manifest("child"), manifest("lonely")
    with uow(write=True) as store:
        image = new_image(store, "reg", "app")
        other = new_image(store, "reg", "other")
        push(store, image, child)
        push(store, image, lonely)
        first = manifest("first", children=(child.digest,))
        second = manifest("second", children=(child.digest, child.digest))  # listed twice
        push(store, image, first)
        push(store, image, second)
        push(store, other, manifest("elsewhere", children=(child.digest,)))
    with uow() as store:
        assert sorted(store.artifacts.artifact_parents(image.id, child.digest)) == sorted(
            [first.digest, second.digest]
        )
        assert store.artifacts.artifact_parents(image.id, lonely.digest) == []


def test_artifact_pages_list_an_index_but_not_its_children(uow: UnitOfWorkFactory) -> None:
    amd, arm, single = manifest("amd"), manifest("arm"), manifest("single")
    index = manifest("index", children=(amd.digest, arm.digest))
    with uow(write=True) as store:
        image = new_image(store, "reg", "app")
        other = new_image(store, "reg", "other")
        for artifact in (amd, arm, single):
            push(store, image, artifact)
        push(store, image, index, "multi")
        push(store, other, amd)  # not a child in the other image: listed there
    with uow() as store:
        page = store.artifacts.list_artifacts(image.id, PageRequest(page_size=10))
        assert sorted(a.digest for a in page.items) == sorted([index.digest, single.digest])
        assert page.total == 2
        assert [
            a.digest for a in store.artifacts.list_artifacts(other.id, PageRequest()).items
        ] == [amd.digest]


def test_referrers_with_and_without_an_artifact_type(uow: UnitOfWorkFactory) -> None:
    subject = manifest("subject")
    signature = manifest(
        "sig", subject=subject.digest, artifact_type=SIGNATURE, annotations={"k": "v"}
    )
    sbom = manifest("sbom", subject=subject.digest, artifact_type=SBOM)
    untyped = manifest("untyped", subject=subject.digest)
    with uow(write=True) as store:
        image = new_image(store, "reg", "app")
        other = new_image(store, "reg", "other")
        push(store, image, subject)
        for referrer in (signature, sbom, untyped, manifest("unrelated", artifact_type=SBOM)):
            push(store, image, referrer)
        push(store, other, manifest("elsewhere", subject=subject.digest, artifact_type=SBOM))
    with uow() as store:
        found = {r.digest: r for r in store.artifacts.referrers(image.id, subject.digest, None)}
        assert set(found) == {signature.digest, sbom.digest, untyped.digest}
        sig = found[signature.digest]
        assert (sig.media_type, sig.size, sig.artifact_type, sig.annotations) == (
            mt.OCI_MANIFEST,
            len(signature.body),
            SIGNATURE,
            {"k": "v"},
        )
        assert found[untyped.digest].artifact_type is None
        assert [r.digest for r in store.artifacts.referrers(image.id, subject.digest, SBOM)] == [
            sbom.digest
        ]
        assert store.artifacts.referrers(image.id, subject.digest, "application/none") == []
        assert store.artifacts.referrers(image.id, digest("no such subject"), None) == []


TAGS = ["1", "A", "B", "Z", "_x", "a", "b", "v1-0", "v1.0", "v1.0-rc", "v10", "v1A", "v1_0"]


def test_list_tags_is_in_byte_order_with_last_and_limit(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store, "reg", "app")
        other = new_image(store, "reg", "other")
        artifact_id = push(store, image, manifest("m"))
        for tag in reversed(TAGS):
            store.tags.put_tag(image.id, tag, artifact_id, T0)
        push(store, other, manifest("o"), "elsewhere")
    assert sorted(TAGS) == TAGS
    with uow() as store:
        assert store.tags.list_tags(image.id, None, None) == TAGS
        assert store.tags.list_tags(image.id, None, 3) == TAGS[:3]
        assert store.tags.list_tags(image.id, "A", 3) == TAGS[2:5]
        assert store.tags.list_tags(image.id, "a", None) == TAGS[6:]
        assert store.tags.list_tags(image.id, "Y", 2) == ["Z", "_x"]  # `last` need not exist
        assert store.tags.list_tags(image.id, TAGS[-1], 10) == []


def test_record_pulls_sets_artifact_and_tag_pull_times(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store, "reg", "app")
        other = new_image(store, "reg", "other")
        by_tag = push(store, image, manifest("by-tag"), "v1", "v2")
        by_digest = push(store, image, manifest("by-digest"), "v3")
        other_id = push(store, other, manifest("other"), "v1")
    with uow(write=True) as store:
        store.artifacts.record_pulls(
            [PullRecord(by_tag, "v1", image.id, T1), PullRecord(by_digest, None, image.id, T2)]
        )
    with uow() as store:
        pulled = {
            tag: store.tags.get_tag(image.id, tag)
            for tag in store.tags.list_tags(image.id, None, None)
        }
        assert {tag: found.pulled_at for tag, found in pulled.items() if found} == {
            "v1": T1,
            "v2": None,
            "v3": None,
        }
        artifacts = {a.id: a.pulled_at for a in _artifacts(store, image, ["by-tag", "by-digest"])}
        assert artifacts == {by_tag: T1, by_digest: T2}
        other_tag = store.tags.get_tag(other.id, "v1")
        assert other_tag is not None
        assert other_tag.pulled_at is None
        other_artifact = store.artifacts.get_artifact(other.id, manifest("other").digest)
        assert other_artifact is not None
        assert (other_artifact.id, other_artifact.pulled_at) == (other_id, None)


def test_record_pulls_never_moves_a_pull_time_backwards(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        artifact_id = push(store, image, manifest("m"), "v1")
    with uow(write=True) as store:  # flushed by one node
        store.artifacts.record_pulls([PullRecord(artifact_id, "v1", image.id, T2)])
    with uow(write=True) as store:  # a slower node flushes an older pull afterwards
        store.artifacts.record_pulls([PullRecord(artifact_id, "v1", image.id, T1)])
    with uow() as store:
        artifact = store.artifacts.get_artifact(image.id, manifest("m").digest)
        tag = store.tags.get_tag(image.id, "v1")
    assert artifact is not None
    assert tag is not None
    assert (artifact.pulled_at, tag.pulled_at) == (T2, T2)


def _artifacts(store: Transaction, image: Image, names: list[str]) -> list[Artifact]:
    found = [store.artifacts.get_artifact(image.id, manifest(name).digest) for name in names]
    return [artifact for artifact in found if artifact is not None]


# --- users ---------------------------------------------------------------------------------


def test_users(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        assert store.users.count_users() == 0
        admin = store.users.create_user("admin", "$argon2id$hash", True, T0)
        with pytest.raises(Conflict, match="admin"):
            store.users.create_user("admin", "other", False, T1)
        store.users.create_user("Admin", "x", False, T1)  # names are case-sensitive
    with uow() as store:
        assert store.users.count_users() == 2
        assert store.users.get_user("admin") == admin
        assert (admin.username, admin.password_hash, admin.is_admin, admin.created_at) == (
            "admin",
            "$argon2id$hash",
            True,
            T0,
        )
        user = store.users.get_user("Admin")
        assert user is not None
        assert user.is_admin is False
        assert store.users.get_user("nobody") is None


def test_list_get_and_change_users(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        bob = store.users.create_user("bob", "h1", False, T0)
        alice = store.users.create_user("alice", "h2", True, T0)
        store.users.create_user("Zed", "h3", False, T0)
    with uow(write=True) as store:
        assert [u.username for u in store.users.list_users()] == ["Zed", "alice", "bob"]
        assert store.users.get_user_by_id(bob.id) == bob
        assert store.users.get_user_by_id(bob.id + alice.id + 100) is None
        store.users.set_password(bob.id, "h1-new")
    with uow() as store:
        changed = store.users.get_user("bob")
        assert changed is not None
        assert changed.password_hash == "h1-new"
        assert store.users.get_user("alice") == alice


def test_projects(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        team = store.projects.create_project("team", T0)
        with pytest.raises(Conflict, match="team"):
            store.projects.create_project("team", T1)
        store.projects.create_project("a-team", T1)
    assert (team.name, team.created_at) == ("team", T0)
    with uow() as store:
        assert store.projects.get_project("team") == team
        assert store.projects.get_project("nope") is None
        assert [p.name for p in store.projects.list_projects()] == [
            "a-team",
            DEFAULT_PROJECT,
            "team",
        ]


def test_members_and_what_they_may_read(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        team = store.projects.create_project("team", T0)
        other = store.projects.create_project("other", T0)
        store.registries.create_registry("team-images", team, T0)
        store.registries.create_registry("team-charts", team, T0)
        store.registries.create_registry("other-images", other, T0)
        alice = store.users.create_user("alice", "h", False, T0)
        bob = store.users.create_user("bob", "h", False, T0)
        store.projects.set_member(team.id, alice.id, Role.PROJECT_MEMBER, T0)
        store.projects.set_member(team.id, alice.id, Role.PROJECT_ADMIN, T1)  # changes the role
        store.projects.set_member(team.id, bob.id, Role.SERVICE_VIEWER, T1)
        store.projects.set_member(other.id, bob.id, Role.PROJECT_MEMBER, T1)
    with uow(write=True) as store:
        assert store.projects.list_members(team.id) == [
            Member("team", "alice", Role.PROJECT_ADMIN, T0),
            Member("team", "bob", Role.SERVICE_VIEWER, T1),
        ]
        assert store.projects.role_in_registry(alice.id, "team-images") == Role.PROJECT_ADMIN
        assert store.projects.role_in_registry(alice.id, "other-images") is None
        assert store.projects.role_in_registry(alice.id, "missing") is None
        assert store.projects.readable_registries(alice.id) == {"team-images", "team-charts"}
        assert store.projects.readable_registries(bob.id) == {
            "team-images",
            "team-charts",
            "other-images",
        }
        assert store.projects.remove_member(team.id, bob.id) is True
        assert store.projects.remove_member(team.id, bob.id) is False
    with uow() as store:
        assert [m.username for m in store.projects.list_members(team.id)] == ["alice"]
        assert store.projects.readable_registries(bob.id) == {"other-images"}


def test_access_keys(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        alice = store.users.create_user("alice", "h", False, T0)
        bob = store.users.create_user("bob", "h", False, T0)
        first = store.access_keys.create_access_key(alice.id, "MRGFIRST", "secret-hash-1", T0)
        second = store.access_keys.create_access_key(alice.id, "MRGSECOND", "secret-hash-2", T1)
        with pytest.raises(Conflict):
            store.access_keys.create_access_key(bob.id, "MRGFIRST", "secret-hash-3", T1)
        store.access_keys.create_access_key(bob.id, "MRGBOB", "secret-hash-4", T1)
    assert (first.key_id, first.secret_hash, first.enabled, first.last_used_at) == (
        "MRGFIRST",
        "secret-hash-1",
        True,
        None,
    )
    with uow(write=True) as store:
        assert store.access_keys.get_access_key("MRGFIRST") == first
        assert store.access_keys.get_access_key("MRGNONE") is None
        assert store.access_keys.list_access_keys(alice.id) == [first, second]
        assert store.access_keys.set_access_key_enabled("MRGFIRST", False) is True
        assert store.access_keys.set_access_key_enabled("MRGNONE", False) is False
        store.access_keys.touch_access_key("MRGSECOND", T2)
        assert store.access_keys.delete_access_key("MRGBOB") is True
        assert store.access_keys.delete_access_key("MRGBOB") is False
    with uow() as store:
        disabled = store.access_keys.get_access_key("MRGFIRST")
        touched = store.access_keys.get_access_key("MRGSECOND")
        assert disabled is not None
        assert disabled.enabled is False
        assert touched is not None
        assert touched.last_used_at == T2
        assert store.access_keys.list_access_keys(bob.id) == []


def test_delete_user_removes_memberships_and_keys(db: Database) -> None:
    with db.uow(write=True) as store:
        team = store.projects.create_project("team", T0)
        alice = store.users.create_user("alice", "h", False, T0)
        bob = store.users.create_user("bob", "h", False, T0)
        for user in (alice, bob):
            store.projects.set_member(team.id, user.id, Role.PROJECT_MEMBER, T0)
            store.access_keys.create_access_key(user.id, f"MRG{user.username.upper()}", "hash", T0)
    with db.uow(write=True) as store:
        store.users.delete_user(alice.id)
    with db.uow() as store:
        assert store.users.get_user("alice") is None
        assert store.access_keys.get_access_key("MRGALICE") is None
        assert [m.username for m in store.projects.list_members(team.id)] == ["bob"]
        assert store.access_keys.get_access_key("MRGBOB") is not None
        assert store.users.count_users() == 1
    assert row_count(db, t.project_member) == 1
    assert row_count(db, t.access_key) == 1


# --- transactions and time -----------------------------------------------------------------


def test_timestamps_come_back_timezone_aware_in_utc(uow: UnitOfWorkFactory) -> None:
    moment = T0 + timedelta(microseconds=123456)
    seoul = moment.astimezone(KST)
    with uow(write=True) as store:
        registry = create_registry(store, "reg", seoul)
        image = store.images.ensure_image(registry, "app", seoul)
        store.blobs.add_blob(digest("layer"), 1, seoul)
        store.uploads.create_upload(upload_session(image, "e" * 32, seoul))
        artifact_id = store.artifacts.insert_artifact(image.id, manifest("m"), seoul)
        store.tags.put_tag(image.id, "v1", artifact_id, seoul)
        store.artifacts.record_pulls([PullRecord(artifact_id, "v1", image.id, seoul)])
        store.users.create_user("admin", "hash", True, seoul)
        key = store.access_keys.create_access_key(
            store.users.create_user("k", "h", False, seoul).id, "K", "h", seoul
        )
        store.access_keys.touch_access_key(key.key_id, seoul)
    with uow() as store:
        artifact = present(store.artifacts.get_artifact(image.id, manifest("m").digest))
        tag = present(store.tags.get_tag(image.id, "v1"))
        upload = present(store.uploads.get_upload("e" * 32))
        touched = present(store.access_keys.get_access_key("K"))
        # written by the migration, not by a test: only its zone is known
        assert present(store.projects.get_project(DEFAULT_PROJECT)).created_at.tzinfo == UTC
        stamps = [
            present(store.registries.get_registry("reg")).created_at,
            present(store.images.get_image("reg", "app")).created_at,
            present(store.blobs.get_blob(digest("layer"))).created_at,
            upload.started_at,
            upload.updated_at,
            artifact.pushed_at,
            artifact.pulled_at,
            artifact.created_at,
            tag.pushed_at,
            tag.pulled_at,
            present(store.users.get_user("admin")).created_at,
            touched.created_at,
            touched.last_used_at,
        ]
    for stamp in stamps:
        assert stamp is not None
        assert stamp.utcoffset() == timedelta(0)
        assert stamp.tzinfo == UTC
        assert stamp == moment


def test_naive_timestamps_are_refused(db: Database) -> None:
    # SQLAlchemy wraps the column type's ValueError; the fakes raise it as it is
    refused = ValueError if isinstance(db, MemoryDatabase) else StatementError
    uow = db.uow
    with pytest.raises(refused, match="naive"), uow(write=True) as store:
        create_registry(store, "reg", datetime(2026, 3, 1, 12, 0))
    with uow() as store:
        assert store.registries.get_registry("reg") is None


class _Boom(Exception):
    pass


def _fill_and_fail(store: Transaction) -> None:
    image = new_image(store)
    layer = add_linked_blob(store, image, "layer", 1)
    store.uploads.create_upload(upload_session(image, "b" * 32, T0))
    push(store, image, manifest("m", blobs=(layer,)), "v1")
    store.users.create_user("admin", "hash", True, T0)
    raise _Boom


def test_a_rolled_back_unit_of_work_leaves_nothing(db: Database) -> None:
    before = {table.name: row_count(db, table) for table in t.metadata.sorted_tables}
    with pytest.raises(_Boom), db.uow(write=True) as store:
        _fill_and_fail(store)
    with db.uow() as store:
        assert store.registries.list_registries() == []
        assert store.blobs.get_blob(digest("layer")) is None
        assert store.users.count_users() == 0
    assert {table.name: row_count(db, table) for table in t.metadata.sorted_tables} == before


def test_write_transactions_from_two_threads_both_succeed(db: Database) -> None:
    """The second writer waits for the first instead of failing (SQLite: BEGIN IMMEDIATE and
    a busy timeout; a deferred transaction that read first could not upgrade its lock)."""
    first_wrote = threading.Event()
    errors: list[BaseException] = []
    seen_by_second: list[set[str]] = []

    def first() -> None:
        try:
            with db.uow(write=True) as store:
                create_registry(store, "first", T0)
                first_wrote.set()
                time.sleep(0.3)  # hold the write lock while the second thread starts
        except BaseException as exc:
            errors.append(exc)
        finally:
            first_wrote.set()

    def second() -> None:
        try:
            first_wrote.wait(5)
            with db.uow(write=True) as store:
                seen_by_second.append({u.registry.name for u in store.registries.list_registries()})
                create_registry(store, "second", T1)  # a write after a read
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(35)
    assert errors == []
    with db.uow() as store:
        assert {u.registry.name for u in store.registries.list_registries()} == {"first", "second"}
    if db.backend in ("sqlite", "memory"):  # writers are serialised from their first statement
        assert seen_by_second == [{"first"}]
