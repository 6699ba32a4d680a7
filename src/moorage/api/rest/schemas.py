"""Request and response bodies of the REST API (separate from tables and domain records)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from moorage.domain.identity.access import DeploymentPermission, RegistryPermission
from moorage.domain.kernel.model import Role, Schedule

T = TypeVar("T")


class Body(BaseModel):
    """Request bodies refuse unknown fields: a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="items across all pages")
    page: int
    page_size: int


class UpstreamOut(BaseModel):
    url: str
    namespace: str
    username: str | None
    has_password: bool
    verify_tls: bool
    revalidate_seconds: int = Field(description="the interval in force for this registry")


class RegistryOut(BaseModel):
    name: str
    project: str
    public_uri: str
    private_uri: str | None
    image_count: int
    stored_bytes: int
    created_at: datetime
    docker_login: str = Field(description="the login command for this registry's host")
    docker_push_example: str
    permissions: list[RegistryPermission] = Field(
        description="what the caller may do in this registry, from its role in the project"
    )
    kind: Literal["local", "proxy_cache"] = Field(
        "local", description="proxy_cache: a pull-through cache of `upstream`"
    )
    upstream: UpstreamOut | None = None


class ProxyCacheIn(Body):
    """The upstream a proxy-cache registry pulls through."""

    url: str = Field(min_length=1, max_length=2048, examples=["https://registry-1.docker.io"])
    namespace: str = Field(
        "",
        max_length=255,
        description="a prefix of every repository upstream; pulls of REGISTRY/IMAGE fetch "
        "NAMESPACE/IMAGE",
    )
    username: str | None = Field(None, max_length=255)
    password: str | None = Field(
        None, max_length=4096, description="stored encrypted; never answered back"
    )
    verify_tls: bool = True
    revalidate_seconds: int | None = Field(
        None,
        ge=0,
        le=365 * 24 * 3600,
        description="how long a cached tag is served before upstream is asked again; "
        "default: the deployment's proxy_cache_revalidate_seconds",
    )


class RegistryCreate(Body):
    name: str = Field(min_length=1, max_length=255, examples=["team-images"])
    project: str = Field("default", min_length=1, max_length=255)
    proxy_cache: ProxyCacheIn | None = Field(
        None,
        description="make it a proxy cache of this upstream: pulls are answered from the "
        "cache or fetched from upstream, pushes are refused",
    )


class ImageOut(BaseModel):
    name: str = Field(description="the image name inside the registry")
    repository: str = Field(description="REGISTRY/IMAGE")
    artifact_count: int
    tag_count: int
    pushed_at: datetime | None
    pulled_at: datetime | None
    created_at: datetime


class ImagesDelete(Body):
    names: list[str] = Field(min_length=1, max_length=100)


class HelmChartOut(BaseModel):
    """What a Helm chart's config (its Chart.yaml) says, read when it was pushed."""

    name: str
    version: str
    app_version: str | None = Field(description="the `appVersion` of Chart.yaml, if any")


class ArtifactOut(BaseModel):
    digest: str
    media_type: str
    artifact_type: str | None
    size: int = Field(description="bytes: the manifest, its blobs and (an index) its children")
    platforms: list[str]
    pushed_at: datetime
    pulled_at: datetime | None
    tags: list[str] = Field(
        description="its 10 most recent tags by push time, newest first; `tag_count` counts "
        "them all, and `…/artifacts/{reference}/tags` pages through them"
    )
    tag_count: int = Field(description="how many tags point at it")
    referrer_count: int = Field(
        description="artifacts of the image whose subject it is (signatures, SBOMs, "
        "attestations); `…/artifacts/{reference}/referrers` lists them"
    )
    protected: bool = Field(description="a tag of it is protected: it cannot be deleted")
    protected_by: str | None = Field(
        default=None,
        description="the protecting policy, by its image and tag selectors, when protected",
    )
    helm: HelmChartOut | None = Field(
        None,
        description="a Helm chart (config type application/vnd.cncf.helm.config.v1+json): "
        "its name and versions; null for other artifacts",
    )
    cached: bool = Field(False, description="it came from the upstream of a proxy-cache registry")
    upstream: str | None = Field(
        None, description="where a cached artifact came from (the upstream's URL and image)"
    )
    revalidated_at: datetime | None = Field(
        None, description="when the upstream last confirmed a cached artifact (or one of its tags)"
    )


class LayerOut(BaseModel):
    digest: str
    media_type: str
    size: int


class ArtifactDetailOut(ArtifactOut):
    config_digest: str | None
    layers: list[LayerOut]
    children: list[dict[str, Any]]
    subject_digest: str | None
    annotations: dict[str, str]
    manifest: dict[str, Any]


class ArtifactsDelete(Body):
    references: list[str] = Field(min_length=1, max_length=100, description="digests or tags")


class TagOut(BaseModel):
    name: str
    digest: str
    pushed_at: datetime
    pulled_at: datetime | None
    protected: bool = Field(description="a protection policy forbids moving or deleting it")
    protected_by: str | None = Field(
        default=None,
        description="the protecting policy, by its image and tag selectors, when protected",
    )


class TagsDelete(Body):
    names: list[str] = Field(
        min_length=1, max_length=100, description="tags of the image, on any of its artifacts"
    )


class TagCreate(Body):
    name: str = Field(min_length=1, max_length=255)
    move: bool = Field(
        False,
        description="move the tag here if it points at another artifact; without it that is "
        "refused (409 `already-exists`, its `digest` the artifact the tag points at)",
    )


class ProjectOut(BaseModel):
    name: str
    created_at: datetime


class ProjectCreate(Body):
    name: str = Field(min_length=1, max_length=255)


class MemberOut(BaseModel):
    username: str
    role: Role
    created_at: datetime


class MemberSet(Body):
    role: Role


class UserOut(BaseModel):
    username: str
    is_admin: bool
    created_at: datetime
    disabled: bool = Field(description="A disabled user cannot sign in or use their keys.")


class UserUpdate(Body):
    disabled: bool


class UserCreate(Body):
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)
    is_admin: bool = False


class MembershipOut(BaseModel):
    project: str
    role: Role


class MeOut(BaseModel):
    username: str
    is_admin: bool
    projects: list[MembershipOut]
    permissions: list[DeploymentPermission] = Field(
        description="what the caller may do outside any one registry"
    )
    region: str = Field(description="the region this deployment runs in (setting `region`)")


class PasswordChange(Body):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordReset(Body):
    new_password: str = Field(min_length=1, max_length=1024)


class AccessKeyOut(BaseModel):
    key_id: str
    enabled: bool
    created_at: datetime
    last_used_at: datetime | None
    age_days: int
    rotation_due: bool = Field(description="older than 90 days: rotating is recommended")


class AccessKeyCreated(AccessKeyOut):
    secret: str = Field(description="shown only in this response; only its hash is kept")


class AccessKeyUpdate(Body):
    enabled: bool


class SessionCreate(Body):
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    username: str
    is_admin: bool
    csrf_token: str
    expires_at: datetime


class ScheduleIn(Body):
    cron: str = Field(
        min_length=1,
        max_length=255,
        description="minute hour day-of-month month day-of-week, in UTC",
        examples=["0 3 * * SUN"],
    )


class ScheduleOut(BaseModel):
    cron: str | None
    next_run_at: datetime | None
    last_run_at: datetime | None


def schedule_out(found: Schedule | None) -> ScheduleOut:
    if found is None:
        return ScheduleOut(cron=None, next_run_at=None, last_run_at=None)
    return ScheduleOut(
        cron=found.cron, next_run_at=found.next_run_at, last_run_at=found.last_run_at
    )
