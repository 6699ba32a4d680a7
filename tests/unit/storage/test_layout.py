"""The key layout and the checks that keep keys inside a driver's root."""

from __future__ import annotations

import pytest

from moorage.oci.digest import Digest
from moorage.storage.layout import blob_key, check_blob_key, check_key, check_prefix

HEX = "ab" + "0" * 62


def test_blob_key_fans_out_by_the_first_two_hex_digits() -> None:
    assert blob_key(Digest("sha256", HEX)) == f"blobs/sha256/ab/{HEX}"
    long_hex = "cd" + "1" * 126
    assert blob_key(Digest("sha512", long_hex)) == f"blobs/sha512/cd/{long_hex}"


@pytest.mark.parametrize(
    "key", ["a", "blobs/sha256/ab/" + HEX, "uploads/x", "a.b/c..d/.e/f.", "a b/ü"]
)
def test_safe_keys_pass_unchanged(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    ("key", "flaw"),
    [
        ("", "empty"),
        ("/abs", "absolute"),
        ("//abs", "absolute"),
        ("..", "'..'"),
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("a/..", "'..'"),
        ("./a", "'.'"),
        ("a//b", "empty component"),
        ("a/", "empty component"),
        ("a\\..\\b", "'\\\\\\\\'"),
        ("a\x00b", "'\\\\x00'"),
    ],
)
def test_keys_that_could_escape_are_refused(key: str, flaw: str) -> None:
    with pytest.raises(ValueError, match=flaw):
        check_key(key)


def test_the_uploads_area_is_not_a_blob_key() -> None:
    with pytest.raises(ValueError, match="reserved"):
        check_blob_key("uploads/abc")
    assert check_blob_key("blobs/uploads") == "blobs/uploads"


@pytest.mark.parametrize("prefix", ["", "blobs/", "blobs/sha256/a", "blobs"])
def test_walk_prefixes(prefix: str) -> None:
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "../", "/blobs", "blobs//", "a/../"])
def test_bad_walk_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="storage key"):
        check_prefix(prefix)
