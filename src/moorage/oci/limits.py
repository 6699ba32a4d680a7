"""Bounds on what clients write: decimal numbers in headers and query strings, JSON bodies.

Python's own parsers are not bounded: `str.isdigit` accepts `²` and other scripts' digits
(which `int` then refuses, or reads), `int` refuses more than 4,300 digits with a plain
ValueError, and `json.loads` recurses once per nesting level until RecursionError. Every
number and JSON document a client sends goes through here instead, so a hostile one is a
client error like any other.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DIGITS = 18
"""Decimal digits in a number from a header or query string: every such number fits a
64-bit signed integer (and a SQL BIGINT)."""

MAX_JSON_DEPTH = 64
"""Nesting of arrays and objects in a client's JSON. Manifests nest five levels, image
configs about as much: 64 leaves room for any real document."""

MAX_JSON_NUMBER_CHARS = 40
"""Characters of one JSON number literal: a 64-bit size is 19 digits, a float's shortest
form fewer than 25."""

MAX_JSON_INTEGER = 2**63 - 1
"""The largest integer a JSON document may hold (a size, a count): a signed 64-bit one."""


class NumberError(ValueError):
    """A number that is not plain ASCII digits, or has more than `MAX_DIGITS` of them."""


class JsonError(ValueError):
    """A body that is not JSON, or JSON beyond the bounds above; the message says which."""


def parse_count(text: str, what: str = "number", max_digits: int = MAX_DIGITS) -> int:
    """A non-negative decimal integer written in ASCII digits only."""
    if not text or not (text.isascii() and text.isdigit()):
        raise NumberError(f"{what} must be a non-negative integer in ASCII digits")
    if len(text) > max_digits:
        raise NumberError(f"{what} has more than {max_digits} digits")
    return int(text)


def nesting_depth(value: Any) -> int:
    """How deep lists and dicts nest in a parsed document, walked without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def _integer(literal: str) -> int:
    if len(literal) > MAX_JSON_NUMBER_CHARS:
        raise JsonError(f"a number has more than {MAX_JSON_NUMBER_CHARS} characters")
    value = int(literal)
    if abs(value) > MAX_JSON_INTEGER:
        raise JsonError(f"the number {literal} does not fit in 64 bits")
    return value


def _float(literal: str) -> float:
    if len(literal) > MAX_JSON_NUMBER_CHARS:
        raise JsonError(f"a number has more than {MAX_JSON_NUMBER_CHARS} characters")
    value = float(literal)
    if not math.isfinite(value):
        raise JsonError(f"the number {literal} is out of range")
    return value


def _constant(name: str) -> Any:
    raise JsonError(f"{name} is not JSON")  # Python's parser would accept NaN and Infinity


def load_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a client's JSON within the bounds above; JsonError says what is wrong."""
    too_deep = f"JSON nested more than {max_depth} levels deep"
    try:
        doc = json.loads(data, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JsonError(f"not valid JSON: {exc}") from None
    except RecursionError:  # the parser's own recursion ran out: deeper than any bound
        raise JsonError(too_deep) from None
    if nesting_depth(doc) > max_depth:
        raise JsonError(too_deep)
    return doc
