"""Where blocking work runs (`moorage.domain.kernel.blocking`)."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from moorage.domain.kernel.blocking import NETWORK_READ_THREADS, Blocking


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_networked_reads_run_a_few_threads_at_once() -> None:
    blocking = Blocking(inline_reads=False)
    running, most = 0, 0
    lock = threading.Lock()

    def read() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    async with anyio.create_task_group() as tasks:
        for _ in range(4 * NETWORK_READ_THREADS):
            tasks.start_soon(blocking.read, read)
    assert most == NETWORK_READ_THREADS


def test_each_event_loop_gets_its_own_limiter() -> None:
    blocking = Blocking(inline_reads=False)
    for _ in range(2):  # a limiter made in the first loop must not be reused in the second
        assert anyio.run(blocking.read, lambda: 7) == 7
