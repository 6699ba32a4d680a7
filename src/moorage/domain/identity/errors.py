"""Errors of identity: projects and access keys."""

from __future__ import annotations

from moorage.domain.kernel.errors import NotFound


class ProjectNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"project {name!r} does not exist")


class AccessKeyNotFound(NotFound):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"access key {key_id[:64]!r} does not exist")
