"""Content digests (`algorithm:hex`) and a streaming digester."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

# The algorithms a registry must accept; the hex length guards against truncated digests.
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")
LOWER_HEX = frozenset("0123456789abcdef")  # a set test: every request parses digests


class DigestError(ValueError):
    """A string that is not a valid, supported digest."""


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, value: str) -> Digest:
        """Parse and validate; raises DigestError naming what is wrong."""
        match = _DIGEST_RE.match(value)
        if match is None:
            raise DigestError(f"invalid digest {value[:150]!r}: expected algorithm:hex")
        algorithm, hexpart = match.group(1), match.group(2)
        expected = _HEX_LENGTHS.get(algorithm)
        if expected is None:
            raise DigestError(f"unsupported digest algorithm {algorithm!r} (sha256, sha512)")
        if len(hexpart) != expected or not LOWER_HEX.issuperset(hexpart):
            raise DigestError(
                f"invalid {algorithm} digest: expected {expected} lowercase hex digits"
            )
        return cls(algorithm, hexpart)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())


class Digester:
    """Hashes bytes as they stream past; never holds them."""

    def __init__(self, algorithm: str = "sha256") -> None:
        self.algorithm = algorithm
        self._hash: Any = hashlib.new(algorithm)
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())
