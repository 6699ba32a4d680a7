"""Bounded parsing of what clients write: numbers, JSON, byte ranges."""

from __future__ import annotations

import json

import pytest

from moorage.oci.limits import (
    MAX_DIGITS,
    MAX_JSON_DEPTH,
    JsonError,
    NumberError,
    load_json,
    parse_count,
)
from moorage.oci.ranges import (
    RangeError,
    UnsatisfiableRange,
    parse_content_range,
    parse_range,
)


@pytest.mark.parametrize("text", ["0", "7", "0042", "9" * MAX_DIGITS])
def test_counts_in_ascii_digits(text: str) -> None:
    assert parse_count(text) == int(text)


@pytest.mark.parametrize(
    "text",
    ["", "-1", "+1", " 1", "1.0", "1e3", "²", "1²", "٣", "１", "9" * (MAX_DIGITS + 1), "9" * 5000],
)
def test_counts_refused(text: str) -> None:
    with pytest.raises(NumberError):
        parse_count(text, "n")


def test_json_at_the_depth_limit_is_read() -> None:
    doc = load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert isinstance(doc, list)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
        b'{"a":' * 900 + b"1" + b"}" * 900,  # deeper than the bound, within Python's own
        b"[" * 100_000 + b"]" * 100_000,  # deeper than Python's parser can go
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    ],
    ids=["limit+1", "900-objects", "100k-arrays", "100k-objects"],
)
def test_deep_json_refused(raw: bytes) -> None:
    with pytest.raises(JsonError, match="deep"):
        load_json(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"size": ' + b"9" * 5000 + b"}",
        b'{"size": 1e400}',
        b'{"size": -1e400}',
        b'{"size": ' + str(2**63).encode() + b"}",
        b'{"size": NaN}',
        b'{"size": Infinity}',
        b'{"size": 0.' + b"1" * 100 + b"}",
        b'{"size": -' + str(2**63).encode() + b"}",
        b'{"size": 1e' + b"0" * 41 + b"1}",
    ],
)
def test_numbers_beyond_the_bounds_refused(raw: bytes) -> None:
    with pytest.raises(JsonError):
        load_json(raw)


def test_numbers_within_the_bounds_read() -> None:
    doc = load_json(json.dumps({"size": 2**63 - 1, "low": -(2**63 - 1), "f": 1.5e300}))
    assert doc == {"size": 2**63 - 1, "low": -(2**63 - 1), "f": 1.5e300}


@pytest.mark.parametrize(
    "literal",
    [
        "0.00021810973414424387",  # Python's repr of a double: 20 digits after the point
        "-0.00021810973414424387",
        "1.0000001e-0000000000000000000007",
        "12345678901234567890.5",  # a float, however long its integer part
        "123456789012345678901234567890e-10",
        "0.1e+000000000000000000000000000002",
    ],
)
def test_floats_with_long_digit_runs_read(literal: str) -> None:
    raw = '{"f": [' + literal + "]}"
    assert load_json(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff", b'{"a": [1,]}', "²".encode()])
def test_malformed_json_refused(raw: bytes) -> None:
    with pytest.raises(JsonError, match="not valid JSON"):
        load_json(raw)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("0-9", (0, 9)), ("bytes=5-5", (5, 5)), ("bytes 0-9/10", (0, 9)), ("0-9/*", (0, 9))],
)
def test_content_ranges(header: str, expected: tuple[int, int]) -> None:
    assert parse_content_range(header) == expected


@pytest.mark.parametrize(
    "header",
    ["", "9-0", "0-", "-9", "0-9/9", "0-¹", "٠-٩", "0-" + "9" * 5000, "0-1/" + "9" * 5000],
)
def test_content_ranges_refused(header: str) -> None:
    with pytest.raises(RangeError):
        parse_content_range(header)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-", (0, 9)),
        ("bytes=2-4", (2, 4)),
        ("bytes=2-99", (2, 9)),
        ("bytes=2-" + "9" * 5000, (2, 9)),
        ("bytes=0-²", None),  # not a range this parser takes: the whole blob
        ("items=0-1", None),
    ],
)
def test_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 10) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=5-4", "bytes=" + "9" * 5000 + "-"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, 10)
