from __future__ import annotations

import hashlib

import pytest

from moorage.oci.digest import Digest, Digester, DigestError

SHA256_EMPTY = "sha256:" + hashlib.sha256(b"").hexdigest()


def test_parse_roundtrip() -> None:
    assert str(Digest.parse(SHA256_EMPTY)) == SHA256_EMPTY
    sha512 = "sha512:" + hashlib.sha512(b"x").hexdigest()
    assert Digest.parse(sha512).algorithm == "sha512"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "expected algorithm:hex"),
        ("sha256", "expected algorithm:hex"),
        ("sha256:abc", "64 lowercase hex"),
        ("sha256:" + "A" * 64, "64 lowercase hex"),
        ("sha256:" + "g" * 64, "64 lowercase hex"),
        ("md5:" + "a" * 32, "unsupported digest algorithm"),
        ("sha256:../../etc/passwd", "invalid digest"),
    ],
)
def test_parse_rejects(value: str, fragment: str) -> None:
    with pytest.raises(DigestError, match=fragment):
        Digest.parse(value)


def test_digester_streams() -> None:
    digester = Digester()
    for piece in (b"hello ", b"world"):
        digester.update(piece)
    assert digester.digest() == Digest.of(b"hello world")
    assert digester.size == 11
