from __future__ import annotations

import json
from typing import Any

import pytest

from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from moorage.oci.manifests import (
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    ManifestError,
    image_config,
    parse,
    platform_of_config,
)

CONFIG = {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "size": 2,
    "digest": str(Digest.of(b"{}")),
}
LAYER = {
    "mediaType": "application/vnd.oci.image.layer.v1.tar",
    "size": 1,
    "digest": str(Digest.of(b"x")),
}


def manifest(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": CONFIG,
        "layers": [LAYER],
        **extra,
    }


def body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def test_image_manifest() -> None:
    parsed = parse(body(manifest()), mt.OCI_MANIFEST)
    assert parsed.media_type == mt.OCI_MANIFEST
    assert [str(b.digest) for b in parsed.blobs] == [CONFIG["digest"], LAYER["digest"]]
    assert parsed.effective_artifact_type == CONFIG["mediaType"]


def test_media_type_from_content_type_when_the_body_has_none() -> None:
    doc = manifest()
    del doc["mediaType"]
    assert parse(body(doc), mt.DOCKER_MANIFEST).media_type == mt.DOCKER_MANIFEST
    assert parse(body(doc), "application/json").media_type == mt.OCI_MANIFEST


def test_index_with_platforms_and_subject() -> None:
    child = {
        "mediaType": mt.OCI_MANIFEST,
        "size": 10,
        "digest": str(Digest.of(b"m")),
        "platform": {"os": "linux", "architecture": "arm64"},
    }
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [child],
        "subject": child,
        "artifactType": "application/x-demo",
    }
    parsed = parse(body(doc), mt.OCI_INDEX)
    assert parsed.is_index
    assert parsed.children[0].platform == {"os": "linux", "architecture": "arm64"}
    assert parsed.subject is not None
    assert parsed.effective_artifact_type == "application/x-demo"


@pytest.mark.parametrize(
    ("raw", "content_type", "reason"),
    [
        (b"not json", mt.OCI_MANIFEST, "not valid JSON"),
        (b"[]", mt.OCI_MANIFEST, "JSON object"),
        (body({"schemaVersion": 1, "name": "x"}), mt.DOCKER_SCHEMA1, "schema 1"),
        (body(manifest()), mt.DOCKER_SCHEMA1_SIGNED, "schema 1"),
        (body(manifest(schemaVersion=3)), mt.OCI_MANIFEST, "schemaVersion"),
        (body(manifest()), mt.DOCKER_MANIFEST, "does not match"),
        (body(manifest(mediaType="application/x-weird")), "", "unsupported"),
        (body({"schemaVersion": 2}), "application/octet-stream", "cannot tell"),
        (
            body(manifest(config={"mediaType": "x", "size": -1, "digest": CONFIG["digest"]})),
            mt.OCI_MANIFEST,
            "size",
        ),
        (body(manifest(layers=[{**LAYER, "digest": "sha256:zz"}])), mt.OCI_MANIFEST, "digest"),
        (body(manifest(annotations={"a": 1})), mt.OCI_MANIFEST, "annotations"),
        (body({"schemaVersion": 2, "mediaType": mt.OCI_INDEX}), mt.OCI_INDEX, "manifests"),
        (b" " * (MAX_MANIFEST_BYTES + 1), mt.OCI_MANIFEST, "larger than"),
    ],
)
def test_refused(raw: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(ManifestError, match=reason):
        parse(raw, content_type)


@pytest.mark.parametrize(
    ("config", "platform"),
    [
        ({"os": "linux", "architecture": "amd64"}, "linux/amd64"),
        ({"os": "linux", "architecture": "arm64", "variant": "v8"}, "linux/arm64/v8"),
        ({"os": "linux"}, None),
        ({"architecture": 7, "os": "linux"}, None),
        ([], None),
    ],
)
def test_platform_of_an_image_config(config: object, platform: str | None) -> None:
    assert platform_of_config(json.dumps(config).encode()) == platform
    assert platform_of_config(b"\xff not json") is None


def test_only_small_image_configs_are_read() -> None:
    assert image_config(parse(body(manifest()), mt.OCI_MANIFEST)) is not None
    big = {**CONFIG, "size": MAX_CONFIG_BYTES + 1}
    assert image_config(parse(body(manifest(config=big)), mt.OCI_MANIFEST)) is None
    helm = {**CONFIG, "mediaType": "application/vnd.cncf.helm.config.v1+json"}
    assert image_config(parse(body(manifest(config=helm)), mt.OCI_MANIFEST)) is None
