"""Automatic replication: each tag pushed into a registry queues a copy for every enabled
push rule of that registry triggered by events whose filters select it, in the pushing
transaction (so an answered push always has its copy queued, and a rolled-back one none).

Bursts are coalesced per rule and tag: the job waits `EVENT_DELAY` and names the rule,
image and tag, not the digest, so pushes queued before it starts share it, and the copy
reads the tag's digest when it runs. The queue lets a job of the same tag be queued again
once the first has started (`dedupe_while_running=False`): a push that lands during a copy
gets a copy of its own.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from moorage.domain.jobs.specs import JobSpec
from moorage.domain.replication import rules
from moorage.domain.replication.ports import ReplicationTx

EVENT_DELAY = timedelta(seconds=2)
EVENT_JOB = JobSpec(
    "replication_event",
    max_attempts=5,
    timeout_seconds=6 * 3600,
    backoff_base_seconds=10,
    dedupe_on=("rule_id", "key"),
    dedupe_while_running=False,
)
"""A copy of one pushed tag (payload: rule_id, repository, tag, key); the handler is
`ReplicationRunner.run_event`."""


def tag_key(repository: str, tag: str) -> str:
    """A short stand-in for (image, tag) in the job's dedupe key (a key holds 255
    characters; an image name alone may)."""
    return hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()[:32]


def queue_pushed_tag(
    store: ReplicationTx, registry_id: int, repository: str, tag: str, now: datetime
) -> int:
    """Queue the copies a pushed tag asks for, in the caller's transaction; returns how many
    rules asked (a copy already queued for the same rule and tag is shared)."""
    matching = [
        rule
        for rule in store.replication.event_rules(registry_id)
        if rules.selects(rule, repository, tag)
    ]
    for rule in matching:
        payload = {
            "rule_id": rule.id,
            "repository": repository,
            "tag": tag,
            "key": tag_key(repository, tag),
        }
        EVENT_JOB.enqueue(store.jobs, payload, now, available_at=now + EVENT_DELAY)
    return len(matching)
