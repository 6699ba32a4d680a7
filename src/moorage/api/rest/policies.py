"""Per-registry image protection and image cleanup: policies, schedule, runs and history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Response
from pydantic import BaseModel, Field

from moorage.api.rest.deps import Paging, Services, page_of
from moorage.api.rest.problems import in_field
from moorage.api.rest.routing import api_router
from moorage.api.rest.schemas import Body, PageOut, ScheduleIn, ScheduleOut, schedule_out
from moorage.api.rest.security import Caller, Security
from moorage.domain.identity.access import Action
from moorage.domain.kernel.errors import InvalidParameter
from moorage.domain.kernel.model import CleanupPolicyRecord, Execution, ProtectionPolicyRecord
from moorage.domain.policies.cleanup import Rule
from moorage.domain.policies.selectors import Selector, TagSelector
from moorage.domain.policies.service import CleanupSpec, ProtectionSpec

router = api_router(prefix="/registries/{registry}", tags=["protection and cleanup"])
PolicyRecord = ProtectionPolicyRecord | CleanupPolicyRecord
# The first is the default order: the order policies were added in.
POLICY_SORTS: dict[str, Callable[[Any], Any]] = {
    "id": lambda r: r.id,
    "created_at": lambda r: r.created_at,
    "updated_at": lambda r: r.updated_at,
    "image": lambda r: r.image_pattern,
    "tag": lambda r: r.tag_pattern,
}


def _policy_text(record: PolicyRecord) -> str:
    """What `q` searches: both selectors' patterns."""
    return f"{record.image_pattern}\n{record.tag_pattern}"


class SelectorIn(Body):
    pattern: str = Field(min_length=1, max_length=255, examples=["**", "app/*", "v{1,2}.*"])
    include: bool = True


class TagSelectorIn(SelectorIn):
    untagged: bool = Field(False, description="whether untagged artifacts are selected")


class RuleIn(Body):
    kind: Literal["latest_pushed", "latest_pulled", "pushed_within", "pulled_within", "always"]
    count: int | None = Field(None, description="for latest_pushed and latest_pulled")
    days: int | None = Field(None, description="for pushed_within and pulled_within")


class ProtectionIn(Body):
    image: SelectorIn
    tag: SelectorIn
    enabled: bool = True

    def spec(self) -> ProtectionSpec:
        with in_field("image.pattern"):
            image = Selector(self.image.pattern, self.image.include)
        with in_field("tag.pattern"):
            tag = Selector(self.tag.pattern, self.tag.include)
        return ProtectionSpec(image, tag, self.enabled)


class CleanupIn(Body):
    image: SelectorIn
    tag: TagSelectorIn
    rule: RuleIn
    enabled: bool = True

    def spec(self) -> CleanupSpec:
        counted = self.rule.kind in ("latest_pushed", "latest_pulled")
        value, other = (
            (self.rule.count, self.rule.days) if counted else (self.rule.days, self.rule.count)
        )
        wanted, unwanted = ("count", "days") if counted else ("days", "count")
        if other is not None:
            message = f"rule {self.rule.kind} takes {wanted}, not {unwanted}"
            raise InvalidParameter(f"rule.{unwanted}", message)
        with in_field("image.pattern"):
            image = Selector(self.image.pattern, self.image.include)
        with in_field("tag.pattern"):
            tag = TagSelector(self.tag.pattern, self.tag.include, self.tag.untagged)
        with in_field(f"rule.{wanted}"):
            rule = Rule.of(self.rule.kind, value)
        return CleanupSpec(image, tag, rule, self.enabled)


class SelectorOut(BaseModel):
    pattern: str
    include: bool


class TagSelectorOut(SelectorOut):
    untagged: bool


class RuleOut(BaseModel):
    kind: str
    count: int | None = None
    days: int | None = None


class ProtectionOut(BaseModel):
    id: int
    image: SelectorOut
    tag: SelectorOut
    enabled: bool
    created_at: datetime
    updated_at: datetime


class CleanupOut(BaseModel):
    id: int
    image: SelectorOut
    tag: TagSelectorOut
    rule: RuleOut
    enabled: bool
    created_at: datetime
    updated_at: datetime


class RunIn(Body):
    dry_run: bool = Field(False, description="a test run: record what would go, delete nothing")


class RunOut(BaseModel):
    id: int
    trigger: str
    dry_run: bool
    status: str
    counts: dict[str, int]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TaskOut(BaseModel):
    image: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    artifacts: list[dict[str, Any]] = Field(
        description="digest, tags, pushed_at, pulled_at, verdict (deleted, kept, "
        "kept_protected, failed), kept_by and protected_by (the policies' ids, global across "
        "registries), kept_by_policies and protected_by_policy (those policies described by "
        "their selectors as they were when the run judged, e.g. `images 'app', tags 'v1'`; "
        "absent from lines recorded before they were added), error, and dependents: the "
        "index children (kind `child`) and referrers (kind `referrer`: signatures, SBOMs) "
        "that share the verdict, each with its digest"
    )


class RunDetailOut(RunOut):
    tasks: list[TaskOut]


def _protection(r: ProtectionPolicyRecord) -> ProtectionOut:
    return ProtectionOut(
        id=r.id,
        image=SelectorOut(pattern=r.image_pattern, include=r.image_include),
        tag=SelectorOut(pattern=r.tag_pattern, include=r.tag_include),
        enabled=r.enabled,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _cleanup(r: CleanupPolicyRecord) -> CleanupOut:
    counted = r.rule_kind in ("latest_pushed", "latest_pulled")
    return CleanupOut(
        id=r.id,
        image=SelectorOut(pattern=r.image_pattern, include=r.image_include),
        tag=TagSelectorOut(pattern=r.tag_pattern, include=r.tag_include, untagged=r.untagged),
        rule=RuleOut(
            kind=r.rule_kind,
            count=r.rule_value if counted else None,
            days=None if counted else r.rule_value,
        ),
        enabled=r.enabled,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _run(e: Execution) -> RunOut:
    return RunOut(
        id=e.id,
        trigger=e.trigger,
        dry_run=e.dry_run,
        status=e.status,
        counts=e.counts,
        error=e.error,
        created_at=e.created_at,
        started_at=e.started_at,
        finished_at=e.finished_at,
    )


# protection ----------------------------------------------------------------------------


@router.get(
    "/protection-policies",
    name="list_protection_policies",
    response_model=PageOut[ProtectionOut],
)
def list_protection_policies(
    registry: str, services: Services, security: Security, caller: Caller, paging: Paging
) -> PageOut[ProtectionOut]:
    """`q` searches the image and tag patterns; sort by `id` (default), `created_at`,
    `updated_at`, `image` or `tag`."""
    security.require(caller, registry, Action.PULL)
    records = services.policies.protection_policies(registry)
    shown, total = page_of(records, paging, POLICY_SORTS, _policy_text)
    items = [_protection(r) for r in shown]
    return PageOut(items=items, total=total, page=paging.page, page_size=paging.page_size)


@router.post(
    "/protection-policies",
    name="create_protection_policy",
    status_code=201,
    response_model=ProtectionOut,
)
def create_protection_policy(
    registry: str, body: ProtectionIn, services: Services, security: Security, caller: Caller
) -> ProtectionOut:
    """At most 15 per registry; the same selectors twice is refused (409)."""
    security.require(caller, registry, Action.PUSH)
    spec = body.spec()
    return _protection(services.policies.add_protection(registry, spec))


@router.put(
    "/protection-policies/{policy_id}",
    name="update_protection_policy",
    response_model=ProtectionOut,
)
def update_protection_policy(
    registry: str,
    policy_id: int,
    body: ProtectionIn,
    services: Services,
    security: Security,
    caller: Caller,
) -> ProtectionOut:
    """Change selectors or enable/disable."""
    security.require(caller, registry, Action.PUSH)
    spec = body.spec()
    record = services.policies.update_protection(registry, policy_id, spec)
    return _protection(record)


@router.delete("/protection-policies/{policy_id}", name="delete_protection_policy", status_code=204)
def delete_protection_policy(
    registry: str, policy_id: int, services: Services, security: Security, caller: Caller
) -> Response:
    security.require(caller, registry, Action.DELETE)
    services.policies.delete_protection(registry, policy_id)
    return Response(status_code=204)


# cleanup policies ----------------------------------------------------------------------


@router.get("/cleanup-policies", name="list_cleanup_policies", response_model=PageOut[CleanupOut])
def list_cleanup_policies(
    registry: str, services: Services, security: Security, caller: Caller, paging: Paging
) -> PageOut[CleanupOut]:
    """`q` searches the image and tag patterns; sort by `id` (default), `created_at`,
    `updated_at`, `image` or `tag`."""
    security.require(caller, registry, Action.PULL)
    records = services.policies.cleanup_policies(registry)
    shown, total = page_of(records, paging, POLICY_SORTS, _policy_text)
    items = [_cleanup(r) for r in shown]
    return PageOut(items=items, total=total, page=paging.page, page_size=paging.page_size)


@router.post(
    "/cleanup-policies", name="create_cleanup_policy", status_code=201, response_model=CleanupOut
)
def create_cleanup_policy(
    registry: str, body: CleanupIn, services: Services, security: Security, caller: Caller
) -> CleanupOut:
    """What to KEEP of the selected artifacts; the rest of each touched image is deleted."""
    security.require(caller, registry, Action.PUSH)
    spec = body.spec()
    return _cleanup(services.policies.add_cleanup(registry, spec))


@router.put(
    "/cleanup-policies/{policy_id}", name="update_cleanup_policy", response_model=CleanupOut
)
def update_cleanup_policy(
    registry: str,
    policy_id: int,
    body: CleanupIn,
    services: Services,
    security: Security,
    caller: Caller,
) -> CleanupOut:
    security.require(caller, registry, Action.PUSH)
    spec = body.spec()
    return _cleanup(services.policies.update_cleanup(registry, policy_id, spec))


@router.delete("/cleanup-policies/{policy_id}", name="delete_cleanup_policy", status_code=204)
def delete_cleanup_policy(
    registry: str, policy_id: int, services: Services, security: Security, caller: Caller
) -> Response:
    security.require(caller, registry, Action.DELETE)
    services.policies.delete_cleanup(registry, policy_id)
    return Response(status_code=204)


# schedule and runs ---------------------------------------------------------------------


@router.get("/cleanup-schedule", name="get_cleanup_schedule", response_model=ScheduleOut)
def get_cleanup_schedule(
    registry: str, services: Services, security: Security, caller: Caller
) -> ScheduleOut:
    security.require(caller, registry, Action.PULL)
    return schedule_out(services.cleanup_runs.schedule(registry))


@router.put("/cleanup-schedule", name="set_cleanup_schedule", response_model=ScheduleOut)
def set_cleanup_schedule(
    registry: str, body: ScheduleIn, services: Services, security: Security, caller: Caller
) -> ScheduleOut:
    """One 5-field cron schedule per registry; a bad field is named in the error."""
    security.require(caller, registry, Action.PUSH)
    return schedule_out(services.cleanup_runs.set_schedule(registry, body.cron))


@router.delete("/cleanup-schedule", name="delete_cleanup_schedule", status_code=204)
def delete_cleanup_schedule(
    registry: str, services: Services, security: Security, caller: Caller
) -> Response:
    security.require(caller, registry, Action.DELETE)
    services.cleanup_runs.set_schedule(registry, None)
    return Response(status_code=204)


@router.post("/cleanup-runs", name="start_cleanup_run", status_code=202, response_model=RunOut)
def start_cleanup_run(
    registry: str, body: RunIn, services: Services, security: Security, caller: Caller
) -> RunOut:
    """Queue a test run (`dry_run`) or a real run; follow it at `cleanup-runs/{id}`."""
    security.require(caller, registry, Action.PUSH)
    execution = services.cleanup_runs.start(registry, dry_run=body.dry_run)
    return _run(execution)


@router.get("/cleanup-runs", name="list_cleanup_runs", response_model=PageOut[RunOut])
def list_cleanup_runs(
    registry: str,
    services: Services,
    security: Security,
    caller: Caller,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
) -> PageOut[RunOut]:
    security.require(caller, registry, Action.PULL)
    found = services.cleanup_runs.history(registry, page, page_size)
    return PageOut(
        items=[_run(e) for e in found.items], total=found.total, page=page, page_size=page_size
    )


@router.get("/cleanup-runs/{run_id}", name="get_cleanup_run", response_model=RunDetailOut)
def get_cleanup_run(
    registry: str, run_id: int, services: Services, security: Security, caller: Caller
) -> RunDetailOut:
    """A run with a task per image and a line per artifact."""
    security.require(caller, registry, Action.PULL)
    detail = services.cleanup_runs.detail(registry, run_id)
    tasks = [
        TaskOut(
            image=t.subject,
            status=t.status,
            started_at=t.started_at,
            finished_at=t.finished_at,
            artifacts=t.lines,
        )
        for t in detail.tasks
    ]
    return RunDetailOut(**_run(detail.execution).model_dump(), tasks=tasks)
