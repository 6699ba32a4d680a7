"""A real Docker engine: docker load/tag/push/rmi/pull, and `docker manifest inspect`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    AMD64_TAG,
    ARM64_TAG,
    DOCKER_MANIFEST,
    INDEX_TAG,
    OCI_INDEX,
    OciLayout,
    RegistryAccess,
    Skopeo,
    Tool,
)

pytestmark = pytest.mark.e2e

DIGEST_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})", re.IGNORECASE)


def reported_digest(output: str) -> str:
    match = DIGEST_RE.search(output)
    assert match, output
    return match.group(1)


def load_test_image(
    docker: Tool, skopeo: Skopeo, layout: OciLayout, name: str, tmp_path: Path
) -> None:
    """Load the layout's amd64 image into dockerd as `name`."""
    archive = tmp_path / "image.tar"
    skopeo.tool("copy", "--quiet", layout.ref(AMD64_TAG), f"docker-archive:{archive}:{name}")
    assert name in docker("load", "--input", archive).stdout


def test_push_and_pull(
    docker: Tool,
    skopeo: Skopeo,
    access: RegistryAccess,
    registry: str,
    oci_layout: OciLayout,
    tmp_path: Path,
) -> None:
    local = f"moorage-e2e/{registry}:loaded"
    load_test_image(docker, skopeo, oci_layout, local, tmp_path)
    ref = access.ref(registry, "busybox", "v1")
    docker("tag", local, ref)

    digest = reported_digest(docker("push", ref).stdout)
    manifest = json.loads(skopeo("inspect", "--raw", f"docker://{ref}").stdout)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert skopeo.inspect(f"docker://{ref}")["Digest"] == digest

    docker("rmi", ref, local)
    assert reported_digest(docker("pull", ref).stdout) == digest
    [image] = docker.json("image", "inspect", ref)
    assert f"{access.host}/{registry}/busybox@{digest}" in image["RepoDigests"]
    assert image["Architecture"] == "amd64"

    # Pushing the same image again, under another tag, gives the same digest.
    docker("tag", ref, access.ref(registry, "busybox", "again"))
    assert reported_digest(docker("push", access.ref(registry, "busybox", "again")).stdout) == (
        digest
    )
    docker("rmi", ref, access.ref(registry, "busybox", "again"))


def test_manifest_inspect(
    docker: Tool, skopeo: Skopeo, access: RegistryAccess, registry: str, oci_layout: OciLayout
) -> None:
    image_ref = access.ref(registry, "busybox", "v1")
    index_ref = access.ref(registry, "multi", "latest")
    skopeo.copy(oci_layout.ref(AMD64_TAG), f"docker://{image_ref}")
    skopeo.copy(oci_layout.ref(INDEX_TAG), f"docker://{index_ref}", "--all")

    manifest = docker.json("manifest", "inspect", "--insecure", image_ref)
    source = oci_layout.json_blob(oci_layout.descriptor(AMD64_TAG)["digest"])
    assert manifest["config"]["digest"] == source["config"]["digest"]
    assert [layer["digest"] for layer in manifest["layers"]] == [
        layer["digest"] for layer in source["layers"]
    ]

    index = docker.json("manifest", "inspect", "--insecure", index_ref)
    assert index["mediaType"] == OCI_INDEX
    platforms = {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]}
    assert platforms == {
        "amd64": oci_layout.descriptor(AMD64_TAG)["digest"],
        "arm64": oci_layout.descriptor(ARM64_TAG)["digest"],
    }
