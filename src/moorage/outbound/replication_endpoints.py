"""The two sides of a replication copy, as `moorage.domain.replication.ports.EndpointFactory`
declares them: this deployment's registries over registry content's services, and remote
registries over the OCI client, behind the outbound address guard. The client (and httpx)
loads with the first remote endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.content.uploads import UploadService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.ports import RegistryTx, UnitOfWork
from moorage.domain.replication.local import LocalRegistry
from moorage.domain.replication.model import Remote

if TYPE_CHECKING:
    from moorage.outbound.oci_client import Guard, OciRegistry


class ReplicationEndpoints:
    def __init__(
        self,
        *,
        uploads: UploadService,
        artifacts: ArtifactService,
        uow: UnitOfWork[RegistryTx],
        blocking: Blocking,
        guard: Guard,
        chunk_size: int | None = None,
    ) -> None:
        self._uploads = uploads
        self._artifacts = artifacts
        self._uow = uow
        self._blocking = blocking
        self._guard = guard
        self._chunk_size = chunk_size

    def local(self, registry: str) -> LocalRegistry:
        return LocalRegistry(
            registry,
            uploads=self._uploads,
            artifacts=self._artifacts,
            uow=self._uow,
            blocking=self._blocking,
        )

    def remote(self, remote: Remote, password: str | None) -> OciRegistry:
        """Raises `RefusedAddress` for a private address the operator did not allow."""
        from moorage.outbound.oci_client import CHUNK_SIZE, OciRegistry

        self._guard.check_url(remote.url)
        return OciRegistry(
            remote.url,
            remote.registry,
            remote.username,
            password,
            guard=self._guard,
            verify_tls=remote.verify_tls,
            chunk_size=self._chunk_size or CHUNK_SIZE,
        )
