"""The audit log's records and the words it uses."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class Result(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"  # authentication or authorisation refused it (401, 403)
    FAILED = "failed"  # anything else that did not happen (4xx, 5xx)


class Operation(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    PUSH = "push"  # a manifest (and the blobs it references) pushed, by digest or by tag
    RUN = "run"  # background work: a cleanup or garbage-collection run
    TEST = "test"  # a webhook's test delivery
    SIGN_IN = "sign-in"


SYSTEM = "system"  # who background work is done by
ANONYMOUS = "anonymous"  # who a request without credentials is


def result_of(status: int) -> Result:
    """The result an HTTP status stands for."""
    if status < 400:
        return Result.SUCCESS
    return Result.DENIED if status in (401, 403) else Result.FAILED


@dataclass(frozen=True, slots=True)
class NewAuditEntry:
    """A change (or an attempt at one) to append."""

    operation: str
    resource_type: str
    resource: str
    result: Result
    username: str
    access_key: str | None = None  # the key the user signed in with, if any
    client: str | None = None  # the client's address (a trusted proxy's X-Forwarded-For)
    status: int | None = None  # the HTTP status answered, for requests
    request_id: str | None = None
    detail: str | None = None  # what else helps: a pushed tag's digest, why it failed

    def with_detail(self, detail: str | None) -> NewAuditEntry:
        return self if detail is None else replace(self, detail=detail)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    occurred_at: datetime
    entry: NewAuditEntry


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which entries to list: every given field must match (`resource` as a prefix)."""

    username: str | None = None
    operation: str | None = None
    resource_type: str | None = None
    resource: str | None = None
    result: str | None = None
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before
