"""Doublestar patterns turned into simple globs match exactly the tags the pattern matches."""

from __future__ import annotations

import fnmatch
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from moorage.domain.content.tag_globs import MAX_GLOBS, glob_regex, tag_globs
from moorage.domain.policies.errors import InvalidPattern
from moorage.domain.policies.selectors import compile_pattern


def glob_matches(glob: str, tag: str) -> bool:
    """An oracle independent of the module: fnmatch reads simple globs the same way."""
    return fnmatch.fnmatchcase(tag, glob)


DIGITS = "[0123456789]"


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
        ("v[0-9]*", (f"v{DIGITS}*",)),
        ("v[!a-zA-Z_.]", ("v[0123456789-]",)),
        ("[-.]x", ("[.-]x",)),
        ("[\\]]x", ()),  # a class of ']' only: no tag holds one
        ("v\\.1", ("v.1",)),
        ("v\\*", ()),  # a literal '*': no tag holds one
        ("tag@x,ok", ("ok",)),
        ("é*", ()),
        ("**/v1", ("v1",)),  # zero components
        ("{**/,x}v1", ("v1", "xv1")),
        ("{**}/v1", ()),  # '**' ends its option: the '/' must be there
        ("a/b", ()),
        ("v1/**", ()),
    ],
)
def test_patterns_that_become_globs(pattern: str, globs: tuple[str, ...]) -> None:
    assert tag_globs(pattern) == globs


@pytest.mark.parametrize("pattern", ["{a,b", "a}", "{a,b}" * 5, "[a", "v\\"])
def test_patterns_left_to_python(pattern: str) -> None:
    assert tag_globs(pattern) is None
    assert len(tag_globs("{a,b}" * 4) or ()) == MAX_GLOBS


@pytest.mark.parametrize("glob", ["v*", "a?c", "[ab-]x", "x.y_z", "*[.]*"])
def test_the_regex_of_a_glob_means_the_glob(glob: str) -> None:
    for tag in ["v1", "abc", "a-x", "-x", "bx", "x.y_z", "xay_z", "a.b", "ab"]:
        assert (re.fullmatch(glob_regex(glob), tag) is not None) == glob_matches(glob, tag)


LITERALS = ["a", "b", "1", ".", "-", "_", "*", "**", "?", "{a,b}", "{,1*}", ",", "@", "\\.", "\\*"]
SLASHES = ["/", "**/", "/**", "\\/", "{**/,a}", "{**}", "{a/,**/b}"]
CLASSES = ["[a-c]", "[!a]", "[^.1]", "[-_]", "[.--]", "[\\]a]", "[!a-zA-Z0-9_.-]"]
PIECES = st.sampled_from([*LITERALS, *SLASHES, *CLASSES])
TAGS = st.text(alphabet="abc1._-", min_size=1, max_size=8)


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
