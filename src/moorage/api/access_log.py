"""One log line per HTTP request (logger `moorage.access`), and the request's ID.

`AccessLog` sits just inside `ForwardedHeaders`, so the client it logs is the one a trusted
proxy named, and outside everything else, so a request cut short by `ClientWatch` or failing
with a 500 is logged too. Each line carries the method, the path (its query with the values
of secret-looking parameters redacted), the status, the time to the response's last byte in
milliseconds, the authenticated user, the client address and the request ID.

The user is whoever authentication resolved: the /v2 authorizer, the token endpoint and the
REST API's caller call `record_user`, which leaves the name in the ASGI scope's `state` (one
dict per request, shared by every middleware and mounted app that sees the request).

The request ID is the client's `X-Request-ID` when it is a sane token (at most 128 of
`A-Z a-z 0-9 . _ -`), so a proxy's or client's ID follows the request through; anything else
is replaced by a fresh one. It is echoed in the response's `X-Request-ID`, and every other
log record written while the request runs carries it (`current_request_id`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moorage.domain.identity.access import Identity

log = logging.getLogger("moorage.access")

REQUEST_ID_HEADER = b"x-request-id"
USER_STATE_KEY = "access_log_user"
ACCESS_KEY_STATE_KEY = "access_key_id"  # the key the user signed in with (the audit log's)
REQUEST_ID_STATE_KEY = "request_id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Query parameters whose values never reach a log: any whose name contains one of these.
_SECRET_WORDS = ("secret", "password", "token")
REDACTED = "REDACTED"

_request_id: ContextVar[str | None] = ContextVar("moorage_request_id", default=None)


def current_request_id() -> str | None:
    """The ID of the request this code runs for, if any (worker threads inherit it)."""
    return _request_id.get()


def record_user(request: Request, identity: Identity | None) -> None:
    """Note who the request is authenticated as, for its access log line (and the audit log,
    which also notes the access key)."""
    if identity is not None:
        # The dict behind `request.state`, written directly: every authenticated request
        # passes here, and building the State wrapper costs more than the two writes.
        state = request.scope.setdefault("state", {})
        state[USER_STATE_KEY] = identity.username
        state[ACCESS_KEY_STATE_KEY] = identity.access_key_id


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID if it is sane, else a new one."""
    for key, value in headers:
        if key == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(text):
                return text
            break
    return os.urandom(16).hex()  # as random as uuid4's hex, without building a UUID


def redacted_query(query_string: bytes) -> str:
    """The query string with the values of secret-looking parameters replaced."""
    if not query_string:
        return ""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    shown = []
    for name, value in pairs:
        if any(word in name.lower() for word in _SECRET_WORDS):
            value = REDACTED
        shown.append(f"{quote(name, safe='')}={quote(value, safe=':/@,')}")
    return "&".join(shown)


class AccessLog:
    """Logs every HTTP request once, when its response is complete (or the app failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        state: dict[str, Any] = scope.setdefault("state", {})
        state[REQUEST_ID_STATE_KEY] = request_id
        status = 500  # what the server answers if the app fails before it responds
        echoed_id = (REQUEST_ID_HEADER, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, echoed_id]}
            await send(message)

        token = _request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                _log_request(scope, state, status, time.perf_counter() - start, request_id)
            finally:
                _request_id.reset(token)


def _log_request(
    scope: Scope, state: dict[str, Any], status: int, seconds: float, request_id: str
) -> None:
    if not log.isEnabledFor(logging.INFO):
        return  # nothing to build when access lines are not written (log_level above info)
    client = scope.get("client")
    fields: dict[str, Any] = {
        "method": scope["method"],
        "path": scope["path"],
        "query": redacted_query(scope.get("query_string", b"")) or None,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "user": state.get(USER_STATE_KEY),
        "client": str(client[0]) if client else None,
        "request_id": request_id,
    }
    log.info(
        "%s %s %d %.1fms user=%s client=%s request_id=%s",
        fields["method"],
        _printable(fields["path"] + (f"?{fields['query']}" if fields["query"] else "")),
        status,
        fields["duration_ms"],
        fields["user"] or "-",
        fields["client"] or "-",
        request_id,
        extra={"fields": fields},
    )


def _printable(text: str) -> str:
    """The path as one word: control characters and spaces escaped, so a path with a
    decoded `%0A` cannot start a line of its own in a text log."""
    if text.isprintable() and " " not in text:
        return text  # the usual path: nothing to escape, no per-character pass
    return "".join(c if c.isprintable() and c != " " else quote(c) for c in text)
