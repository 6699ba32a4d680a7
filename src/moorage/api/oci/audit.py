"""The audit log of the protocol's changes: manifest pushes and deletes.

A push is recorded once per manifest (`push`, on the tag or the digest it was put by; the
blobs it references are part of it, so blob uploads are not recorded one by one), a delete
once per request. A success is recorded in the transaction that stores the change; a refusal
after authentication (403, an invalid manifest, a protected tag…) in one of its own. A 401
is not recorded here: it is the protocol's handshake (clients ask without credentials first),
and wrong credentials are recorded by `SignIn`. Pulls change nothing and are not recorded:
a pull must cost no database write (`docs/architecture.md`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.requests import Request

from moorage.api.audit import request_entry
from moorage.api.oci.context import OciContext
from moorage.domain.audit.model import Operation
from moorage.domain.content.artifacts import is_digest

T = TypeVar("T")
OPERATIONS = {"PUT": Operation.PUSH, "DELETE": Operation.DELETE}


@dataclass(frozen=True, slots=True)
class ManifestChange:
    operation: Operation
    resource_type: str  # artifact (by digest) or tag
    resource: str  # reg/app@sha256:… or reg/app:v1


def manifest_change(method: str, name: str, reference: str) -> ManifestChange:
    if is_digest(reference):
        return ManifestChange(OPERATIONS[method], "artifact", f"{name}@{reference}")
    return ManifestChange(OPERATIONS[method], "tag", f"{name}:{reference}")


async def recorded(
    ctx: OciContext,
    request: Request,
    change: ManifestChange,
    write: Callable[[], T],
    status: int,
    detail: Callable[[T], str | None] = lambda _: None,
) -> T:
    """Run `write` (a service call) and record its success in the same transaction."""
    entry = request_entry(request, change.operation, change.resource_type, change.resource, status)

    def in_one_transaction(wait: bool) -> T:
        # `write` touches nothing before its transaction: safe to run again if that would
        # have waited for another writer (`Blocking.write`).
        with ctx.uow.scope(write=True, wait=wait):
            done = write()
            ctx.audit.record(entry.with_detail(detail(done)))
            return done

    return await ctx.blocking.write(in_one_transaction)


async def refused(
    ctx: OciContext, request: Request, change: ManifestChange, status: int, exc: Exception
) -> None:
    """Record a change the protocol refused (not a 401: see the module)."""
    if status == 401:
        return
    entry = request_entry(
        request, change.operation, change.resource_type, change.resource, status, str(exc)
    )
    await ctx.blocking.run(ctx.audit.record_apart, entry)
