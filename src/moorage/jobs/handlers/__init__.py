"""The job kinds moorage runs: each kind's spec bound to the domain service doing the work.

One module per capability declares its kinds — spec, handler and, for periodic work, the
cron schedule it is queued on:

| kind                | queued by                                      | module         |
|---------------------|------------------------------------------------|----------------|
| `cleanup_run`       | a cleanup run, manual or cron                  | cleanup.py     |
| `gc_run`            | a GC run, manual or cron                       | gc.py          |
| `webhook_delivery`  | an event a webhook subscribes to               | webhooks.py    |
| `webhook_log_purge` | the system schedule, hourly                    | webhooks.py    |
| `upload_expiry`     | the system schedule, hourly                    | uploads.py     |
| `audit_log_purge`   | the system schedule, daily                     | audit.py       |
| `replication_run`   | a replication run, manual or cron              | replication.py |
| `replication_event` | a pushed tag a replication rule selects        | replication.py |
| `replication_check` | a replication rule created, its remote changed | replication.py |
"""

from __future__ import annotations

from moorage.jobs.catalog import JobCatalog
from moorage.jobs.handlers import audit, cleanup, gc, replication, uploads, webhooks
from moorage.jobs.services import JobServices


def build_catalog(services: JobServices) -> JobCatalog:
    settings = services.settings
    catalog = JobCatalog()
    for kind in (
        cleanup.run(services.cleanup_runs, services.audit),
        gc.run(services.gc, services.audit, services.blocking),
        webhooks.delivery(services.webhooks, settings.webhook_retry_base_seconds),
        webhooks.log_purge(services.webhooks),
        uploads.expiry(services.uploads, settings.upload_expiry_hours),
        audit.purge(services.audit, settings.audit_retention_days),
        replication.run(services.replication_runs),
        replication.event(services.replication_runs),
        replication.check(services.replication_runs),
    ):
        catalog.register(kind)
    return catalog
