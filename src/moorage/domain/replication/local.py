"""This deployment's registry as a replication `Endpoint`, over registry content's services.

Reads go through the artifact and upload services as a pull would (without counting as a
pull); writes as a push would: blobs through the upload path, so their digests are verified
and no partial blob is ever visible, manifests through `ArtifactService.put_manifest`, so
protection, push events and replication triggers apply, with the operator "replication".
Blobs stream: never held whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from moorage.domain.content.artifacts import (
    ArtifactService,
    parse_manifest,
)
from moorage.domain.content.configs import config_facts
from moorage.domain.content.uploads import UploadService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.errors import DomainError, NotFound
from moorage.domain.kernel.ports import RegistryTx, UnitOfWork
from moorage.domain.replication.endpoints import (
    BlobOpener,
    BlobRef,
    EndpointError,
    ManifestBody,
)

T = TypeVar("T")
OPERATOR = "replication"
CATALOG_PAGE = 1000


class LocalRegistry:
    """The registry `registry` of this deployment; repositories are names inside it."""

    def __init__(
        self,
        registry: str,
        *,
        uploads: UploadService,
        artifacts: ArtifactService,
        uow: UnitOfWork[RegistryTx],
        blocking: Blocking,
        operator: str = OPERATOR,
    ) -> None:
        self._registry = registry
        self._uploads = uploads
        self._artifacts = artifacts
        self._uow = uow
        self._blocking = blocking
        self._operator = operator

    def _name(self, repository: str) -> str:
        return f"{self._registry}/{repository}"

    async def _read(self, fn: Callable[..., T], *args: object) -> T:
        try:
            return await self._blocking.read(fn, *args)
        except DomainError as exc:
            raise EndpointError(f"registry {self._registry}: {exc}") from None

    async def close(self) -> None:
        return None

    # reading --------------------------------------------------------------------------

    async def check(self) -> None:
        def exists() -> bool:
            with self._uow() as store:
                return store.registries.get_registry(self._registry) is not None

        if not await self._blocking.read(exists):
            raise EndpointError(f"registry {self._registry} does not exist here")

    async def list_repositories(self) -> list[str]:
        prefix = f"{self._registry}/"
        found: list[str] = []
        last: str | None = None
        while True:
            page = await self._read(self._artifacts.catalog, last, CATALOG_PAGE, {self._registry})
            found += [name[len(prefix) :] for name in page if name.startswith(prefix)]
            if len(page) < CATALOG_PAGE:
                return sorted(found)
            last = page[-1]

    async def list_tags(self, repository: str) -> list[str]:
        try:
            tags = await self._blocking.read(
                self._artifacts.list_tags, self._name(repository), None, None
            )
        except NotFound:
            return []
        return sorted(tags)

    async def get_manifest(self, repository: str, reference: str) -> ManifestBody | None:
        try:
            found = await self._blocking.read(
                self._artifacts.get_manifest, self._name(repository), reference, with_body=True
            )
        except NotFound:
            return None
        assert found.body is not None
        return ManifestBody(found.head.digest, found.head.media_type, found.body)

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        try:
            found = await self._blocking.read(
                self._artifacts.get_manifest, self._name(repository), reference, with_body=False
            )
        except NotFound:
            return None
        return found.head.digest

    async def referrers(self, repository: str, digest: str) -> list[ManifestBody]:
        try:
            listed = await self._blocking.read(
                self._artifacts.referrers, self._name(repository), digest, None
            )
        except NotFound:
            return []
        found = []
        for referrer in listed:
            manifest = await self.get_manifest(repository, referrer.digest)
            if manifest is not None:
                found.append(manifest)
        return found

    async def has_blob(self, repository: str, digest: str) -> bool:
        try:
            await self._uploads.stat_blob(self._name(repository), digest)
        except NotFound:
            return False
        except DomainError as exc:
            raise EndpointError(f"registry {self._registry}: {exc}") from None
        return True

    def open_blob(self, repository: str, blob: BlobRef) -> BlobOpener:
        name = self._name(repository)

        async def opener(offset: int) -> AsyncIterator[bytes]:
            if not await self.has_blob(repository, blob.digest):  # the image may read it
                raise EndpointError(f"blob {blob.digest} of {name} is missing")
            try:
                async for chunk in self._uploads.read_range(
                    blob.digest, offset, blob.size - offset
                ):
                    yield chunk
            except (OSError, KeyError, DomainError) as exc:  # the blob store failed
                raise EndpointError(f"reading blob {blob.digest} of {name}: {exc}") from None

        return opener

    # writing --------------------------------------------------------------------------

    async def put_blob(
        self, repository: str, blob: BlobRef, source: BlobOpener, mount_from: str | None
    ) -> int:
        name = self._name(repository)
        try:
            if mount_from and await self._uploads.mount(name, blob.digest, self._name(mount_from)):
                return 0
            # One private upload, verified before the blob becomes visible. A broken source
            # stream resumes itself (the remote reader asks again from where it stopped).
            stored = await self._uploads.upload_whole(name, blob.digest, source(0))
        except DomainError as exc:
            raise EndpointError(f"writing blob {blob.digest} to {name}: {exc}") from None
        return stored.size

    async def put_manifest(self, repository: str, reference: str, manifest: ManifestBody) -> None:
        name = self._name(repository)
        try:
            parsed = await self._blocking.run(parse_manifest, manifest.body, manifest.media_type)
            platform, chart = await config_facts(self._uploads, parsed)
            await self._blocking.run(
                self._artifacts.put_manifest,
                name,
                reference,
                manifest.media_type,
                manifest.body,
                self._operator,
                platform,
                parsed,
                helm_chart=chart,
            )
        except DomainError as exc:
            raise EndpointError(f"writing manifest {name}:{reference}: {exc}") from None
