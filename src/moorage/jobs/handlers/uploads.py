"""Upload expiry: sessions untouched for `upload_expiry_hours` are thrown away, hourly."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from moorage.domain.content.uploads import UploadService
from moorage.domain.jobs.specs import JobSpec
from moorage.jobs.catalog import JobKind

log = logging.getLogger("moorage.jobs")

EXPIRY = JobSpec(
    "upload_expiry",
    max_attempts=3,
    timeout_seconds=900,
    backoff_base_seconds=60,
    dedupe_on=(),  # one at a time
)
EXPIRY_CRON = "0 * * * *"


def expiry(uploads: UploadService, expiry_hours: float) -> JobKind:
    max_age = timedelta(hours=expiry_hours)

    async def handle(payload: dict[str, Any]) -> None:
        purged = await uploads.purge_expired(max_age)
        if purged:
            log.info("expired uploads purged count=%d", purged)

    return JobKind(EXPIRY, handle, every=EXPIRY_CRON)
