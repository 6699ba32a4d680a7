"""One upstream fetch per blob, however many clients ask for it at once.

A `Flight` is the fetch of one blob: a task of its own (a client going away does not stop
it) reads upstream and writes into the blob store through the upload service, which hashes
the bytes and publishes the blob only when they match its digest. Clients that join before
the first byte arrives receive every chunk as it passes, each through a queue of a few
chunks: a slow client slows the fetch down rather than making memory grow, and one that
takes nothing for `SLOW_CLIENT_SECONDS` is dropped (its response ends short; the client
retries). Clients that come later wait for the blob to be stored, then read it from the
store like any other blob.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

QUEUE_CHUNKS = 4
SLOW_CLIENT_SECONDS = 30.0


class _End:
    """The end of a client's stream: complete, or failed with `error`."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class FlightFailed(Exception):
    """The fetch failed (or dropped this client) after bytes were sent."""


Item = bytes | _End


class Flight:
    """The fetch of one blob, and the clients that stream it as it arrives."""

    def __init__(self) -> None:
        self.size: int | None = None
        self.sized = asyncio.Event()  # the size is known (None: upstream has no such blob)
        self.done = asyncio.Event()  # stored, or failed (`error`)
        self.error: BaseException | None = None
        self.started = False  # a byte has passed: too late to stream from the start
        self._queues: list[asyncio.Queue[Item]] = []

    def join(self) -> asyncio.Queue[Item] | None:
        """A queue receiving every chunk from the first; None once bytes have passed."""
        if self.started:
            return None
        queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_CHUNKS)
        self._queues.append(queue)
        return queue

    def leave(self, queue: asyncio.Queue[Item]) -> None:
        if queue in self._queues:
            self._queues.remove(queue)

    async def tee(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The chunks, each handed to every client before it goes on to the store."""
        async for chunk in chunks:
            self.started = True
            for queue in list(self._queues):
                await self._hand(queue, chunk)
            yield chunk

    async def _hand(self, queue: asyncio.Queue[Item], item: Item) -> None:
        try:
            await asyncio.wait_for(queue.put(item), SLOW_CLIENT_SECONDS)
        except TimeoutError:
            self._drop(queue, FlightFailed("the client took nothing for too long"))

    def _drop(self, queue: asyncio.Queue[Item], error: BaseException) -> None:
        self.leave(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(_End(error))

    async def finish(self, error: BaseException | None) -> None:
        """End every client's stream (with the error, if the fetch failed)."""
        self.error = error
        self.started = True
        if not self.sized.is_set():
            self.sized.set()
        for queue in list(self._queues):
            if error is None:
                await self._hand(queue, _End())
            else:
                self._drop(queue, error)
        self._queues.clear()
        self.done.set()


async def drain(flight: Flight, queue: asyncio.Queue[Item]) -> AsyncIterator[bytes]:
    """A client's stream: the chunks of its queue until the end; raises if the fetch failed."""
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise FlightFailed(str(item.error)) from item.error
                return
            yield item
    finally:
        flight.leave(queue)


class Flights:
    """The fetches in progress in this process, by key (an image and a digest)."""

    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get_or_start(
        self, key: str, fetch: Callable[[Flight], Awaitable[None]]
    ) -> tuple[Flight, bool]:
        """The flight under `key`, started with `fetch` if there is none; and whether this
        call started it."""
        flight = self._flights.get(key)
        if flight is not None:
            return flight, False
        flight = self._flights[key] = Flight()

        async def run() -> None:
            error: BaseException | None = None
            try:
                await fetch(flight)
            except Exception as exc:  # kept for the clients; the fetch logs it
                error = exc
            finally:
                self._flights.pop(key, None)
                await flight.finish(error)

        task = asyncio.get_running_loop().create_task(run(), name=f"proxy-cache {key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return flight, True

    def __len__(self) -> int:
        return len(self._flights)
