"""A loopback HTTP/1.1 proxy that forwards every byte and notes every request line.

Stands in front of an upstream registry to count what reached it: `requests` lists
(method, path) of each request, in order, over all connections (keep-alive ones too).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from tests.support.cutting_proxy import PIECE, CuttingProxy

_REQUEST_LINE = re.compile(rb"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.[01]\r\n")


class CountingProxy(CuttingProxy):
    def __init__(self, target_port: int) -> None:
        super().__init__(target_port, cut_after=2**62)
        self.requests: list[tuple[str, str]] = []

    async def _pump(self, reader, writer, *, upward):  # type: ignore[no-untyped-def]
        seen = b""  # the end of what went up, for a request line split between reads
        while data := await reader.read(PIECE):
            if upward:
                seen = self._note(seen + data)
            writer.write(data)
            await writer.drain()

    def _note(self, data: bytes) -> bytes:
        end = 0
        for found in _REQUEST_LINE.finditer(data):
            self.requests.append((found.group(1).decode(), found.group(2).decode()))
            end = found.end()
        return data[max(end, len(data) - 512) :]

    def count(self, method: str, path_end: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.endswith(path_end))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def counting_proxy(target_port: int) -> Iterator[CountingProxy]:
    proxy = CountingProxy(target_port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
