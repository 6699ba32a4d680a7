"""The outbound address guard, allowing loopback, that notes every URL it pins."""

from __future__ import annotations

from typing import Any

import httpx

from moorage.outbound.guard import AddressGuard


class RecordingGuard(AddressGuard):
    def __init__(self) -> None:
        super().__init__(allow_private=True)
        self.pinned: list[httpx.URL] = []

    async def pin(self, url: httpx.URL) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        self.pinned.append(url)
        return await super().pin(url)
