"""/registries/{registry}/replications: rules that copy images to or from a registry
elsewhere, their status (with a re-check), runs by hand, and the history of every run with a
task per artifact and its log. The remote password is write-only: answers say `has_password`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Response
from pydantic import BaseModel, Field

from moorage.api.rest.deps import Services
from moorage.api.rest.routing import api_router
from moorage.api.rest.schemas import Body, PageOut
from moorage.api.rest.security import Caller, Security
from moorage.domain.identity.access import MANAGE_REPLICATION, VIEW_REPLICATION
from moorage.domain.kernel.model import Execution, ExecutionTask, Page
from moorage.domain.replication.model import Filter, ReplicationRule, RuleDraft

router = api_router(prefix="/registries/{registry}/replications", tags=["replication"])

# Ids are 32-bit in the database: a larger one is a 422, never a failing query.
RuleId = Annotated[int, Path(ge=1, le=2**31 - 1)]
RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PageNumber = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")]
PageSize = Annotated[int, Query(ge=1, le=100)]
COUNT_KEYS = ("total", "succeeded", "failed", "skipped", "in_progress", "bytes")
# How long a refresh waits for the other side before answering 202; the check itself goes
# on. A working remote answers a check in a second or two, even in another region; one that
# does not answer (or whose name does not resolve) is retried with backoff for about 15 s.
REFRESH_WAIT_SECONDS = 4.0
_CHECKS: set[asyncio.Future[Any]] = set()
log = logging.getLogger("moorage.api.rest")


class RemoteIn(Body):
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="the other registry's base URL (http:// or https://), e.g. another "
        "moorage's address",
        examples=["https://registry.jp1.example.com"],
    )
    registry: str = Field(
        "",
        max_length=255,
        description="the registry (another moorage) or namespace (any OCI registry) there; "
        "empty for the root",
        examples=["team-images"],
    )
    username: str | None = Field(None, max_length=255, description="or an access key ID")
    password: str | None = Field(
        None,
        max_length=4096,
        description="or an access key's secret; never answered back (see `has_password`). "
        "On update: omitted or null keeps the stored one, an empty string removes it",
    )
    verify_tls: bool = True


class FilterIn(Body):
    pattern: str = Field("**", min_length=1, max_length=255, examples=["**", "app/*", "v{1,2}.*"])
    include: bool = Field(True, description="false: everything but what the pattern matches")

    def record(self) -> Filter:
        return Filter(pattern=self.pattern, include=self.include)


class FiltersIn(Body):
    image: FilterIn = Field(default_factory=FilterIn)
    tag: FilterIn = Field(default_factory=FilterIn)


class RuleIn(Body):
    name: str = Field(min_length=1, max_length=255, examples=["to-jp1"])
    direction: Literal["push", "pull"] = Field(
        description="push: from this registry to the remote one; pull: the other way"
    )
    remote: RemoteIn
    filters: FiltersIn = Field(default_factory=FiltersIn)
    trigger: Literal["event", "schedule", "manual"] = Field(
        "manual",
        description="event: each artifact pushed here after the rule exists (push rules); "
        "schedule: on `cron`; manual: only when run",
    )
    cron: str | None = Field(
        None, max_length=255, description='5-field cron, UTC, for trigger "schedule"'
    )
    override: bool = Field(
        True, description="overwrite a tag that points to another digest at the destination"
    )
    enabled: bool = True

    def draft(self) -> RuleDraft:
        return RuleDraft(
            name=self.name,
            direction=self.direction,
            url=self.remote.url,
            remote_registry=self.remote.registry,
            username=self.remote.username or None,
            password=self.remote.password,
            verify_tls=self.remote.verify_tls,
            image_filter=self.filters.image.record(),
            tag_filter=self.filters.tag.record(),
            trigger=self.trigger,
            cron=self.cron or None,
            override=self.override,
            enabled=self.enabled,
        )


class RemoteOut(BaseModel):
    url: str
    registry: str
    username: str | None
    has_password: bool = Field(description="whether a password is stored (it is never shown)")
    verify_tls: bool


class FilterOut(BaseModel):
    pattern: str
    include: bool


class FiltersOut(BaseModel):
    image: FilterOut
    tag: FilterOut


class RuleOut(BaseModel):
    id: int
    name: str
    direction: str
    remote: RemoteOut
    filters: FiltersOut
    trigger: str
    cron: str | None
    override: bool
    enabled: bool
    status: str = Field(
        description="inactive until the remote side answered with working credentials, "
        "then active; `refresh` checks again"
    )
    last_error: str | None = Field(description="why the last check failed")
    checked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RunOut(BaseModel):
    id: int
    rule_id: int | None = Field(description="the rule it belongs to")
    trigger: str = Field(description="event, schedule or manual")
    status: str = Field(description="pending, running, succeeded, failed or stopped")
    counts: dict[str, int] = Field(
        description="artifacts: total, succeeded, failed, skipped (already at the "
        "destination), in_progress; and bytes copied"
    )
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TaskOut(BaseModel):
    id: int
    subject: str = Field(description="the artifact, as `image:tag` (or `image@digest`)")
    status: str
    lines: list[dict[str, Any]] = Field(description="the task's log, oldest first")
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


def rule_out(rule: ReplicationRule) -> RuleOut:
    remote = rule.remote
    return RuleOut(
        id=rule.id,
        name=rule.name,
        direction=rule.direction,
        remote=RemoteOut(
            url=remote.url,
            registry=remote.registry,
            username=remote.username,
            has_password=remote.has_password,
            verify_tls=remote.verify_tls,
        ),
        filters=FiltersOut(
            image=FilterOut(pattern=rule.image_filter.pattern, include=rule.image_filter.include),
            tag=FilterOut(pattern=rule.tag_filter.pattern, include=rule.tag_filter.include),
        ),
        trigger=rule.trigger,
        cron=rule.cron,
        override=rule.override,
        enabled=rule.enabled,
        status=rule.status,
        last_error=rule.last_error,
        checked_at=rule.checked_at,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def run_out(run: Execution) -> RunOut:
    counts = {key: int(run.counts.get(key, 0)) for key in COUNT_KEYS}
    return RunOut(
        id=run.id,
        rule_id=run.rule_id,
        trigger=run.trigger,
        status=run.status,
        counts=counts,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def task_out(task: ExecutionTask) -> TaskOut:
    return TaskOut(
        id=task.id,
        subject=task.subject,
        status=task.status,
        lines=task.lines,
        error=task.error,
        started_at=task.started_at,
        finished_at=task.finished_at,
    )


def _page(found: Page[Any], page: int, page_size: int, out: Any) -> PageOut[Any]:
    return PageOut(
        items=[out(item) for item in found.items],
        total=found.total,
        page=page,
        page_size=page_size,
    )


def _offset(page: int, page_size: int) -> int:
    return (page - 1) * page_size


# Runs first: their paths would otherwise read as a rule's (`runs` is no rule id anyway).


@router.get("/runs/{run_id}", name="get_replication_run", response_model=RunOut)
def get_replication_run(
    registry: str, run_id: RunId, services: Services, security: Security, caller: Caller
) -> RunOut:
    """One run with its counts; its tasks are at `runs/{run_id}/tasks`."""
    security.require(caller, registry, VIEW_REPLICATION)
    return run_out(services.replication.get_run(registry, run_id))


@router.get("/runs/{run_id}/tasks", name="list_replication_tasks", response_model=PageOut[TaskOut])
def list_replication_tasks(
    registry: str,
    run_id: RunId,
    services: Services,
    security: Security,
    caller: Caller,
    page: PageNumber = 1,
    page_size: PageSize = 25,
) -> PageOut[TaskOut]:
    """A task per artifact copied (or skipped), with its log and error."""
    security.require(caller, registry, VIEW_REPLICATION)
    found = services.replication.list_tasks(registry, run_id, _offset(page, page_size), page_size)
    return _page(found, page, page_size, task_out)


@router.post("/runs/{run_id}/stop", name="stop_replication_run", response_model=RunOut)
def stop_replication_run(
    registry: str, run_id: RunId, services: Services, security: Security, caller: Caller
) -> RunOut:
    """Stop a pending or running run: copies under way end at their next step, nothing is
    left half-tagged; stopping a finished run changes nothing."""
    security.require(caller, registry, MANAGE_REPLICATION)
    return run_out(services.replication.stop_run(registry, run_id))


@router.get("", name="list_replications", response_model=PageOut[RuleOut])
def list_replications(
    registry: str,
    services: Services,
    security: Security,
    caller: Caller,
    page: PageNumber = 1,
    page_size: PageSize = 25,
) -> PageOut[RuleOut]:
    """The registry's rules, in the order they were created."""
    security.require(caller, registry, VIEW_REPLICATION)
    found = services.replication.list_rules(registry, _offset(page, page_size), page_size)
    return _page(found, page, page_size, rule_out)


@router.post("", name="create_replication", status_code=201, response_model=RuleOut)
def create_replication(
    registry: str, body: RuleIn, services: Services, security: Security, caller: Caller
) -> RuleOut:
    """A new rule starts inactive; the remote side is checked in the background, and the
    rule turns active once it answered with working credentials. Names are unique per
    registry."""
    security.require(caller, registry, MANAGE_REPLICATION)
    return rule_out(services.replication.create_rule(registry, body.draft()))


@router.get("/{rule_id}", name="get_replication", response_model=RuleOut)
def get_replication(
    registry: str, rule_id: RuleId, services: Services, security: Security, caller: Caller
) -> RuleOut:
    security.require(caller, registry, VIEW_REPLICATION)
    return rule_out(services.replication.get_rule(registry, rule_id))


@router.put("/{rule_id}", name="update_replication", response_model=RuleOut)
def update_replication(
    registry: str,
    rule_id: RuleId,
    body: RuleIn,
    services: Services,
    security: Security,
    caller: Caller,
) -> RuleOut:
    """Replace the rule's settings (see `remote.password` for keeping the stored one)."""
    security.require(caller, registry, MANAGE_REPLICATION)
    return rule_out(services.replication.update_rule(registry, rule_id, body.draft()))


@router.delete("/{rule_id}", name="delete_replication", status_code=204)
def delete_replication(
    registry: str, rule_id: RuleId, services: Services, security: Security, caller: Caller
) -> Response:
    """Delete the rule and its history. What it copied stays at the destination."""
    security.require(caller, registry, MANAGE_REPLICATION)
    services.replication.delete_rule(registry, rule_id)
    return Response(status_code=204)


@router.post(
    "/{rule_id}/refresh",
    name="refresh_replication",
    response_model=RuleOut,
    responses={
        202: {
            "model": RuleOut,
            "description": f"the other side did not answer within {REFRESH_WAIT_SECONDS:g} "
            "seconds: the check goes on, and the rule's status changes when it ends",
        }
    },
)
async def refresh_replication(
    registry: str,
    rule_id: RuleId,
    services: Services,
    security: Security,
    caller: Caller,
    response: Response,
) -> RuleOut:
    """Check the remote side now and answer the rule with its new status (a failed check
    answers 200 with the rule inactive and `last_error` saying why). A remote that does not
    answer is retried for a while: past a few seconds the answer is 202 with the rule as
    it stood, and the check ends in the background (ask for the rule again)."""
    await services.blocking.run(security.require, caller, registry, MANAGE_REPLICATION)
    check = asyncio.ensure_future(services.replication.refresh(registry, rule_id))
    try:
        checked = await asyncio.wait_for(asyncio.shield(check), REFRESH_WAIT_SECONDS)
    except TimeoutError:
        _outliving(check)
        response.status_code = 202
        checked = await services.blocking.read(services.replication.get_rule, registry, rule_id)
    return rule_out(checked)


def _outliving(check: asyncio.Future[Any]) -> None:
    """Keep a check that outlived its request until it ends, and log how it failed."""
    _CHECKS.add(check)

    def done(finished: asyncio.Future[Any]) -> None:
        _CHECKS.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.warning("replication check failed", exc_info=finished.exception())

    check.add_done_callback(done)


@router.post(
    "/{rule_id}/runs", name="start_replication_run", status_code=202, response_model=RunOut
)
def start_replication_run(
    registry: str, rule_id: RuleId, services: Services, security: Security, caller: Caller
) -> RunOut:
    """Queue a run that copies everything the filters select now; follow it at
    `runs/{id}`. 409 while a run of the rule is pending or running."""
    security.require(caller, registry, MANAGE_REPLICATION)
    return run_out(services.replication.start_run(registry, rule_id, caller.username))


@router.get("/{rule_id}/runs", name="list_replication_runs", response_model=PageOut[RunOut])
def list_replication_runs(
    registry: str,
    rule_id: RuleId,
    services: Services,
    security: Security,
    caller: Caller,
    page: PageNumber = 1,
    page_size: PageSize = 25,
) -> PageOut[RunOut]:
    """The rule's runs, newest first."""
    security.require(caller, registry, VIEW_REPLICATION)
    found = services.replication.list_runs(registry, rule_id, _offset(page, page_size), page_size)
    return _page(found, page, page_size, run_out)
