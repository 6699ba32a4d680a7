"""The S3 driver (AWS S3, MinIO, Ceph RGW, any S3 API).

Objects, relative to the bucket and the configured prefix:

    blobs/...                    committed blobs (see `layout`)
    uploads/<id>/data            an upload's multipart upload, completed into this key
    uploads/<id>/tail-<size>-<tag>  bytes past the last full part, as they stood at <size>

Why the tail: S3 parts must be at least 5 MiB (except the last), but clients PATCH chunks of
any size. Every `append` reads the previous tail back, fills whole parts of `part_size`
bytes from it and the incoming stream, uploads each as soon as it is full, and writes what
is left as a new tail. Memory stays at about one part per append, whatever the blob's size.

Why the tail is named by size and a random tag: the caller may retry an append from the
state recorded before a failed one, and that state must still find its own tail. A failed
attempt can only have written tails under other names and re-upload part numbers the retry
overwrites; the tail a state names is deleted by the append after next, once a newer state
has been recorded. The tag also means no other writer (one whose claim on the upload lapsed
while it was stalled) can ever overwrite the tail a recorded state names.

Only one request appends to an upload at a time (the metadata store's claim); the parts of a
completed upload are named by their ETags, so a stray part upload cannot slip in unnoticed.

A blob becomes visible by a server-side copy from the staging object to its key (S3 creates
objects atomically, so readers see all of it or nothing); the managed copy switches to a
multipart copy for large blobs, which also covers objects over 5 GiB. A bucket lifecycle rule
that aborts incomplete multipart uploads after a few days is still advisable: abandoned
uploads whose session row was lost are never visited again.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import boto3
from anyio import to_thread
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from moorage.domain.content.ports import BlobInfo, Hasher, StoredObject, UploadLeftover
from moorage.domain.kernel.model import DriverState
from moorage.storage.driver import (
    CHUNK_SIZE,
    DEFAULT_PART_SIZE,
    MIN_PART_SIZE,
    ContentAddressed,
    MiB,
    StorageError,
    StorageFullError,
    UploadState,
    check_blob_key,
    check_keys,
    check_prefix,
    check_range,
    fed,
    is_upload_id,
    new_upload_id,
)
from moorage.storage.layout import BLOBS_DIR, UPLOADS_DIR

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")
log = logging.getLogger("moorage.storage.s3")

MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
DELETE_BATCH = 1000
"""The most keys one DeleteObjects request takes."""
DELETE_CONCURRENCY = 4
"""DeleteObjects requests `delete_many` keeps in flight at once."""
DEFAULT_COPY_PART_SIZE = 256 * MiB
DEFAULT_REDIRECT_EXPIRES = 1200
"""Seconds a presigned download URL stays valid: long enough to start a download (S3
checks the signature once, when the request arrives), short enough to be useless if leaked."""
_TAG_LENGTH = 12
_TAG_RE = re.compile(rf"^[0-9a-f]{{0,{_TAG_LENGTH}}}$")
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_UPLOAD = frozenset({"404", "NoSuchUpload"})
_MULTIPART, _OBJECT = "multipart", "object"
"""Kinds of upload leftover, the first item of its `detail`."""


class S3BlobStore(ContentAddressed):
    """Blobs as objects in one bucket, under an optional key prefix.

    `endpoint_url` is where moorage itself talks to S3 (None: AWS for `region`).
    `public_endpoint_url` / `private_endpoint_url` are what redirected clients are sent to
    (SPEC §9); each defaults to `endpoint_url`. `verify` is passed to botocore: None honours
    `AWS_CA_BUNDLE` for https endpoints, a path names a CA bundle, False turns TLS checks off.
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None,
        access_key: str | None,
        secret_key: str | None,
        region: str | None,
        prefix: str = "",
        public_endpoint_url: str | None = None,
        private_endpoint_url: str | None = None,
        redirect: bool = False,
        part_size: int = DEFAULT_PART_SIZE,
        *,
        verify: bool | str | None = None,
        copy_part_size: int = DEFAULT_COPY_PART_SIZE,
        redirect_expires: int = DEFAULT_REDIRECT_EXPIRES,
    ) -> None:
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"S3 part_size must be between 5 MiB and 5 GiB, got {part_size}")
        if not MIN_PART_SIZE <= copy_part_size <= MAX_PART_SIZE:
            raise ValueError(
                f"S3 copy_part_size must be between 5 MiB and 5 GiB, got {copy_part_size}"
            )
        self._bucket = bucket
        self._prefix = _normalise_prefix(prefix)
        self._part_size = part_size
        self._redirect_expires = redirect_expires
        self._copy_config = TransferConfig(
            multipart_threshold=copy_part_size, multipart_chunksize=copy_part_size
        )
        # An explicit session: credentials come from the arguments, not from whatever the
        # process environment or ~/.aws happen to hold (None still means the default chain).
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region or "us-east-1",
        )

        def client(endpoint: str | None) -> S3Client:
            return session.client(
                "s3", endpoint_url=endpoint, config=_config(endpoint), verify=verify
            )

        self._client = client(endpoint_url)
        # Presigning is local signing, but the URL embeds the client's endpoint: one client
        # per endpoint redirected clients may be sent to.
        self._public = client(public_endpoint_url or endpoint_url) if redirect else None
        self._private = client(private_endpoint_url or endpoint_url) if redirect else None

    # -- committed blobs -------------------------------------------------------------------

    async def stat(self, key: str) -> BlobInfo | None:
        size = await self._head(self._blob(key))
        return None if size is None else BlobInfo(size=size)

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        check_range(offset, length)
        name = self._blob(key)
        if length == 0:
            if await self._head(name) is None:
                raise KeyError(key)
            return
        body = await self._get_body(name, offset, length)
        if body is None:
            raise KeyError(key)
        async for chunk in _stream_body(body):
            yield chunk

    def local_path(self, key: str) -> str | None:
        check_blob_key(key)
        return None

    async def redirect_url(self, key: str, *, private: bool) -> str | None:
        name = self._blob(key)
        presigner = self._private if private else self._public
        if presigner is None:
            return None
        with _s3_errors(f"cannot presign {key}"):
            # In a thread: with the default credential chain, signing may refresh credentials.
            return await _run(
                presigner.generate_presigned_url,
                "get_object",
                Params={"Bucket": self._bucket, "Key": name},
                ExpiresIn=self._redirect_expires,
            )

    async def delete(self, key: str) -> None:
        name = self._blob(key)
        with _s3_errors(f"cannot delete {key}"):
            await _run(self._client.delete_object, Bucket=self._bucket, Key=name)

    async def delete_many(self, keys: Sequence[str]) -> list[str]:
        """DeleteObjects (Quiet) in batches of 1,000 keys, a few batches in flight at once.

        A batch whose request fails outright (after botocore's retries) counts every one of
        its keys as not deleted; the caller retries them another time."""
        names = [self._prefix + key for key in check_keys(keys)]
        failed: list[str] = []
        limit = anyio.Semaphore(DELETE_CONCURRENCY)

        async def delete_batch(batch: list[str]) -> None:
            async with limit:
                try:
                    not_deleted = await self._delete_batch(batch)
                except StorageError as exc:
                    log.warning("%s", exc)
                    not_deleted = batch
            failed.extend(name[len(self._prefix) :] for name in not_deleted)

        async with anyio.create_task_group() as tasks:
            for start in range(0, len(names), DELETE_BATCH):
                tasks.start_soon(delete_batch, names[start : start + DELETE_BATCH])
        return failed

    async def list_blobs(self) -> AsyncIterator[StoredObject]:
        async for item in self._list_items(f"{self._prefix}{BLOBS_DIR}/"):
            yield StoredObject(
                item["Key"][len(self._prefix) :], item["Size"], _utc(item["LastModified"])
            )

    async def walk(self, prefix: str) -> AsyncIterator[str]:
        check_prefix(prefix)
        async for name in self._list(self._prefix + prefix):
            key = name[len(self._prefix) :]
            if key.split("/", 1)[0] != UPLOADS_DIR:
                yield key

    # -- uploads ---------------------------------------------------------------------------

    async def begin_upload(self) -> DriverState:
        # Nothing to create yet: the multipart upload starts with the first full part.
        return _S3Upload(new_upload_id(), 0).dump()

    async def append(
        self, state: DriverState, chunks: AsyncIterator[bytes], hasher: Hasher | None = None
    ) -> tuple[int, DriverState]:
        upload = _S3Upload.load(state)
        grown = upload.copy()
        buffer = bytearray(await self._read_tail(upload))
        if len(buffer) >= self._part_size:
            # Written under a larger part_size: it is a valid part as it stands.
            await self._upload_part(grown, buffer)
            buffer.clear()
        async for chunk in fed(chunks, hasher):
            view = memoryview(chunk)
            while view:
                # Fill the buffer to exactly one part, never beyond: memory stays bounded
                # even when one chunk is larger than a part.
                taken = view[: self._part_size - len(buffer)]
                buffer += taken
                view = view[len(taken) :]
                grown.size += len(taken)
                if len(buffer) == self._part_size:
                    await self._upload_part(grown, buffer)
                    buffer.clear()
        if grown.size == upload.size:
            return upload.size, upload.dump()
        grown.tail_tag = new_upload_id()[:_TAG_LENGTH] if buffer else ""
        if buffer:
            await self._put(self._tail_name(grown), bytes(buffer))
        grown.previous_tail = upload.size if upload.tail_size else 0
        grown.previous_tail_tag = upload.tail_tag if upload.tail_size else ""
        await self._forget_tail(upload)
        return grown.size, grown.dump()

    async def read_upload(self, state: DriverState) -> AsyncIterator[bytes]:
        """Stream the upload; with parts, this completes the multipart upload first.

        After that the upload only accepts `commit` or `abort`.
        """
        upload = _S3Upload.load(state)
        name = await self._assemble(upload)
        if name is None:
            return
        body = await self._get_body(name, 0, None)
        if body is None:
            raise StorageError(f"upload {upload.upload_id} lost its staging object")
        async for chunk in _stream_body(body):
            yield chunk

    async def commit(self, state: DriverState, key: str) -> None:
        name = self._blob(key)
        upload = _S3Upload.load(state)
        # The caller commits verified bytes only, so they replace whatever object the key
        # holds (a crash's leftover, or bytes found not to match): one server-side copy.
        try:
            source = await self._assemble(upload)
        except StorageError:
            if await self._head(name) is not None:
                return  # a retried commit that already succeeded (its upload is gone)
            raise
        if source is None:
            await self._put(name, b"")
        else:
            await self._copy(source, name)
        await self._discard(upload.upload_id)

    async def put(self, key: str, data: bytes) -> None:
        await self._put(self._blob(key), data)  # one PutObject: atomic, replaces the object

    async def abort(self, state: DriverState) -> None:
        await self._discard(_S3Upload.load(state).upload_id)

    async def upload_leftovers(self, started_before: datetime) -> AsyncIterator[UploadLeftover]:
        """Multipart uploads and staging objects (tails, completed data) under `uploads/`
        not written since the cutoff; their ref is the upload id in their name."""
        uploads = f"{self._prefix}{UPLOADS_DIR}/"
        async for name, multipart_id, initiated in self._list_multipart(uploads):
            ref = _upload_ref(name, uploads)
            if initiated >= started_before:
                continue
            last_written = await self._multipart_last_written(name, multipart_id, initiated)
            if last_written < started_before:
                yield UploadLeftover(ref, None, last_written, (_MULTIPART, name, multipart_id))
        async for item in self._list_items(uploads):
            name, modified = str(item["Key"]), _utc(item["LastModified"])
            if modified < started_before:
                ref = _upload_ref(name, uploads)
                yield UploadLeftover(ref, int(item["Size"]), modified, (_OBJECT, name))

    async def discard_leftover(self, leftover: UploadLeftover) -> None:
        uploads = f"{self._prefix}{UPLOADS_DIR}/"
        match leftover.detail:
            case (str(kind), str(name), str(multipart_id)) if kind == _MULTIPART:
                self._check_leftover(leftover, name, uploads)
                last = await self._multipart_last_written(name, multipart_id, leftover.started)
                if last > leftover.started:
                    return  # a part arrived since it was listed
                await self._abort_multipart(name, multipart_id)
            case (str(kind), str(name)) if kind == _OBJECT:
                self._check_leftover(leftover, name, uploads)
                await self._delete_batch([name])
            case _:
                raise ValueError(f"not an upload leftover of this store: {leftover.detail!r:.120}")

    # -- object names ----------------------------------------------------------------------

    def _blob(self, key: str) -> str:
        return self._prefix + check_blob_key(key)

    def _staging(self, upload_id: str) -> str:
        return f"{self._prefix}{UPLOADS_DIR}/{upload_id}/"

    def _data_name(self, upload: _S3Upload) -> str:
        return self._staging(upload.upload_id) + "data"

    def _tail_name(self, upload: _S3Upload, previous: bool = False) -> str:
        size, tag = (
            (upload.previous_tail, upload.previous_tail_tag)
            if previous
            else (upload.size, upload.tail_tag)
        )
        suffix = f"-{tag}" if tag else ""  # states written before tags existed have none
        return f"{self._staging(upload.upload_id)}tail-{size}{suffix}"

    # -- upload internals ------------------------------------------------------------------

    async def _read_tail(self, upload: _S3Upload) -> bytes:
        if upload.tail_size == 0:
            return b""
        body = await self._get_body(self._tail_name(upload), 0, None)
        if body is None:
            raise StorageError(f"upload {upload.upload_id} lost its tail at {upload.size}")
        try:
            with _s3_errors(f"cannot read upload {upload.upload_id}"):
                data = await _run(body.read)
        finally:
            body.close()
        if len(data) != upload.tail_size:
            raise StorageError(
                f"upload {upload.upload_id} tail is {len(data)} bytes, not {upload.tail_size}"
            )
        return data

    async def _forget_tail(self, upload: _S3Upload) -> None:
        """Delete the tail this state replaced: being given this state proves it was recorded."""
        if upload.previous_tail:
            name = self._tail_name(upload, previous=True)
            # Best effort: a leftover tail only costs space until commit or abort.
            with suppress(ClientError, BotoCoreError):
                await _run(self._client.delete_object, Bucket=self._bucket, Key=name)

    async def _upload_part(self, upload: _S3Upload, data: bytearray) -> None:
        if len(upload.parts) >= MAX_PARTS:
            raise StorageError(
                f"upload {upload.upload_id} exceeds {MAX_PARTS} parts: raise part_size"
            )
        name = self._data_name(upload)
        with _s3_errors(f"cannot upload a part of upload {upload.upload_id}"):
            if upload.multipart_id is None:
                created = await _run(
                    self._client.create_multipart_upload, Bucket=self._bucket, Key=name
                )
                upload.multipart_id = created["UploadId"]
            part = await _run(
                self._client.upload_part,
                Bucket=self._bucket,
                Key=name,
                UploadId=upload.multipart_id,
                PartNumber=len(upload.parts) + 1,
                Body=data,
            )
        upload.parts.append((part["ETag"], len(data)))

    async def _assemble(self, upload: _S3Upload) -> str | None:
        """The object holding the whole upload (None for an empty one), completing it if needed."""
        if upload.size == 0:
            return None
        if not upload.parts:
            return self._tail_name(upload)
        name = self._data_name(upload)
        if await self._head(name) == upload.size:
            return name  # completed by an earlier read_upload
        complete = upload.copy()
        if upload.tail_size:
            await self._upload_part(complete, bytearray(await self._read_tail(upload)))
        parts = [
            {"ETag": etag, "PartNumber": number}
            for number, (etag, _size) in enumerate(complete.parts, start=1)
        ]
        with _s3_errors(f"cannot complete upload {upload.upload_id}"):
            await _run(
                self._client.complete_multipart_upload,
                Bucket=self._bucket,
                Key=name,
                UploadId=complete.multipart_id,
                MultipartUpload={"Parts": parts},
            )
        return name

    async def _discard(self, upload_id: str) -> None:
        """Abort every multipart upload and delete every object of an upload; idempotent."""
        staging = self._staging(upload_id)
        async for name, multipart_id, _initiated in self._list_multipart(staging):
            await self._abort_multipart(name, multipart_id)
        names = [name async for name in self._list(staging)]
        for start in range(0, len(names), DELETE_BATCH):
            await self._delete_objects(names[start : start + DELETE_BATCH])

    def _check_leftover(self, leftover: UploadLeftover, name: str, uploads: str) -> None:
        """A leftover names an object of this store's uploads area, and the ref it carries."""
        if not name.startswith(uploads) or _upload_ref(name, uploads) != leftover.ref:
            raise ValueError(f"not an upload leftover of this store: {name[:120]!r}")

    async def _abort_multipart(self, name: str, multipart_id: str) -> None:
        try:
            await _run(
                self._client.abort_multipart_upload,
                Bucket=self._bucket,
                Key=name,
                UploadId=multipart_id,
            )
        except ClientError as exc:
            if _code(exc) not in _NO_UPLOAD:
                raise StorageError(f"cannot abort the multipart upload of {name}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot abort the multipart upload of {name}: {exc}") from exc

    async def _multipart_last_written(
        self, name: str, multipart_id: str, initiated: datetime
    ) -> datetime:
        """When the multipart upload last received a part (its start when it has none)."""
        last = initiated
        pages = iter(
            self._client.get_paginator("list_parts").paginate(
                Bucket=self._bucket, Key=name, UploadId=multipart_id
            )
        )
        while True:
            try:
                page = await _run(next, pages, None)
            except ClientError as exc:
                if _code(exc) in _NO_UPLOAD:
                    return last  # completed or aborted meanwhile
                raise StorageError(f"cannot list the parts of {name}: {exc}") from exc
            except BotoCoreError as exc:
                raise StorageError(f"cannot list the parts of {name}: {exc}") from exc
            if page is None:
                return last
            for part in page.get("Parts", []):
                last = max(last, _utc(part["LastModified"]))

    # -- S3 calls --------------------------------------------------------------------------

    async def _head(self, name: str) -> int | None:
        try:
            head = await _run(self._client.head_object, Bucket=self._bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise StorageError(f"cannot stat {name}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot stat {name}: {exc}") from exc
        return head["ContentLength"]

    async def _get_body(self, name: str, offset: int, length: int | None) -> _Body | None:
        """The object's bytes from offset on; None when it is missing; empty past its end."""
        extra: dict[str, str] = {}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            extra["Range"] = f"bytes={offset}-{end}"
        try:
            got = await _run(self._client.get_object, Bucket=self._bucket, Key=name, **extra)
        except ClientError as exc:
            code = _code(exc)
            if code in _NOT_FOUND:
                return None
            if code == "InvalidRange":
                # Past the end of an existing object: nothing to read, like the other drivers.
                return _EmptyBody()
            raise StorageError(f"cannot read {name}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot read {name}: {exc}") from exc
        return got["Body"]

    async def _put(self, name: str, data: bytes) -> None:
        with _s3_errors(f"cannot write {name}"):
            await _run(self._client.put_object, Bucket=self._bucket, Key=name, Body=data)

    async def _copy(self, source: str, target: str) -> None:
        with _s3_errors(f"cannot copy {source} to {target}"):
            await _run(
                self._client.copy,
                CopySource={"Bucket": self._bucket, "Key": source},
                Bucket=self._bucket,
                Key=target,
                Config=self._copy_config,
            )

    async def _delete_objects(self, names: list[str]) -> None:
        not_deleted = await self._delete_batch(names)
        if not_deleted:
            raise StorageError(f"cannot delete {len(not_deleted)} objects ({not_deleted[0]}, …)")

    async def _delete_batch(self, names: list[str]) -> list[str]:
        """One Quiet DeleteObjects of at most 1,000 objects; the names it could not delete
        (a missing object counts as deleted)."""
        if not names:
            return []
        with _s3_errors("cannot delete objects"):
            result = await _run(
                self._client.delete_objects,
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": name} for name in names], "Quiet": True},
            )
        errors = result.get("Errors", [])
        for error in errors[:3]:
            log.warning("cannot delete %s: %s", error.get("Key"), error.get("Code"))
        return [str(error.get("Key")) for error in errors]

    async def _list(self, prefix: str) -> AsyncIterator[str]:
        async for item in self._list_items(prefix):
            yield item["Key"]

    async def _list_items(self, prefix: str) -> AsyncIterator[Any]:
        """ListObjectsV2 entries under prefix, one page of up to 1,000 in memory at a time."""
        pages = iter(
            self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=prefix
            )
        )
        while True:
            with _s3_errors(f"cannot list {prefix}"):
                page = await _run(next, pages, None)
            if page is None:
                return
            for item in page.get("Contents", []):
                yield item

    async def _list_multipart(self, prefix: str) -> AsyncIterator[tuple[str, str, datetime]]:
        """(object name, multipart upload id, initiated) of every multipart upload under
        prefix, page by page (ListMultipartUploads)."""
        pages = iter(
            self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self._bucket, Prefix=prefix
            )
        )
        while True:
            with _s3_errors(f"cannot list the multipart uploads under {prefix}"):
                page = await _run(next, pages, None)
            if page is None:
                return
            for item in page.get("Uploads", []):
                yield item["Key"], item["UploadId"], _utc(item["Initiated"])


@dataclass(slots=True)
class _S3Upload:
    """The S3 driver's DriverState: the common fields plus the multipart upload's parts."""

    upload_id: str
    size: int
    multipart_id: str | None = None
    parts: list[tuple[str, int]] = field(default_factory=list)
    """(ETag, size) of every uploaded part, in part-number order."""
    previous_tail: int = 0
    """Size whose tail the append that made this state replaced (0: none)."""
    tail_tag: str = ""
    """The random tag in the name of this state's tail object."""
    previous_tail_tag: str = ""

    @property
    def tail_size(self) -> int:
        return self.size - sum(size for _etag, size in self.parts)

    def copy(self) -> _S3Upload:
        return _S3Upload(
            self.upload_id,
            self.size,
            self.multipart_id,
            list(self.parts),
            self.previous_tail,
            self.tail_tag,
            self.previous_tail_tag,
        )

    @classmethod
    def load(cls, state: DriverState) -> _S3Upload:
        common = UploadState.load(state)
        multipart_id = state.get("multipart_id")
        parts = state.get("parts", [])
        previous_tail = state.get("previous_tail", 0)
        if multipart_id is not None and not isinstance(multipart_id, str):
            raise StorageError("upload state has an invalid multipart_id")
        if not isinstance(parts, list) or not all(_is_part(part) for part in parts):
            raise StorageError("upload state has invalid parts")
        if not isinstance(previous_tail, int) or isinstance(previous_tail, bool):
            raise StorageError("upload state has an invalid previous_tail")
        tags = (state.get("tail_tag", ""), state.get("previous_tail_tag", ""))
        if not all(isinstance(tag, str) and _TAG_RE.match(tag) for tag in tags):
            raise StorageError("upload state has an invalid tail tag")
        upload = cls(
            common.upload_id,
            common.size,
            multipart_id,
            [(etag, size) for etag, size in parts],
            previous_tail,
            *tags,
        )
        if upload.tail_size < 0 or (upload.parts and upload.multipart_id is None):
            raise StorageError("upload state is inconsistent")
        return upload

    def dump(self) -> DriverState:
        return {
            **UploadState(self.upload_id, self.size).dump(),
            "multipart_id": self.multipart_id,
            "parts": [[etag, size] for etag, size in self.parts],
            "previous_tail": self.previous_tail,
            "tail_tag": self.tail_tag,
            "previous_tail_tag": self.previous_tail_tag,
        }


def _is_part(value: object) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
        and value[1] > 0
    )


class _Body(Protocol):
    """What reads need of botocore's StreamingBody."""

    def read(self, amt: int | None = None) -> bytes: ...

    def close(self) -> None: ...


class _EmptyBody:
    """Stands in for a StreamingBody when a range starts past the end of an object."""

    def read(self, amt: int | None = None) -> bytes:
        return b""

    def close(self) -> None:
        pass


def _config(endpoint: str | None) -> Config:
    return Config(
        signature_version="s3v4",
        # Self-hosted S3 (MinIO, Ceph, moto) is addressed by path; AWS by virtual host.
        s3={"addressing_style": "path" if endpoint else "virtual"},
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=32,
        # Newer botocore adds CRC checksums to every upload by default, which several
        # S3-compatible servers reject; send them only where the API requires them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def _normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return check_prefix(f"{prefix}/") if prefix else ""


async def _stream_body(body: _Body) -> AsyncIterator[bytes]:
    try:
        while True:
            with _s3_errors("cannot read from S3"):
                chunk = await _run(body.read, CHUNK_SIZE)
            if not chunk:
                return
            yield chunk
    finally:
        body.close()


async def _run(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a blocking boto3 call in a worker thread (boto3 clients are thread-safe)."""
    return await to_thread.run_sync(functools.partial(func, *args, **kwargs))


def _utc(moment: datetime) -> datetime:
    """A time botocore parsed (aware, in its own tz class) as a plain UTC datetime."""
    return moment.astimezone(UTC)


def _upload_ref(name: str, uploads: str) -> str:
    """The upload id in a staging object's name: `<prefix>uploads/<id>/...`."""
    ref = name[len(uploads) :].split("/", 1)[0]
    return ref if is_upload_id(ref) else f"?{ref}"


# What S3-compatible stores answer when out of space or over a quota (AWS S3 has neither):
# Ceph RGW, MinIO, and the generic names others use.
_FULL_CODES = frozenset(
    {
        "QuotaExceeded",
        "XMinioStorageFull",
        "XMinioAdminBucketQuotaExceeded",
        "StorageFull",
        "InsufficientStorage",
    }
)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        full = _code(exc) in _FULL_CODES
        raise (StorageFullError if full else StorageError)(f"{what}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"{what}: {exc}") from exc
