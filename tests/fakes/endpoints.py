"""A registry in memory as a replication `Endpoint`: behaves like one (a manifest is refused
while a blob or child it names is missing; digests are checked) and records every write in
order, so tests can check what was written when."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from moorage.domain.replication.endpoints import (
    BlobOpener,
    BlobRef,
    EndpointError,
    ManifestBody,
)
from moorage.oci import manifests
from moorage.oci import mediatypes as mt


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Repo:
    manifests: dict[str, ManifestBody] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    blobs: set[str] = field(default_factory=set)


@dataclass
class MemoryEndpoint:
    repos: dict[str, Repo] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)  # blob bytes by digest
    writes: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, repo, ref)
    failing_blobs: set[str] = field(default_factory=set)

    def repo(self, name: str) -> Repo:
        return self.repos.setdefault(name, Repo())

    # building content -------------------------------------------------------------------

    def add_blob(self, repository: str, data: bytes) -> dict[str, object]:
        digest = digest_of(data)
        self.data[digest] = data
        self.repo(repository).blobs.add(digest)
        return {"mediaType": "application/octet-stream", "digest": digest, "size": len(data)}

    def add_manifest(
        self, repository: str, doc: dict[str, object], tag: str | None = None
    ) -> ManifestBody:
        body = json.dumps(doc).encode()
        media_type = str(doc["mediaType"])
        manifest = ManifestBody(digest_of(body), media_type, body)
        self.repo(repository).manifests[manifest.digest] = manifest
        if tag is not None:
            self.repo(repository).tags[tag] = manifest.digest
        return manifest

    # the port -----------------------------------------------------------------------------

    async def check(self) -> None:
        return None

    async def list_repositories(self) -> list[str]:
        return sorted(self.repos)

    async def list_tags(self, repository: str) -> list[str]:
        return sorted(self.repos[repository].tags) if repository in self.repos else []

    def _resolve(self, repository: str, reference: str) -> ManifestBody | None:
        repo = self.repos.get(repository)
        if repo is None:
            return None
        digest = repo.tags.get(reference, reference)
        return repo.manifests.get(digest)

    async def get_manifest(self, repository: str, reference: str) -> ManifestBody | None:
        return self._resolve(repository, reference)

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        found = self._resolve(repository, reference)
        return found.digest if found else None

    async def referrers(self, repository: str, digest: str) -> list[ManifestBody]:
        repo = self.repos.get(repository)
        if repo is None:
            return []
        return [
            m
            for m in repo.manifests.values()
            if (subject := manifests.parse(m.body, m.media_type).subject) is not None
            and str(subject.digest) == digest
        ]

    async def has_blob(self, repository: str, digest: str) -> bool:
        return repository in self.repos and digest in self.repos[repository].blobs

    def open_blob(self, repository: str, blob: BlobRef) -> BlobOpener:
        data = self.data[blob.digest]

        async def opener(offset: int) -> AsyncIterator[bytes]:
            for start in range(offset, len(data), 3):  # small pieces, as a network gives
                yield data[start : start + 3]

        return opener

    async def put_blob(
        self, repository: str, blob: BlobRef, source: BlobOpener, mount_from: str | None
    ) -> int:
        if mount_from and blob.digest in self.repo(mount_from).blobs:
            self.repo(repository).blobs.add(blob.digest)
            self.writes.append(("mount", repository, blob.digest))
            return 0
        if blob.digest in self.failing_blobs:
            raise EndpointError(f"blob {blob.digest}: the connection broke")
        data = b"".join([chunk async for chunk in source(0)])
        if digest_of(data) != blob.digest:
            raise EndpointError(f"blob {blob.digest}: digest mismatch")
        self.data[blob.digest] = data
        self.repo(repository).blobs.add(blob.digest)
        self.writes.append(("blob", repository, blob.digest))
        return len(data)

    async def put_manifest(self, repository: str, reference: str, manifest: ManifestBody) -> None:
        parsed = manifests.parse(manifest.body, manifest.media_type)
        repo = self.repo(repository)
        for blob in parsed.blobs:
            if str(blob.digest) not in repo.blobs:
                raise EndpointError(f"manifest blob unknown: {blob.digest}")
        for child in parsed.children:
            if str(child.digest) not in repo.manifests:
                raise EndpointError(f"manifest unknown: {child.digest}")
        if ":" in reference and reference != manifest.digest:
            raise EndpointError("digest mismatch")
        repo.manifests[manifest.digest] = manifest
        if ":" not in reference:
            repo.tags[reference] = manifest.digest
        self.writes.append(("manifest", repository, reference))


# building content ---------------------------------------------------------------------------

SIGNATURE = "application/vnd.example.signature"


def image(source: MemoryEndpoint, repo: str, arch: str, tag: str | None = None) -> ManifestBody:
    config = source.add_blob(repo, f'{{"architecture":"{arch}","os":"linux"}}'.encode())
    shared = source.add_blob(repo, b"a layer both platforms share")
    own = source.add_blob(repo, f"a layer of {arch} only".encode())
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {**config, "mediaType": "application/vnd.oci.image.config.v1+json"},
        "layers": [shared, own],
    }
    return source.add_manifest(repo, doc, tag)


def descriptor(manifest: ManifestBody) -> dict[str, object]:
    return {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": len(manifest.body),
    }


def referrer(source: MemoryEndpoint, repo: str, subject: ManifestBody, text: str) -> ManifestBody:
    empty = source.add_blob(repo, b"{}")
    payload = source.add_blob(repo, text.encode())
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": SIGNATURE,
        "config": {**empty, "mediaType": mt.OCI_EMPTY},
        "layers": [payload],
        "subject": descriptor(subject),
    }
    return source.add_manifest(repo, doc)


def index_of(
    source: MemoryEndpoint, repo: str, tag: str
) -> tuple[ManifestBody, list[ManifestBody]]:
    children = [image(source, repo, "amd64"), image(source, repo, "arm64")]
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [descriptor(child) for child in children],
    }
    return source.add_manifest(repo, doc, tag), children


def blob_digests(manifest: ManifestBody) -> list[str]:
    return [str(b.digest) for b in manifests.parse(manifest.body, manifest.media_type).blobs]
