"""Doublestar tag patterns as simple globs a database can match (`TagStore.artifact_has_tag_like`).

A tag holds only `[A-Za-z0-9_.-]` (never a `/`), so over tags a doublestar pattern built
from those characters, `*`, `**`, `?` and braces means exactly a handful of simple globs:
`*` and `**` both match any run of characters, `?` one character, `{a,b}` (or a top-level
comma) either alternative. A *simple glob* is written with `*`, `?` and tag characters only,
so every backend matches it without escaping surprises (SQLite's GLOB, PostgreSQL's LIKE
after swapping in `%` and `_`).

Anything else — a character class, a `/` (where `**/` may match zero components), an
escape, a character no tag holds, more than `MAX_GLOBS` alternatives — is not translated:
`tag_globs` answers None and the caller matches names in Python instead. A wrong
translation would show an artifact as unprotected, so this errs towards None.
"""

from __future__ import annotations

import itertools
import re
import string

MAX_GLOBS = 16
_TAG_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_MAX_NESTING = 10
_STARS = re.compile(r"\*+")


class _Untranslatable(Exception):
    pass


def tag_globs(pattern: str) -> tuple[str, ...] | None:
    """The simple globs that together match exactly the tags `pattern` matches, or None
    when the pattern uses anything beyond tag characters, `*`, `?` and braces."""
    try:
        alternatives, end = _alternatives(pattern, 0, depth=0)
    except _Untranslatable:
        return None
    if end != len(pattern):  # a stray '}'
        return None
    return tuple(dict.fromkeys(alternatives))


def _alternatives(text: str, pos: int, depth: int) -> tuple[list[str], int]:
    """Comma-separated sequences from `pos` up to a `}` or the end."""
    options, pos = _sequence(text, pos, depth)
    while pos < len(text) and text[pos] == ",":
        more, pos = _sequence(text, pos + 1, depth)
        options += more
        _check_count(options)
    return options, pos


def _sequence(text: str, pos: int, depth: int) -> tuple[list[str], int]:
    """Every expansion of one sequence (braces multiply), with runs of `*` made one."""
    expansions = [""]
    while pos < len(text) and text[pos] not in ",}":
        char = text[pos]
        if char == "{":
            if depth >= _MAX_NESTING:
                raise _Untranslatable
            inner, pos = _alternatives(text, pos + 1, depth + 1)
            if pos >= len(text):  # never closed: the pattern compiler refuses it anyway
                raise _Untranslatable
            pos += 1
            expansions = [_STARS.sub("*", a + b) for a, b in itertools.product(expansions, inner)]
            _check_count(expansions)
            continue
        if char != "*" and char != "?" and char not in _TAG_CHARS:
            raise _Untranslatable
        pos += 1
        expansions = [_append(e, char) for e in expansions]
    return expansions, pos


def _append(glob: str, char: str) -> str:
    return glob if char == "*" and glob.endswith("*") else glob + char


def _check_count(options: list[str]) -> None:
    if len(options) > MAX_GLOBS:
        raise _Untranslatable
