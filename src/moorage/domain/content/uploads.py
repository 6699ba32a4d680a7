"""Blob uploads (monolithic, chunked, streamed, resumable, cross-repository mount) and reads.

Digests are computed while the bytes stream. A live hasher is kept in memory per upload
and offset, so a multi-PATCH upload needs no second pass; when this process does not hold
it (another node, a restart), `finish` re-reads the assembled upload to verify it before
the blob becomes visible. Hash state is never serialised.

One writer at a time: every request that changes an upload session (PATCH, PUT, DELETE,
expiry) first claims it in the metadata store by compare-and-set on (size, no other
writer), on every node alike, and releases it with the new size in another compare-and-set
that only the claimant can make. A second concurrent request is refused (416 with the
upload's size) instead of interleaving its bytes, so the live hasher always describes
exactly the bytes stored for the session. A claim is renewed while the bytes stream; one
not renewed for the lease period belongs to a dead process and may be taken over.

A verified upload is always committed over whatever object its key holds: a leftover of a
crash, or bytes found not to match their digest, never outlive a correct push.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import anyio

from moorage.domain.content.artifacts import parse_digest
from moorage.domain.content.digest_cache import DigestCache
from moorage.domain.content.errors import BlobBeingCollected
from moorage.domain.content.names import existing_image, image_for_push, split_name
from moorage.domain.content.ports import BlobStore, UploadTx
from moorage.domain.content.writers import WriterTokens
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import (
    BlobNotFound,
    DigestMismatch,
    DomainError,
    RangeInvalid,
    SizeMismatch,
    UploadBusy,
    UploadClaimLost,
    UploadLocked,
    UploadNotFound,
)
from moorage.domain.kernel.model import Blob, BlobStatus, Image, UploadSession
from moorage.domain.kernel.ports import UnitOfWork
from moorage.oci.digest import LOWER_HEX, Digest

T = TypeVar("T")
log = logging.getLogger("moorage.uploads")

UPLOAD_EXPIRY = timedelta(hours=24)
CLAIM_LEASE = timedelta(minutes=2)
"""How long a writer's claim on an upload lasts without renewal. Longer than any body
inactivity timeout, so only a dead process's claim ever lapses."""
CLAIM_RENEW_SECONDS = 15.0
SMALL_BODY = 64 * 1024
"""A whole blob up to this size is received into memory, hashed on the event loop and
stored in one step (an image config, a small layer): no upload file to open and seal."""
RECENT_DOCUMENT_BYTES = 1024 * 1024
"""Small JSON blobs (image and Helm configs) kept by digest after their push, in up to this
much memory (`DigestCache`: a config of 200 bytes takes about 460; none over a sixteenth of
it): the manifest push that follows moments later reads its config from here instead of the
store (`peek_small`), for the last two thousand or so such configs pushed."""
COLLECTION_WAIT_SECONDS = 0.2
COLLECTION_WAIT_TRIES = 50
"""How long an upload finishing onto a blob being garbage-collected waits for it to go."""


@dataclass(frozen=True, slots=True)
class BlobSource:
    redirect_url: str | None = None
    local_path: str | None = None


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

    def forget(self, upload_id: str) -> None:
        with self._lock:
            self._items.pop(upload_id, None)

    def keep(self, upload_id: str, size: int, hasher: Any) -> None:
        with self._lock:
            self._items[upload_id] = (size, hasher)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _Private:
    """A whole blob received for one request alone: its bytes themselves when small
    (`data`, stored with `BlobStore.put`), else a private upload (`session`) holding them."""

    session: UploadSession
    data: bytes | None


async def _small_or_streamed(
    chunks: AsyncIterator[bytes], limit: int
) -> tuple[bytes | None, AsyncIterator[bytes]]:
    """The whole body when it ends within `limit` bytes; otherwise None and the body again
    from its start (the chunks read so far, then the rest as it arrives)."""
    head: list[bytes] = []
    size = 0
    async for chunk in chunks:
        head.append(chunk)
        size += len(chunk)
        if size > limit:
            return None, _chained(head, chunks)
    return b"".join(head), chunks


def _looks_like_json(data: bytes) -> bool:
    """An object's opening brace first: a config, not a small layer (gzip, tar, zstd)."""
    return data[:1] == b"{"


async def _chained(head: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk
    async for chunk in rest:
        yield chunk


@dataclass(slots=True)
class _Claim:
    """This request's exclusive right to write one upload session."""

    upload_id: str
    writer: str
    settled: bool = False


class UploadService:
    def __init__(
        self,
        uow: UnitOfWork[UploadTx],
        blobs: BlobStore,
        clock: Clock = utcnow,
        *,
        blocking: Blocking | None = None,
        claim_lease: timedelta = CLAIM_LEASE,
        writers: WriterTokens | None = None,
    ) -> None:
        self._uow = uow
        self._blobs = blobs
        self._clock = clock
        self._claim_lease = claim_lease
        self._writers = writers or WriterTokens()
        self._blocking = blocking or Blocking()
        self._hashers = _LiveHashers()
        self._recent_documents = DigestCache(RECENT_DOCUMENT_BYTES)

    async def _db(self, fn: Callable[[UploadTx], T], *, write: bool = False) -> T:
        """`fn` in a transaction of its own, where `Blocking` says reads and writes run."""

        def run(wait: bool = True) -> T:
            with self._uow(write=write, wait=wait) as store:
                return fn(store)

        if write:
            return await self._blocking.write(run)
        return await self._blocking.read(run)

    # reading --------------------------------------------------------------------------

    async def stat_blob(self, repository: str, digest: str) -> Blob:
        """The blob if this image may read it; BlobNotFound otherwise."""
        parse_digest(digest)

        def lookup(store: UploadTx) -> Blob | None:
            return store.blobs.get_linked_blob(existing_image(store, repository).id, digest)

        blob = await self._db(lookup)
        if blob is None:
            raise BlobNotFound(digest)
        return blob

    async def peek_small(self, digest: str, limit: int) -> bytes | None:
        """A small blob's verified bytes straight from the store by digest, or None (absent,
        larger than `limit`, or not matching its digest).

        Nothing checks which image may read it: only for deriving what a manifest push
        records from its config, a push whose own transaction then refuses a config the
        image cannot read (so nothing derived from another's blob is kept)."""
        parsed = parse_digest(digest)
        recent = self._recent_documents.get(digest)
        if recent is not None:  # verified when it was pushed; a digest's bytes never change
            return recent if len(recent) <= limit else None
        data = bytearray()
        try:
            async for chunk in self._blobs.read(self._blobs.key_for(parsed), 0, limit + 1):
                data += chunk
        except (KeyError, OSError, DomainError):
            return None
        if not data or len(data) > limit:
            return None
        actual = hashlib.new(parsed.algorithm, data).hexdigest()
        if actual != parsed.hex:
            # Wrong bytes under the digest, whoever asked: no longer served, and the push's
            # transaction then finds the config unknown until verified bytes replace them.
            await self.quarantine(digest, f"its bytes hash to {parsed.algorithm}:{actual}")
            return None
        return bytes(data)

    async def blob_source(self, digest: str, *, private: bool) -> BlobSource:
        """Where a download of the blob should come from: a short-lived URL to redirect the
        client to, a local file the web server sends itself, or neither (stream it)."""
        key = self._blobs.key_for(Digest.parse(digest))
        redirect = await self._blobs.redirect_url(key, private=private)
        if redirect is not None:
            return BlobSource(redirect_url=redirect)
        return BlobSource(local_path=self._blobs.local_path(key))

    def read_range(self, digest: str, start: int, length: int) -> AsyncIterator[bytes]:
        """Part of a blob, as a Range request asks."""
        return self._blobs.read(self._blobs.key_for(Digest.parse(digest)), start, length)

    async def delete_blob(self, repository: str, digest: str) -> None:
        """Remove the image's link to the blob; the bytes go when garbage collection runs."""
        parse_digest(digest)

        def unlink(store: UploadTx) -> bool:
            return store.blobs.unlink_blob(existing_image(store, repository).id, digest)

        if not await self._db(unlink, write=True):
            raise BlobNotFound(digest)

    # uploading ------------------------------------------------------------------------

    async def start(self, repository: str) -> UploadStatus:
        state = await self._blobs.begin_upload()
        now = self._clock()
        upload_id = uuid.uuid4().hex

        def create(store: UploadTx) -> None:
            image = image_for_push(store, repository, now)
            store.uploads.create_upload(UploadSession(upload_id, image.id, 0, state, now, now))

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

        def link(store: UploadTx) -> Blob | None:
            image = image_for_push(store, repository, now)
            src = _maybe_image(store, source)
            # A marked blob is taken back; one being garbage-collected is not mounted (the
            # client falls back to an upload).
            taken = src is not None and digest in store.blobs.take_back([digest])
            blob = store.blobs.get_linked_blob(src.id, digest) if src and taken else None
            if blob is not None:
                store.blobs.link_blob(image.id, digest, now)
            return blob

        return await self._db(link, write=True)

    async def _session(self, repository: str, upload_id: str) -> UploadSession:
        lookup = partial(_upload_in, repository=repository, upload_id=upload_id)
        session = await self._db(lookup) if _plausible_id(upload_id) else None
        if session is None:
            raise UploadNotFound(upload_id)
        return session

    async def _session_claimed(
        self, repository: str, upload_id: str, start: int | None
    ) -> tuple[UploadSession, _Claim | None]:
        """The session, and this request's claim on it when it was free and `start` (if
        given) continues it: found and claimed in one write transaction, where a chunked
        push's PATCH would otherwise spend two. None when it was not claimed (the caller
        then checks the range and claims through `_claimed`, which says why)."""
        if not _plausible_id(upload_id):
            raise UploadNotFound(upload_id)
        claim = _Claim(upload_id, self._writers.new())
        now = self._clock()
        stale_before = now - self._claim_lease

        def find_and_take(store: UploadTx) -> tuple[UploadSession | None, bool]:
            session = _upload_in(store, repository=repository, upload_id=upload_id)
            if session is None or (start is not None and start != session.size):
                return session, False
            taken = store.uploads.claim_upload(
                session.id, session.size, claim.writer, now, stale_before
            )
            return session, taken

        session, taken = await self._db(find_and_take, write=True)
        if session is None:
            raise UploadNotFound(upload_id)
        return session, claim if taken else None

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
        session, taken = await self._session_claimed(repository, upload_id, start)
        if start is not None and start != session.size:
            raise RangeInvalid(
                f"chunk starts at {start} but the upload holds {session.size} bytes", session.size
            )
        async with self._claimed(session, taken) as claim:
            grown = await self._append(session, chunks, length, claim)
            now = self._clock()
            released = await self._db(
                lambda s: s.uploads.release_upload(
                    session.id, claim.writer, grown.size, grown.driver_state, now
                ),
                write=True,
            )
            claim.settled = True
            if not released:
                self._hashers.forget(session.id)
                raise UploadClaimLost(session.id)
        return UploadStatus(grown.id, grown.size)

    async def _append(
        self,
        session: UploadSession,
        chunks: AsyncIterator[bytes],
        length: int | None,
        claim: _Claim | None,
    ) -> UploadSession:
        """Stream chunks into the session's upload (held by `claim`, or private to this
        request when None); the returned session is not recorded yet."""
        hasher = self._hashers.take(session.id, session.size)
        if claim is not None:
            chunks = self._renewing(chunks, claim)
        try:
            size, state = await self._blobs.append(session.driver_state, chunks, hasher)
        except UploadLocked:
            raise UploadBusy(session.id, session.size) from None
        if length is not None and size - session.size != length:
            raise SizeMismatch(
                f"received {size - session.size} bytes but Content-Length said {length}"
            )
        if hasher is not None:
            self._hashers.keep(session.id, size, hasher)
        return replace(session, size=size, driver_state=state, updated_at=self._clock())

    @asynccontextmanager
    async def _claimed(
        self, session: UploadSession, taken: _Claim | None = None
    ) -> AsyncIterator[_Claim]:
        """Hold the session as its only writer (`taken`: already claimed with the lookup);
        refused with UploadBusy while another request holds it or once it has grown past
        `session`. The body must settle the claim (release or delete the session); if it
        raises first, the claim is released and the session keeps the size and state
        recorded before."""
        claim = taken or await self._take(session)
        try:
            yield claim
        except BaseException:
            if not claim.settled:
                self._hashers.forget(session.id)
                await self._release_quietly(claim)
            raise

    async def _take(self, session: UploadSession) -> _Claim:
        """Claim the session (taking it over from a writer that died), or UploadBusy."""
        claim = _Claim(session.id, self._writers.new())
        now = self._clock()
        stale_before = now - self._claim_lease

        def take(store: UploadTx) -> bool | UploadSession | None:
            if store.uploads.claim_upload(
                session.id, session.size, claim.writer, now, stale_before
            ):
                return True
            return store.uploads.get_upload(session.id)

        taken = await self._db(take, write=True)
        if isinstance(taken, UploadSession) and self._held_by_the_dead(taken, session.size):
            assert taken.writer is not None
            dead = taken.writer

            def take_over(store: UploadTx) -> bool | UploadSession | None:
                if store.uploads.claim_upload(
                    session.id, session.size, claim.writer, now, stale_before, dead
                ):
                    log.info("upload %s taken over from a writer that died", session.id)
                    return True
                return store.uploads.get_upload(session.id)

            taken = await self._db(take_over, write=True)
        if taken is None:
            raise UploadNotFound(session.id)
        if taken is not True:
            assert isinstance(taken, UploadSession)
            raise UploadBusy(session.id, taken.size)
        return claim

    def _held_by_the_dead(self, current: UploadSession, size: int) -> bool:
        """Whether the upload, as the request saw it, is held by a process that died."""
        return (
            current.size == size
            and current.writer is not None
            and self._writers.holder_is_dead(current.writer)
        )

    async def _release_quietly(self, claim: _Claim) -> None:
        """Give a failed request's claim back, keeping the recorded size and state."""
        now = self._clock()
        with anyio.CancelScope(shield=True):
            try:
                await self._db(
                    lambda s: s.uploads.release_upload(
                        claim.upload_id, claim.writer, None, None, now
                    ),
                    write=True,
                )
            except Exception:  # the claim then lapses after the lease
                log.warning("could not release upload %s", claim.upload_id, exc_info=True)

    async def _renewing(self, chunks: AsyncIterator[bytes], claim: _Claim) -> AsyncIterator[bytes]:
        """The chunks, renewing the claim while they stream; stops at once if it was lost."""
        renewed = time.monotonic()
        async for chunk in chunks:
            if time.monotonic() - renewed >= CLAIM_RENEW_SECONDS:
                still_ours = await self._db(
                    partial(_renew, claim=claim, now=self._clock()), write=True
                )
                if not still_ours:
                    raise UploadClaimLost(claim.upload_id)
                renewed = time.monotonic()
            yield chunk

    async def finish(
        self, repository: str, upload_id: str, digest: str, chunks: AsyncIterator[bytes] | None
    ) -> Blob:
        """Append the last bytes, verify the digest and make the blob readable in the image."""
        expected = parse_digest(digest)
        taken = None
        if chunks is None:  # the PUT closing a chunked push: found and claimed at once
            session, taken = await self._session_claimed(repository, upload_id, None)
        else:
            session = await self._session(repository, upload_id)
            if session.size == 0 and session.writer is None:
                return await self._finish_whole(session, expected, chunks)
        async with self._claimed(session, taken) as claim:
            if chunks is not None:
                session = await self._append(session, chunks, None, claim)
            actual = await self._verify(session, expected)
            if actual != expected:
                await self._discard(session, claim)
                raise DigestMismatch(str(expected), str(actual))
            return await self._publish(session, expected, claim)

    async def _finish_whole(
        self, session: UploadSession, expected: Digest, chunks: AsyncIterator[bytes]
    ) -> Blob:
        """The whole blob in the PUT of a session that holds nothing yet (POST, then PUT).

        The bytes go to an upload private to this request, and the session is claimed and
        deleted in the transaction that records the blob: one write fewer than claiming it
        first. If another request wrote to the session meanwhile, this one fails (UploadBusy)
        and records nothing; the object it committed holds verified bytes either way."""
        private, actual = await self._receive_whole(session.image_id, expected, chunks)
        if actual != expected:
            await self._throw_away(session)
            raise DigestMismatch(str(expected), str(actual))
        blob = await self._publish(
            private.session, expected, None, retire=session, data=private.data
        )
        await self._blobs.abort(session.driver_state)  # the session's own, empty, upload
        return blob

    async def _throw_away(self, session: UploadSession) -> None:
        """Discard a session unless another request holds it (then that request decides)."""
        try:
            async with self._claimed(session) as claim:
                await self._discard(session, claim)
        except (UploadBusy, UploadNotFound):
            pass

    async def upload_whole(
        self, repository: str, digest: str, chunks: AsyncIterator[bytes]
    ) -> Blob:
        """A blob in one request (POST ?digest=): no session row, one write at the end.

        The upload is private to this request (no row names it), so nothing else can write
        to it."""
        expected = parse_digest(digest)
        found = await self._image_for_push(repository)
        private, actual = await self._receive_whole(found, expected, chunks)
        if actual != expected:
            raise DigestMismatch(str(expected), str(actual))
        return await self._publish(private.session, expected, None, data=private.data)

    async def _receive_whole(
        self, image_id: int, expected: Digest, chunks: AsyncIterator[bytes]
    ) -> tuple[_Private, Digest]:
        """A whole blob for this request alone, and the digest its bytes have (checked
        against `expected` by the caller; bytes found wrong are thrown away here).

        A body of at most SMALL_BODY bytes is kept in memory and hashed on the event loop,
        to be stored in one step (`BlobStore.put`); a larger one streams to a private upload."""
        now = self._clock()
        small, chunks = await _small_or_streamed(chunks, SMALL_BODY)
        if small is not None:
            hashed = Digest(expected.algorithm, hashlib.new(expected.algorithm, small).hexdigest())
            return _Private(
                UploadSession(uuid.uuid4().hex, image_id, len(small), {}, now, now), small
            ), hashed
        private = UploadSession(
            uuid.uuid4().hex, image_id, 0, await self._blobs.begin_upload(), now, now
        )
        try:
            private = await self._append(private, chunks, None, None)
            actual = await self._verify(private, expected)
        except BaseException:
            await self._blobs.abort(private.driver_state)
            raise
        if actual != expected:
            await self._blobs.abort(private.driver_state)
        return _Private(private, None), actual

    async def _image_for_push(self, repository: str) -> int:
        """The image's id, created (in a write transaction) only on its first push."""

        def existing(store: UploadTx) -> int | None:
            registry, image = split_name(repository)
            found = store.images.get_image(registry, image)
            return found.id if found else None

        found = await self._db(existing)
        if found is not None:
            return found
        now = self._clock()
        return await self._db(lambda s: image_for_push(s, repository, now).id, write=True)

    async def _publish(
        self,
        session: UploadSession,
        digest: Digest,
        claim: _Claim | None,
        *,
        retire: UploadSession | None = None,
        data: bytes | None = None,
    ) -> Blob:
        """Make a verified upload the blob `digest`, readable in the session's image; the
        claimed session (or `retire`, if no one holds it) is deleted in the same transaction.

        The verified bytes replace any object already under the key: it may be a crash's
        leftover or quarantined bytes, and replacing costs a rename (or one server-side copy).
        """
        await self._settle_collection(str(digest))
        key = self._blobs.key_for(digest)
        if data is None:
            await self._blobs.commit(session.driver_state, key)
        else:
            await self._blobs.put(key, data)
        now = self._clock()
        retiring = self._writers.new()

        def record(store: UploadTx) -> None:
            if retire is not None:
                stale_before = now - self._claim_lease
                if not store.uploads.claim_upload(
                    retire.id, retire.size, retiring, now, stale_before
                ):
                    # Taken or finished by another request: record nothing (rolled back).
                    if store.uploads.get_upload(retire.id) is None:
                        raise UploadNotFound(retire.id)
                    raise UploadBusy(retire.id, retire.size)
                store.uploads.delete_upload(retire.id, retiring)
            store.blobs.add_blob(str(digest), session.size, now)
            store.blobs.link_blob(session.image_id, str(digest), now)
            if claim is not None:
                store.uploads.delete_upload(session.id, claim.writer)

        await self._db(record, write=True)
        if claim is not None:
            claim.settled = True
        if data is not None and _looks_like_json(data):
            self._recent_documents.put(str(digest), data)
        return Blob(str(digest), session.size, now)

    async def _settle_collection(self, digest: str) -> None:
        """Before committing bytes under a digest: take a marked blob back to live, and wait
        while garbage collection deletes its object (its row goes right after), so the
        sweeper never deletes an object this upload committed. Should the blob be marked and
        swept again between here and the record (a grace window later), the record is
        refused (`add_blob`): the upload fails and nothing refers to the lost object."""
        for _ in range(COLLECTION_WAIT_TRIES):
            status = await self._db(lambda s: s.blobs.blob_status(digest))
            if status is BlobStatus.MARKED:
                await self._db(lambda s: s.blobs.take_back([digest]), write=True)
            elif status is not BlobStatus.DELETING:
                return
            else:
                await anyio.sleep(COLLECTION_WAIT_SECONDS)
        raise BlobBeingCollected(digest)

    async def _verify(self, session: UploadSession, expected: Digest) -> Digest:
        hasher = self._hashers.take(session.id, session.size)
        if hasher is None or expected.algorithm != "sha256":
            hasher = hashlib.new(expected.algorithm)
            async for chunk in self._blobs.read_upload(session.driver_state):
                hasher.update(chunk)
        return Digest(expected.algorithm, hasher.hexdigest())

    async def _discard(self, session: UploadSession, claim: _Claim) -> None:
        await self._blobs.abort(session.driver_state)
        await self._db(lambda s: s.uploads.delete_upload(session.id, claim.writer), write=True)
        claim.settled = True

    async def cancel(self, repository: str, upload_id: str) -> None:
        session = await self._session(repository, upload_id)
        async with self._claimed(session) as claim:
            await self._discard(session, claim)

    async def purge_expired(self, max_age: timedelta = UPLOAD_EXPIRY) -> int:
        """Throw away uploads untouched for `max_age`; returns how many."""
        before = self._clock() - max_age
        expired = await self._db(lambda s: s.uploads.expired_uploads(before, 1000))
        purged = 0
        for session in expired:
            try:
                async with self._claimed(session) as claim:
                    await self._discard(session, claim)
                purged += 1
            except (UploadBusy, UploadNotFound):
                continue  # written to (or finished) since it was listed
        return purged

    # verifying stored blobs -----------------------------------------------------------

    async def quarantine(self, digest: str, why: str) -> None:
        """Stop serving a blob whose stored bytes are wrong, until a verified push replaces them."""
        if await self._db(lambda s: s.blobs.quarantine_blob(digest), write=True):
            log.error("blob %s quarantined: %s", digest, why)

    async def read_verified(self, digest: str, size: int) -> AsyncIterator[bytes]:
        """Stream a whole blob, hashing it on the way: a mismatch quarantines it (the bytes
        already sent cannot be taken back; the client's own check rejects them)."""
        parsed = parse_digest(digest)
        hasher = hashlib.new(parsed.algorithm)
        sent = 0
        async for chunk in self._blobs.read(self._blobs.key_for(parsed), 0, size):
            hasher.update(chunk)
            sent += len(chunk)
            yield chunk
        if sent == size and hasher.hexdigest() != parsed.hex:
            await self.quarantine(digest, "its bytes do not hash to its digest")


def _upload_in(store: UploadTx, *, repository: str, upload_id: str) -> UploadSession | None:
    """The upload if it belongs to the image; NAME_UNKNOWN when the image is missing."""
    registry, image = split_name(repository)
    session = store.uploads.get_upload_in(registry, image, upload_id)
    if session is None:
        existing_image(store, repository)
    return session


def _renew(store: UploadTx, *, claim: _Claim, now: datetime) -> bool:
    return store.uploads.renew_upload_claim(claim.upload_id, claim.writer, now)


def _plausible_id(upload_id: str) -> bool:
    return len(upload_id) == 32 and LOWER_HEX.issuperset(upload_id)


def _maybe_image(store: UploadTx, repository: str) -> Image | None:
    try:
        return existing_image(store, repository)
    except DomainError:
        return None
