"""Garbage collection's errors."""

from __future__ import annotations

from moorage.domain.kernel.errors import Conflict, NotFound


class GcRunNotFound(NotFound):
    def __init__(self, run_id: int) -> None:
        super().__init__(f"garbage-collection run {run_id} not found")


class GcRunActive(Conflict):
    """A run is queued or running: one run at a time (two would sweep the same blobs)."""

    def __init__(self, run_id: int, status: str) -> None:
        super().__init__(
            f"garbage-collection run {run_id} is still {status}: wait for it to finish"
        )
        self.run_id = run_id
