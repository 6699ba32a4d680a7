"""buildah (build from scratch, commit, push, pull) and podman (pull, tag, push, search)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    AMD64_TAG,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    OciLayout,
    RegistryAccess,
    Skopeo,
    Tool,
)

pytestmark = pytest.mark.e2e

LOCAL_IMAGE = "localhost/moorage-e2e:built"


def build_from_scratch(buildah: Tool, rootfs: Path) -> None:
    container = buildah("from", "scratch").stdout.strip()
    buildah("copy", "--quiet", container, rootfs, "/")
    buildah(
        "config",
        "--cmd",
        "/bin/sh",
        "--arch",
        "amd64",
        "--os",
        "linux",
        "--label",
        "built-by=buildah",
        container,
    )
    buildah("commit", "--quiet", container, LOCAL_IMAGE)
    buildah("rm", container)


def push(tool: Tool, access: RegistryAccess, source: str, dest: str, *options: str) -> str:
    """Push with buildah or podman; return the digest the client reports."""
    digest_file = Path(tool.env["TMPDIR"]) / "pushed-digest"
    tool("push", "--quiet", *access.flags(), "--digestfile", digest_file, *options, source, dest)
    return digest_file.read_text().strip()


@pytest.mark.parametrize(
    ("format_", "media_type"), [("oci", OCI_MANIFEST), ("docker", DOCKER_MANIFEST)]
)
def test_buildah_build_push_pull(
    buildah: Tool,
    skopeo: Skopeo,
    access: RegistryAccess,
    registry: str,
    image_rootfs: Path,
    format_: str,
    media_type: str,
) -> None:
    build_from_scratch(buildah, image_rootfs)
    ref = access.ref(registry, "built", format_)
    digest = push(buildah, access, LOCAL_IMAGE, f"docker://{ref}", "--format", format_)

    manifest = json.loads(skopeo("inspect", "--raw", f"docker://{ref}").stdout)
    assert manifest["mediaType"] == media_type
    config = skopeo.inspect(f"docker://{ref}", "--config")
    assert config["config"]["Labels"]["built-by"] == "buildah"

    buildah("rmi", "--all")
    buildah("pull", "--quiet", *access.flags(), f"docker://{ref}")
    pulled = buildah("inspect", "--type", "image", "--format", "{{.FromImageDigest}}", ref)
    assert pulled.stdout.strip() == digest


def podman_digest(podman: Tool, ref: str) -> str:
    return podman("image", "inspect", "--format", "{{.Digest}}", ref).stdout.strip()


def test_podman_pull_tag_push_pull(
    podman: Tool,
    skopeo: Skopeo,
    access: RegistryAccess,
    registry: str,
    oci_layout: OciLayout,
) -> None:
    source = access.ref(registry, "busybox", "v1")
    skopeo.copy(oci_layout.ref(AMD64_TAG), f"docker://{source}")

    podman("pull", "--quiet", *access.flags(), source)
    assert podman_digest(podman, source) == oci_layout.descriptor(AMD64_TAG)["digest"]

    copy = access.ref(registry, "podman", "v2")
    podman("tag", source, copy)
    digest = push(podman, access, copy, copy)
    podman("rmi", "--all")
    podman("pull", "--quiet", *access.flags(), copy)
    assert podman_digest(podman, copy) == digest


def test_podman_search_list_tags(
    podman: Tool,
    skopeo: Skopeo,
    access: RegistryAccess,
    registry: str,
    oci_layout: OciLayout,
) -> None:
    for tag in ("v1", "v2", "latest"):
        skopeo.copy(oci_layout.ref(AMD64_TAG), access.docker_ref(registry, "busybox", tag))
    name = f"{access.host}/{registry}/busybox"
    [found] = podman.json("search", "--list-tags", "--format", "json", *access.tls_flags(), name)
    assert found["Name"] == name
    assert sorted(found["Tags"]) == ["latest", "v1", "v2"]
