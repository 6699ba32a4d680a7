"""A loopback TCP proxy that cuts the connection once, after a number of bytes went up.

Stands for a network that breaks in the middle of an upload: every connection is forwarded
byte for byte to the target, until the bytes sent towards it (over all connections) pass
`cut_after`; the connection carrying that byte is then closed both ways, once. Later
connections are forwarded whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

PIECE = 256 * 1024


class CuttingProxy:
    def __init__(self, target_port: int, cut_after: int) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.upstream_bytes = 0  # sent towards the target, over all connections
        self.cuts = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        upward = asyncio.ensure_future(self._pump(reader, up_writer, upward=True))
        downward = asyncio.ensure_future(self._pump(up_reader, writer, upward=False))
        await asyncio.wait([upward, downward], return_when=asyncio.FIRST_COMPLETED)
        for task in (upward, downward):
            task.cancel()
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.transport.abort()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upward: bool
    ) -> None:
        while data := await reader.read(PIECE):
            if upward:
                self.upstream_bytes += len(data)
                if self.cuts == 0 and self.upstream_bytes >= self.cut_after:
                    self.cuts += 1
                    return  # the connection breaks here
            writer.write(data)
            await writer.drain()

    def start(self) -> CuttingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        def close() -> None:
            if self._server is not None:
                self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(10)


@contextlib.contextmanager
def cutting_proxy(target_port: int, cut_after: int) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(target_port, cut_after).start()
    try:
        yield proxy
    finally:
        proxy.stop()
