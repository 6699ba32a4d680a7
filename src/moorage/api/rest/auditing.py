"""The audit log of REST writes: what each write route changes, and its one record.

Every POST, PUT, PATCH and DELETE of the API is recorded once (`RequestRoute` calls this):
a plain endpoint that succeeds is recorded inside its own transaction, so the change and its
entry commit together; a refusal (401, 403, 404, 412, 422…) and an `async` endpoint's outcome
are recorded after the response is decided, each in a small transaction of its own.

`CHANGES` names, per route, the operation, the resource type and how the resource is named:
`{x}` is a path parameter, `{body.x}` a field of the request body, `{result.x}` one of the
response (an id the write created) and `{caller}` the caller's user name. Nothing else of a
body is recorded (never a password or a secret). Signing in is not here: `SignIn` records
it, for the console, the token endpoint and Basic credentials alike.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from moorage.api.access_log import USER_STATE_KEY
from moorage.api.audit import request_entry
from moorage.api.rest.problems import ApiError, status_of
from moorage.domain.audit.model import NewAuditEntry, Operation
from moorage.domain.audit.model import Operation as Op

_IMAGE = "{registry}/{image}"
CHANGES: Mapping[str, tuple[Operation, str, str]] = {
    "create_registry": (Op.CREATE, "registry", "{body.name}"),
    "delete_registry": (Op.DELETE, "registry", "{registry}"),
    "delete_images": (Op.DELETE, "image", "{registry}/{body.names}"),
    "delete_image": (Op.DELETE, "image", _IMAGE),
    "delete_artifacts": (Op.DELETE, "artifact", _IMAGE + "@{body.references}"),
    "delete_artifact": (Op.DELETE, "artifact", _IMAGE + "@{reference}"),
    "create_tag": (Op.CREATE, "tag", _IMAGE + ":{body.name}"),
    "delete_tags": (Op.DELETE, "tag", _IMAGE + ":{body.names}"),
    "delete_tag": (Op.DELETE, "tag", _IMAGE + ":{tag}"),
    "create_protection_policy": (
        Op.CREATE,
        "protection-policy",
        "{registry}/protection-policies/{result.id}",
    ),
    "update_protection_policy": (
        Op.UPDATE,
        "protection-policy",
        "{registry}/protection-policies/{policy_id}",
    ),
    "delete_protection_policy": (
        Op.DELETE,
        "protection-policy",
        "{registry}/protection-policies/{policy_id}",
    ),
    "create_cleanup_policy": (
        Op.CREATE,
        "cleanup-policy",
        "{registry}/cleanup-policies/{result.id}",
    ),
    "update_cleanup_policy": (
        Op.UPDATE,
        "cleanup-policy",
        "{registry}/cleanup-policies/{policy_id}",
    ),
    "delete_cleanup_policy": (
        Op.DELETE,
        "cleanup-policy",
        "{registry}/cleanup-policies/{policy_id}",
    ),
    "set_cleanup_schedule": (Op.UPDATE, "cleanup-schedule", "{registry}"),
    "delete_cleanup_schedule": (Op.DELETE, "cleanup-schedule", "{registry}"),
    "start_cleanup_run": (Op.RUN, "cleanup-run", "{registry}/cleanup-runs/{result.id}"),
    "create_webhook": (Op.CREATE, "webhook", "{registry}/webhooks/{result.id}"),
    "update_webhook": (Op.UPDATE, "webhook", "{registry}/webhooks/{webhook_id}"),
    "delete_webhook": (Op.DELETE, "webhook", "{registry}/webhooks/{webhook_id}"),
    "test_webhook": (Op.TEST, "webhook", "{registry}/webhooks/{webhook_id}"),
    "create_replication": (Op.CREATE, "replication", "{registry}/replications/{result.id}"),
    "update_replication": (Op.UPDATE, "replication", "{registry}/replications/{rule_id}"),
    "delete_replication": (Op.DELETE, "replication", "{registry}/replications/{rule_id}"),
    "refresh_replication": (Op.UPDATE, "replication", "{registry}/replications/{rule_id}"),
    "start_replication_run": (
        Op.RUN,
        "replication-run",
        "{registry}/replications/{rule_id}/runs/{result.id}",
    ),
    "stop_replication_run": (
        Op.UPDATE,
        "replication-run",
        "{registry}/replications/runs/{run_id}",
    ),
    "create_project": (Op.CREATE, "project", "{body.name}"),
    "set_member": (Op.UPDATE, "member", "{project}/{username}"),
    "remove_member": (Op.DELETE, "member", "{project}/{username}"),
    "create_user": (Op.CREATE, "user", "{body.username}"),
    "delete_user": (Op.DELETE, "user", "{username}"),
    "update_user": (Op.UPDATE, "user", "{username}"),
    "change_my_password": (Op.UPDATE, "password", "{caller}"),
    "reset_password": (Op.UPDATE, "password", "{username}"),
    "create_my_access_key": (Op.CREATE, "access-key", "{caller}/{result.key_id}"),
    "update_my_access_key": (Op.UPDATE, "access-key", "{caller}/{key_id}"),
    "delete_my_access_key": (Op.DELETE, "access-key", "{caller}/{key_id}"),
    "sign_out_everywhere": (Op.DELETE, "session", "{caller}"),
    "start_gc_run": (Op.RUN, "gc-run", "gc-runs/{result.id}"),
    "set_gc_schedule": (Op.UPDATE, "gc-schedule", "gc-schedule"),
    "delete_gc_schedule": (Op.DELETE, "gc-schedule", "gc-schedule"),
}
# Writes that change nothing of moorage's: signing in (recorded by `SignIn`) and out.
NOT_CHANGES = frozenset({"create_session", "delete_session"})
_BY_METHOD = {"POST": Op.CREATE, "PUT": Op.UPDATE, "PATCH": Op.UPDATE, "DELETE": Op.DELETE}
_PLACEHOLDER = re.compile(r"\{([a-z_.]+)\}")
UNKNOWN = "?"  # a value the request never got to (a refused body, a result not made)


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, BaseModel):
        return {}
    return {f"{prefix}.{k}": v for k, v in value.model_dump(mode="json").items()}


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


class RequestAudit:
    """The record of one REST write (see the module): made once, in the endpoint's
    transaction on success, else on its own."""

    def __init__(self, request: Request, route: APIRoute) -> None:
        self.request = request
        self.route = route
        self.recorded = False

    @classmethod
    def of(cls, request: Request, route: APIRoute) -> RequestAudit | None:
        """The write's record to make, if the route changes anything."""
        return None if route.name in NOT_CHANGES else cls(request, route)

    def _describe(self, values: Mapping[str, Any]) -> tuple[str, str, str]:
        """(operation, resource type, resource) with `values` filled in."""
        found = CHANGES.get(self.route.name)
        if found is None:  # a route not listed yet: still recorded, by its path
            operation = _BY_METHOD.get(self.request.method, Op.UPDATE)
            return operation, "request", self.request.url.path
        operation, resource_type, template = found
        name = _PLACEHOLDER.sub(lambda m: _text(values.get(m[1], UNKNOWN)), template)
        return operation, resource_type, name

    def _values(self, arguments: Mapping[str, Any], result: Any) -> dict[str, Any]:
        # Path parameters as the endpoint got them: `image` with its `/` decoded.
        values: dict[str, Any] = {
            k: v.replace("%2F", "/") for k, v in self.request.path_params.items()
        }
        values.update({k: v for k, v in arguments.items() if isinstance(v, str | int)})
        values.update(_flat("body", arguments.get("body")))
        values.update(_flat("result", result))
        values["caller"] = getattr(self.request.state, USER_STATE_KEY, UNKNOWN)
        return values

    def _entry(
        self, status: int, arguments: Mapping[str, Any], result: Any, detail: str | None
    ) -> NewAuditEntry:
        operation, resource_type, resource = self._describe(self._values(arguments, result))
        return request_entry(self.request, operation, resource_type, resource, status, detail)

    def done(self, arguments: Mapping[str, Any], result: Any) -> None:
        """Record the endpoint's success, in its transaction (called inside its scope)."""
        status = result.status_code if isinstance(result, Response) else self.route.status_code
        entry = self._entry(status or 200, arguments, result, None)
        self.request.app.state.services.audit.record(entry)
        self.recorded = True

    async def around(self, handling: Awaitable[Response]) -> Response:
        """The response of `handling`; a refusal, or a success not recorded in the endpoint's
        transaction, is recorded on its own."""
        try:
            response = await handling
        except Exception as exc:
            detail = exc.detail if isinstance(exc, ApiError) else str(exc)
            await self._alone(status_of(exc), detail or type(exc).__name__)
            raise
        if not self.recorded:
            await self._alone(response.status_code, None)
        return response

    async def _alone(self, status: int, detail: str | None) -> None:
        services = self.request.app.state.services
        entry = self._entry(status, {}, None, detail)
        await services.blocking.run(services.audit.record_apart, entry)
