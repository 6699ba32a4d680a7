"""/deployment, for system administrators: what this deployment runs on and how it is set up,
read-only. Names and places only: no key, secret, password or user name from the settings
ever appears (the database URL is reduced to its backend, host and database; the S3
settings to bucket, endpoint, region and prefix)."""

from __future__ import annotations

from typing import Annotated, Literal, Protocol
from urllib.parse import urlsplit

from fastapi import Depends, Request
from pydantic import BaseModel, Field

from moorage import __version__
from moorage.api.rest.gc import StorageOut, storage_out
from moorage.api.rest.routing import api_router
from moorage.api.rest.schemas import ScheduleOut, schedule_out
from moorage.api.rest.security import Caller, Security
from moorage.api.rest.services import RestServices
from moorage.config import Settings

router = api_router(tags=["deployment"])


class DeploymentServices(RestServices, Protocol):
    """The REST services with the settings the deployment was started with."""

    @property
    def settings(self) -> Settings: ...


def deployment_services(request: Request) -> DeploymentServices:
    found: DeploymentServices = request.app.state.services
    return found


class MetadataOut(BaseModel):
    backend: str = Field(description="sqlite or postgresql")
    location: str = Field(
        description="sqlite: the database file; postgresql: host, port and database name "
        "(never the user name or password)"
    )


class StorageDriverOut(BaseModel):
    driver: Literal["filesystem", "s3"]
    root: str | None = Field(description="filesystem: the directory blobs are stored in")
    bucket: str | None = Field(description="s3: the bucket")
    endpoint: str | None = Field(description="s3: the endpoint URL; null for AWS's own")
    region: str | None = Field(description="s3: the region")
    prefix: str | None = Field(description="s3: the key prefix, if any")


class CountsOut(BaseModel):
    registries: int
    projects: int
    users: int


class DeploymentOut(BaseModel):
    version: str = Field(description="moorage's version")
    region: str = Field(
        description='where this deployment runs (setting `region`, default "local")'
    )
    metadata: MetadataOut
    storage_driver: StorageDriverOut
    public_host: str | None = Field(description="the public registry address, if set")
    private_host: str | None = Field(description="the closed-network address, if set")
    auth: Literal["token", "none"] = Field(description='"none": authentication is off')
    token_lifetime_minutes: int = Field(description="how long a bearer token is valid")
    upload_expiry_hours: float = Field(description="an unfinished upload is dropped after this")
    gc_grace_seconds: float = Field(
        description="garbage collection deletes a blob only once unreferenced this long"
    )
    gc_schedule: ScheduleOut
    storage: StorageOut
    counts: CountsOut
    background_jobs: bool = Field(
        description="background jobs and schedules run in the serving process (false: in "
        "`moorage worker` processes)"
    )


def metadata_out(database_url: str) -> MetadataOut:
    """The backend and where it is, from the URL without its credentials."""
    parts = urlsplit(database_url)
    backend = parts.scheme.split("+", 1)[0] or "unknown"
    if backend == "sqlite":
        return MetadataOut(backend=backend, location=parts.path.removeprefix("/") or ":memory:")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number: say nothing rather than fail
        port = ""
    host = parts.hostname or "localhost"
    return MetadataOut(backend=backend, location=f"{host}{port}{parts.path}")


def storage_driver_out(settings: Settings) -> StorageDriverOut:
    if settings.storage_driver == "s3":
        return StorageDriverOut(
            driver="s3",
            root=None,
            bucket=settings.s3_bucket,
            endpoint=settings.s3_endpoint_url,
            region=settings.s3_region,
            prefix=settings.s3_prefix or None,
        )
    return StorageDriverOut(
        driver="filesystem",
        root=str(settings.blob_root.resolve()),
        bucket=None,
        endpoint=None,
        region=None,
        prefix=None,
    )


def counts_out(services: RestServices) -> CountsOut:
    return CountsOut(
        registries=len(services.registries.list()),
        projects=len(services.identities.list_projects()),
        users=len(services.identities.list_users()),
    )


@router.get("/deployment", name="get_deployment", response_model=DeploymentOut)
def get_deployment(
    services: Annotated[DeploymentServices, Depends(deployment_services)],
    security: Security,
    caller: Caller,
) -> DeploymentOut:
    """The deployment at a glance, for system administrators: version, region, metadata
    backend, storage driver, hosts, authentication, token and upload lifetimes, the
    garbage-collection grace window and schedule, stored bytes, how many registries,
    projects and users there are, and whether this process runs background jobs. No
    secret from the settings is ever part of it."""
    security.require_admin(caller)
    settings = services.settings
    return DeploymentOut(
        version=__version__,
        region=settings.region,
        metadata=metadata_out(settings.effective_database_url),
        storage_driver=storage_driver_out(settings),
        public_host=settings.public_host,
        private_host=settings.private_host,
        auth=settings.auth,
        token_lifetime_minutes=settings.token_lifetime_minutes,
        upload_expiry_hours=settings.upload_expiry_hours,
        gc_grace_seconds=settings.gc_grace_seconds,
        gc_schedule=schedule_out(services.gc.get_schedule()),
        storage=storage_out(services.gc.storage_totals()),
        counts=counts_out(services),
        background_jobs=settings.run_jobs,
    )
