"""Registry content's errors (names, tags, digests, manifests)."""

from __future__ import annotations

from moorage.domain.kernel.errors import AlreadyExists, Busy, InvalidInput, NotFound


class InvalidManifest(InvalidInput):
    pass


class InvalidDigest(InvalidInput):
    pass


class TagNotFound(NotFound):
    def __init__(self, repository: str, tag: str) -> None:
        super().__init__(f"tag {tag[:128]!r} not found in {repository!r}")


class TagPointsElsewhere(AlreadyExists):
    """Tagging an artifact with a tag that points at another artifact, without asking for
    the tag to move: `digest` is the artifact it points at now."""

    def __init__(self, repository: str, tag: str, digest: str) -> None:
        super().__init__(
            f"tag {tag!r} of {repository!r} already points at {digest}; ask to move it"
        )
        self.tag = tag
        self.digest = digest


class InvalidRegistryName(InvalidInput):
    pass


class InvalidName(InvalidInput):
    pass


class InvalidTag(InvalidInput):
    pass


class BlobBeingCollected(Busy):
    """Garbage collection is deleting the blob's object right now: an upload finishing with
    its digest is refused (retry shortly: the blob is gone a moment later and the upload
    then commits it afresh)."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"blob {digest} is being garbage-collected: retry shortly")
