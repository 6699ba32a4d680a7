"""A request body with a Content-Length ends with its last byte (moorage.api.app.ClientWatch)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Message

from moorage.api.app import ClientWatch
from moorage.api.metrics import Metrics


def body_seen(
    headers: list[tuple[bytes, bytes]], frames: list[Message]
) -> tuple[list[Message], int]:
    """The messages the app reads until the body ends, and how many the server was asked for."""
    served = list(frames)
    asked = 0
    seen: list[Message] = []

    async def receive() -> Message:
        nonlocal asked
        asked += 1
        return served.pop(0)

    async def send(message: Message) -> None:
        pass

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                return

    scope = {"type": "http", "method": "PUT", "path": "/v2/", "headers": headers}
    asyncio.run(ClientWatch(app, Metrics(), body_timeout=5)(scope, receive, send))
    return seen, asked


def frame(body: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


def test_the_message_with_the_last_declared_byte_ends_the_body() -> None:
    seen, asked = body_seen(
        [(b"content-length", b"6")], [frame(b"abc", True), frame(b"def", True), frame(b"", False)]
    )
    assert [(m["body"], m["more_body"]) for m in seen] == [(b"abc", True), (b"def", False)]
    assert asked == 2  # the server's empty end-of-body message is never waited for


@pytest.mark.parametrize(
    "headers",
    [
        [],  # no length: the framing ends the body
        [(b"content-length", b"6"), (b"transfer-encoding", b"chunked")],
        [(b"content-length", b"6"), (b"content-length", b"6")],
        [(b"content-length", b"+6")],
        [(b"content-length", b"9" * 40)],
    ],
)
def test_without_one_plain_length_the_server_ends_the_body(
    headers: list[tuple[bytes, bytes]],
) -> None:
    seen, asked = body_seen(headers, [frame(b"abcdef", True), frame(b"", False)])
    assert [(m["body"], m["more_body"]) for m in seen] == [(b"abcdef", True), (b"", False)]
    assert asked == 2


def test_a_shorter_body_than_declared_waits_for_the_server() -> None:
    seen, _ = body_seen(
        [(b"content-length", b"10")], [frame(b"abc", True), {"type": "http.disconnect"}]
    )
    assert seen[-1] == {"type": "http.disconnect"}
