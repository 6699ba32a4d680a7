"""Errors of policies: selectors, schedules, cleanup runs."""

from __future__ import annotations

from moorage.domain.kernel.errors import InvalidInput, NotFound


class ExecutionNotFound(NotFound):
    def __init__(self, execution_id: int) -> None:
        super().__init__(f"cleanup run {execution_id} does not exist in this registry")


class PolicyNotFound(NotFound):
    def __init__(self, kind: str, policy_id: int) -> None:
        super().__init__(f"{kind} policy {policy_id} does not exist in this registry")


class InvalidCron(InvalidInput):
    """A malformed or never-firing schedule; `field` names the field at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class InvalidPattern(InvalidInput):
    """A selector pattern that cannot be compiled; the message says where and why."""

    def __init__(self, pattern: str, reason: str) -> None:
        shown = pattern if len(pattern) <= 64 else pattern[:64] + "..."
        super().__init__(f"invalid pattern {shown!r}: {reason}")
        self.pattern = pattern
        self.reason = reason
