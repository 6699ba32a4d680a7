"""Errors of identity: projects, access keys, throttled sign-ins."""

from __future__ import annotations

import math

from moorage.domain.kernel.errors import NotFound


class ProjectNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"project {name!r} does not exist")


class AccessKeyNotFound(NotFound):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"access key {key_id[:64]!r} does not exist")


class SignInThrottled(Exception):
    """Too many failed sign-ins for the account (or from the address): try again later."""

    def __init__(self, wait_seconds: float) -> None:
        self.retry_after = max(1, math.ceil(wait_seconds))  # whole seconds, as Retry-After
        super().__init__(f"too many failed sign-ins: try again in {self.retry_after} s")
