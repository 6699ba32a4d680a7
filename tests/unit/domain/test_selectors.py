from __future__ import annotations

import time

import pytest

from moorage.domain.kernel.errors import InvalidInput
from moorage.domain.policies import selectors
from moorage.domain.policies.errors import InvalidPattern
from moorage.domain.policies.selectors import (
    MAX_PATTERN_LENGTH,
    Selector,
    TagSelector,
    compile_pattern,
)

# (pattern, text, matches) — doublestar semantics as Harbor uses them (bmatcuk/doublestar).
MATCHES = [
    # `*` stays inside one path component
    ("*", "app", True),
    ("*", "team/app", False),
    ("app*", "app-web", True),
    ("*-web", "app-web", True),
    ("*repo", "my-repo", True),
    ("repo*", "repository", True),
    ("*_repo_*", "my_repo_1", True),
    ("team/*", "team/app", True),
    ("team/*", "team/app/web", False),
    ("team/*", "team", False),
    ("*/app", "team/app", True),
    ("*/app", "app", False),
    ("*", "", True),
    # `**` as a whole component crosses `/`
    ("**", "app", True),
    ("**", "a/b/c", True),
    ("team/**", "team/app", True),
    ("team/**", "team/app/web", True),
    ("team/**", "team", False),
    ("team/**", "other/app", False),
    ("**/web", "web", True),
    ("**/web", "team/web", True),
    ("**/web", "a/b/web", True),
    ("**/web", "team/web2", False),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/x/y/c", False),
    ("**/x/**", "a/x/b", True),
    ("**/x/**", "x/b", True),
    # `**` inside a component is a plain `*`
    ("a**", "abc", True),
    ("a**", "ab/c", False),
    ("**b", "a/b", False),
    ("**b", "ab", True),
    # `?` is one character other than `/`
    ("v?", "v1", True),
    ("v?", "v10", False),
    ("v?", "v", False),
    ("a?b", "a/b", False),
    # alternatives, nested and empty
    ("{app,web}", "web", True),
    ("{app,web}", "db", False),
    ("{app,web}-*", "app-1", True),
    ("{a,{b,c}d}", "cd", True),
    ("{a,{b,c}d}", "c", False),
    ("v1{,-rc}", "v1", True),
    ("v1{,-rc}", "v1-rc", True),
    ("{team/**,tools/*}", "team/a/b", True),
    ("{team/**,tools/*}", "tools/a/b", False),
    ("a/{**/x,y}", "a/p/q/x", True),
    ("a/{**/x,y}", "a/x", True),
    ("{latest,snapshot}", "snapshot", True),
    # a top-level comma separates alternatives, as Harbor's console writes lists
    ("app,web", "web", True),
    ("my_repo_1,my_repo_2", "my_repo_2", True),
    ("app,web", "app,web", False),
    # character classes
    ("v[0-9]", "v7", True),
    ("v[0-9]", "va", False),
    ("[abc]x", "bx", True),
    ("[!a-z]*", "1abc", True),
    ("[!a-z]*", "abc", False),
    ("[^a-z]*", "Abc", True),
    ("[-_.]x", "_x", True),
    ("[a-]x", "-x", True),
    ("[!x]", "/", False),
    ("[\\]]", "]", True),
    # escapes
    ("a\\*", "a*", True),
    ("a\\*", "ab", False),
    ("\\{a\\}", "{a}", True),
    # whole-string matching, case-sensitive
    ("app", "app", True),
    ("app", "myapp", False),
    ("app", "app2", False),
    ("App", "app", False),
    ("v*", "v1.2.3-alpine", True),
    ("**", "x" * 255, True),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), MATCHES)
def test_matches(pattern: str, text: str, expected: bool) -> None:
    assert compile_pattern(pattern).matches(text) is expected


@pytest.mark.parametrize(("pattern", "text", "expected"), MATCHES)
def test_matching_without_the_dfa_cache_agrees(
    monkeypatch: pytest.MonkeyPatch, pattern: str, text: str, expected: bool
) -> None:
    # a full DFA falls back to stepping through the NFA: same answers
    monkeypatch.setattr(selectors, "_MAX_DFA_STATES", 2)
    automaton = selectors._Automaton(selectors._Parser(pattern).parse())
    assert automaton.run(text) is expected


INVALID = [
    ("", "empty"),
    ("x" * (MAX_PATTERN_LENGTH + 1), "longer than 255"),
    ("{a,b", "'{' at position 1 is never closed"),
    ("x{a,{b}", "'{' at position 2 is never closed"),
    ("a}", "'}' at position 2 closes no '{'"),
    ("{a}}", "'}' at position 4 closes no '{'"),
    ("[abc", "'[' at position 1 is never closed"),
    ("[]", "empty"),
    ("[!]", "empty"),
    ("[z-a]", "runs backwards"),
    ("a\\", "lone '\\'"),
    ("[a\\", "lone '\\'"),
    ("app, web", "whitespace"),
    ("app\n", "whitespace"),
    ("a\x00", "control"),
    ("app,", "empty item"),
    (",app", "empty item"),
    ("{" * 12 + "}" * 12, "nest deeper"),
]


@pytest.mark.parametrize(("pattern", "reason"), INVALID)
def test_invalid_patterns_are_refused_with_a_reason(pattern: str, reason: str) -> None:
    with pytest.raises(InvalidPattern, match="invalid pattern") as caught:
        compile_pattern(pattern)
    assert reason in str(caught.value)
    assert caught.value.pattern == pattern
    assert isinstance(caught.value, InvalidInput)


def test_long_patterns_are_shortened_in_messages() -> None:
    with pytest.raises(InvalidPattern) as caught:
        compile_pattern("y" * 300)
    assert len(str(caught.value)) < 120


def test_the_longest_pattern_is_accepted() -> None:
    assert compile_pattern("a" * MAX_PATTERN_LENGTH).matches("a" * MAX_PATTERN_LENGTH)


def test_compiled_patterns_are_cached_and_compare_by_source() -> None:
    assert compile_pattern("team/**") is compile_pattern("team/**")
    assert compile_pattern("a*") == compile_pattern("a*")
    assert compile_pattern("a*") != compile_pattern("b*")
    assert repr(compile_pattern("a*")) == "Pattern('a*')"


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("*a*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 128),
        ("**/*a*a*a*a*a*a*a*a*a*b", "a/" * 100 + "a" * 50),
        ("{a,aa,aaa}{a,aa,aaa}{a,aa,aaa}{a,aa,aaa}{a,aa,aaa}{a,aa,aaa}b", "a" * 128),
        ("**a" + "?" * 100, "ab" * 127),  # a DFA too large to build: stepped uncached
    ],
)
def test_pathological_patterns_stay_fast(pattern: str, text: str) -> None:
    # a backtracking regex would take exponential time on these
    started = time.perf_counter()
    assert compile_pattern(pattern).matches(text) in (True, False)
    assert time.perf_counter() - started < 0.5


def test_selector_include_and_exclude() -> None:
    include, exclude = Selector("team/**", include=True), Selector("team/**", include=False)
    assert include.selects("team/app")
    assert not include.selects("tools/app")
    assert exclude.selects("tools/app")
    assert not exclude.selects("team/app")
    assert include.describe() == "'team/**'"
    assert exclude.describe() == "excluding 'team/**'"


def test_selector_validates_and_compares_by_value() -> None:
    with pytest.raises(InvalidPattern):
        Selector("{", include=True)
    assert Selector("a*", True) == Selector("a*", True)
    assert Selector("a*", True) != Selector("a*", False)
    assert len({Selector("a*", True), Selector("a*", True)}) == 1


# (include, untagged, tags, selected) for the pattern 'v*' — Harbor's doublestar tag selector
TAGS = [
    (True, False, ("v1",), True),
    (True, False, ("dev",), False),
    (True, False, ("dev", "v1"), True),  # any tag matching is enough
    (False, False, ("dev",), True),
    (False, False, ("v1",), False),
    (False, False, ("v1", "dev"), True),  # any tag NOT matching is enough
    (False, False, ("v1", "v2"), False),
    (True, False, (), False),
    (True, True, (), True),
    (False, False, (), False),
    (False, True, (), True),
]


@pytest.mark.parametrize(("include", "untagged", "tags", "expected"), TAGS)
def test_tag_selector(include: bool, untagged: bool, tags: tuple[str, ...], expected: bool) -> None:
    assert TagSelector("v*", include, untagged).selects(tags) is expected


def test_tag_selector_describes_itself() -> None:
    assert TagSelector("v*", True, untagged=True).describe() == "'v*' and untagged"
    assert TagSelector("v*", False, untagged=False).describe() == "excluding 'v*', tagged only"
    with pytest.raises(InvalidPattern):
        TagSelector("[", True, untagged=False)
