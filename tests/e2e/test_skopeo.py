"""skopeo: push, pull, multi-arch indexes, format conversion, inspect, tags, delete and sync."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    AMD64_TAG,
    ARM64_TAG,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    INDEX_TAG,
    OCI_INDEX,
    OciLayout,
    RegistryAccess,
    Skopeo,
    assert_same_image,
)

pytestmark = pytest.mark.e2e

IMAGE = "busybox"


def push(skopeo: Skopeo, layout: OciLayout, tag: str, dest: str, *options: str) -> None:
    skopeo.copy(layout.ref(tag), dest, *options)


def pull(skopeo: Skopeo, src: str, into: Path, *options: str) -> OciLayout:
    pulled = OciLayout(into)
    skopeo.copy(src, pulled.ref("pulled"), *options)
    return pulled


def tags(skopeo: Skopeo, access: RegistryAccess, registry: str, image: str) -> list[str]:
    listing = json.loads(skopeo("list-tags", f"docker://{access.host}/{registry}/{image}").stdout)
    assert listing["Repository"] == f"{access.host}/{registry}/{image}"
    return sorted(listing["Tags"])


def test_push_and_pull_image(
    skopeo: Skopeo, access: RegistryAccess, registry: str, oci_layout: OciLayout, tmp_path: Path
) -> None:
    ref = access.docker_ref(registry, IMAGE, "v1")
    push(skopeo, oci_layout, AMD64_TAG, ref)
    pulled = pull(skopeo, ref, tmp_path / "pulled")
    assert_same_image(oci_layout, AMD64_TAG, pulled, "pulled")


def test_push_and_pull_multi_arch_index(
    skopeo: Skopeo, access: RegistryAccess, registry: str, oci_layout: OciLayout, tmp_path: Path
) -> None:
    ref = access.docker_ref(registry, "multi", "latest")
    push(skopeo, oci_layout, INDEX_TAG, ref, "--all")
    pulled = pull(skopeo, ref, tmp_path / "pulled", "--all")
    assert_same_image(oci_layout, INDEX_TAG, pulled, "pulled")

    index_digest = oci_layout.descriptor(INDEX_TAG)["digest"]
    raw = skopeo("inspect", "--raw", ref).stdout.encode()
    assert raw == oci_layout.blob(index_digest)
    assert json.loads(raw)["mediaType"] == OCI_INDEX

    # skopeo reports the index's digest, and the architecture of the image it picked.
    for architecture in ("arm64", "amd64"):
        info = skopeo.inspect(ref, "--override-arch", architecture)
        assert info["Architecture"] == architecture
        assert info["Digest"] == index_digest


def test_pull_single_platform_from_index(
    skopeo: Skopeo, access: RegistryAccess, registry: str, oci_layout: OciLayout, tmp_path: Path
) -> None:
    ref = access.docker_ref(registry, "multi", "latest")
    push(skopeo, oci_layout, INDEX_TAG, ref, "--all")
    pulled = pull(skopeo, ref, tmp_path / "pulled", "--override-arch", "arm64")
    assert_same_image(oci_layout, ARM64_TAG, pulled, "pulled")


def test_convert_to_docker_schema_2(
    skopeo: Skopeo, access: RegistryAccess, registry: str, oci_layout: OciLayout, tmp_path: Path
) -> None:
    ref = access.docker_ref(registry, IMAGE, "docker")
    push(skopeo, oci_layout, AMD64_TAG, ref, "--format", "v2s2")

    manifest = json.loads(skopeo("inspect", "--raw", ref).stdout)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    source = oci_layout.json_blob(oci_layout.descriptor(AMD64_TAG)["digest"])
    assert manifest["config"]["digest"] == source["config"]["digest"]
    assert [layer["digest"] for layer in manifest["layers"]] == [
        layer["digest"] for layer in source["layers"]
    ]

    # dir: keeps the Docker manifest as it is; config and layer bytes are the source's.
    pulled = tmp_path / "pulled"
    skopeo.copy(ref, f"dir:{pulled}")
    assert json.loads((pulled / "manifest.json").read_bytes()) == manifest
    for desc in [source["config"], *source["layers"]]:
        hex_digest = desc["digest"].removeprefix("sha256:")
        assert (pulled / hex_digest).read_bytes() == oci_layout.blob(desc["digest"])


def test_convert_index_to_docker_manifest_list(
    skopeo: Skopeo, access: RegistryAccess, registry: str, oci_layout: OciLayout
) -> None:
    ref = access.docker_ref(registry, "multi", "docker")
    push(skopeo, oci_layout, INDEX_TAG, ref, "--all", "--format", "v2s2")
    manifest_list = json.loads(skopeo("inspect", "--raw", ref).stdout)
    assert manifest_list["mediaType"] == DOCKER_MANIFEST_LIST
    platforms = {m["platform"]["architecture"]: m["mediaType"] for m in manifest_list["manifests"]}
    assert platforms == {"amd64": DOCKER_MANIFEST, "arm64": DOCKER_MANIFEST}


def test_inspect(
    skopeo: Skopeo, access: RegistryAccess, registry: str, oci_layout: OciLayout
) -> None:
    ref = access.docker_ref(registry, IMAGE, "v1")
    push(skopeo, oci_layout, AMD64_TAG, ref)
    manifest_digest = oci_layout.descriptor(AMD64_TAG)["digest"]
    source = oci_layout.json_blob(manifest_digest)

    info = skopeo.inspect(ref)
    assert info["Digest"] == manifest_digest
    assert info["Name"] == f"{access.host}/{registry}/{IMAGE}"
    assert info["RepoTags"] == ["v1"]
    assert info["Architecture"] == "amd64"
    assert info["Os"] == "linux"
    assert info["Layers"] == [layer["digest"] for layer in source["layers"]]

    assert skopeo("inspect", "--raw", ref).stdout.encode() == oci_layout.blob(manifest_digest)
    config = skopeo.inspect(ref, "--config")
    assert config == oci_layout.json_blob(source["config"]["digest"])
    assert config["config"]["Cmd"] == ["/bin/sh"]

    by_digest = skopeo.inspect(access.docker_ref(registry, IMAGE, manifest_digest))
    assert by_digest["Digest"] == manifest_digest


def test_list_tags(
    skopeo: Skopeo, access: RegistryAccess, registry: str, oci_layout: OciLayout
) -> None:
    push(skopeo, oci_layout, AMD64_TAG, access.docker_ref(registry, IMAGE, "v1"))
    for tag in ("v2", "latest"):
        skopeo.copy(
            access.docker_ref(registry, IMAGE, "v1"), access.docker_ref(registry, IMAGE, tag)
        )
    push(skopeo, oci_layout, ARM64_TAG, access.docker_ref(registry, IMAGE, "arm"))
    assert tags(skopeo, access, registry, IMAGE) == ["arm", "latest", "v1", "v2"]


def test_delete_removes_every_tag_of_the_digest(
    skopeo: Skopeo, access: RegistryAccess, registry: str, oci_layout: OciLayout
) -> None:
    for tag in ("v1", "v2"):
        push(skopeo, oci_layout, AMD64_TAG, access.docker_ref(registry, IMAGE, tag))
    push(skopeo, oci_layout, ARM64_TAG, access.docker_ref(registry, IMAGE, "arm"))

    skopeo("delete", access.docker_ref(registry, IMAGE, "v2"))
    assert tags(skopeo, access, registry, IMAGE) == ["arm"]
    gone = skopeo("inspect", "--raw", access.docker_ref(registry, IMAGE, "v1"), check=False)
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr

    arm_digest = oci_layout.descriptor(ARM64_TAG)["digest"]
    skopeo("delete", access.docker_ref(registry, IMAGE, arm_digest))
    assert tags(skopeo, access, registry, IMAGE) == []


def test_sync_between_registries(
    skopeo: Skopeo,
    access: RegistryAccess,
    registry: str,
    new_registry: Callable[[], str],
    oci_layout: OciLayout,
) -> None:
    mirror = new_registry()
    push(skopeo, oci_layout, AMD64_TAG, access.docker_ref(registry, IMAGE, "v1"))
    push(skopeo, oci_layout, INDEX_TAG, access.docker_ref(registry, IMAGE, "multi"), "--all")

    skopeo.tool(
        "sync",
        "--all",
        "--src",
        "docker",
        "--dest",
        "docker",
        *skopeo.access.flags("src-"),
        *skopeo.access.flags("dest-"),
        f"{access.host}/{registry}/{IMAGE}",
        f"{access.host}/{mirror}",
    )

    assert tags(skopeo, access, mirror, IMAGE) == ["multi", "v1"]
    for tag, layout_tag in (("v1", AMD64_TAG), ("multi", INDEX_TAG)):
        mirrored = skopeo("inspect", "--raw", access.docker_ref(mirror, IMAGE, tag)).stdout
        assert mirrored.encode() == oci_layout.blob(oci_layout.descriptor(layout_tag)["digest"])
    arm = skopeo.inspect(access.docker_ref(mirror, IMAGE, "multi"), "--override-arch", "arm64")
    assert arm["Architecture"] == "arm64"


def test_push_into_missing_registry_says_to_create_it(
    skopeo: Skopeo, access: RegistryAccess, oci_layout: OciLayout
) -> None:
    ref = access.docker_ref("no-such-registry", IMAGE, "v1")
    result = skopeo.tool(
        "copy", *access.flags("dest-"), oci_layout.ref(AMD64_TAG), ref, check=False
    )
    assert result.returncode != 0
    assert "no-such-registry" in result.stderr
    assert "create it first" in result.stderr
