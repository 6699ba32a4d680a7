"""The audit log's entries as the HTTP edge writes them: who (whoever authentication resolved,
with the access key used; else anonymous), from which address (the client as
`ForwardedHeaders` left it, so a trusted proxy's X-Forwarded-For counts and nobody else's),
and the request's ID (`AccessLog`)."""

from __future__ import annotations

from starlette.requests import Request

from moorage.api.access_log import ACCESS_KEY_STATE_KEY, REQUEST_ID_STATE_KEY, USER_STATE_KEY
from moorage.domain.audit.model import ANONYMOUS, NewAuditEntry, Operation, Result, result_of

MAX_RESOURCE = 1024
MAX_USERNAME = 255
MAX_DETAIL = 1000


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def request_entry(
    request: Request,
    operation: str,
    resource_type: str,
    resource: str,
    status: int,
    detail: str | None = None,
    username: str | None = None,
    result: Result | None = None,
) -> NewAuditEntry:
    """An entry for what this request did (or was refused: the status says which, unless
    `result` is given)."""
    state = request.state
    return NewAuditEntry(
        operation,
        resource_type,
        resource[:MAX_RESOURCE],
        result or result_of(status),
        username or getattr(state, USER_STATE_KEY, None) or ANONYMOUS,
        access_key=getattr(state, ACCESS_KEY_STATE_KEY, None),
        client=client_address(request),
        status=status,
        request_id=getattr(state, REQUEST_ID_STATE_KEY, None),
        detail=detail[:MAX_DETAIL] if detail else None,
    )


def sign_in_entry(request: Request, login: str, status: int, where: str) -> NewAuditEntry:
    """A sign-in, by the login given (a user name or an access key ID): a success (200), wrong
    credentials (401) or an attempt the throttle refused (429). `where`: the console, the
    token endpoint, or Basic credentials on a request. A failure is noted as the login's."""
    return request_entry(
        request,
        Operation.SIGN_IN,
        "user",
        login,
        status,
        where if status != 429 else f"{where}, throttled",
        username=login[:MAX_USERNAME] if status >= 400 else None,
        result=Result.FAILED if status >= 400 else Result.SUCCESS,  # wrong, not refused
    )
