"""An in-memory blob store for unit tests only: nothing survives the process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from moorage.domain.content.ports import BlobInfo, Hasher, StoredObject, UploadLeftover
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.model import DriverState
from moorage.storage.driver import (
    CHUNK_SIZE,
    ContentAddressed,
    StorageError,
    UploadState,
    check_blob_key,
    check_keys,
    check_prefix,
    check_range,
    fed,
    is_upload_id,
    new_upload_id,
)
from moorage.storage.layout import BLOBS_DIR


class MemoryBlobStore(ContentAddressed):
    """Same contract as the real drivers, including the append-is-idempotent rule."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self._clock = clock
        self._blobs: dict[str, bytes] = {}
        self._uploads: dict[str, bytearray] = {}
        self._written: dict[str, datetime] = {}
        """When each blob key and upload id was last written, by the clock."""

    async def stat(self, key: str) -> BlobInfo | None:
        data = self._blobs.get(check_blob_key(key))
        return None if data is None else BlobInfo(size=len(data))

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        check_range(offset, length)
        data = self._blobs.get(check_blob_key(key))
        if data is None:
            raise KeyError(key)
        end = len(data) if length is None else min(len(data), offset + length)
        for start in range(offset, end, CHUNK_SIZE):
            yield data[start : min(start + CHUNK_SIZE, end)]

    def local_path(self, key: str) -> str | None:
        check_blob_key(key)
        return None

    async def redirect_url(self, key: str, *, private: bool) -> str | None:
        check_blob_key(key)
        return None

    async def delete(self, key: str) -> None:
        self._blobs.pop(check_blob_key(key), None)
        self._written.pop(key, None)

    async def delete_many(self, keys: Sequence[str]) -> list[str]:
        for key in check_keys(keys):
            await self.delete(key)
        return []

    async def list_blobs(self) -> AsyncIterator[StoredObject]:
        for key in sorted(self._blobs):
            if key.startswith(f"{BLOBS_DIR}/") and key in self._blobs:
                yield StoredObject(key, len(self._blobs[key]), self._written[key])

    async def upload_leftovers(self, started_before: datetime) -> AsyncIterator[UploadLeftover]:
        for upload_id in sorted(self._uploads):
            written = self._written.get(upload_id)
            buffer = self._uploads.get(upload_id)
            if buffer is not None and written is not None and written < started_before:
                yield UploadLeftover(upload_id, len(buffer), written)

    async def discard_leftover(self, leftover: UploadLeftover) -> None:
        if not is_upload_id(leftover.ref):
            raise ValueError(f"not an upload leftover of this store: {leftover.ref[:80]!r}")
        if self._written.get(leftover.ref) == leftover.started:  # not written since listed
            self._uploads.pop(leftover.ref, None)
            self._written.pop(leftover.ref, None)

    async def begin_upload(self) -> DriverState:
        upload_id = new_upload_id()
        self._uploads[upload_id] = bytearray()
        self._written[upload_id] = self._clock()
        return UploadState(upload_id, 0).dump()

    async def append(
        self, state: DriverState, chunks: AsyncIterator[bytes], hasher: Hasher | None = None
    ) -> tuple[int, DriverState]:
        upload = UploadState.load(state)
        buffer = self._buffer(upload)
        # Bytes past the recorded size are left over from a failed append: drop them.
        del buffer[upload.size :]
        async for chunk in fed(chunks, hasher):
            buffer += chunk
            self._written[upload.upload_id] = self._clock()
        upload.size = len(buffer)
        return upload.size, upload.dump()

    async def read_upload(self, state: DriverState) -> AsyncIterator[bytes]:
        upload = UploadState.load(state)
        data = bytes(self._buffer(upload)[: upload.size])
        for start in range(0, len(data), CHUNK_SIZE):
            yield data[start : start + CHUNK_SIZE]

    async def commit(self, state: DriverState, key: str) -> None:
        check_blob_key(key)
        upload = UploadState.load(state)
        buffer = self._uploads.pop(upload.upload_id, None)
        if buffer is None:
            if key in self._blobs:
                return  # a retried commit that already succeeded
            raise StorageError(f"upload {upload.upload_id} does not exist")
        self._blobs[key] = bytes(buffer[: upload.size])  # verified bytes replace any others
        self._written[key] = self._clock()
        self._written.pop(upload.upload_id, None)

    async def put(self, key: str, data: bytes) -> None:
        check_blob_key(key)
        self._blobs[key] = bytes(data)
        self._written[key] = self._clock()

    async def abort(self, state: DriverState) -> None:
        upload_id = UploadState.load(state).upload_id
        self._uploads.pop(upload_id, None)
        self._written.pop(upload_id, None)

    async def walk(self, prefix: str) -> AsyncIterator[str]:
        check_prefix(prefix)
        for key in sorted(self._blobs):
            if key.startswith(prefix):
                yield key

    def _buffer(self, upload: UploadState) -> bytearray:
        buffer = self._uploads.get(upload.upload_id)
        if buffer is None:
            raise StorageError(f"upload {upload.upload_id} does not exist")
        if len(buffer) < upload.size:
            raise StorageError(
                f"upload {upload.upload_id} holds {len(buffer)} bytes, state says {upload.size}"
            )
        return buffer
