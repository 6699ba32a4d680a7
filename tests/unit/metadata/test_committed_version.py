"""SQLite's committed version, and the manifest reads answered from memory under it.

A tag's manifest is resolved from memory while nothing was committed since it was read; any
commit, by this process or another (an admin command on the same file), must be seen by the
very next read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy import create_engine

from moorage import wiring
from moorage.config import Settings
from moorage.domain.content import artifacts as artifacts_module
from moorage.domain.kernel.errors import ManifestNotFound
from moorage.domain.kernel.ports import no_committed_version
from moorage.metadata.uow import SqliteCommittedVersion, committed_version
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest

REPO = "reg/app"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def node(data_dir: Path) -> Iterator[wiring.Container]:
    container = wiring.build(Settings(data_dir=data_dir, auth="none"))
    container.registries.create("reg")
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
def other(node: wiring.Container, data_dir: Path) -> Iterator[wiring.Container]:
    """A second process's view of the same database (its own engine and connections)."""
    container = wiring.build(Settings(data_dir=data_dir, auth="none"), migrate_schema=False)
    try:
        yield container
    finally:
        container.close()


def database_of(container: wiring.Container) -> str:
    database = container.engine.url.database
    assert database is not None
    return database


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def push_image(container: wiring.Container, tag: str, name: str) -> str:
    """A config and a layer unique to `name`, and a manifest of them tagged `tag`."""
    config, layer = json.dumps({"name": name}).encode(), f"layer of {name}".encode()
    for data in (config, layer):
        anyio.run(container.uploads.upload_whole, REPO, str(Digest.of(data)), _one(data))
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": CONFIG_TYPE,
            "digest": str(Digest.of(config)),
            "size": len(config),
        },
        "layers": [{"mediaType": LAYER_TYPE, "digest": str(Digest.of(layer)), "size": len(layer)}],
    }
    body = json.dumps(manifest).encode()
    return container.artifacts.put_manifest(REPO, tag, mt.OCI_MANIFEST, body).digest


def resolved(container: wiring.Container, tag: str, *, with_body: bool = True) -> str:
    return container.artifacts.get_manifest(REPO, tag, with_body=with_body).head.digest


def transactions_opened(container: wiring.Container, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """From now on, each transaction the container opens (True for a write one)."""
    opened: list[bool] = []
    transaction = container.uow._transaction

    def counting(write: bool, wait: bool = True):  # type: ignore[no-untyped-def]
        opened.append(write)
        return transaction(write, wait)

    monkeypatch.setattr(container.uow, "_transaction", counting)
    return opened


def test_the_version_holds_across_reads_and_changes_with_each_commit(
    node: wiring.Container,
) -> None:
    version = SqliteCommittedVersion(database_of(node))
    try:
        first = version()
        assert first is not None
        push_image(node, "v1", "a")  # commits on the node's own pooled connections
        second = version()
        assert second != first
        resolved(node, "v1")
        assert version() == second  # a read commits nothing
        writer = sqlite3.connect(database_of(node), isolation_level=None)
        writer.execute("UPDATE tag SET name = 'v2' WHERE name = 'v1'")
        writer.close()
        assert version() not in (first, second)
    finally:
        version.close()


def test_no_version_inside_a_transaction_scope(node: wiring.Container) -> None:
    version = SqliteCommittedVersion(database_of(node))
    try:
        with node.uow.scope(write=True):
            assert version() is None
        assert version() is not None
    finally:
        version.close()


def test_only_a_sqlite_file_has_a_cheap_version(tmp_path: Path) -> None:
    postgres = create_engine("postgresql+psycopg://moorage@127.0.0.1/none")
    memory = create_engine("sqlite://")
    assert committed_version(postgres) is no_committed_version
    assert committed_version(memory) is no_committed_version
    assert isinstance(
        committed_version(create_engine(f"sqlite:///{tmp_path / 'm.db'}")),
        SqliteCommittedVersion,
    )


@pytest.mark.parametrize("with_body", [True, False], ids=["GET", "HEAD"])
def test_a_tag_moved_by_another_process_is_seen_at_once(
    node: wiring.Container, other: wiring.Container, with_body: bool
) -> None:
    old = push_image(node, "v1", "a")
    assert resolved(node, "v1", with_body=with_body) == old
    assert resolved(node, "v1", with_body=with_body) == old  # now answered from memory
    new = push_image(other, "v1", "b")
    assert resolved(node, "v1", with_body=with_body) == new


def test_a_tag_deleted_by_another_process_is_gone_at_once(
    node: wiring.Container, other: wiring.Container
) -> None:
    push_image(node, "v1", "a")
    resolved(node, "v1")
    other.artifacts.delete_manifest(REPO, "v1")
    with pytest.raises(ManifestNotFound):
        resolved(node, "v1")


def test_a_repeated_read_opens_no_transaction(
    node: wiring.Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = push_image(node, "v1", "a")
    resolved(node, "v1")
    opened = transactions_opened(node, monkeypatch)
    assert resolved(node, "v1") == digest
    assert resolved(node, "v1", with_body=False) == digest
    assert opened == []


def test_without_a_manifest_cache_a_repeated_get_reads_the_body_again(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`manifest_cache_mib = 0`: the reference is still resolved from memory (a HEAD opens
    nothing), but a GET's body comes from the database every time."""
    container = wiring.build(Settings(data_dir=data_dir, auth="none", manifest_cache_mib=0))
    try:
        container.registries.create("reg")
        digest = push_image(container, "v1", "a")
        resolved(container, "v1")
        opened = transactions_opened(container, monkeypatch)
        assert resolved(container, "v1", with_body=False) == digest
        assert opened == []
        assert resolved(container, "v1") == digest
        assert resolved(container, "v1") == digest
        assert opened == [False, False]
    finally:
        container.close()


def tags_of(
    container: wiring.Container, last: str | None = None, n: int | None = None
) -> list[str]:
    return container.artifacts.list_tags(REPO, last, n)


def test_a_repeated_tag_list_opens_no_transaction(
    node: wiring.Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    for tag in ("v1", "v2", "v3"):
        push_image(node, tag, tag)
    assert tags_of(node) == ["v1", "v2", "v3"]
    assert tags_of(node, "v1", 1) == ["v2"]
    opened = transactions_opened(node, monkeypatch)
    first = tags_of(node)
    first.append("changed by the caller")  # a copy: what is kept stays as read
    assert tags_of(node) == ["v1", "v2", "v3"]
    assert tags_of(node, "v1", 1) == ["v2"]
    assert opened == []


def test_tags_pushed_or_deleted_by_another_process_are_listed_at_once(
    node: wiring.Container, other: wiring.Container
) -> None:
    push_image(node, "v1", "a")
    assert tags_of(node) == ["v1"]
    assert tags_of(node) == ["v1"]  # now answered from memory
    push_image(other, "v2", "b")
    assert tags_of(node) == ["v1", "v2"]
    other.artifacts.delete_manifest(REPO, "v1")
    assert tags_of(node) == ["v2"]


def test_a_tag_list_larger_than_the_bound_is_read_each_time(
    node: wiring.Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifacts_module, "KEPT_TAG_NAMES", 3)  # weights: 1 + each name
    small = wiring.build(Settings(data_dir=node.settings.data_dir, auth="none"))
    try:
        for tag in ("v1", "v2", "v3"):
            push_image(small, tag, tag)
        assert tags_of(small) == ["v1", "v2", "v3"]
        opened = transactions_opened(small, monkeypatch)
        assert tags_of(small) == ["v1", "v2", "v3"]  # three names: over the bound
        assert tags_of(small, None, 2) == ["v1", "v2"]
        assert tags_of(small, None, 2) == ["v1", "v2"]  # two: kept
        assert opened == [False, False]
    finally:
        small.close()


def test_empty_tag_lists_count_against_the_bound(
    node: wiring.Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client can ask for any number of different pages that hold nothing (`last` past
    every tag): each is an entry, so they cannot grow the memory without bound."""
    monkeypatch.setattr(artifacts_module, "KEPT_TAG_NAMES", 3)
    small = wiring.build(Settings(data_dir=node.settings.data_dir, auth="none"))
    try:
        push_image(small, "v1", "a")
        for last in ("x1", "x2", "x3"):
            assert tags_of(small, last) == []
        opened = transactions_opened(small, monkeypatch)
        assert tags_of(small, "x1") == []  # kept
        assert tags_of(small, "x4") == []  # a fourth: the bound is reached, it starts over
        assert tags_of(small, "x1") == []  # read again
        assert opened == [False, False]
    finally:
        small.close()
