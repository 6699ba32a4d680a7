"""The artifact listing's contract on SQLite, PostgreSQL and the fakes: a summary carries an
artifact's most recent tags and counts the rest, referrers are counted under their subject
and not listed on their own, and the tag questions protection asks (a glob over every tag,
batches newest first) answer alike everywhere."""

from __future__ import annotations

from datetime import timedelta

import pytest

from moorage.domain.content.ports import RECENT_TAGS, TagCursor
from moorage.domain.kernel.model import PageRequest
from moorage.domain.ports import UnitOfWorkFactory
from tests.contract.backends import Database
from tests.contract.test_metadata import T0, manifest, new_image, push

SIGNATURE = "application/vnd.example.signature"


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


def tag_in_order(uow: UnitOfWorkFactory, image_id: int, artifact_id: int, names: list[str]) -> None:
    """Each name pushed a minute after the one before."""
    with uow(write=True) as store:
        for n, name in enumerate(names):
            store.tags.put_tag(image_id, name, artifact_id, T0 + timedelta(minutes=n))


def test_a_summary_carries_the_newest_tags_and_counts_them_all(uow: UnitOfWorkFactory) -> None:
    names = [f"t{n:02d}" for n in range(25)]
    with uow(write=True) as store:
        image = new_image(store)
        many = push(store, image, manifest("many"))
        few = push(store, image, manifest("few"), "only")
        bare = push(store, image, manifest("bare"))
    tag_in_order(uow, image.id, many, names)
    with uow() as store:
        summaries = {
            s.id: s for s in store.artifacts.artifact_summaries(image.id, [many, few, bare])
        }
        listed = {s.id: s for s in store.artifacts.list_artifacts(image.id, PageRequest()).items}
    newest = tuple(reversed(names))[:RECENT_TAGS]
    assert (summaries[many].tags, summaries[many].tag_count) == (newest, 25)
    assert (summaries[few].tags, summaries[few].tag_count) == (("only",), 1)
    assert (summaries[bare].tags, summaries[bare].tag_count) == ((), 0)
    assert listed == summaries


def test_tags_pushed_at_once_come_newest_id_first(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        artifact = push(store, image, manifest("a"), *[f"x{n:02d}" for n in range(12)])
    with uow() as store:
        (summary,) = store.artifacts.artifact_summaries(image.id, [artifact])
    assert summary.tags == tuple(f"x{n:02d}" for n in range(11, 1, -1))


def test_referrers_are_counted_under_their_subject_not_listed(uow: UnitOfWorkFactory) -> None:
    amd, arm = manifest("amd"), manifest("arm")
    index = manifest("index", children=(amd.digest, arm.digest))
    signature = manifest("sig", subject=index.digest, artifact_type=SIGNATURE)
    child_signature = manifest("child-sig", subject=amd.digest, artifact_type=SIGNATURE)
    orphan = manifest("orphan", subject=manifest("absent").digest, artifact_type=SIGNATURE)
    with uow(write=True) as store:
        image = new_image(store)
        for artifact in (amd, arm, index, signature, child_signature, orphan):
            push(store, image, artifact)
    with uow() as store:
        page = store.artifacts.list_artifacts(image.id, PageRequest())
        (summary,) = [s for s in page.items if s.digest == index.digest]
        images = store.images.list_images(image.registry_id, PageRequest()).items
    # the index, and a referrer whose subject is not in the image
    assert sorted(s.digest for s in page.items) == sorted([index.digest, orphan.digest])
    assert page.total == 2
    assert summary.referrer_count == 1
    assert [(i.name, i.artifact_count) for i in images] == [("app", 2)]


def test_a_glob_matches_any_tag_of_the_artifact(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        artifact = push(store, image, manifest("a"), "v1.0", "dev_build", "Latest")
        other = push(store, image, manifest("b"), "v2.0")
        bare = push(store, image, manifest("c"))
    with uow() as store:
        tags = store.tags

        def has(globs: tuple[str, ...], matching: bool = True, on: int = artifact) -> bool:
            return tags.artifact_has_tag_like(on, globs, matching)

        assert has(("v*",))
        assert has(("v1.?",))
        assert has(("dev_build",))
        assert not has(("v2*",))
        assert has(("v2*",), on=other)
        assert not has(("latest",))  # case-sensitive on every backend
        assert has(("dev?build",))
        assert not has(("dev??build",))
        assert not has(("devXbuild",))  # '_' is itself, not LIKE's any character
        assert has(("x*", "L*"))
        assert has(("v[0123].0",))  # a class lists its characters
        assert has(("[KL]atest",))
        assert not has(("[kl]atest",))
        assert has(("dev[_-]build",))
        assert not has(("dev[.-]build",))
        assert not has(("[.-]*", "*[g]"))
        assert has(("[.-]*", "*[dg]"))
        assert has(("v*", "dev*"), matching=False)  # Latest matches neither
        assert not has(("*",), matching=False)
        assert not has(("*",), on=bare)
        assert not has(("*",), matching=False, on=bare)
        assert has((), matching=False)
        assert not has(())


def test_tag_batches_walk_every_tag_newest_first(uow: UnitOfWorkFactory) -> None:
    names = [f"t{n}" for n in range(7)]
    with uow(write=True) as store:
        image = new_image(store)
        artifact = push(store, image, manifest("a"))
        push(store, image, manifest("b"), "elsewhere")
    tag_in_order(uow, image.id, artifact, names)
    seen: list[list[str]] = []
    cursor: TagCursor | None = None
    with uow() as store:
        while True:
            batch, cursor = store.tags.artifact_tag_batch(artifact, cursor, 3)
            seen.append(batch)
            if cursor is None:
                break
    assert seen == [["t6", "t5", "t4"], ["t3", "t2", "t1"], ["t0"]]
