"""What proxy caches refuse, and why."""

from __future__ import annotations

from moorage.domain.kernel.errors import DomainError, InvalidParameter


class PushRefused(DomainError):
    """A push, tag change or delete through the protocol into a proxy-cache registry."""

    def __init__(self, registry: str, upstream: str) -> None:
        super().__init__(f"registry {registry} is a proxy cache of {upstream}: pushes are refused")


class UpstreamUnavailable(DomainError):
    """The upstream could not answer, and nothing cached can stand in for it."""


class InvalidUpstream(InvalidParameter):
    """An upstream that cannot be used (not an http(s) URL, a bad namespace or interval)."""
