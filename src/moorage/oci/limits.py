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
import re
from itertools import accumulate
from typing import Any

MAX_DIGITS = 18
"""Decimal digits in a number from a header or query string: every such number fits a
64-bit signed integer (and a SQL BIGINT)."""

MAX_JSON_DEPTH = 64
"""Nesting of arrays and objects in a client's JSON. Manifests nest five levels, image
configs about as much: 64 leaves room for any real document."""

MAX_JSON_INTEGER = 2**63 - 1
"""The largest integer a JSON document may hold (a size, a count): a signed 64-bit integer;
other numbers (with a fraction or an exponent) must be finite floats."""

MAX_JSON_NUMBER_DIGITS = 40
"""Digits in a row within a JSON number (its integer part, fraction or exponent). Producers
write no more than about 23 (a double's 17 significant digits after up to six zeros):
anything longer is no number any real document holds."""


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


# A JSON string literal, escapes included (linear on valid JSON: every string ends); a run
# of digits that may not fit 64 bits; every byte but the brackets.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_LONG_DIGITS = re.compile(r"[0-9]{19,}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JsonError(f"the number {literal[:40]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise JsonError(f"{name} is not JSON")  # Python's parser would accept NaN and Infinity


def _an_integer(text: str, start: int, end: int) -> bool:
    """Whether the digits at text[start:end] are a whole number literal: not a fraction's or
    an exponent's digits, nor the integer part of a number with either."""
    before = text[start - 1 : start]
    if before == "-":  # a sign: an exponent's when an `e` precedes it
        before = text[start - 2 : start - 1]
    return before not in (".", "e", "E", "+") and text[end : end + 1] not in (".", "e", "E")


def _check_bounds(text: str, max_depth: int) -> None:
    """Depth and number size of valid JSON, from its text: linear, and in C but for one
    step per bracket (walking the parsed document would cost a step per value)."""
    outside_strings = _STRING.sub("", text)
    for run in _LONG_DIGITS.finditer(outside_strings):
        digits = run.group()
        if len(digits) > MAX_JSON_NUMBER_DIGITS:
            raise JsonError(f"a number has more than {MAX_JSON_NUMBER_DIGITS} digits in a row")
        if not _an_integer(outside_strings, run.start(), run.end()):
            continue  # a float's fraction or exponent: the float is checked as it is read
        if len(digits) > len(str(MAX_JSON_INTEGER)) or int(digits) > MAX_JSON_INTEGER:
            raise JsonError("a number does not fit in 64 bits")
    # Outside its strings valid JSON is ASCII: bytes.translate keeps the brackets in C.
    brackets = outside_strings.encode("ascii", "ignore").translate(None, _NOT_BRACKETS)
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth:
        raise JsonError(f"JSON nested more than {max_depth} levels deep")


# One decoder for every document: json.loads with hooks builds a decoder per call.
_DECODER = json.JSONDecoder(parse_float=_float, parse_constant=_constant)


def load_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a client's JSON within the bounds above; JsonError says what is wrong."""
    try:
        text = (
            data.decode(json.detect_encoding(data), "surrogatepass")
            if isinstance(data, bytes)
            else data
        )
        doc = _DECODER.decode(text)
    except JsonError:
        raise
    except RecursionError:  # the parser's own recursion ran out: deeper than any bound
        raise JsonError(f"JSON nested more than {max_depth} levels deep") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JsonError(f"not valid JSON: {exc}") from None
    except ValueError:  # int() refuses more than 4,300 digits
        raise JsonError("a number does not fit in 64 bits") from None
    _check_bounds(text, max_depth)
    return doc
