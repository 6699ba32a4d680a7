"""Manifests, tags and referrers: push, pull and delete artifacts, with the bookkeeping."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from moorage.domain.content.digest_cache import DigestCache
from moorage.domain.content.errors import (
    InvalidDigest,
    InvalidManifest,
    TagNotFound,
    TagPointsElsewhere,
)
from moorage.domain.content.names import check_tag, existing_image, image_for_push, split_name
from moorage.domain.content.ports import ContentTx, PullRecord, PushListener
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import (
    AlreadyExists,
    Conflict,
    DigestMismatch,
    ManifestBlobUnknown,
    ManifestNotFound,
)
from moorage.domain.kernel.model import (
    ArtifactHead,
    HelmChart,
    Image,
    NewArtifact,
    Referrer,
    Tag,
    Webhook,
)
from moorage.domain.kernel.ports import CommittedVersion, UnitOfWork, no_committed_version
from moorage.domain.policies.protection import check_artifact_delete, check_tag_update
from moorage.domain.policies.service import protection_for
from moorage.domain.webhooks.events import (
    record_artifact_event,
    subscribers,
)
from moorage.domain.webhooks.payloads import EventType
from moorage.oci import manifests, names
from moorage.oci.digest import Digest, DigestError
from moorage.oci.limits import JsonError, load_json

log = logging.getLogger("moorage.artifacts")
DELETED = EventType.DELETE_ARTIFACT
K = TypeVar("K")
V = TypeVar("V")
MANIFEST_CACHE_BYTES = 8 * 1024 * 1024  # manifests kept for GETs, by digest (the default)


def parse_digest(value: str) -> Digest:
    try:
        return Digest.parse(value)
    except DigestError as exc:
        raise InvalidDigest(str(exc)) from None


def parse_manifest(body: bytes, content_type: str) -> manifests.ParsedManifest:
    """Parse a manifest body; InvalidManifest says why it cannot be accepted."""
    try:
        return manifests.parse(body, content_type)
    except manifests.ManifestError as exc:
        raise InvalidManifest(str(exc)) from None


def is_digest(reference: str) -> bool:
    return ":" in reference


def is_valid_tag(reference: str) -> bool:
    try:
        names.check_tag(reference)
    except names.InvalidTagError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject_digest: str | None


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    image_id: int
    head: ArtifactHead
    body: bytes | None  # None for HEAD requests


class _KeptUnderVersion(Generic[K, V]):
    """What the store answered, kept while its committed version stays the one it was read
    under (see `CommittedVersion`): any commit anywhere empties it.

    Bounded by the entries' total weight (`weigh(key, value)`, at least 1 each: an entry costs
    memory however little it holds); when full it starts over rather than evicting one by one
    (live entries refill in one read each), and an entry heavier than the whole bound is not
    kept."""

    def __init__(self, max_weight: int, weigh: Callable[[K, V], int] = lambda _k, _v: 1) -> None:
        self._entries: dict[K, V] = {}
        self._version: Hashable | None = None
        self._weight = 0
        self._max = max_weight
        self._weigh = weigh
        self._lock = threading.Lock()

    def get(self, version: Hashable, key: K) -> V | None:
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._weight = 0
                self._version = version
                return None
            return self._entries.get(key)

    def put(self, version: Hashable, key: K, value: V) -> None:
        """Keep `value`, read in a transaction begun after `version` was seen: it is at least
        as new as that version, so a commit after it changes the version and drops it."""
        weight = max(1, self._weigh(key, value))
        with self._lock:
            if version != self._version or weight > self._max or key in self._entries:
                return
            if self._weight + weight > self._max:
                self._entries.clear()
                self._weight = 0
            self._entries[key] = value
            self._weight += weight


# What repository + reference resolved to: an entry is at most about 800 bytes (a repository
# name of up to 255 characters, a reference, the artifact's head), so 4,096 stay under 4 MiB.
RESOLVED_REFERENCES = 4096
# Tag lists (`list_tags`), by the tags they hold: at most about 60 bytes each, so 3 MiB. A
# list's key counts too, in the same units: `last` is whatever the client sent.
KEPT_TAG_NAMES = 50_000
NAME_BYTES = 60


def _tag_list_weight(key: tuple[str, str | None, int | None], tags: tuple[str, ...]) -> int:
    repository, last, _limit = key
    return 1 + len(tags) + (len(repository) + len(last or "")) // NAME_BYTES


def _platform(desc: manifests.Descriptor) -> str | None:
    if not desc.platform:
        return None
    parts = [desc.platform.get("os"), desc.platform.get("architecture")]
    if desc.platform.get("variant"):
        parts.append(desc.platform.get("variant"))
    return "/".join(str(p) for p in parts if p)


HELM_FIELD_MAX = 255  # longer names or versions are not a chart's: not recorded


def helm_chart_of_config(data: bytes) -> HelmChart | None:
    """A Helm chart's name, version and app version from its config (Chart.yaml as JSON);
    None when the config does not say a name and a version as strings."""
    try:
        doc = load_json(data)
    except JsonError:  # beyond the bounds a client's JSON must keep: says nothing
        return None
    if not isinstance(doc, dict):
        return None
    name, version, app_version = doc.get("name"), doc.get("version"), doc.get("appVersion")
    if not (_helm_field(name) and _helm_field(version)):
        return None
    return HelmChart(
        name=str(name),
        version=str(version),
        app_version=app_version if _helm_field(app_version) else None,
    )


def _helm_field(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= HELM_FIELD_MAX


def _new_artifact(
    body: bytes,
    digest: Digest,
    parsed: manifests.ParsedManifest,
    platform: str | None,
    helm_chart: HelmChart | None,
) -> NewArtifact:
    platforms = tuple(p for p in (_platform(c) for c in parsed.children) if p)
    if platform and not parsed.is_index:
        platforms = (platform,)
    return NewArtifact(
        digest=str(digest),
        media_type=parsed.media_type,
        artifact_type=parsed.effective_artifact_type,
        body=body,
        subject_digest=str(parsed.subject.digest) if parsed.subject else None,
        annotations=parsed.annotations,
        blob_digests=tuple(str(d.digest) for d in parsed.blobs),
        child_digests=tuple(str(c.digest) for c in parsed.children),
        platforms=platforms,
        helm_chart=helm_chart if manifests.helm_config(parsed) else None,
    )


def _size_differs(desc: manifests.Descriptor, stored: int, what: str) -> str:
    return (
        f"{desc.where} says {desc.digest} is {desc.size} bytes; the stored {what} is {stored} bytes"
    )


class ArtifactService:
    """Everything the protocol does with manifests; rules live here, storage in the store."""

    def __init__(
        self,
        uow: UnitOfWork[ContentTx],
        clock: Clock = utcnow,
        listeners: Sequence[PushListener] = (),
        committed_version: CommittedVersion = no_committed_version,
        manifest_cache_bytes: int = MANIFEST_CACHE_BYTES,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._cache = DigestCache(manifest_cache_bytes)
        self._committed_version = committed_version
        self._resolved: _KeptUnderVersion[tuple[str, str], tuple[int, ArtifactHead]]
        self._resolved = _KeptUnderVersion(RESOLVED_REFERENCES)
        self._tag_lists: _KeptUnderVersion[tuple[str, str | None, int | None], tuple[str, ...]]
        self._tag_lists = _KeptUnderVersion(KEPT_TAG_NAMES, _tag_list_weight)
        self._listeners = tuple(listeners)

    def put_manifest(
        self,
        repository: str,
        reference: str,
        content_type: str,
        body: bytes,
        operator: str | None = None,
        platform: str | None = None,
        parsed: manifests.ParsedManifest | None = None,
        helm_chart: HelmChart | None = None,
        *,
        cached: bool = False,
    ) -> PushedManifest:
        """Validate and store a manifest, then point the tag (if any) at it; the push event
        is recorded in the same transaction. `platform` is an image's `os/arch` as its
        config says, `helm_chart` what a Helm chart's config says (see `config_to_read`).
        `parsed` is `body` already parsed with `parse_manifest` (the protocol layer parses
        it once, off the event loop). `cached`: a proxy cache's copy of an upstream manifest,
        whose blobs and children may be absent (they are fetched when a client asks)."""
        if parsed is None:
            parsed = parse_manifest(body, content_type)
        if is_digest(reference):
            expected = parse_digest(reference)
            digest = Digest.of(body, expected.algorithm)
            if digest != expected:
                raise DigestMismatch(str(expected), str(digest))
            tag = None
        else:
            tag = check_tag(reference)
            digest = Digest.of(body)
        artifact = _new_artifact(body, digest, parsed, platform, helm_chart)
        now = self._clock()
        with self._uow(write=True) as store:
            image = image_for_push(store, repository, now)
            self._check_references(store, image.id, artifact, parsed, cached)
            store.images.lock_image(image.id)
            artifact_id = self._store_artifact(store, image.id, artifact, now)
            if tag is not None:
                self._move_tag(store, image, tag, artifact.digest)
                store.tags.put_tag(image.id, tag, artifact_id, now)
                for listener in self._listeners:
                    listener.tag_pushed(
                        store, image.registry_id, image.name, tag, artifact.digest, now
                    )
            tags = [tag] if tag is not None else []
            self._event(store, image, EventType.PUSH_ARTIFACT, artifact.digest, tags, operator)
        self._cache.put(artifact.digest, body)
        return PushedManifest(artifact.digest, artifact.subject_digest)

    @staticmethod
    def _store_artifact(
        store: ContentTx, image_id: int, artifact: NewArtifact, now: datetime
    ) -> int:
        """The artifact's id: inserted, or (pushed again) the one there, its push time
        renewed. The insert is tried first: most pushes are of new manifests."""
        try:
            return store.artifacts.insert_artifact(image_id, artifact, now)
        except AlreadyExists:
            existing = store.artifacts.get_artifact(image_id, artifact.digest)
            assert existing is not None  # the image is locked: nothing deleted it meanwhile
        store.artifacts.touch_artifact_push(existing.id, now)
        return existing.id

    @staticmethod
    def config_to_read(parsed: manifests.ParsedManifest) -> str | None:
        """The digest of the config a push should read, if any: an image's, for its platform
        (`platform_of_config`), or a Helm chart's, for its name and versions
        (`helm_chart_of_config`)."""
        config = manifests.image_config(parsed) or manifests.helm_config(parsed)
        return str(config.digest) if config else None

    @staticmethod
    def _check_references(
        store: ContentTx,
        image_id: int,
        artifact: NewArtifact,
        parsed: manifests.ParsedManifest,
        cached: bool = False,
    ) -> None:
        """Every blob and child the manifest references is there, live, readable by the
        image, and of the size its descriptor states (clients verify what they pull
        against it, so a wrong size would break every pull of the manifest)."""
        # Blobs garbage collection marked come back to live here, in the transaction that
        # references them; one it is already deleting counts as unknown (the client uploads
        # it again).
        live = store.blobs.take_back(artifact.blob_digests)
        sizes = store.blobs.linked_sizes(image_id, artifact.blob_digests)
        missing_blobs = set(artifact.blob_digests) - (live & sizes.keys())
        if missing_blobs and not cached:
            raise ManifestBlobUnknown(sorted(missing_blobs)[0])
        missing_children = set(artifact.child_digests) - store.artifacts.artifact_digests_present(
            image_id, artifact.child_digests
        )
        if missing_children and not cached:
            raise ManifestBlobUnknown(sorted(missing_children)[0], "manifest")
        for desc in ((parsed.config,) if parsed.config else ()) + parsed.layers:
            size = sizes.get(str(desc.digest))
            if size is not None and size != desc.size:
                raise InvalidManifest(_size_differs(desc, size, "blob"))
        for desc in parsed.children:
            child = store.artifacts.get_artifact(image_id, str(desc.digest))
            if child is not None and child.size != desc.size:
                raise InvalidManifest(_size_differs(desc, child.size, "manifest"))

    def get_manifest(self, repository: str, reference: str, *, with_body: bool) -> FetchedManifest:
        by_digest = is_digest(reference)
        if by_digest:
            parse_digest(reference)
        elif not is_valid_tag(reference):
            raise ManifestNotFound(repository, reference)  # no such tag can exist
        version = self._committed_version()
        if version is not None:
            found = self._resolved.get(version, (repository, reference))
            if found is not None:
                image_id, head = found
                body = self._cache.get(head.digest) if with_body else None
                if body is not None or not with_body:  # answered without a transaction
                    return FetchedManifest(image_id, head, body)
        registry, image = split_name(repository)
        with self._uow() as store:
            found = store.artifacts.resolve_artifact(registry, image, reference, by_digest)
            if found is None:
                existing_image(store, repository)  # NAME_UNKNOWN when the image is missing
                raise ManifestNotFound(repository, reference)
            image_id, head = found
            body = None
            if with_body:
                body = self._cache.get(head.digest)
                if body is None:
                    body = store.artifacts.manifest_body(head.id)
                    self._cache.put(head.digest, body)
        if version is not None:
            self._resolved.put(version, (repository, reference), found)
        return FetchedManifest(image_id, head, body)

    def image_id(self, repository: str) -> int:
        with self._uow() as store:
            return existing_image(store, repository).id

    def delete_manifest(self, repository: str, reference: str, operator: str | None = None) -> None:
        """By digest: delete the artifact with all its tags. By tag: delete just the tag.
        Either way a delete event is recorded in the same transaction."""
        with self._uow(write=True) as store:
            image = existing_image(store, repository)
            store.images.lock_image(image.id)
            if is_digest(reference):
                self._delete_artifacts(store, image, [parse_digest(reference)], operator)
                return
            found = store.tags.get_tag(image.id, reference) if is_valid_tag(reference) else None
            if found is None:
                raise ManifestNotFound(repository, reference)
            self._move_tag(store, image, reference, None)
            store.tags.delete_tag(image.id, reference)
            self._event(store, image, DELETED, found.digest, [reference], operator)

    def delete_artifacts(
        self, repository: str, references: Sequence[str], operator: str | None = None
    ) -> None:
        """Delete several artifacts (by digest or tag) at once: all of them or none."""
        with self._uow(write=True) as store:
            image = existing_image(store, repository)
            store.images.lock_image(image.id)
            digests = [self._resolve_digest(store, image, ref) for ref in references]
            self._delete_artifacts(store, image, digests, operator)

    def delete_images(
        self, registry: str, images: Sequence[str], operator: str | None = None
    ) -> None:
        """Delete whole images with every artifact and tag: all of them or none."""
        with self._uow(write=True) as store:
            for name in images:
                image = existing_image(store, f"{registry}/{name}")
                store.images.lock_image(image.id)
                self._delete_image(store, image, operator)

    def _delete_image(self, store: ContentTx, image: Image, operator: str | None) -> None:
        policies = protection_for(store, image.registry_id)
        webhooks = store.webhooks.list_webhooks(image.registry_id)
        ids = store.images.image_artifact_ids(image.id)
        digests = {}  # looked up only when a webhook wants delete events
        if subscribers(webhooks, DELETED):
            digests = {a.id: a.digest for a in store.artifacts.artifact_summaries(image.id, ids)}
        for artifact_id in ids:
            tags = store.tags.artifact_tags(artifact_id)
            check_artifact_delete(policies, image.name, tags)
            store.artifacts.delete_artifact(artifact_id)
            if artifact_id in digests:
                self._event(store, image, DELETED, digests[artifact_id], tags, operator, webhooks)
        store.images.delete_image_if_empty(image.id)

    def tag_artifact(
        self, repository: str, reference: str, tag: str, *, move: bool = False
    ) -> None:
        """Point a tag at an artifact of the image, without a client. A tag that points at
        another artifact is refused (`TagPointsElsewhere`, naming it) unless `move` says to
        move it; moving, like deleting, is subject to protection."""
        check_tag(tag)
        with self._uow(write=True) as store:
            image = existing_image(store, repository)
            store.images.lock_image(image.id)
            digest = self._resolve_digest(store, image, reference)
            artifact = store.artifacts.get_artifact(image.id, str(digest))
            assert artifact is not None
            current = store.tags.get_tag(image.id, tag)
            if current is not None and current.digest != artifact.digest and not move:
                raise TagPointsElsewhere(repository, tag, current.digest)
            self._move_tag(store, image, tag, artifact.digest)
            store.tags.put_tag(image.id, tag, artifact.id, self._clock())

    def delete_tag(
        self,
        repository: str,
        tag: str,
        reference: str | None = None,
        operator: str | None = None,
    ) -> None:
        """Delete a tag; with `reference`, only if the tag points at that artifact."""
        with self._uow(write=True) as store:
            image = existing_image(store, repository)
            store.images.lock_image(image.id)
            found = self._existing_tag(store, image, tag)
            if (
                reference is not None
                and str(self._resolve_digest(store, image, reference)) != found.digest
            ):
                raise TagNotFound(repository, tag)
            self._move_tag(store, image, tag, None)
            store.tags.delete_tag(image.id, tag)
            self._event(store, image, DELETED, found.digest, [tag], operator)

    def delete_tags(
        self, repository: str, tags: Sequence[str], operator: str | None = None
    ) -> None:
        """Delete several tags of one image at once: all of them or none. An unknown tag
        (`TagNotFound`) or a protected one (`Protected`, naming it and its policy) refuses
        the whole request; each deleted tag gets its delete event, as a single delete."""
        with self._uow(write=True) as store:
            image = existing_image(store, repository)
            store.images.lock_image(image.id)
            found = {name: self._existing_tag(store, image, name) for name in dict.fromkeys(tags)}
            policies = protection_for(store, image.registry_id)
            for name, tag in found.items():
                check_tag_update(policies, image.name, name, tag.digest, None)
            webhooks = store.webhooks.list_webhooks(image.registry_id)
            for name, tag in found.items():
                store.tags.delete_tag(image.id, name)
                self._event(store, image, DELETED, tag.digest, [name], operator, webhooks)

    @staticmethod
    def _existing_tag(store: ContentTx, image: Image, name: str) -> Tag:
        found = store.tags.get_tag(image.id, name) if is_valid_tag(name) else None
        if found is None:
            raise TagNotFound(image.repository, name)
        return found

    @staticmethod
    def _resolve_digest(store: ContentTx, image: Image, reference: str) -> Digest:
        by_digest = is_digest(reference)
        if by_digest:
            parse_digest(reference)
        elif not is_valid_tag(reference):
            raise ManifestNotFound(image.repository, reference)
        found = store.artifacts.resolve_artifact(image.registry, image.name, reference, by_digest)
        if found is None:
            raise ManifestNotFound(image.repository, reference)
        return Digest.parse(found[1].digest)

    @staticmethod
    def _move_tag(store: ContentTx, image: Image, tag: str, new_digest: str | None) -> None:
        """Refuse (Protected) to move or delete a protected tag; in the caller's transaction."""
        current = store.tags.get_tag(image.id, tag)
        policies = protection_for(store, image.registry_id)
        check_tag_update(policies, image.name, tag, current.digest if current else None, new_digest)

    def _event(
        self,
        store: ContentTx,
        image: Image,
        event_type: EventType,
        digest: str,
        tags: Sequence[str],
        operator: str | None,
        webhooks: Sequence[Webhook] | None = None,
    ) -> None:
        """Record an event in the caller's transaction; about `tags[0]` when there are tags."""
        tag = tags[0] if tags else None
        now = self._clock()
        record_artifact_event(
            store,
            image,
            event_type,
            digest,
            tag=tag,
            tags=tags,
            operator=operator,
            now=now,
            webhooks=webhooks,
        )

    def _delete_artifacts(
        self,
        store: ContentTx,
        image: Image,
        digests: Sequence[Digest],
        operator: str | None = None,
    ) -> None:
        doomed = {str(d) for d in digests}
        policies = protection_for(store, image.registry_id)
        found = {digest: store.artifacts.get_artifact(image.id, digest) for digest in doomed}
        missing = sorted(d for d, a in found.items() if a is None)
        if missing:
            raise ManifestNotFound(image.repository, missing[0])
        # In id order: every writer locks artifact rows in one order (no deadlocks).
        for artifact in sorted((a for a in found.values() if a is not None), key=lambda a: a.id):
            digest = artifact.digest
            parents = set(store.artifacts.artifact_parents(image.id, digest)) - doomed
            if parents:
                raise Conflict(
                    f"manifest {digest} is part of index {sorted(parents)[0]}: "
                    "delete the index first"
                )
            tags = store.tags.artifact_tags(artifact.id)
            check_artifact_delete(policies, image.name, tags)
            store.artifacts.delete_artifact(artifact.id)
            self._event(store, image, DELETED, digest, tags, operator)

    def list_tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        """The image's tag names after `last`, at most `limit`. Kept while nothing is
        committed (as resolved references are): clients list the same tags again and again,
        and a list of 10,000 tags costs milliseconds to read."""
        version = self._committed_version()
        key = (repository, last, limit)
        if version is not None and (kept := self._tag_lists.get(version, key)) is not None:
            return list(kept)
        with self._uow() as store:
            image = existing_image(store, repository)
            tags = store.tags.list_tags(image.id, last, limit)
        if version is not None:
            self._tag_lists.put(version, key, tuple(tags))
        return tags

    def referrers(self, repository: str, digest: str, artifact_type: str | None) -> list[Referrer]:
        parse_digest(digest)
        with self._uow() as store:
            image = existing_image(store, repository)
            return store.artifacts.referrers(image.id, digest, artifact_type)

    def catalog(self, last: str | None, limit: int, registries: set[str] | None) -> list[str]:
        """Repositories after `last`, only in `registries` unless that is None (all)."""
        with self._uow() as store:
            return store.images.catalog(last, limit, registries)


class PullRecorder:
    """Collects pulls in memory and writes them in batches, off the pull path (SPEC §4).

    Pull times are merged per artifact and tag; pull events (for webhooks) are not — each
    pull is one event — so they wait in a bounded list, and beyond `max_events` new ones
    are dropped rather than let memory grow while the database is unreachable. The log
    counts the dropped events some webhook wanted; those of images nobody listens to (the
    usual case under heavy pulls) would have been discarded by the flush anyway.
    """

    def __init__(
        self, uow: UnitOfWork[ContentTx], clock: Clock = utcnow, max_events: int = 10_000
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._pending: dict[tuple[int, str | None], PullRecord] = {}
        self._events: list[PullEvent] = []
        self._max_events = max_events
        self._dropped: dict[str, int] = {}  # per repository (REGISTRY/IMAGE)
        self._lock = threading.Lock()

    def record(
        self,
        image_id: int,
        artifact_id: int,
        tag: str | None,
        *,
        repository: str | None = None,
        digest: str | None = None,
        operator: str | None = None,
    ) -> None:
        """Note a pull; with `repository` and `digest` also its event."""
        with self._lock:
            now = self._clock()
            key = (artifact_id, tag)
            self._pending.pop(key, None)  # re-insert: the batch stays in time order
            self._pending[key] = PullRecord(artifact_id, tag, image_id, now)
            if repository is not None and digest is not None:
                self._keep_event(PullEvent(repository, digest, tag, operator, now))

    def _keep_event(self, event: PullEvent) -> None:
        if len(self._events) < self._max_events:
            self._events.append(event)
        else:
            self._dropped[event.repository] = self._dropped.get(event.repository, 0) + 1

    def flush(self) -> int:
        with self._lock:
            batch: Sequence[PullRecord] = list(self._pending.values())
            events, self._events = self._events, []
            dropped, self._dropped = self._dropped, {}
            self._pending.clear()
        if not batch and not events and not dropped:
            return 0
        try:
            with self._uow(write=True) as store:
                store.artifacts.record_pulls(batch)
                listeners = PullListeners(store)
                record_pull_events(store, events, listeners)
                wanted = sum(n for repo, n in dropped.items() if listeners.of(repo) is not None)
        except BaseException:
            self._restore(batch, events, dropped)
            raise
        if wanted:
            log.warning(
                "pull events dropped count=%d reason=more than %d waiting",
                wanted,
                self._max_events,
            )
        return len(batch)

    def _restore(
        self, batch: Sequence[PullRecord], events: list[PullEvent], dropped: dict[str, int]
    ) -> None:
        """Keep a failed batch for the next flush (newer pulls of a key win), and the count
        of dropped events for the next flush's log."""
        with self._lock:
            for pull in batch:
                self._pending.setdefault((pull.artifact_id, pull.tag), pull)
            for repository, count in dropped.items():
                self._dropped[repository] = self._dropped.get(repository, 0) + count
            newer, self._events = self._events, []
            for event in [*events, *newer]:
                self._keep_event(event)


@dataclass(frozen=True, slots=True)
class PullEvent:
    repository: str  # REGISTRY/IMAGE
    digest: str
    tag: str | None  # None when pulled by digest
    operator: str | None
    at: datetime


class PullListeners:
    """The webhooks that want an image's pull events, looked up once per repository for
    one flush's transaction."""

    def __init__(self, store: ContentTx) -> None:
        self._store = store
        self._images: dict[str, Image | None] = {}
        self._webhooks: dict[int, list[Webhook]] = {}

    def of(self, repository: str) -> tuple[Image, list[Webhook]] | None:
        """The image named `repository` (REGISTRY/IMAGE) and its registry's webhooks that
        subscribe to pulls; None when it no longer exists or nothing subscribes."""
        if repository not in self._images:
            registry, _, name = repository.partition("/")
            self._images[repository] = self._store.images.get_image(registry, name)
        image = self._images[repository]
        if image is None:
            return None
        if image.registry_id not in self._webhooks:
            found = self._store.webhooks.list_webhooks(image.registry_id)
            self._webhooks[image.registry_id] = subscribers(found, EventType.PULL_ARTIFACT)
        webhooks = self._webhooks[image.registry_id]
        return (image, webhooks) if webhooks else None


def record_pull_events(
    store: ContentTx, pulls: Sequence[PullEvent], listeners: PullListeners
) -> int:
    """One event per pull (unlike pull times, pulls are not merged), for the registries
    whose webhooks want them; returns how many were stored. Pulls of images deleted since
    are dropped."""
    stored = 0
    for pull in pulls:
        wanted = listeners.of(pull.repository)
        if wanted is None:
            continue
        image, webhooks = wanted
        tags = [pull.tag] if pull.tag else []
        record_artifact_event(
            store,
            image,
            EventType.PULL_ARTIFACT,
            pull.digest,
            tag=pull.tag,
            tags=tags,
            operator=pull.operator,
            now=pull.at,
            webhooks=webhooks,
        )
        stored += 1
    return stored
