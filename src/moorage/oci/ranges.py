"""The byte ranges clients send: `Content-Range` on upload chunks, `Range` on blob reads.

Numbers are ASCII digits only and bounded (`limits.MAX_DIGITS`): Python's `\\d` and `int`
take other scripts' digits, and `int` fails with a plain ValueError past 4,300 digits.
"""

from __future__ import annotations

import re

from moorage.oci.limits import MAX_DIGITS

# The spec's `<start>-<end>`, and RFC 9110's `bytes <start>-<end>/<size>` some clients send.
_CONTENT_RANGE_RE = re.compile(r"^(?:bytes[ =])?([0-9]+)-([0-9]+)(?:/([0-9]+|\*))?$")
_RANGE_RE = re.compile(r"^bytes=([0-9]+)-([0-9]*)$")


class RangeError(ValueError):
    """A range that is malformed or cannot be satisfied; the message says which."""


class UnsatisfiableRange(RangeError):
    """A well-formed range that lies outside the content."""


def parse_content_range(header: str) -> tuple[int, int]:
    """(first, last) byte of an upload chunk's `Content-Range`."""
    shown = repr(header[:80])
    match = _CONTENT_RANGE_RE.match(header.strip())
    if match is None or any(len(g) > MAX_DIGITS for g in match.groups() if g):
        raise RangeError(f"malformed Content-Range {shown}")
    first, last = int(match.group(1)), int(match.group(2))
    if last < first:
        raise RangeError(f"Content-Range {shown} ends before it starts")
    total = match.group(3)
    if total is not None and total != "*" and int(total) <= last:
        raise RangeError(f"Content-Range {shown} ends past its total")
    return first, last


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single `bytes=` range over `size` bytes; None for the
    whole content (no header, or one this parser does not take, which HTTP lets a server
    ignore). UnsatisfiableRange when it starts at or past the end."""
    match = _RANGE_RE.match(header.strip()) if header else None
    if match is None:
        return None
    shown = repr((header or "")[:80])
    start_text, end_text = match.groups()
    if len(start_text) > MAX_DIGITS or int(start_text) >= size:
        raise UnsatisfiableRange(f"range {shown} starts past {size} bytes")
    start = int(start_text)
    # An end beyond the content, however many digits it has, means its last byte.
    end = size - 1 if not end_text or len(end_text) > MAX_DIGITS else min(int(end_text), size - 1)
    if end < start:
        raise UnsatisfiableRange(f"range {shown} ends before it starts")
    return start, end
