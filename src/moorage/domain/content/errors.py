"""Registry content's errors (names, tags, digests, manifests)."""

from __future__ import annotations

from moorage.domain.kernel.errors import InvalidInput, NotFound


class InvalidManifest(InvalidInput):
    pass


class InvalidDigest(InvalidInput):
    pass


class TagNotFound(NotFound):
    def __init__(self, repository: str, tag: str) -> None:
        super().__init__(f"tag {tag[:128]!r} not found in {repository!r}")


class InvalidRegistryName(InvalidInput):
    pass


class InvalidName(InvalidInput):
    pass


class InvalidTag(InvalidInput):
    pass
