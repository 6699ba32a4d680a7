"""Doublestar patterns turned into simple globs match exactly the tags the pattern matches."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from moorage.domain.content.tag_globs import MAX_GLOBS, tag_globs
from moorage.domain.policies.errors import InvalidPattern
from moorage.domain.policies.selectors import compile_pattern


def glob_matches(glob: str, tag: str) -> bool:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.fullmatch("".join(parts), tag, re.DOTALL) is not None


@pytest.mark.parametrize(
    ("pattern", "globs"),
    [
        ("v*", ("v*",)),
        ("**", ("*",)),
        ("release-**-rc?", ("release-*-rc?",)),
        ("{v,r}1.*", ("v1.*", "r1.*")),
        ("prod,stage", ("prod", "stage")),
        ("a{b,{c,d}e}", ("ab", "ace", "ade")),
        ("x{*,}*", ("x*",)),
        ("{a,a}", ("a",)),
    ],
)
def test_patterns_that_become_globs(pattern: str, globs: tuple[str, ...]) -> None:
    assert tag_globs(pattern) == globs


@pytest.mark.parametrize(
    "pattern",
    ["v[0-9]*", "**/v1", "a/b", "v\\*", "tag@x", "é*", "{a,b", "a}", "{a,b}" * 5],
)
def test_patterns_left_to_python(pattern: str) -> None:
    assert tag_globs(pattern) is None
    assert len(tag_globs("{a,b}" * 4) or ()) == MAX_GLOBS


PIECES = st.sampled_from(["a", "b", "1", ".", "-", "_", "*", "**", "?", "{a,b}", "{,1*}", ","])
TAGS = st.text(alphabet="ab1._-", min_size=1, max_size=8)


@given(st.lists(PIECES, min_size=1, max_size=6).map("".join), st.lists(TAGS, max_size=20))
def test_globs_agree_with_the_pattern(pattern: str, tags: list[str]) -> None:
    try:
        compiled = compile_pattern(pattern)
    except InvalidPattern:  # policies never hold one
        assume(False)
    globs = tag_globs(pattern)
    assume(globs is not None)
    assert globs is not None
    for tag in tags:
        assert any(glob_matches(g, tag) for g in globs) == compiled.matches(tag), (pattern, tag)
