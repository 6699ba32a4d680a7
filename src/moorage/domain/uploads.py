"""Blob uploads (monolithic, chunked, streamed, resumable, cross-repository mount) and reads.

Digests are computed while the bytes stream. A live hasher is kept in memory per upload
and offset, so a multi-PATCH upload needs no second pass; when this process does not hold
it (another node, a restart), `finish` re-reads the assembled upload to verify it before
the blob becomes visible. Hash state is never serialised.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

import anyio.to_thread

from moorage.domain.artifacts import parse_digest
from moorage.domain.errors import (
    BlobNotFound,
    DigestMismatch,
    DomainError,
    RangeInvalid,
    SizeMismatch,
    UploadNotFound,
)
from moorage.domain.model import Blob, Image, UploadSession
from moorage.domain.ports import BlobStore, MetadataStore, UnitOfWorkFactory, blob_key
from moorage.domain.repositories import (
    Clock,
    existing_image,
    image_for_push,
    split_name,
    utcnow,
)
from moorage.oci.digest import Digest

T = TypeVar("T")
UPLOAD_EXPIRY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class UploadStatus:
    id: str
    size: int


class _LiveHashers:
    """sha256 state of uploads in progress, by (upload id, size): valid only at that offset."""

    def __init__(self, limit: int = 512) -> None:
        self._items: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def take(self, upload_id: str, size: int) -> Any | None:
        with self._lock:
            item = self._items.pop(upload_id, None)
        if item is None:
            return hashlib.sha256() if size == 0 else None
        return item[1] if item[0] == size else None

    def keep(self, upload_id: str, size: int, hasher: Any) -> None:
        with self._lock:
            self._items[upload_id] = (size, hasher)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)


async def _hashing(chunks: AsyncIterator[bytes], hasher: Any | None) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if hasher is not None:
            hasher.update(chunk)
        yield chunk


class UploadService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        blobs: BlobStore,
        clock: Clock = utcnow,
        *,
        inline_reads: bool = False,
    ) -> None:
        self._uow = uow
        self._blobs = blobs
        self._clock = clock
        # Reads of a local SQLite file in WAL mode never wait on writers: cheaper on the
        # event loop than a thread hop. Writes always go to a thread (they may wait).
        self._inline_reads = inline_reads
        self._hashers = _LiveHashers()

    async def _db(self, fn: Callable[[MetadataStore], T], *, write: bool = False) -> T:
        def run() -> T:
            with self._uow(write=write) as store:
                return fn(store)

        if self._inline_reads and not write:
            return run()
        return await anyio.to_thread.run_sync(run)

    # reading --------------------------------------------------------------------------

    async def stat_blob(self, repository: str, digest: str) -> Blob:
        """The blob if this image may read it; BlobNotFound otherwise."""
        parse_digest(digest)

        def lookup(store: MetadataStore) -> Blob | None:
            return store.get_linked_blob(existing_image(store, repository).id, digest)

        blob = await self._db(lookup)
        if blob is None:
            raise BlobNotFound(digest)
        return blob

    async def read_small(self, repository: str, digest: str, limit: int) -> bytes | None:
        """A small blob the image may read (an image config), or None."""
        try:
            blob = await self.stat_blob(repository, digest)
        except DomainError:
            return None
        if blob.size > limit:
            return None
        data = bytearray()
        try:
            async for chunk in self._blobs.read(blob_key(Digest.parse(digest)), 0, blob.size):
                data += chunk
        except (KeyError, OSError, DomainError):
            return None
        return bytes(data)

    def blob_store(self) -> BlobStore:
        return self._blobs

    async def delete_blob(self, repository: str, digest: str) -> None:
        """Remove the image's link to the blob; the bytes go when garbage collection runs."""
        parse_digest(digest)

        def unlink(store: MetadataStore) -> bool:
            return store.unlink_blob(existing_image(store, repository).id, digest)

        if not await self._db(unlink, write=True):
            raise BlobNotFound(digest)

    # uploading ------------------------------------------------------------------------

    async def start(self, repository: str) -> UploadStatus:
        state = await self._blobs.begin_upload()
        now = self._clock()
        upload_id = uuid.uuid4().hex

        def create(store: MetadataStore) -> None:
            image = image_for_push(store, repository, now)
            store.create_upload(UploadSession(upload_id, image.id, 0, state, now, now))

        try:
            await self._db(create, write=True)
        except BaseException:
            await self._blobs.abort(state)
            raise
        return UploadStatus(upload_id, 0)

    async def mount(self, repository: str, digest: str, source: str | None) -> Blob | None:
        """Link a blob readable in `source` into `repository`; None when it cannot be mounted."""
        parse_digest(digest)
        if not source:
            return None
        now = self._clock()

        def link(store: MetadataStore) -> Blob | None:
            image = image_for_push(store, repository, now)
            src = _maybe_image(store, source)
            blob = store.get_linked_blob(src.id, digest) if src else None
            if blob is not None:
                store.link_blob(image.id, digest, now)
            return blob

        return await self._db(link, write=True)

    async def _session(self, repository: str, upload_id: str) -> UploadSession:
        def lookup(store: MetadataStore) -> UploadSession | None:
            registry, image = split_name(repository)
            session = store.get_upload_in(registry, image, upload_id)
            if session is None:
                existing_image(store, repository)  # NAME_UNKNOWN when the image is missing
            return session

        session = await self._db(lookup) if _plausible_id(upload_id) else None
        if session is None:
            raise UploadNotFound(upload_id)
        return session

    async def status(self, repository: str, upload_id: str) -> UploadStatus:
        session = await self._session(repository, upload_id)
        return UploadStatus(session.id, session.size)

    async def append(
        self,
        repository: str,
        upload_id: str,
        chunks: AsyncIterator[bytes],
        start: int | None = None,
        length: int | None = None,
    ) -> UploadStatus:
        """Append a chunk. `start` (from Content-Range) must continue the upload exactly."""
        session = await self._session(repository, upload_id)
        if start is not None and start != session.size:
            raise RangeInvalid(
                f"chunk starts at {start} but the upload holds {session.size} bytes", session.size
            )
        session = await self._append(session, chunks, length)
        return UploadStatus(session.id, session.size)

    async def _append(
        self,
        session: UploadSession,
        chunks: AsyncIterator[bytes],
        length: int | None,
        *,
        persist: bool = True,
    ) -> UploadSession:
        hasher = self._hashers.take(session.id, session.size)
        size, state = await self._blobs.append(session.driver_state, _hashing(chunks, hasher))
        if length is not None and size - session.size != length:
            raise SizeMismatch(
                f"received {size - session.size} bytes but Content-Length said {length}"
            )
        now = self._clock()
        if persist:  # not when finishing at once: the session row is deleted anyway
            await self._db(lambda s: s.update_upload(session.id, size, state, now), write=True)
        if hasher is not None:
            self._hashers.keep(session.id, size, hasher)
        return replace(session, size=size, driver_state=state, updated_at=now)

    async def finish(
        self, repository: str, upload_id: str, digest: str, chunks: AsyncIterator[bytes] | None
    ) -> Blob:
        """Append the last bytes, verify the digest and make the blob readable in the image."""
        expected = parse_digest(digest)
        session = await self._session(repository, upload_id)
        if chunks is not None:
            session = await self._append(session, chunks, None, persist=False)
        actual = await self._verify(session, expected)
        if actual != expected:
            await self._discard(session)
            raise DigestMismatch(str(expected), str(actual))
        return await self._publish(session, expected)

    async def upload_whole(
        self, repository: str, digest: str, chunks: AsyncIterator[bytes]
    ) -> Blob:
        """A blob in one request (POST ?digest=): no session row, one write at the end."""
        expected = parse_digest(digest)
        now = self._clock()

        found = await self._image_for_push(repository)
        session = UploadSession(
            uuid.uuid4().hex, found, 0, await self._blobs.begin_upload(), now, now
        )
        try:
            session = await self._append(session, chunks, None, persist=False)
            actual = await self._verify(session, expected)
        except BaseException:
            await self._blobs.abort(session.driver_state)
            raise
        if actual != expected:
            await self._blobs.abort(session.driver_state)
            raise DigestMismatch(str(expected), str(actual))
        return await self._publish(session, expected)

    async def _image_for_push(self, repository: str) -> int:
        """The image's id, created (in a write transaction) only on its first push."""

        def existing(store: MetadataStore) -> int | None:
            registry, image = split_name(repository)
            found = store.get_image(registry, image)
            return found.id if found else None

        found = await self._db(existing)
        if found is not None:
            return found
        now = self._clock()
        return await self._db(lambda s: image_for_push(s, repository, now).id, write=True)

    async def _publish(self, session: UploadSession, digest: Digest) -> Blob:
        """Make a verified upload the blob `digest`, readable in the session's image."""
        await self._blobs.commit(session.driver_state, blob_key(digest))
        now = self._clock()

        def record(store: MetadataStore) -> None:
            store.add_blob(str(digest), session.size, now)
            store.link_blob(session.image_id, str(digest), now)
            store.delete_upload(session.id)

        await self._db(record, write=True)
        return Blob(str(digest), session.size, now)

    async def _verify(self, session: UploadSession, expected: Digest) -> Digest:
        hasher = self._hashers.take(session.id, session.size)
        if hasher is None or expected.algorithm != "sha256":
            hasher = hashlib.new(expected.algorithm)
            async for chunk in self._blobs.read_upload(session.driver_state):
                hasher.update(chunk)
        return Digest(expected.algorithm, hasher.hexdigest())

    async def _discard(self, session: UploadSession) -> None:
        await self._blobs.abort(session.driver_state)
        await self._db(lambda s: s.delete_upload(session.id), write=True)

    async def cancel(self, repository: str, upload_id: str) -> None:
        await self._discard(await self._session(repository, upload_id))

    async def purge_expired(self, max_age: timedelta = UPLOAD_EXPIRY) -> int:
        """Throw away uploads untouched for `max_age`; returns how many."""
        before = self._clock() - max_age
        expired = await self._db(lambda s: s.expired_uploads(before, 1000))
        for session in expired:
            await self._discard(session)
        return len(expired)


def _plausible_id(upload_id: str) -> bool:
    return len(upload_id) == 32 and all(c in "0123456789abcdef" for c in upload_id)


def _maybe_image(store: MetadataStore, repository: str) -> Image | None:
    try:
        return existing_image(store, repository)
    except DomainError:
        return None
