"""Job kinds declared as data: name, handler, attempts, timeout, backoff."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    handler: Handler
    max_attempts: int = 5
    timeout_seconds: float = 3600.0
    backoff_base_seconds: float = 5.0
    backoff_cap_seconds: float = 3600.0

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after `attempts` failed ones (exponential)."""
        return float(min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** (attempts - 1)))


class JobCatalog:
    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def register(self, kind: JobKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} registered twice")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> JobKind | None:
        return self._kinds.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds.values())
