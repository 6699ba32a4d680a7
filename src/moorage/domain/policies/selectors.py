"""One doublestar pattern matcher for protection, cleanup, replication and webhooks.

Syntax (bmatcuk/doublestar, which Harbor uses; SPEC §7):

- `*` matches any run of characters except `/`; `?` matches one character except `/`.
- `**` as a whole path component (`**`, `a/**`, `**/b`, `a/**/b`) matches across `/`:
  `**/b` also matches `b` and `a/**/b` also matches `a/b` (zero components). Anywhere
  else, as in `a**`, it is a plain `*`, as in doublestar.
- `{a,b}` matches either alternative; alternatives may be empty and may nest.
- `[abc]`, `[a-z]`, `[!a-z]` (or `[^a-z]`) match one character of, or not of, the class; a
  class never matches `/`. A `-` first or last in a class is literal.
- `\\x` matches `x` literally.
- A comma outside braces separates alternatives too (`app,web` = `{app,web}`), as Harbor's
  console turns a comma-separated list into a brace group; no image name or tag holds a comma.

Matching runs as a lazily built DFA over the pattern's NFA, never as a backtracking regular
expression: a policy pattern like `*a*a*a*a*a*b` must not stall every push it is checked on.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Collection
from dataclasses import dataclass, field

from moorage.domain.policies.errors import InvalidPattern

MAX_PATTERN_LENGTH = 255
_MAX_NESTING = 10  # brace depth; deeper nesting is never needed to name images or tags
_MAX_DFA_STATES = 2048  # per pattern; past this, matching steps through the NFA uncached


# --- parsing: pattern text → a small syntax tree -------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lit:
    char: str


@dataclass(frozen=True, slots=True)
class _One:
    pass


@dataclass(frozen=True, slots=True)
class _Star:
    double: bool


@dataclass(frozen=True, slots=True)
class _Class:
    ranges: tuple[tuple[str, str], ...]
    negated: bool

    def contains(self, char: str) -> bool:
        inside = any(lo <= char <= hi for lo, hi in self.ranges)
        return char != "/" and inside != self.negated


@dataclass(frozen=True, slots=True)
class _Alt:
    options: tuple[tuple[_Node, ...], ...]


_Node = _Lit | _One | _Star | _Class | _Alt
_Seq = tuple[_Node, ...]
_SLASH = _Lit("/")


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0

    def fail(self, reason: str) -> InvalidPattern:
        return InvalidPattern(self.text, reason)

    def parse(self) -> _Seq:
        options = self.alternatives(depth=0)
        if self.pos < len(self.text):  # only a '}' stops the top level early
            raise self.fail(f"'}}' at position {self.pos + 1} closes no '{{'")
        if len(options) > 1 and not all(options):
            raise self.fail("the comma-separated list has an empty item")
        return options[0] if len(options) == 1 else (_Alt(tuple(options)),)

    def alternatives(self, depth: int) -> list[_Seq]:
        options = [self.sequence(depth)]
        while self.pos < len(self.text) and self.text[self.pos] == ",":
            self.pos += 1
            options.append(self.sequence(depth))
        return options

    def sequence(self, depth: int) -> _Seq:
        nodes: list[_Node] = []
        while self.pos < len(self.text) and self.text[self.pos] not in ",}":
            nodes.append(self.node(depth))
        return tuple(nodes)

    def node(self, depth: int) -> _Node:
        char = self.text[self.pos]
        if char == "{":
            return self.braces(depth + 1)
        if char == "[":
            return self.char_class()
        self.pos += 1
        if char == "\\":
            return _Lit(self.escaped())
        if char == "?":
            return _One()
        if char == "*":
            run_start = self.pos - 1
            while self.pos < len(self.text) and self.text[self.pos] == "*":
                self.pos += 1
            return _Star(double=self.pos - run_start > 1)
        return _Lit(char)

    def escaped(self) -> str:
        if self.pos >= len(self.text):
            raise self.fail("it ends with a lone '\\'")
        self.pos += 1
        return self.text[self.pos - 1]

    def braces(self, depth: int) -> _Alt:
        start = self.pos
        if depth > _MAX_NESTING:
            raise self.fail(f"braces nest deeper than {_MAX_NESTING} levels")
        self.pos += 1
        options = self.alternatives(depth)
        if self.pos >= len(self.text):
            raise self.fail(f"'{{' at position {start + 1} is never closed")
        self.pos += 1  # the closing '}'
        return _Alt(tuple(options))

    def char_class(self) -> _Class:
        start = self.pos
        self.pos += 1
        negated = self.pos < len(self.text) and self.text[self.pos] in "!^"
        if negated:
            self.pos += 1
        ranges: list[tuple[str, str]] = []
        while self.pos < len(self.text) and self.text[self.pos] != "]":
            ranges.append(self.class_item())
        if self.pos >= len(self.text):
            raise self.fail(f"'[' at position {start + 1} is never closed")
        self.pos += 1  # the closing ']'
        if not ranges:
            raise self.fail(f"the character class at position {start + 1} is empty")
        return _Class(tuple(ranges), negated)

    def class_item(self) -> tuple[str, str]:
        low = self.class_char()
        text, pos = self.text, self.pos
        if pos + 1 < len(text) and text[pos] == "-" and text[pos + 1] != "]":
            self.pos += 1
            high = self.class_char()
            if high < low:
                raise self.fail(f"the range '{low}-{high}' runs backwards")
            return low, high
        return low, low

    def class_char(self) -> str:
        self.pos += 1
        char = self.text[self.pos - 1]
        return self.escaped() if char == "\\" else char


# --- the automaton: syntax tree → NFA → lazily built DFA -----------------------------------

_LIT, _ONE, _CLASS, _STAR, _ALL, _SPLIT, _MATCH = range(7)


class _Automaton:
    """Thompson NFA of one pattern plus a DFA built on demand from the inputs it sees."""

    def __init__(self, tree: _Seq) -> None:
        self.kinds: list[int] = []
        self.args: list[object] = []
        self.outs: list[tuple[int, ...]] = []
        match = self._add(_MATCH, None, ())
        start = self._sequence(tree, match, left_edge=True, right_edge=True)
        self.match = match
        self.closures = [self._closure(state) for state in range(len(self.kinds))]
        self.sets: list[frozenset[int]] = []
        self.ids: dict[frozenset[int], int] = {}
        self.edges: list[dict[str, int]] = []
        self.accepting: list[bool] = []
        self.lock = threading.Lock()
        self.dead = self.intern(frozenset())
        self.start = self.intern(self.closures[start])

    def _add(self, kind: int, arg: object, outs: tuple[int, ...]) -> int:
        self.kinds.append(kind)
        self.args.append(arg)
        self.outs.append(outs)
        return len(self.kinds) - 1

    def _sequence(self, seq: _Seq, after: int, *, left_edge: bool, right_edge: bool) -> int:
        """Build `seq` back to front; returns its entry state. The edges say whether the
        sequence starts/ends on a path-component boundary, which decides what `**` means."""
        entries = [after] * (len(seq) + 1)
        for i in range(len(seq) - 1, -1, -1):
            node, nxt = seq[i], entries[i + 1]
            left = left_edge if i == 0 else seq[i - 1] == _SLASH
            right = right_edge if i == len(seq) - 1 else seq[i + 1] == _SLASH
            if isinstance(node, _Lit):
                entries[i] = self._add(_LIT, node.char, (nxt,))
            elif isinstance(node, _One):
                entries[i] = self._add(_ONE, None, (nxt,))
            elif isinstance(node, _Class):
                entries[i] = self._add(_CLASS, node, (nxt,))
            elif isinstance(node, _Alt):
                starts = tuple(
                    self._sequence(option, nxt, left_edge=left, right_edge=right)
                    for option in node.options
                )
                entries[i] = self._add(_SPLIT, None, starts)
            elif not (node.double and left and right):
                entries[i] = self._add(_STAR, None, (nxt,))
            elif i + 1 < len(seq):
                # `**/`: zero components, or anything ending in the `/` that follows.
                past_slash = entries[i + 2]
                anything = self._add(_ALL, None, (nxt,))
                entries[i] = self._add(_SPLIT, None, (past_slash, anything))
            else:
                entries[i] = self._add(_ALL, None, (nxt,))
        return entries[0]

    def _closure(self, state: int) -> frozenset[int]:
        """States reachable without reading: loops stay in (they read), splits dissolve."""
        found: set[int] = set()
        stack = [state]
        while stack:
            current = stack.pop()
            if current in found:
                continue
            kind = self.kinds[current]
            if kind != _SPLIT:
                found.add(current)
            if kind in (_SPLIT, _STAR, _ALL):
                stack.extend(self.outs[current])
        return frozenset(found)

    def step(self, states: frozenset[int], char: str) -> frozenset[int]:
        reached: set[int] = set()
        for state in states:
            kind = self.kinds[state]
            if kind == _ALL or (kind == _STAR and char != "/"):
                reached |= self.closures[state]
            elif (
                (kind == _LIT and char == self.args[state])
                or (kind == _ONE and char != "/")
                or (kind == _CLASS and self._class(state).contains(char))
            ):
                reached |= self.closures[self.outs[state][0]]
        return frozenset(reached)

    def _class(self, state: int) -> _Class:
        arg = self.args[state]
        assert isinstance(arg, _Class)
        return arg

    def intern(self, states: frozenset[int]) -> int:
        """The DFA id of a state set, or -1 once the DFA is full (then callers use sets)."""
        with self.lock:  # ids are list positions: appends must not interleave
            known = self.ids.get(states)
            if known is not None:
                return known
            if len(self.sets) >= _MAX_DFA_STATES:
                return -1
            self.sets.append(states)
            self.edges.append({})
            self.accepting.append(self.match in states)
            self.ids[states] = len(self.sets) - 1
            return len(self.sets) - 1

    def run(self, text: str) -> bool:
        current = self.start
        for i, char in enumerate(text):
            nxt = self.edges[current].get(char)
            if nxt is None:
                states = self.step(self.sets[current], char)
                nxt = self.intern(states)
                if nxt < 0:
                    return self._run_uncached(states, text[i + 1 :])
                self.edges[current][char] = nxt
            if nxt == self.dead:
                return False
            current = nxt
        return self.accepting[current]

    def _run_uncached(self, states: frozenset[int], rest: str) -> bool:
        for char in rest:
            if not states:
                return False
            states = self.step(states, char)
        return self.match in states


class Pattern:
    """A compiled pattern. Immutable from the outside; safe to share between threads."""

    __slots__ = ("_automaton", "source")

    def __init__(self, source: str, automaton: _Automaton) -> None:
        self.source = source
        self._automaton = automaton

    def matches(self, text: str) -> bool:
        """Whether the pattern matches the whole of `text` (never a substring)."""
        return self._automaton.run(text)

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def compile_pattern(pattern: str) -> Pattern:
    """Validate and compile `pattern`; compiled patterns are cached, so calling this on a hot
    path is cheap. Raises `InvalidPattern` naming the problem (empty, longer than 255
    characters, whitespace, unbalanced braces or brackets, a backwards range, a lone `\\`)."""
    return _compile(pattern)


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> Pattern:
    if not pattern:
        raise InvalidPattern(pattern, "it is empty; use '**' to match everything")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidPattern(pattern, f"it is longer than {MAX_PATTERN_LENGTH} characters")
    if any(char.isspace() or not char.isprintable() for char in pattern):
        # no image name or tag holds one, so such a pattern could only silently never match
        raise InvalidPattern(pattern, "it contains whitespace or control characters")
    return Pattern(pattern, _Automaton(_Parser(pattern).parse()))


# --- selectors ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Selector:
    """A pattern that either includes what it matches or includes what it does not match."""

    pattern: str
    include: bool
    _compiled: Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", compile_pattern(self.pattern))

    def selects(self, text: str) -> bool:
        """Include: the pattern matches `text`. Exclude: it does not."""
        return self._compiled.matches(text) == self.include

    def describe(self) -> str:
        """`'v*'` or `excluding 'v*'`, for messages."""
        return repr(self.pattern) if self.include else f"excluding {self.pattern!r}"


@dataclass(frozen=True, slots=True)
class TagSelector:
    """Selects artifacts by their tags, as Harbor's tag selector does (SPEC §8).

    `untagged` says whether an artifact without tags is selected, whatever `include` says.
    (Harbor stores that flag relative to the decoration: its "excludes" selector selects
    untagged artifacts when its flag is false. Translate at the API boundary, not here.)
    """

    pattern: str
    include: bool
    untagged: bool
    _compiled: Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", compile_pattern(self.pattern))

    def selects(self, tags: Collection[str]) -> bool:
        """Tagged: include selects when ANY tag matches, exclude when ANY tag does not.
        Untagged: selected exactly when `untagged` is true."""
        if not tags:
            return self.untagged
        return any(self._compiled.matches(tag) == self.include for tag in tags)

    def describe(self) -> str:
        """`'v*'`, `excluding 'v*'`, plus `and untagged` / `tagged only`, for messages."""
        base = repr(self.pattern) if self.include else f"excluding {self.pattern!r}"
        return f"{base} and untagged" if self.untagged else f"{base}, tagged only"
