"""Registries, images, blobs, uploads, artifacts and tags, in memory (see `tests.fakes.memory`).

Rows as `moorage/metadata/tables.py` has them, keyed by primary key: `registry`, `image`,
`artifact`, `tag` (by id), `blob` (by digest), `upload_session` (by id); the tables without a
primary key by their unique key: `image_blob` (image_id, digest), `artifact_blob` and
`artifact_child` (artifact_id, digest).

Every row is written through `tests.fakes.rows`, which enforces the schema's constraints
(NOT NULL, unique keys, foreign keys, ON DELETE CASCADE). A violation the SQL store turns
into `Conflict` is `Conflict` here too; any other one is an `IntegrityViolation` (a bug of
the caller, an `IntegrityError` on SQL).

Where SQLite and PostgreSQL disagree and the store does not say, these fakes do what SQLite
does: NULLs sort first (last when descending), and a search (`LIKE`) ignores the case of
ASCII letters. Names sort in code-point order, the byte order of their UTF-8 text, as the
`C` collation (and SQLite's binary one) sorts them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from moorage.domain.content.errors import BlobBeingCollected
from moorage.domain.content.ports import RECENT_TAGS, PullRecord, TagCursor
from moorage.domain.content.tag_globs import glob_regex
from moorage.domain.kernel.errors import AlreadyExists, Conflict
from moorage.domain.kernel.model import (
    Artifact,
    ArtifactHead,
    ArtifactSummary,
    Blob,
    BlobStatus,
    DriverState,
    HelmChart,
    Image,
    ImageSummary,
    NewArtifact,
    Page,
    PageRequest,
    Project,
    Referrer,
    Registry,
    RegistryUsage,
    Tag,
    UploadSession,
)
from tests.fakes.rows import (
    UniqueViolation,
    delete_rows,
    find_row,
    insert_row,
    select_rows,
    update_row,
    utc,
)
from tests.fakes.state import MemoryState, Row

if TYPE_CHECKING:
    from moorage.domain.content.ports import (
        ArtifactStore,
        BlobIndex,
        ImageStore,
        TagStore,
        UploadStore,
    )
    from moorage.domain.kernel.ports import RegistryStore

REGISTRY = "registry"
PROJECT = "project"
IMAGE = "image"
BLOB = "blob"
IMAGE_BLOB = "image_blob"
UPLOAD = "upload_session"
ARTIFACT = "artifact"
ARTIFACT_BLOB = "artifact_blob"
ARTIFACT_CHILD = "artifact_child"
TAG = "tag"


# --- shared queries ------------------------------------------------------------------------


def _image_in(state: MemoryState, registry: str, image: str) -> Row | None:
    """The image row of `registry/image` (the join of registry and image)."""
    found = find_row(state, REGISTRY, name=registry)
    return None if found is None else find_row(state, IMAGE, registry_id=found["id"], name=image)


def _images_with_artifacts(state: MemoryState) -> set[int]:
    return {row["image_id"] for row in state.table(ARTIFACT).values()}


def _top_level(state: MemoryState, of_image: list[Row]) -> list[Row]:
    """The artifacts of one image listed on their own: no index of the image lists them as
    a child, and their subject (if any) is not in the image."""
    ids = {a["id"] for a in of_image}
    digests = {a["digest"] for a in of_image}
    listed_by_index = {
        c["digest"] for c in state.table(ARTIFACT_CHILD).values() if c["artifact_id"] in ids
    }
    return [
        a
        for a in of_image
        if a["digest"] not in listed_by_index and a["subject_digest"] not in digests
    ]


def _is_live(state: MemoryState, digest: str) -> bool:
    """Served to clients: live, or marked by garbage collection (still there)."""
    found = state.table(BLOB).get(digest)
    return found is not None and found["status"] in (BlobStatus.LIVE, BlobStatus.MARKED)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _like(value: str, search: str) -> bool:
    """`value LIKE '%search%'` with the search escaped: a substring, ASCII case ignored."""
    return search.translate(_ASCII_LOWER) in value.translate(_ASCII_LOWER)


def _ordered(rows: list[Row], sorts: set[str], sort: str | None, default: str) -> list[Row]:
    """ORDER BY `field` (or `-field`), then id; NULLs first ascending, last descending."""
    name = sort or default
    field = name.lstrip("-")
    if field not in sorts:
        raise KeyError(field)  # refused by the caller, as on SQL

    def by_field(row: Row) -> tuple[bool, Any]:
        return (row[field] is not None, row[field])

    by_id = sorted(rows, key=lambda row: row["id"])
    return sorted(by_id, key=by_field, reverse=name.startswith("-"))  # stable: ids ascending


def _paged(rows: list[Row], page: PageRequest) -> list[Row]:
    start = max(page.offset, 0)
    return rows[start : start + max(page.page_size, 0)]


def _limited(items: list[Any], limit: int | None) -> list[Any]:
    return items if limit is None else items[: max(limit, 0)]


class _Roles:
    def __init__(self, state: MemoryState) -> None:
        self.state = state


# --- registries ----------------------------------------------------------------------------


class MemoryRegistryStore(_Roles):
    """`RegistryStore` over `registry` rows (and `project`, `image`, `image_blob`, `blob`)."""

    def create_registry(self, name: str, project: Project, now: datetime) -> Registry:
        try:
            row = insert_row(
                self.state, REGISTRY, {"name": name, "project_id": project.id, "created_at": now}
            )
        except UniqueViolation:
            raise Conflict(f"registry {name!r} already exists") from None
        return Registry(row["id"], name, now, project.name)

    def _registry(self, row: Row) -> Registry | None:
        project = find_row(self.state, PROJECT, id=row["project_id"])
        if project is None:
            return None
        return Registry(row["id"], row["name"], row["created_at"], project["name"])

    def get_registry(self, name: str) -> Registry | None:
        row = find_row(self.state, REGISTRY, name=name)
        return None if row is None else self._registry(row)

    def list_registries(self) -> list[RegistryUsage]:
        return self._usages(None)

    def registry_usage(self, registry_id: int) -> RegistryUsage | None:
        found = self._usages(registry_id)
        return found[0] if found else None

    def _usages(self, registry_id: int | None) -> list[RegistryUsage]:
        with_artifacts = _images_with_artifacts(self.state)
        blobs = self.state.table(BLOB)
        usages = []
        for row in sorted(self.state.table(REGISTRY).values(), key=lambda r: r["name"]):
            registry = self._registry(row)
            if registry is None or registry_id not in (None, registry.id):
                continue
            images = {i["id"] for i in select_rows(self.state, IMAGE, registry_id=registry.id)}
            artifacts = {
                a["id"] for a in self.state.table(ARTIFACT).values() if a["image_id"] in images
            }
            digests = {
                ref["digest"]
                for ref in self.state.table(ARTIFACT_BLOB).values()
                if ref["artifact_id"] in artifacts
            }
            stored = sum(blobs[d]["size"] for d in digests if d in blobs)
            usages.append(RegistryUsage(registry, len(images & with_artifacts), stored))
        return usages

    def delete_registry(self, registry_id: int) -> None:
        delete_rows(self.state, REGISTRY, [registry_id])

    def registry_image_count(self, registry_id: int) -> int:
        with_artifacts = _images_with_artifacts(self.state)
        images = select_rows(self.state, IMAGE, registry_id=registry_id)
        return sum(1 for image in images if image["id"] in with_artifacts)

    def registry_tags(self, registry_id: int) -> list[tuple[str, str]]:
        images = {
            i["id"]: i["name"] for i in select_rows(self.state, IMAGE, registry_id=registry_id)
        }
        return [
            (images[tag["image_id"]], tag["name"])
            for tag in self.state.table(TAG).values()
            if tag["image_id"] in images
        ]


# --- images --------------------------------------------------------------------------------


class MemoryImageStore(_Roles):
    """`ImageStore` over `image` rows (and `registry`, `artifact`, `tag`)."""

    def get_image(self, registry: str, name: str) -> Image | None:
        row = _image_in(self.state, registry, name)
        if row is None:
            return None
        return Image(row["id"], row["registry_id"], registry, row["name"], row["created_at"])

    def ensure_image(self, registry: Registry, name: str, now: datetime) -> Image:
        found = self.get_image(registry.name, name)
        if found is not None:
            return found
        try:
            row = insert_row(
                self.state, IMAGE, {"registry_id": registry.id, "name": name, "created_at": now}
            )
        except UniqueViolation:  # created concurrently by another push (on SQL)
            found = self.get_image(registry.name, name)
            assert found is not None
            return found
        return Image(row["id"], registry.id, registry.name, name, now)

    def lock_image(self, image_id: int) -> None:
        """Transactions are serialised already (see `tests.fakes.memory`)."""

    def catalog(self, last: str | None, limit: int, registries: set[str] | None) -> list[str]:
        with_artifacts = _images_with_artifacts(self.state)
        names = {r["id"]: r["name"] for r in self.state.table(REGISTRY).values()}
        repositories = sorted(
            f"{names[image['registry_id']]}/{image['name']}"
            for image in self.state.table(IMAGE).values()
            if image["id"] in with_artifacts
            and image["registry_id"] in names
            and (registries is None or names[image["registry_id"]] in registries)
        )
        if last:
            repositories = [r for r in repositories if r > last]
        return _limited(repositories, limit)

    def delete_image_if_empty(self, image_id: int) -> bool:
        if find_row(self.state, ARTIFACT, image_id=image_id) is not None:
            return False
        delete_rows(self.state, IMAGE, [image_id])  # its blob links and uploads go with it
        return True

    def list_images(self, registry_id: int, page: PageRequest) -> Page[ImageSummary]:
        artifacts: dict[int, list[Row]] = {}
        for artifact in self.state.table(ARTIFACT).values():
            artifacts.setdefault(artifact["image_id"], []).append(artifact)
        tags: dict[int, int] = {}
        for tag in self.state.table(TAG).values():
            tags[tag["image_id"]] = tags.get(tag["image_id"], 0) + 1
        rows = [
            image
            for image in select_rows(self.state, IMAGE, registry_id=registry_id)
            if image["id"] in artifacts and (not page.search or _like(image["name"], page.search))
        ]
        ordered = _paged(_ordered(rows, {"name", "created_at"}, page.sort, "name"), page)
        items = []
        for image in ordered:
            of_image = artifacts[image["id"]]
            pulled = [a["pulled_at"] for a in of_image if a["pulled_at"] is not None]
            items.append(
                ImageSummary(
                    image["name"],
                    len(_top_level(self.state, of_image)),
                    tags.get(image["id"], 0),
                    max(a["pushed_at"] for a in of_image),
                    max(pulled) if pulled else None,
                    image["created_at"],
                )
            )
        return Page(items, len(rows))

    def image_artifact_ids(self, image_id: int) -> list[int]:
        return sorted(a["id"] for a in select_rows(self.state, ARTIFACT, image_id=image_id))


# --- blobs ---------------------------------------------------------------------------------


def _blob(row: Row) -> Blob:
    return Blob(row["digest"], row["size"], row["created_at"])


class MemoryBlobIndex(_Roles):
    """`BlobIndex` over `blob` and `image_blob` rows."""

    def get_blob(self, digest: str) -> Blob | None:
        row = self.state.table(BLOB).get(digest)
        return _blob(row) if row is not None and _is_live(self.state, digest) else None

    def get_linked_blob(self, image_id: int, digest: str) -> Blob | None:
        if (image_id, digest) not in self.state.table(IMAGE_BLOB):
            return None
        return self.get_blob(digest)

    def add_blob(self, digest: str, size: int, now: datetime) -> None:
        row = self.state.table(BLOB).get(digest)
        if row is None:
            insert_row(
                self.state,
                BLOB,
                {"digest": digest, "size": size, "created_at": now, "status": BlobStatus.LIVE},
            )
        elif row["status"] == BlobStatus.DELETING:
            raise BlobBeingCollected(digest)
        elif row["status"] != BlobStatus.LIVE or row["size"] != size:
            # Verified bytes replaced a quarantined (or mis-sized) object, or a marked blob
            # is pushed again: live.
            update_row(
                self.state,
                BLOB,
                digest,
                {"size": size, "status": BlobStatus.LIVE, "marked_at": None},
            )

    def blob_status(self, digest: str) -> BlobStatus | None:
        row = self.state.table(BLOB).get(digest)
        return BlobStatus(row["status"]) if row is not None else None

    def take_back(self, digests: Sequence[str]) -> set[str]:
        blobs = self.state.table(BLOB)
        live = set()
        for digest in set(digests):
            row = blobs.get(digest)
            if row is not None and row["status"] == BlobStatus.MARKED:
                update_row(self.state, BLOB, digest, {"status": BlobStatus.LIVE, "marked_at": None})
            if row is not None and blobs[digest]["status"] == BlobStatus.LIVE:
                live.add(digest)
        return live

    def quarantine_blob(self, digest: str) -> bool:
        if not _is_live(self.state, digest):
            return False
        update_row(self.state, BLOB, digest, {"status": BlobStatus.QUARANTINED})
        return True

    def link_blob(self, image_id: int, digest: str, now: datetime) -> None:
        if (image_id, digest) in self.state.table(IMAGE_BLOB):
            return
        insert_row(
            self.state, IMAGE_BLOB, {"image_id": image_id, "digest": digest, "created_at": now}
        )

    def unlink_blob(self, image_id: int, digest: str) -> bool:
        return bool(delete_rows(self.state, IMAGE_BLOB, [(image_id, digest)]))

    def linked_sizes(self, image_id: int, digests: Sequence[str]) -> dict[str, int]:
        links, blobs = self.state.table(IMAGE_BLOB), self.state.table(BLOB)
        return {
            d: blobs[d]["size"]
            for d in digests
            if (image_id, d) in links and _is_live(self.state, d)
        }


# --- uploads -------------------------------------------------------------------------------


def _upload(row: Row) -> UploadSession:
    return UploadSession(
        row["id"],
        row["image_id"],
        row["size"],
        copy.deepcopy(row["driver_state"]),
        row["started_at"],
        row["updated_at"],
        row["writer"],
    )


class MemoryUploadStore(_Roles):
    """`UploadStore` over `upload_session` rows (and `image`, `registry`)."""

    def create_upload(self, session: UploadSession) -> None:
        # As on SQL, a new session has no writer whatever `session.writer` says, and a
        # duplicate id is an IntegrityViolation, not a Conflict.
        insert_row(
            self.state,
            UPLOAD,
            {
                "id": session.id,
                "image_id": session.image_id,
                "size": session.size,
                "driver_state": session.driver_state,
                "started_at": session.started_at,
                "updated_at": session.updated_at,
            },
        )

    def get_upload(self, upload_id: str) -> UploadSession | None:
        row = self.state.table(UPLOAD).get(upload_id)
        return _upload(row) if row is not None else None

    def get_upload_in(self, registry: str, image: str, upload_id: str) -> UploadSession | None:
        row = self.state.table(UPLOAD).get(upload_id)
        found = _image_in(self.state, registry, image)
        if row is None or found is None or row["image_id"] != found["id"]:
            return None
        return _upload(row)

    def _update_where(self, upload_id: str, condition: Callable[[Row], bool], values: Row) -> bool:
        row = self.state.table(UPLOAD).get(upload_id)
        if row is None or not condition(row):
            return False
        update_row(self.state, UPLOAD, upload_id, values)
        return True

    def claim_upload(
        self,
        upload_id: str,
        size: int,
        writer: str,
        now: datetime,
        stale_before: datetime,
        dead_writer: str | None = None,
    ) -> bool:
        now, stale_before = utc(now), utc(stale_before)

        def unclaimed(row: Row) -> bool:
            return row["size"] == size and (
                row["writer"] is None
                or row["updated_at"] < stale_before
                or (dead_writer is not None and row["writer"] == dead_writer)
            )

        return self._update_where(upload_id, unclaimed, {"writer": writer, "updated_at": now})

    def renew_upload_claim(self, upload_id: str, writer: str, now: datetime) -> bool:
        now = utc(now)
        return self._update_where(
            upload_id, lambda row: row["writer"] == writer, {"updated_at": now}
        )

    def release_upload(
        self,
        upload_id: str,
        writer: str,
        size: int | None,
        driver_state: DriverState | None,
        now: datetime,
    ) -> bool:
        values: Row = {"writer": None, "updated_at": utc(now)}
        if size is not None:
            values.update(size=size, driver_state=driver_state)
        return self._update_where(upload_id, lambda row: row["writer"] == writer, values)

    def delete_upload(self, upload_id: str, writer: str | None = None) -> bool:
        row = self.state.table(UPLOAD).get(upload_id)
        if row is None or (writer is not None and row["writer"] != writer):
            return False
        return bool(delete_rows(self.state, UPLOAD, [upload_id]))

    def expired_uploads(self, before: datetime, limit: int) -> list[UploadSession]:
        before = utc(before)
        rows = [row for row in self.state.table(UPLOAD).values() if row["updated_at"] < before]
        return [_upload(row) for row in _limited(rows, limit)]


# --- artifacts -----------------------------------------------------------------------------


def _artifact(row: Row) -> Artifact:
    return Artifact(
        id=row["id"],
        image_id=row["image_id"],
        digest=row["digest"],
        media_type=row["media_type"],
        artifact_type=row["artifact_type"],
        size=row["size"],
        subject_digest=row["subject_digest"],
        pushed_at=row["pushed_at"],
        pulled_at=row["pulled_at"],
        created_at=row["created_at"],
        annotations=dict(row["annotations"] or {}),
    )


def _head(row: Row) -> ArtifactHead:
    return ArtifactHead(row["id"], row["digest"], row["media_type"], row["size"])


class MemoryArtifactStore(_Roles):
    """`ArtifactStore` over `artifact`, `artifact_blob` and `artifact_child` rows (and
    `registry`, `image`, `tag`, `blob`)."""

    def resolve_artifact(
        self, registry: str, image: str, reference: str, by_digest: bool
    ) -> tuple[int, ArtifactHead] | None:
        found = _image_in(self.state, registry, image)
        if found is None:
            return None
        if by_digest:
            row = find_row(self.state, ARTIFACT, image_id=found["id"], digest=reference)
        else:
            tag = find_row(self.state, TAG, image_id=found["id"], name=reference)
            row = None if tag is None else self.state.table(ARTIFACT).get(tag["artifact_id"])
        return None if row is None else (found["id"], _head(row))

    def manifest_body(self, artifact_id: int) -> bytes:
        row = self.state.table(ARTIFACT).get(artifact_id)
        if row is None:  # SQL: NoResultFound
            raise LookupError(f"no artifact {artifact_id}")
        return bytes(row["manifest"])

    def get_artifact(self, image_id: int, digest: str) -> Artifact | None:
        row = find_row(self.state, ARTIFACT, image_id=image_id, digest=digest)
        return _artifact(row) if row is not None else None

    def artifact_digests_present(self, image_id: int, digests: Sequence[str]) -> set[str]:
        wanted = set(digests)
        return {a["digest"] for a in select_rows(self.state, ARTIFACT, image_id=image_id)} & wanted

    def insert_artifact(self, image_id: int, artifact: NewArtifact, now: datetime) -> int:
        try:
            row = insert_row(
                self.state,
                ARTIFACT,
                {
                    "image_id": image_id,
                    "digest": artifact.digest,
                    "media_type": artifact.media_type,
                    "artifact_type": artifact.artifact_type,
                    "size": len(artifact.body),
                    "manifest": artifact.body,
                    "subject_digest": artifact.subject_digest,
                    "annotations": artifact.annotations,
                    "platforms": list(artifact.platforms),
                    "helm_chart": artifact.helm_chart.as_json() if artifact.helm_chart else None,
                    "pushed_at": now,
                    "created_at": now,
                },
            )
        except UniqueViolation:
            raise AlreadyExists(f"artifact {artifact.digest} already exists") from None
        artifact_id: int = row["id"]
        # As on SQL: blob digests must come without duplicates, child digests may repeat.
        for blob_digest in artifact.blob_digests:
            insert_row(
                self.state, ARTIFACT_BLOB, {"artifact_id": artifact_id, "digest": blob_digest}
            )
        for child in dict.fromkeys(artifact.child_digests):
            insert_row(self.state, ARTIFACT_CHILD, {"artifact_id": artifact_id, "digest": child})
        return artifact_id

    def touch_artifact_push(self, artifact_id: int, now: datetime) -> None:
        now = utc(now)
        if artifact_id in self.state.table(ARTIFACT):
            update_row(self.state, ARTIFACT, artifact_id, {"pushed_at": now})

    def delete_artifact(self, artifact_id: int) -> None:
        delete_rows(self.state, ARTIFACT, [artifact_id])  # its tags and references go with it

    def artifact_parents(self, image_id: int, digest: str) -> list[str]:
        artifacts = self.state.table(ARTIFACT)
        parents = (
            artifacts.get(c["artifact_id"])
            for c in select_rows(self.state, ARTIFACT_CHILD, digest=digest)
        )
        return [p["digest"] for p in parents if p is not None and p["image_id"] == image_id]

    def referrers(
        self, image_id: int, subject_digest: str, artifact_type: str | None
    ) -> list[Referrer]:
        rows = [
            a
            for a in select_rows(
                self.state, ARTIFACT, image_id=image_id, subject_digest=subject_digest
            )
            if artifact_type is None or a["artifact_type"] == artifact_type
        ]
        return [
            Referrer(
                a["digest"],
                a["media_type"],
                a["size"],
                a["artifact_type"],
                dict(a["annotations"] or {}),
            )
            for a in sorted(rows, key=lambda a: a["id"])
        ]

    def list_artifacts(self, image_id: int, page: PageRequest) -> Page[ArtifactSummary]:
        # Top-level artifacts only: an index's children are listed in the index's detail,
        # referrers under their subject.
        rows = _top_level(self.state, select_rows(self.state, ARTIFACT, image_id=image_id))
        if page.search:  # a digest prefix or a tag
            search = page.search
            tagged = {
                tag["artifact_id"]
                for tag in select_rows(self.state, TAG, image_id=image_id)
                if _like(tag["name"], search)
            }
            rows = [a for a in rows if _like(a["digest"], search) or a["id"] in tagged]
        sorts = {"pushed_at", "pulled_at", "size", "digest"}
        paged = [a["id"] for a in _paged(_ordered(rows, sorts, page.sort, "-pushed_at"), page)]
        summaries = {s.id: s for s in self.artifact_summaries(image_id, paged)}
        return Page([summaries[i] for i in paged], len(rows))

    def artifact_summaries(self, image_id: int, ids: Sequence[int]) -> list[ArtifactSummary]:
        """Summaries with sizes and tags for these artifacts (any image's, as on SQL); an
        index's size counts the children found in `image_id`, and referrers are counted
        in `image_id`."""
        artifacts = self.state.table(ARTIFACT)
        rows = [artifacts[i] for i in sorted(set(ids)) if i in artifacts]
        tags: dict[int, list[Row]] = {row["id"]: [] for row in rows}
        for tag in self.state.table(TAG).values():
            if tag["artifact_id"] in tags:
                tags[tag["artifact_id"]].append(tag)
        referrers: dict[str, int] = {}
        for artifact in select_rows(self.state, ARTIFACT, image_id=image_id):
            subject = artifact["subject_digest"]
            referrers[subject] = referrers.get(subject, 0) + 1
        sizes = {row["id"]: row["size"] + self._blob_bytes(row["id"]) for row in rows}
        for child in self.state.table(ARTIFACT_CHILD).values():
            if child["artifact_id"] not in sizes:
                continue
            found = find_row(self.state, ARTIFACT, image_id=image_id, digest=child["digest"])
            if found is not None:
                sizes[child["artifact_id"]] += found["size"] + self._blob_bytes(found["id"])
        return [
            ArtifactSummary(
                id=row["id"],
                digest=row["digest"],
                media_type=row["media_type"],
                artifact_type=row["artifact_type"],
                size=sizes[row["id"]],
                platforms=tuple(row["platforms"] or ()),
                helm_chart=HelmChart.from_json(row["helm_chart"]),
                pushed_at=row["pushed_at"],
                pulled_at=row["pulled_at"],
                tags=tuple(t["name"] for t in _newest_first(tags[row["id"]])[:RECENT_TAGS]),
                tag_count=len(tags[row["id"]]),
                referrer_count=referrers.get(row["digest"], 0)
                if row["image_id"] == image_id
                else 0,
            )
            for row in rows
        ]

    def _blob_bytes(self, artifact_id: int) -> int:
        """The sizes of the known blobs (live or not) an artifact references."""
        blobs = self.state.table(BLOB)
        return sum(
            blobs[ref["digest"]]["size"]
            for ref in select_rows(self.state, ARTIFACT_BLOB, artifact_id=artifact_id)
            if ref["digest"] in blobs
        )

    def record_pulls(self, pulls: Sequence[PullRecord]) -> None:
        # Never move a pull time backwards: batches from several nodes arrive in any order.
        for pull in pulls:
            at = utc(pull.at)
            artifact = self.state.table(ARTIFACT).get(pull.artifact_id)
            if artifact is not None and _earlier(artifact["pulled_at"], at):
                update_row(self.state, ARTIFACT, pull.artifact_id, {"pulled_at": at})
            if not pull.tag:
                continue
            tag = find_row(self.state, TAG, image_id=pull.image_id, name=pull.tag)
            if tag is not None and _earlier(tag["pulled_at"], at):
                update_row(self.state, TAG, tag["id"], {"pulled_at": at})


def _newest_first(tags: list[Row]) -> list[Row]:
    return sorted(tags, key=lambda tag: (tag["pushed_at"], tag["id"]), reverse=True)


def _glob_matches(name: str, glob: str) -> bool:
    """A simple glob (`TagStore.artifact_has_tag_like`): case-sensitive, whole name."""
    return re.fullmatch(glob_regex(glob), name, re.DOTALL) is not None


def _earlier(stamp: datetime | None, at: datetime) -> bool:
    return stamp is None or stamp < at


# --- tags ----------------------------------------------------------------------------------


class MemoryTagStore(_Roles):
    """`TagStore` over `tag` rows (and `artifact`)."""

    def _tag(self, row: Row) -> Tag | None:
        artifact = self.state.table(ARTIFACT).get(row["artifact_id"])
        if artifact is None:
            return None
        return Tag(
            row["name"], row["artifact_id"], artifact["digest"], row["pushed_at"], row["pulled_at"]
        )

    def get_tag(self, image_id: int, name: str) -> Tag | None:
        row = find_row(self.state, TAG, image_id=image_id, name=name)
        return None if row is None else self._tag(row)

    def put_tag(self, image_id: int, name: str, artifact_id: int, now: datetime) -> None:
        row = find_row(self.state, TAG, image_id=image_id, name=name)
        values = {"artifact_id": artifact_id, "pushed_at": now}
        if row is not None:  # moved: its pull time stays
            update_row(self.state, TAG, row["id"], values)
        else:
            insert_row(self.state, TAG, {"image_id": image_id, "name": name, **values})

    def delete_tag(self, image_id: int, name: str) -> bool:
        row = find_row(self.state, TAG, image_id=image_id, name=name)
        return row is not None and bool(delete_rows(self.state, TAG, [row["id"]]))

    def artifact_tags(self, artifact_id: int) -> list[str]:
        return sorted(tag["name"] for tag in select_rows(self.state, TAG, artifact_id=artifact_id))

    def artifact_has_tag_like(self, artifact_id: int, globs: Sequence[str], matching: bool) -> bool:
        return any(
            any(_glob_matches(tag["name"], glob) for glob in globs) == matching
            for tag in select_rows(self.state, TAG, artifact_id=artifact_id)
        )

    def artifact_tag_batch(
        self, artifact_id: int, after: TagCursor | None, limit: int
    ) -> tuple[list[str], TagCursor | None]:
        rows = _newest_first(select_rows(self.state, TAG, artifact_id=artifact_id))
        if after is not None:
            rows = [r for r in rows if (r["pushed_at"], r["id"]) < (after.pushed_at, after.tag_id)]
        batch = rows[: max(limit, 0)]
        if len(batch) < limit:
            return [r["name"] for r in batch], None
        return [r["name"] for r in batch], TagCursor(batch[-1]["pushed_at"], batch[-1]["id"])

    def list_tags(self, image_id: int, last: str | None, limit: int | None) -> list[str]:
        names = sorted(tag["name"] for tag in select_rows(self.state, TAG, image_id=image_id))
        if last:
            names = [name for name in names if name > last]
        return _limited(names, limit)

    def list_tag_page(self, image_id: int, artifact_id: int | None, page: PageRequest) -> Page[Tag]:
        rows = [
            tag
            for tag in select_rows(self.state, TAG, image_id=image_id)
            if (artifact_id is None or tag["artifact_id"] == artifact_id)
            and (not page.search or _like(tag["name"], page.search))
        ]
        ordered = _paged(
            _ordered(rows, {"name", "pushed_at", "pulled_at"}, page.sort, "name"), page
        )
        items = [self._tag(row) for row in ordered]
        return Page([tag for tag in items if tag is not None], len(rows))


if TYPE_CHECKING:  # structurally the role ports (checked by mypy)
    _registries: RegistryStore = MemoryRegistryStore(MemoryState())
    _images: ImageStore = MemoryImageStore(MemoryState())
    _blobs: BlobIndex = MemoryBlobIndex(MemoryState())
    _uploads: UploadStore = MemoryUploadStore(MemoryState())
    _artifacts: ArtifactStore = MemoryArtifactStore(MemoryState())
    _tags: TagStore = MemoryTagStore(MemoryState())
