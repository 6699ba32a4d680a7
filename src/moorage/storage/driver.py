"""Helpers every blob store driver shares: errors, sizes, upload-state parsing, range checks."""

from __future__ import annotations

import errno
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from moorage.domain.content.ports import Hasher
from moorage.domain.kernel.errors import StorageFailure, StorageFull
from moorage.domain.kernel.model import DriverState
from moorage.oci.digest import Digest
from moorage.storage.layout import (
    blob_key,
    check_blob_key,
    check_key,
    check_prefix,
    digest_for_key,
)

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "ContentAddressed",
    "StorageError",
    "UploadState",
    "check_blob_key",
    "check_key",
    "check_keys",
    "check_prefix",
    "check_range",
    "fed",
    "is_upload_id",
    "new_upload_id",
    "utc_from_ns",
]

MiB = 1024 * 1024
CHUNK_SIZE = 1 * MiB
"""Size of the pieces reads yield and of the buffers writes are coalesced into."""
MIN_PART_SIZE = 5 * MiB
"""S3's smallest multipart part (all but the last part)."""
DEFAULT_PART_SIZE = 8 * MiB

_UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")


class ContentAddressed:
    """Every driver stores a committed blob under the key `layout.blob_key` gives it, and
    names an upload's leftovers by the upload id in its state."""

    def key_for(self, digest: Digest) -> str:
        return blob_key(digest)

    def digest_of(self, key: str) -> Digest | None:
        return digest_for_key(key)

    def upload_ref(self, state: DriverState) -> str:
        return UploadState.load(state).upload_id


class StorageError(StorageFailure):
    """A blob store could not do what was asked; the message says what and where."""


class StorageFullError(StorageError, StorageFull):
    """The store is out of space or over a quota (the caller hears only that it is full)."""


# No space, over a quota, or past the process's file size limit (RLIMIT_FSIZE, with
# SIGXFSZ ignored as Python does).
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def os_failure(what: str, exc: OSError) -> StorageError:
    """The StorageError for an OSError while doing `what`: StorageFullError when full."""
    cls = StorageFullError if exc.errno in _FULL_ERRNOS else StorageError
    return cls(f"{what}: {exc}")


def new_upload_id() -> str:
    return uuid.uuid4().hex


def is_upload_id(name: str) -> bool:
    """Whether name could be an upload id this package made (and so a leftover's ref)."""
    return _UPLOAD_ID_RE.match(name) is not None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_from_ns(nanoseconds: int) -> datetime:
    """A file time (`st_mtime_ns`) as a UTC datetime, exact to the microsecond (no float)."""
    return _EPOCH + timedelta(microseconds=nanoseconds // 1000)


def check_keys(keys: Sequence[str]) -> list[str]:
    """check_blob_key on every key, before a bulk operation touches any of them."""
    return [check_blob_key(key) for key in keys]


class UploadState:
    """The fields every driver keeps in its DriverState, validated on the way in.

    The state round-trips through the metadata DB as JSON, so it is checked like input: an
    upload id that is not ours could otherwise name a path outside the uploads area.
    """

    __slots__ = ("size", "upload_id")

    def __init__(self, upload_id: str, size: int) -> None:
        self.upload_id = upload_id
        self.size = size

    @classmethod
    def load(cls, state: DriverState) -> UploadState:
        upload_id = state.get("upload_id")
        size = state.get("size")
        if not isinstance(upload_id, str) or _UPLOAD_ID_RE.match(upload_id) is None:
            raise StorageError(f"upload state has an invalid upload_id: {upload_id!r:.80}")
        # bool is an int subclass; a JSON true must not pass for a size.
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise StorageError(f"upload state has an invalid size: {size!r:.80}")
        return cls(upload_id, size)

    def dump(self) -> DriverState:
        return {"upload_id": self.upload_id, "size": self.size}


def check_range(offset: int, length: int | None) -> None:
    """Refuse negative ranges early; a range past the end simply yields fewer bytes."""
    if offset < 0:
        raise ValueError(f"read offset must be >= 0, got {offset}")
    if length is not None and length < 0:
        raise ValueError(f"read length must be >= 0, got {length}")


async def fed(chunks: AsyncIterator[bytes], hasher: Hasher | None) -> AsyncIterator[bytes]:
    """The chunks, each fed to `hasher` (when there is one) as it passes."""
    if hasher is None:
        async for chunk in chunks:
            yield chunk
        return
    async for chunk in chunks:
        hasher.update(chunk)
        yield chunk
