"""An in-memory blob store for unit tests only: nothing survives the process."""

from __future__ import annotations

from collections.abc import AsyncIterator

from moorage.domain.content.ports import BlobInfo
from moorage.domain.kernel.model import DriverState
from moorage.storage.driver import (
    CHUNK_SIZE,
    ContentAddressed,
    StorageError,
    UploadState,
    check_blob_key,
    check_prefix,
    check_range,
    new_upload_id,
)


class MemoryBlobStore(ContentAddressed):
    """Same contract as the real drivers, including the append-is-idempotent rule."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._uploads: dict[str, bytearray] = {}

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

    async def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            await self.delete(key)

    async def begin_upload(self) -> DriverState:
        upload_id = new_upload_id()
        self._uploads[upload_id] = bytearray()
        return UploadState(upload_id, 0).dump()

    async def append(
        self, state: DriverState, chunks: AsyncIterator[bytes]
    ) -> tuple[int, DriverState]:
        upload = UploadState.load(state)
        buffer = self._buffer(upload)
        # Bytes past the recorded size are left over from a failed append: drop them.
        del buffer[upload.size :]
        async for chunk in chunks:
            buffer += chunk
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

    async def abort(self, state: DriverState) -> None:
        self._uploads.pop(UploadState.load(state).upload_id, None)

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
