"""`moorage audit list`: the audit log, newest first, filtered as the REST API filters it;
on local data through the service, on a server through `GET /api/v1/audit-logs` (system
administrators only). Entries are the API's (`AuditEntryOut`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from moorage.cli.output import emit
from moorage.cli.remote import PAGE_SIZE, RemoteApi
from moorage.cli.target import Group
from moorage.domain.audit.model import Result
from moorage.domain.kernel.model import PageRequest
from moorage.wiring import Container

FILTERS = ("username", "operation", "resource_type", "resource", "result", "since", "until")
COLUMNS = [
    "occurred_at",
    "username",
    "operation",
    "resource_type",
    "resource",
    "result",
    "status",
    "client",
]


class AuditLog(Protocol):
    def entries(self, filters: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """Up to `limit` entries matching `filters` (the API's query parameters), newest first."""


class LocalAuditLog:
    def __init__(self, container: Container) -> None:
        self._audit = container.audit

    def entries(self, filters: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        from moorage.api.rest.audit import audit_query, entry_out

        if "result" in filters:
            filters = {**filters, "result": Result(filters["result"])}
        page = self._audit.list(audit_query(**filters), PageRequest(1, limit))
        return [entry_out(e).model_dump(mode="json") for e in page.items]


class RemoteAuditLog:
    def __init__(self, api: RemoteApi) -> None:
        self._api = api

    def entries(self, filters: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while len(found) < limit:
            params = {
                k: v.isoformat() if isinstance(v, datetime) else v for k, v in filters.items()
            }
            body = self._api.get("/audit-logs", {**params, "page": page, "page_size": PAGE_SIZE})
            found.extend(body["items"])
            if not body["items"] or page * PAGE_SIZE >= int(body["total"]):
                break
            page += 1
        return found[:limit]


AUDIT: Group[AuditLog] = Group(LocalAuditLog, RemoteAuditLog)


def list_entries(args: argparse.Namespace, log: AuditLog) -> int:
    filters = {name: getattr(args, name) for name in FILTERS if getattr(args, name) is not None}
    emit(log.entries(filters, args.limit), COLUMNS, as_json=args.json)
    return 0


def add_commands(
    common: argparse.ArgumentParser,
    group: Callable[[str, str], argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    audit = group("audit", "the audit log of every change (system administrators)")
    p = audit.add_parser("list", parents=[common], help="entries, newest first")
    p.add_argument("--user", dest="username", help="who (a user name, anonymous or system)")
    p.add_argument("--operation", help="create, update, delete, push, run, test or sign-in")
    p.add_argument("--resource-type", help="registry, image, artifact, tag, user…")
    p.add_argument("--resource", help="what the resource's name starts with: myreg/app")
    p.add_argument("--result", choices=[r.value for r in Result])
    p.add_argument("--since", type=datetime.fromisoformat, help="at or after (ISO 8601; UTC)")
    p.add_argument("--until", type=datetime.fromisoformat, help="before (ISO 8601; UTC)")
    p.add_argument("--limit", type=int, default=50, help="how many entries (default 50)")
    p.set_defaults(run=list_entries, group=AUDIT)
