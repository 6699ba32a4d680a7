"""How `serve` and `worker` log: one format, one stream (standard error).

`text` (the default) is one line per record for people: time, level, logger, message.
`json` is one JSON object per line for log shippers: `time` (UTC, ISO 8601), `level`,
`logger`, `message`, the request ID of the HTTP request the record was written for, the
record's structured fields (`extra={"fields": {...}}`, as the access log writes them) and
`exception` with the traceback when there is one.

granian configures Python logging itself when its server is built (its own handlers, on
standard output); `logging_config` is handed to it too, so granian applies this same
configuration and its records (logger `_granian`) go through the one handler.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

from moorage.api.access_log import current_request_id

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in _OWN_KEYS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exception"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


_OWN_KEYS = frozenset({"time", "level", "logger", "message", "exception"})


class QuietEmbedding(logging.Filter):
    """granian warns that embedding it is experimental on every start: moorage chose to."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "experimental" not in record.getMessage()


def _formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def logging_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """The `logging.config.dictConfig` of a long-running process: the root logger on one
    standard-error handler; granian's loggers hand their records to it."""
    level = level.upper()
    through_root = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"moorage": {"()": _formatter, "log_format": log_format}},
        "filters": {"quiet_embedding": {"()": QuietEmbedding}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "moorage",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "_granian": {**through_root, "level": level, "filters": ["quiet_embedding"]},
            # granian's own access log stays off (moorage.access logs each request once);
            # should it be turned on, its lines would at least share the format.
            "granian.access": {**through_root, "level": level},
        },
    }


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    logging.config.dictConfig(logging_config(level, log_format))
