"""The two sides of a copy: `Endpoint` is one registry as the copy engine sees it.

A copy reads from one endpoint and writes to the other. A push rule reads this deployment's
registry (`moorage.domain.replication.local`) and writes a remote one (the OCI client in
`moorage.outbound.oci_client`); a pull rule the other way round. Repository names are
relative to the endpoint's registry or namespace: `app/web`, never `myreg/app/web`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ManifestBody:
    """A manifest as stored: its exact bytes (digests are of these), media type, digest."""

    digest: str
    media_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A blob a manifest names: its digest and size (from the descriptor)."""

    digest: str
    size: int


BlobOpener = Callable[[int], AsyncIterator[bytes]]
"""Opens a blob's bytes from an offset (0: from the start): lets a writer resume a broken
upload from the offset the destination reports without re-sending what it already has."""


class EndpointError(Exception):
    """The other side failed (unreachable, refused, an unexpected answer); the message says
    what happened in words an operator can act on."""


class EndpointAuthError(EndpointError):
    """The other side refused the credentials."""


class Endpoint(Protocol):
    """One registry (or namespace) as the copy engine reads and writes it."""

    async def check(self) -> None:
        """Prove the endpoint answers with working credentials and the registry or
        namespace exists; raise `EndpointAuthError` / `EndpointError` saying why not."""

    async def list_repositories(self) -> list[str]:
        """Every repository (relative name) of the registry, sorted."""

    async def list_tags(self, repository: str) -> list[str]:
        """Every tag of a repository, sorted; [] when the repository does not exist."""

    async def get_manifest(self, repository: str, reference: str) -> ManifestBody | None:
        """A manifest by tag or digest; None when absent."""

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest a tag or digest reference resolves to (a HEAD); None when absent."""

    async def referrers(self, repository: str, digest: str) -> list[ManifestBody]:
        """Manifests whose subject is `digest` (signatures, SBOMs), each with its body."""

    async def has_blob(self, repository: str, digest: str) -> bool: ...

    def open_blob(self, repository: str, blob: BlobRef) -> BlobOpener:
        """A reader of the blob's bytes; each call of the opener streams from an offset."""

    async def put_blob(
        self, repository: str, blob: BlobRef, source: BlobOpener, mount_from: str | None
    ) -> int:
        """Write the blob (verifying its digest); try a cross-repository mount from
        `mount_from` first when given. Returns the bytes actually sent (0 when mounted)."""

    async def put_manifest(self, repository: str, reference: str, manifest: ManifestBody) -> None:
        """Store the manifest under `reference` (a tag, or its digest for an untagged child
        or referrer); every blob and child it names is already there."""
