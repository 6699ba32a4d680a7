"""Who is calling and what they may do. The protocol asks before every action."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from starlette.requests import Request


class Action(StrEnum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str | None  # None: anonymous


ANONYMOUS = Principal(None)


class Authorizer(Protocol):
    async def authorize(
        self, request: Request, repository: str | None, actions: frozenset[Action]
    ) -> Principal:
        """The caller, when allowed `actions` on `repository` (None: the catalog or /v2/).

        Raises OciError (401 with a challenge, or 403) otherwise.
        """


class OpenAccess:
    """No authentication: every caller may do everything (development and tests)."""

    async def authorize(
        self, request: Request, repository: str | None, actions: frozenset[Action]
    ) -> Principal:
        return ANONYMOUS
