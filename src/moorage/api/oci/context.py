"""What every protocol handler gets: the domain services and small HTTP helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request

from moorage.api.access import Authorizer
from moorage.domain.artifacts import ArtifactService, PullRecorder
from moorage.domain.uploads import UploadService


@dataclass(frozen=True, slots=True)
class OciContext:
    artifacts: ArtifactService
    uploads: UploadService
    pulls: PullRecorder
    authorizer: Authorizer


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives, without empty chunks; never read whole."""
    async for chunk in request.stream():
        if chunk:
            yield chunk


def has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() != "0"
    return "chunked" in request.headers.get("transfer-encoding", "").lower()
