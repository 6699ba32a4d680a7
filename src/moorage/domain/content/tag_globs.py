"""Doublestar tag patterns as simple globs a database can match (`TagStore.artifact_has_tag_like`).

A tag holds only `[A-Za-z0-9_.-]`, never a `/`, so over tags a doublestar pattern means a
handful of *simple globs*, written with these and nothing else:

- `*` any run of characters (both `*` and `**`: there is no `/` to stop at);
- `?` one character;
- `[…]` one of the tag characters listed, in full: never a range, never negated, `-` last
  (a pattern's `[a-z]` or `[!0-9]` becomes the tag characters it selects);
- any other tag character, itself.

Braces and a top-level comma become one glob per alternative. An alternative that needs a
character no tag holds (`v@1`, `\\*`, a class selecting no tag character) can never match a
tag and is left out, so a pattern may become no glob at all: it matches no tag. Each
backend matches simple globs without escaping surprises (SQLite's GLOB as written;
PostgreSQL's LIKE, or an anchored regular expression when a class is in it).

A `**/` that starts a path component may match no component (`**/v1` matches `v1`) and
is dropped; any other `/` needs a character no tag holds. More than `MAX_GLOBS`
alternatives are not translated: `tag_globs` answers None and the caller matches names in
Python instead. A wrong translation would show an artifact as unprotected;
tests/unit/domain/test_tag_globs.py checks the globs against the pattern matcher itself.
"""

from __future__ import annotations

import itertools
import re
import string

MAX_GLOBS = 16
TAG_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_MAX_NESTING = 10
_STARS = re.compile(r"\*+")


class _Untranslatable(Exception):
    pass


def tag_globs(pattern: str) -> tuple[str, ...] | None:
    """The simple globs that together match exactly the tags `pattern` matches (none: it
    matches no tag), or None when the pattern is not translated."""
    try:
        alternatives, end = _Translator(pattern).alternatives(0, depth=0)
    except _Untranslatable:
        return None
    if end != len(pattern):  # a stray '}': the pattern compiler refuses it anyway
        return None
    return tuple(dict.fromkeys(alternatives))


class _Translator:
    def __init__(self, text: str) -> None:
        self.text = text

    def alternatives(self, pos: int, depth: int, left: bool = True) -> tuple[list[str], int]:
        """Comma-separated sequences from `pos` up to a `}` or the end; `left`: they start
        a path component (the whole pattern does, and so do braces after a `/`)."""
        options, pos = self.sequence(pos, depth, left)
        while pos < len(self.text) and self.text[pos] == ",":
            more, pos = self.sequence(pos + 1, depth, left)
            options += more
            _check_count(options)
        return options, pos

    def sequence(self, pos: int, depth: int, left: bool) -> tuple[list[str], int]:
        """Every expansion of one sequence (braces multiply; impossible ones drop out).

        A `**` starting a component and followed by `/` in the same sequence may match no
        component at all (`**/v1` matches `v1`): over tags, which hold no `/`, that is the
        only way past the `/`, so the two are dropped. Any other `/` cannot match a tag."""
        expansions = [""]
        text = self.text
        while pos < len(text) and text[pos] not in ",}":
            char = text[pos]
            if char == "{":
                if depth >= _MAX_NESTING:
                    raise _Untranslatable
                inner, pos = self.alternatives(pos + 1, depth + 1, left)
                if pos >= len(text):
                    raise _Untranslatable
                pos, left = pos + 1, False
                product = itertools.product(expansions, inner)
                expansions = [_STARS.sub("*", a + b) for a, b in product]
                _check_count(expansions)
                continue
            stars = len(text) - pos - len(text[pos:].lstrip("*"))
            slash = _slash_at(text, pos + stars)
            if left and stars > 1 and slash:
                pos += stars + slash  # `**/`: zero components
                continue
            start = pos
            piece, pos = self.piece(pos)
            left = _slash_at(text, start) > 0
            expansions = [] if piece is None else [_append(e, piece) for e in expansions]
        return expansions, pos

    def piece(self, pos: int) -> tuple[str | None, int]:
        """One glob piece at `pos` and where the next starts; None: no tag can match it."""
        char = self.text[pos]
        if char == "*":
            stars = len(self.text) - pos - len(self.text[pos:].lstrip("*"))
            return "*", pos + stars
        if char == "[":
            return self.char_class(pos)
        if char == "\\":
            if pos + 1 >= len(self.text):
                raise _Untranslatable
            escaped = self.text[pos + 1]
            return (escaped if escaped in TAG_CHARS else None), pos + 2
        if char in "*?" or char in TAG_CHARS:
            return char, pos + 1
        return None, pos + 1

    def char_class(self, pos: int) -> tuple[str | None, int]:
        """`[…]` as the selectors read it (`!` or `^` negates, `a-z` a range, `\\x` escapes),
        turned into the tag characters it selects."""
        text = self.text
        pos += 1
        negated = pos < len(text) and text[pos] in "!^"
        pos += negated
        ranges: list[tuple[str, str]] = []
        while pos < len(text) and text[pos] != "]":
            low, pos = self.class_char(pos)
            if pos + 1 < len(text) and text[pos] == "-" and text[pos + 1] != "]":
                high, pos = self.class_char(pos + 1)
                ranges.append((low, high))
            else:
                ranges.append((low, low))
        if pos >= len(text) or not ranges:
            raise _Untranslatable
        chosen = sorted(
            (c for c in TAG_CHARS if any(lo <= c <= hi for lo, hi in ranges) != negated),
            key=lambda c: (c == "-", c),
        )
        if not chosen:
            return None, pos + 1
        return (chosen[0] if len(chosen) == 1 else f"[{''.join(chosen)}]"), pos + 1

    def class_char(self, pos: int) -> tuple[str, int]:
        if self.text[pos] == "\\":
            if pos + 1 >= len(self.text):
                raise _Untranslatable
            return self.text[pos + 1], pos + 2
        return self.text[pos], pos + 1


def _slash_at(text: str, pos: int) -> int:
    """How many characters the `/` at `pos` takes (`/` 1, `\\/` 2), or 0: not a slash."""
    if text[pos : pos + 1] == "/":
        return 1
    return 2 if text[pos : pos + 2] == "\\/" else 0


def _append(glob: str, piece: str) -> str:
    return glob if piece == "*" and glob.endswith("*") else glob + piece


def _check_count(options: list[str]) -> None:
    if len(options) > MAX_GLOBS:
        raise _Untranslatable


def glob_regex(glob: str) -> str:
    """The regular expression (Python's and PostgreSQL's alike) a simple glob means, for
    backends without GLOB; to be matched against the whole name."""
    out: list[str] = []
    pos = 0
    while pos < len(glob):
        char = glob[pos]
        if char == "[":
            end = glob.index("]", pos)
            out.append(glob[pos : end + 1])  # tag characters only, '-' last: literal inside
            pos = end + 1
            continue
        out.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        pos += 1
    return "".join(out)
