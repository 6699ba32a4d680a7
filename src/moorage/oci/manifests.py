"""Parse and validate manifest and index bodies into the facts a registry needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest, DigestError
from moorage.oci.limits import JsonError, load_json

MAX_MANIFEST_BYTES = 4 * 1024 * 1024


class ManifestError(ValueError):
    """A manifest body that cannot be accepted; the message says why."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    platform: dict[str, Any] | None = None
    artifact_type: str | None = None
    where: str = field(default="", compare=False)  # its place in the body: `layers[2]`


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()  # an index's manifests
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """Every blob this manifest references (config first), without duplicates."""
        seen: dict[Digest, Descriptor] = {}
        for desc in ((self.config,) if self.config else ()) + self.layers:
            seen.setdefault(desc.digest, desc)
        return tuple(seen.values())

    @property
    def effective_artifact_type(self) -> str | None:
        """OCI 1.1: `artifactType`, else the config's media type for a manifest."""
        if self.artifact_type:
            return self.artifact_type
        if self.config is not None and self.media_type == mt.OCI_MANIFEST:
            return self.config.media_type
        return None


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestError(f"{where} must be a descriptor object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestError(f"{where}.mediaType must be a non-empty string")
    if not isinstance(digest, str):
        raise ManifestError(f"{where}.digest must be a string")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"{where}.size must be a non-negative integer")
    try:
        parsed = Digest.parse(digest)
    except DigestError as exc:
        raise ManifestError(f"{where}.digest: {exc}") from None
    platform = value.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestError(f"{where}.platform must be an object")
    artifact_type = value.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestError(f"{where}.artifactType must be a string")
    return Descriptor(media_type, parsed, size, platform, artifact_type, where)


def _descriptors(value: Any, where: str) -> tuple[Descriptor, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ManifestError(f"{where} must be an array")
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def _media_type(doc: dict[str, Any], content_type: str) -> str:
    """The body's `mediaType`, else the request's Content-Type, else the body's shape.

    umoci and Helm push manifests without `mediaType`: the Content-Type is then the truth.
    """
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestError("mediaType must be a string")
    header = mt.base(content_type)
    if header in mt.SCHEMA1 or declared in mt.SCHEMA1 or doc.get("schemaVersion") == 1:
        raise ManifestError(
            "Docker manifest schema 1 is not supported: push schema 2 or OCI manifests"
        )
    if declared:
        if header in mt.MANIFESTS and header != declared:
            raise ManifestError(
                f"mediaType {declared!r} in the body does not match Content-Type {header!r}"
            )
        if declared not in mt.MANIFESTS:
            raise ManifestError(f"unsupported manifest media type {declared!r}")
        return declared
    if header in mt.MANIFESTS:
        return header
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc:
        return mt.OCI_MANIFEST
    raise ManifestError("cannot tell the manifest's media type from its body or Content-Type")


def parse(body: bytes, content_type: str) -> ParsedManifest:
    """Validate a manifest body; raises ManifestError with the reason."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        doc = load_json(body)
    except JsonError as exc:
        raise ManifestError(f"manifest: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestError("manifest must be a JSON object")
    media_type = _media_type(doc, content_type)
    if doc.get("schemaVersion") != 2:
        raise ManifestError("schemaVersion must be 2")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestError("artifactType must be a string")
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        raise ManifestError("annotations must map strings to strings")
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    if media_type in mt.INDEXES:
        if "manifests" not in doc:
            raise ManifestError("an index must have a manifests array")
        return ParsedManifest(
            media_type=media_type,
            config=None,
            children=_descriptors(doc.get("manifests"), "manifests"),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    if "config" not in doc:
        raise ManifestError("an image manifest must have a config descriptor")
    return ParsedManifest(
        media_type=media_type,
        config=_descriptor(doc["config"], "config"),
        layers=_descriptors(doc.get("layers"), "layers"),
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
MAX_CONFIG_BYTES = 64 * 1024  # image configs are a few KiB; larger ones are not read


def image_config(parsed: ParsedManifest) -> Descriptor | None:
    """The config of an image manifest worth reading for its platform, if any."""
    config = parsed.config
    if config is None or parsed.is_index or config.media_type not in IMAGE_CONFIGS:
        return None
    return config if config.size <= MAX_CONFIG_BYTES else None


HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"  # a Helm chart's Chart.yaml, as JSON


def helm_config(parsed: ParsedManifest) -> Descriptor | None:
    """The config of a Helm chart's manifest, if it is small enough to read."""
    config = parsed.config
    if config is None or parsed.is_index or config.media_type != HELM_CONFIG:
        return None
    return config if config.size <= MAX_CONFIG_BYTES else None


def platform_of_config(data: bytes) -> str | None:
    """`os/architecture[/variant]` from an image config, or None when it says nothing."""
    try:
        doc = load_json(data)
    except JsonError:  # a config beyond the bounds says nothing that is read
        return None
    if not isinstance(doc, dict):
        return None
    parts = [doc.get("os"), doc.get("architecture"), doc.get("variant")]
    if not all(isinstance(p, str) for p in parts[:2]):
        return None
    return "/".join(p for p in parts if isinstance(p, str) and p)
