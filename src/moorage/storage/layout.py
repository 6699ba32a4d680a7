"""Where blobs live inside a blob store, and which keys a driver accepts.

Every driver stores bytes under the same relative keys, rooted at its own root (a directory
for the filesystem driver, a bucket plus an optional prefix for S3):

    blobs/<algorithm>/<first two hex digits>/<hex>    a committed blob, content-addressed
    uploads/...                                       a driver's unfinished uploads (private)

The two-hex fan-out keeps directories small on filesystems: 256 directories per algorithm,
each holding 1/256 of the blobs. Keys are '/'-separated on every platform.

The `uploads/` subtree belongs to the driver: it is never a valid committed key, and `walk`
never yields it. A key must be relative and normalised, so that joining it to a root can
never name anything outside that root: no leading '/', no '.' or '..' component, no empty
component ('a//b', trailing '/'), no backslash (a separator on Windows and in some S3
gateways) and no NUL (which truncates paths in C APIs).
"""

from __future__ import annotations

from moorage.oci.digest import Digest, DigestError

BLOBS_DIR = "blobs"

UPLOADS_DIR = "uploads"
__all__ = [
    "BLOBS_DIR",
    "UPLOADS_DIR",
    "blob_key",
    "check_blob_key",
    "check_key",
    "check_prefix",
    "digest_for_key",
]

_FORBIDDEN_CHARS = ("\\", "\x00")


def blob_key(digest: Digest) -> str:
    """The key of a committed blob: `blobs/<algorithm>/<first two hex>/<hex>`."""
    return f"{BLOBS_DIR}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def digest_for_key(key: str) -> Digest | None:
    """The digest whose blob lives at key (the inverse of `blob_key`), or None for any key
    `blob_key` could not have produced: a stray object, a wrong fan-out, a bad digest."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != BLOBS_DIR:
        return None
    _blobs, algorithm, fanout, hex_digest = parts
    try:
        digest = Digest.parse(f"{algorithm}:{hex_digest}")
    except DigestError:
        return None
    return digest if fanout == digest.hex[:2] else None


def check_key(key: str) -> str:
    """Return key unchanged when it is a safe relative key; raise ValueError naming the flaw."""
    if not key:
        raise ValueError("storage key is empty")
    for char in _FORBIDDEN_CHARS:
        if char in key:
            raise ValueError(f"storage key {key[:200]!r} contains {char!r}")
    if key.startswith("/"):
        raise ValueError(f"storage key {key[:200]!r} is absolute")
    for part in key.split("/"):
        if part == "":
            raise ValueError(f"storage key {key[:200]!r} has an empty component")
        if part in (".", ".."):
            raise ValueError(f"storage key {key[:200]!r} has a {part!r} component")
    return key


def check_blob_key(key: str) -> str:
    """check_key, and also refuse the driver-private `uploads/` subtree."""
    check_key(key)
    if key.split("/", 1)[0] == UPLOADS_DIR:
        raise ValueError(f"storage key {key[:200]!r} is inside the reserved {UPLOADS_DIR}/ area")
    return key


def check_prefix(prefix: str) -> str:
    """A prefix for `walk`: '' (everything), or a key-like string that may end with '/'."""
    if prefix:
        check_key(prefix.removesuffix("/"))
    return prefix
