"""The access log middleware and the log formats (moorage.api.access_log, moorage.cli.logs)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from starlette.requests import Request

from moorage.api.access_log import (
    AccessLog,
    current_request_id,
    record_user,
    redacted_query,
    request_id_from,
)
from moorage.api.proxy import ForwardedHeaders, TrustedProxies
from moorage.cli.logs import JsonFormatter, QuietEmbedding, logging_config
from moorage.domain.identity.access import Identity


def http_scope(
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    path: str = "/v2/",
    query: bytes = b"",
    peer: str = "192.0.2.7",
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": list(headers),
        "server": ("127.0.0.1", 5000),
        "client": (peer, 40123),
    }


def serve(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one request through `app`; the messages it sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "moorage.access"]


@pytest.mark.parametrize("sane", ["abc", "A-b_c.9", "x" * 128])
def test_a_sane_request_id_is_kept(sane: str) -> None:
    assert request_id_from([(b"x-request-id", sane.encode())]) == sane


@pytest.mark.parametrize("hostile", [b"", b"x" * 129, b"a b", b"a\r\nb", b"\xff", b"a/b", b"a=b"])
def test_a_hostile_request_id_is_replaced(hostile: bytes) -> None:
    generated = request_id_from([(b"x-request-id", hostile)])
    assert generated != hostile.decode("latin-1")
    assert len(generated) == 32


def test_secret_query_values_are_redacted() -> None:
    assert redacted_query(b"") == ""
    assert redacted_query(b"n=10&last=b") == "n=10&last=b"
    assert (
        redacted_query(b"access_token=abc&Password=x&client_secret=y&digest=sha256:12")
        == "access_token=REDACTED&Password=REDACTED&client_secret=REDACTED&digest=sha256:12"
    )


def test_one_line_per_request_with_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert current_request_id() == "req-1"
        record_user(Request(scope), Identity(7, "alice", is_admin=False))
        await ok(scope, receive, send)

    caplog.set_level(logging.INFO, "moorage.access")
    scope = http_scope([(b"x-request-id", b"req-1")], path="/v2/r/a/tags/list", query=b"n=1")
    sent = serve(AccessLog(app), scope)
    assert (b"x-request-id", b"req-1") in sent[0]["headers"]
    [record] = access_records(caplog)
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["method"] == "GET"
    assert fields["path"] == "/v2/r/a/tags/list"
    assert fields["query"] == "n=1"
    assert fields["status"] == 204
    assert fields["user"] == "alice"
    assert fields["client"] == "192.0.2.7"
    assert fields["request_id"] == "req-1"
    assert current_request_id() is None


def test_a_failing_app_is_logged_as_500(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    caplog.set_level(logging.INFO, "moorage.access")
    with pytest.raises(RuntimeError):
        serve(AccessLog(broken), http_scope())
    [record] = access_records(caplog)
    assert record.fields["status"] == 500  # type: ignore[attr-defined]


def test_the_client_is_the_one_a_trusted_proxy_names(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "moorage.access")
    app = ForwardedHeaders(AccessLog(ok), TrustedProxies(["127.0.0.1"]))
    serve(app, http_scope([(b"x-forwarded-for", b"203.0.113.9")], peer="127.0.0.1"))
    [record] = access_records(caplog)
    assert record.fields["client"] == "203.0.113.9"  # type: ignore[attr-defined]


def test_an_app_id_header_is_replaced_not_doubled() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"x-request-id", b"from-app")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    sent = serve(AccessLog(app), http_scope([(b"x-request-id", b"mine")]))
    assert [v for k, v in sent[0]["headers"] if k == b"x-request-id"] == [b"mine"]


def test_a_path_cannot_break_a_text_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "moorage.access")
    serve(AccessLog(ok), http_scope(path="/v2/a\nFAKE b"))
    [record] = access_records(caplog)
    assert "\n" not in record.getMessage()
    assert "/v2/a%0AFAKE%20b" in record.getMessage()


def test_json_lines_carry_time_level_logger_message_and_fields() -> None:
    record = logging.LogRecord("moorage.access", logging.INFO, __file__, 1, "hi %s", ("x",), None)
    record.fields = {"status": 200, "user": None, "message": "not overriding"}
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "INFO"
    assert entry["logger"] == "moorage.access"
    assert entry["message"] == "hi x"
    assert entry["status"] == 200
    assert entry["user"] is None
    assert "T" in entry["time"]


def test_exceptions_stay_on_one_json_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError" in json.loads(line)["exception"]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_one_stderr_handler_and_granian_goes_through_it(log_format: Any) -> None:
    config = logging_config("info", log_format)
    assert config["root"]["handlers"] == ["stderr"]
    assert config["handlers"]["stderr"]["stream"] == "ext://sys.stderr"
    for name in ("_granian", "granian.access"):
        assert config["loggers"][name]["handlers"] == []
        assert config["loggers"][name]["propagate"] is True
    formatter = config["formatters"]["moorage"]
    made = formatter["()"](log_format=formatter["log_format"])
    assert isinstance(made, JsonFormatter) == (log_format == "json")


def test_granian_embedding_warning_is_dropped() -> None:
    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("_granian", logging.WARNING, __file__, 1, message, (), None)

    assert not QuietEmbedding().filter(record("Embedded server is experimental!"))
    assert QuietEmbedding().filter(record("Listening at: http://127.0.0.1:5000"))
