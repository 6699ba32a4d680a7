"""Who is calling and what they may do. The protocol asks before every action."""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request

from moorage.domain.identity.access import Action, Identity

__all__ = ["Action", "Authorizer", "Identity", "OpenAccess"]


class Authorizer(Protocol):
    async def authorize(
        self, request: Request, repository: str | None, actions: frozenset[Action]
    ) -> Identity | None:
        """The caller, when allowed `actions` on `repository` (None: the catalog or /v2/).

        Raises OciError (401 with a challenge, or 403 DENIED) otherwise.
        """

    async def readable_registries(self, identity: Identity | None) -> set[str] | None:
        """The registries the caller may list in the catalog; None means all."""

    async def permits(
        self, identity: Identity | None, repository: str, actions: frozenset[Action]
    ) -> bool:
        """Whether an already authenticated caller's role allows `actions` on `repository`
        (for a second repository in one request, such as a mount's source)."""


class OpenAccess:
    """No authentication: every caller may do everything (`auth = "none"`)."""

    async def authorize(
        self, request: Request, repository: str | None, actions: frozenset[Action]
    ) -> Identity | None:
        return None

    async def readable_registries(self, identity: Identity | None) -> set[str] | None:
        return None

    async def permits(
        self, identity: Identity | None, repository: str, actions: frozenset[Action]
    ) -> bool:
        return True
