"""oras-py: OCI 1.1 artifacts (artifactType, empty config), referrers (subject) and chunked push."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import oras.client
import oras.oci
import pytest

from tests.e2e.conftest import OCI_INDEX, OCI_MANIFEST, RegistryAccess, sha256_digest

pytestmark = pytest.mark.e2e

EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
TITLE = "org.opencontainers.image.title"
SBOM_TYPE = "application/vnd.example.sbom.v1"
SIGNATURE_TYPE = "application/vnd.example.signature.v1"
LAYER_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Pushed:
    digest: str
    size: int
    response: Any  # requests.Response of the manifest PUT

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": OCI_MANIFEST, "digest": self.digest, "size": self.size}


class Artifacts:
    """Pushes hand-built OCI 1.1 artifact manifests with oras-py, into one repository."""

    def __init__(self, client: oras.client.OrasClient, repository: str, workdir: Path) -> None:
        self.client = client
        self.repository = repository
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)

    def url(self, path: str) -> str:
        return f"http://{self.client.hostname}/v2/{self.repository}/{path}"

    def upload(self, name: str, data: bytes, media_type: str) -> dict[str, Any]:
        path = self.workdir / name
        path.write_bytes(data)
        descriptor = {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}
        response = self.client.upload_blob(str(path), self.repository, descriptor)
        assert response.status_code in (200, 201), response.text
        return descriptor

    def push(
        self,
        reference: str | None,
        artifact_type: str,
        files: dict[str, bytes],
        annotations: dict[str, str],
        subject: Pushed | None = None,
    ) -> Pushed:
        """PUT the manifest under `reference` (a tag), or by its digest when None."""
        layers = [
            {**self.upload(name, data, LAYER_TYPE), "annotations": {TITLE: name}}
            for name, data in files.items()
        ]
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": self.upload("config.json", EMPTY_CONFIG, EMPTY_CONFIG_TYPE),
            "layers": layers,
        }
        if annotations:
            manifest["annotations"] = annotations
        if subject is not None:
            manifest["subject"] = subject.descriptor()
        body = json.dumps(manifest).encode()
        digest = sha256_digest(body)
        response = self.client.do_request(
            self.url(f"manifests/{reference or digest}"),
            "PUT",
            headers={"Content-Type": OCI_MANIFEST},
            data=body,
        )
        assert response.status_code == 201, response.text
        assert response.headers["Docker-Content-Digest"] == digest
        return Pushed(digest, len(body), response)


@pytest.fixture
def artifacts(
    oras_client: oras.client.OrasClient, access: RegistryAccess, registry: str, tmp_path: Path
) -> Artifacts:
    return Artifacts(oras_client, f"{registry}/artifact", tmp_path / "blobs")


def push_sbom(artifacts: Artifacts) -> Pushed:
    return artifacts.push(
        "v1",
        SBOM_TYPE,
        {"sbom.json": b'{"spdxVersion": "SPDX-2.3"}', "notes.txt": os.urandom(4096)},
        {"org.opencontainers.image.description": "an SBOM"},
    )


def referrers(http: httpx.Client, repository: str, digest: str, **params: str) -> httpx.Response:
    response = http.get(f"/v2/{repository}/referrers/{digest}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(OCI_INDEX)
    return response


def test_push_and_pull_artifact(
    artifacts: Artifacts,
    oras_client: oras.client.OrasClient,
    access: RegistryAccess,
    tmp_path: Path,
) -> None:
    pushed = push_sbom(artifacts)
    target = f"{access.host}/{artifacts.repository}:v1"

    manifest = oras_client.get_manifest(target)
    assert manifest["artifactType"] == SBOM_TYPE
    assert manifest["config"]["mediaType"] == EMPTY_CONFIG_TYPE
    assert oras_client.get_tags(target) == ["v1"]

    files = oras_client.pull(target=target, outdir=str(tmp_path / "pulled"))
    assert sorted(Path(f).name for f in files) == ["notes.txt", "sbom.json"]
    for name in ("sbom.json", "notes.txt"):
        assert (tmp_path / "pulled" / name).read_bytes() == (artifacts.workdir / name).read_bytes()

    by_digest = oras_client.get_manifest(f"{access.host}/{artifacts.repository}@{pushed.digest}")
    assert by_digest == manifest


def test_referrers(artifacts: Artifacts, http: httpx.Client) -> None:
    sbom = push_sbom(artifacts)
    signature_annotations = {"org.example.signed-by": "e2e-tests"}
    signature = artifacts.push(
        None,
        SIGNATURE_TYPE,
        {"signature.sig": os.urandom(256)},
        signature_annotations,
        subject=sbom,
    )
    assert signature.response.headers["OCI-Subject"] == sbom.digest
    attestation = artifacts.push(
        "attestation", "application/vnd.example.attestation.v1", {"a.json": b"{}"}, {}, sbom
    )

    response = referrers(http, artifacts.repository, sbom.digest)
    index = response.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert set(by_digest) == {signature.digest, attestation.digest}
    assert by_digest[signature.digest] == {
        **signature.descriptor(),
        "artifactType": SIGNATURE_TYPE,
        "annotations": signature_annotations,
    }

    filtered = referrers(http, artifacts.repository, sbom.digest, artifactType=SIGNATURE_TYPE)
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [signature.digest]

    # The signature itself has no referrers: an empty index, not an error.
    assert referrers(http, artifacts.repository, signature.digest).json()["manifests"] == []


def test_chunked_push(
    oras_client: oras.client.OrasClient,
    access: RegistryAccess,
    registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # oras-py pushes only files under the working directory
    data = os.urandom(2 * 1024 * 1024 + 123)
    Path("big.bin").write_bytes(data)
    target = f"{access.host}/{registry}/chunked:v1"

    response = oras_client.push(
        target=target,
        files=["big.bin:application/vnd.example.blob"],
        do_chunked=True,
        chunk_size=512 * 1024,
        quiet=True,
    )
    assert response.status_code == 201

    manifest = oras_client.get_manifest(target)
    assert manifest["layers"][0]["digest"] == sha256_digest(data)
    files = oras_client.pull(target=target, outdir=str(tmp_path / "pulled"))
    assert [Path(f).read_bytes() for f in files] == [data]
