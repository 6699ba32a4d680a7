"""Webhooks, events and deliveries in the metadata store, and the outbox built on them, on
SQLite, PostgreSQL and the in-memory fakes (`tests.fakes`): events are written in the
transaction of their change, one delivery and one job per subscribed webhook, attempts
recorded by compare-and-swap, nothing sent twice after a success."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Table, func, select

from moorage.domain.content.artifacts import ArtifactService, PullRecorder
from moorage.domain.content.registries import DEFAULT_PROJECT
from moorage.domain.kernel.errors import Conflict, ManifestBlobUnknown
from moorage.domain.kernel.model import DeliveryAttempt, Event, Image, Registry, Webhook
from moorage.domain.policies.runs import CleanupRunService
from moorage.domain.ports import Transaction, UnitOfWorkFactory
from moorage.domain.webhooks.errors import (
    DeliveryFailed,
    InvalidWebhook,
    RefusedAddress,
    WebhookNotFound,
)
from moorage.domain.webhooks.events import JOB_KIND, MAX_ATTEMPTS, record_event
from moorage.domain.webhooks.payloads import EventType
from moorage.domain.webhooks.ports import OutboundRequest, OutboundResponse
from moorage.domain.webhooks.subscriptions import EVENT_RETENTION, WebhookService, WebhookSpec
from moorage.metadata import tables as t
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from tests.contract.backends import Database, MemoryDatabase

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CONFIG = b'{"architecture":"amd64","os":"linux"}'
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


def rows(db: Database, table: Table) -> list[Any]:
    """Every row of a table as stored, by id (SQL: read past the store; memory: the state's)."""
    if isinstance(db, MemoryDatabase):
        with db.uow() as store:
            found = store.state.table(table.name).values()
            return [SimpleNamespace(**row) for row in sorted(found, key=lambda row: row["id"])]
    with db.engine.connect() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)))


def row_count(db: Database, table: Table) -> int:
    if isinstance(db, MemoryDatabase):
        with db.uow() as store:
            return len(store.state.table(table.name))
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class FakeSender:
    """Records requests; answers from `answers` (then 200); refuses hosts named `inside`."""

    answers: list[OutboundResponse] = field(default_factory=list)
    sent: list[OutboundRequest] = field(default_factory=list)

    def check_address(self, url: str) -> None:
        if "inside" in url:
            raise RefusedAddress("inside is a private address")

    async def post(self, request: OutboundRequest) -> OutboundResponse:
        self.sent.append(request)
        return self.answers.pop(0) if self.answers else OutboundResponse(200, None, 3)


@dataclass
class Env:
    db: Database
    clock: Clock
    sender: FakeSender
    webhooks: WebhookService
    artifacts: ArtifactService

    def count(self, table: Table) -> int:
        return row_count(self.db, table)

    def jobs(self) -> list[Any]:
        return rows(self.db, t.job)


@pytest.fixture
def env(db: Database) -> Env:
    clock, sender = Clock(), FakeSender()
    with db.uow(write=True) as store:
        create_registry(store, "reg")
        create_registry(store, "other")
    return Env(
        db,
        clock,
        sender,
        WebhookService(db.uow, sender, public_host="reg.example.com", clock=clock),
        ArtifactService(db.uow, clock),
    )


# --- builders -----------------------------------------------------------------------------------


def create_registry(store: Transaction, name: str) -> Registry:
    project = store.projects.get_project(DEFAULT_PROJECT)
    assert project is not None
    return store.registries.create_registry(name, project, T0)


def webhook_values(name: str = "ci", **changes: Any) -> dict[str, Any]:
    values = {
        "name": name,
        "kind": "http",
        "address": "https://ci.example.com/hook",
        "auth_header": "Bearer s3cret-token",
        "skip_tls_verify": False,
        "event_types": ["PUSH_ARTIFACT", "DELETE_ARTIFACT"],
        "payload_format": "default",
        "enabled": True,
    }
    return {**values, **changes}


def spec(name: str = "ci", **changes: Any) -> WebhookSpec:
    values: dict[str, Any] = {
        "name": name,
        "kind": "http",
        "address": "https://ci.example.com/hook",
        "event_types": ("PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "CLEANUP"),
        "auth_header": "Bearer s3cret-token",
    }
    return WebhookSpec(**{**values, **changes})


def registry_id(store: Transaction, name: str = "reg") -> int:
    found = store.registries.get_registry(name)
    assert found is not None
    return found.id


def an_event(registry: int, at: datetime = T0, event_id: str = "e1") -> Event:
    data = {"registry": "reg", "image": "app", "digest": "sha256:" + "0" * 64, "tags": ["v1"]}
    return Event(event_id, registry, "PUSH_ARTIFACT", at, "alice", data)


def attempt(number: int, status: int | None = 200, error: str | None = None) -> DeliveryAttempt:
    return DeliveryAttempt(number, T0 + timedelta(seconds=number), 12, status, error, error is None)


def link_config(env: Env, repository: str = "reg/app") -> None:
    """The config blob a test manifest references, linked to the image."""
    registry, name = repository.split("/", 1)
    with env.db.uow(write=True) as store:
        found = store.registries.get_registry(registry)
        assert found is not None
        image = store.images.ensure_image(found, name, T0)
        store.blobs.add_blob(str(Digest.of(CONFIG)), len(CONFIG), T0)
        store.blobs.link_blob(image.id, str(Digest.of(CONFIG)), T0)


def manifest(marker: str = "") -> bytes:
    config = {"mediaType": CONFIG_TYPE, "digest": str(Digest.of(CONFIG)), "size": len(CONFIG)}
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config,
        "layers": [],
        "annotations": {"marker": marker},
    }
    return json.dumps(doc).encode()


def get_image(env: Env, repository: str = "reg/app") -> Image:
    registry, name = repository.split("/", 1)
    with env.db.uow() as store:
        found = store.images.get_image(registry, name)
    assert found is not None
    return found


# --- the store: webhooks ------------------------------------------------------------------------


def test_webhooks_round_trip(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        reg = create_registry(store, "reg")
        first = store.webhooks.add_webhook(reg.id, webhook_values("ci"), T0)
        second = store.webhooks.add_webhook(reg.id, webhook_values("chat", kind="slack"), T0)
    with uow() as store:
        found = store.webhooks.list_webhooks(reg.id)
        one = store.webhooks.get_webhook(first)
    assert [w.id for w in found] == [first, second]
    assert one == found[0]
    assert one is not None
    assert one.event_types == ("PUSH_ARTIFACT", "DELETE_ARTIFACT")
    assert one.auth_header == "Bearer s3cret-token"
    assert one.created_at == T0
    assert one.created_at.tzinfo is not None


def test_webhook_names_are_unique_per_registry(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        reg, other = create_registry(store, "reg"), create_registry(store, "other")
        store.webhooks.add_webhook(reg.id, webhook_values("ci"), T0)
        with pytest.raises(Conflict):
            store.webhooks.add_webhook(reg.id, webhook_values("ci"), T0)
        store.webhooks.add_webhook(other.id, webhook_values("ci"), T0)  # the transaction goes on
        second = store.webhooks.add_webhook(reg.id, webhook_values("chat"), T0)
        with pytest.raises(Conflict):
            store.webhooks.update_webhook(second, webhook_values("ci"), T0)
        assert store.webhooks.update_webhook(
            second, webhook_values("chat", enabled=False), T0 + timedelta(1)
        )
    with uow() as store:
        changed = store.webhooks.get_webhook(second)
        assert changed is not None
        assert not changed.enabled
        assert changed.updated_at == T0 + timedelta(1)
        assert len(store.webhooks.list_webhooks(reg.id)) == 2


def test_deleting_a_webhook_takes_its_deliveries_and_attempts(db: Database) -> None:
    with db.uow(write=True) as store:
        reg = create_registry(store, "reg")
        hook = store.webhooks.add_webhook(reg.id, webhook_values(), T0)
        store.outbox.add_event(an_event(reg.id))
        delivery = store.outbox.add_delivery(hook, an_event(reg.id), 8, T0)
        store.outbox.record_delivery_attempt(delivery, attempt(1), "succeeded", None)
    with db.uow(write=True) as store:
        assert store.webhooks.delete_webhook(hook)
        assert not store.webhooks.delete_webhook(hook)
        assert store.outbox.get_delivery(delivery) is None
    assert row_count(db, t.webhook_attempt) == 0


def test_deleting_a_registry_takes_its_webhooks_and_events(db: Database) -> None:
    with db.uow(write=True) as store:
        reg = create_registry(store, "reg")
        hook = store.webhooks.add_webhook(reg.id, webhook_values(), T0)
        store.outbox.add_event(an_event(reg.id))
        store.outbox.add_delivery(hook, an_event(reg.id), 8, T0)
    with db.uow(write=True) as store:
        store.registries.delete_registry(reg.id)
    with db.uow() as store:
        assert store.webhooks.get_webhook(hook) is None
        assert store.outbox.get_event("e1") is None


# --- the store: events and deliveries ------------------------------------------------------------


def test_events_round_trip_in_utc(uow: UnitOfWorkFactory) -> None:
    kst = timezone_kst()
    with uow(write=True) as store:
        reg = create_registry(store, "reg")
        store.outbox.add_event(an_event(reg.id, at=T0.astimezone(kst)))
    with uow() as store:
        found = store.outbox.get_event("e1")
        assert store.outbox.get_event("nope") is None
    assert found == an_event(reg.id)
    assert found is not None
    assert found.occurred_at.utcoffset() == timedelta(0)


def timezone_kst() -> timezone:
    return timezone(timedelta(hours=9))


def test_a_delivery_body_is_frozen_at_the_first_attempt(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        reg = create_registry(store, "reg")
        hook = store.webhooks.add_webhook(reg.id, webhook_values(), T0)
        store.outbox.add_event(an_event(reg.id))
        delivery = store.outbox.add_delivery(hook, an_event(reg.id), 8, T0)
        store.outbox.set_delivery_body(delivery, '{"a":1}', "application/json")
        store.outbox.set_delivery_body(delivery, '{"b":2}', "text/plain")
        found = store.outbox.get_delivery(delivery)
    assert found is not None
    assert (found.body, found.content_type) == ('{"a":1}', "application/json")
    assert (found.status, found.attempts, found.max_attempts) == ("pending", 0, 8)
    assert found.event_type == "PUSH_ARTIFACT"


def test_attempts_are_recorded_while_pending_only(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        reg = create_registry(store, "reg")
        hook = store.webhooks.add_webhook(reg.id, webhook_values(), T0)
        store.outbox.add_event(an_event(reg.id))
        delivery = store.outbox.add_delivery(hook, an_event(reg.id), 8, T0)
        assert store.outbox.record_delivery_attempt(
            delivery, attempt(1, 503, "HTTP 503"), "pending", "HTTP 503"
        )
        assert store.outbox.record_delivery_attempt(delivery, attempt(2), "succeeded", None)
        # another worker that sent it too finds it finished: nothing changes
        assert not store.outbox.record_delivery_attempt(delivery, attempt(2), "succeeded", None)
        found = store.outbox.get_delivery(delivery)
        attempts = store.outbox.delivery_attempts([delivery])[delivery]
    assert found is not None
    assert (found.status, found.attempts, found.last_status_code) == ("succeeded", 2, 200)
    assert found.last_error is None
    assert found.delivered_at == T0 + timedelta(seconds=2)
    assert [(a.number, a.status_code, a.succeeded) for a in attempts] == [
        (1, 503, False),
        (2, 200, True),
    ]


def test_deliveries_are_listed_newest_first_by_page_and_status(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        reg = create_registry(store, "reg")
        hook = store.webhooks.add_webhook(reg.id, webhook_values(), T0)
        other = store.webhooks.add_webhook(reg.id, webhook_values("other"), T0)
        ids = []
        for n in range(5):
            event = an_event(reg.id, event_id=f"e{n}")
            store.outbox.add_event(event)
            ids.append(store.outbox.add_delivery(hook, event, 8, T0))
            store.outbox.add_delivery(other, event, 8, T0)
        store.outbox.record_delivery_attempt(ids[1], attempt(1), "succeeded", None)
        store.outbox.record_delivery_attempt(ids[3], None, "skipped", "disabled")
    with uow() as store:
        first, total = store.outbox.list_deliveries(hook, None, 0, 2)
        rest, _ = store.outbox.list_deliveries(hook, None, 2, 10)
        done, done_total = store.outbox.list_deliveries(hook, "succeeded", 0, 10)
        skipped, _ = store.outbox.list_deliveries(hook, "skipped", 0, 10)
        assert store.outbox.delivery_attempts([]) == {}
    assert total == 5
    assert [d.id for d in first + rest] == sorted(ids, reverse=True)
    assert ([d.id for d in done], done_total) == ([ids[1]], 1)
    assert skipped[0].last_error == "disabled"
    assert skipped[0].attempts == 0


def test_old_finished_events_are_purged(db: Database) -> None:
    old, recent = T0 - timedelta(days=40), T0
    with db.uow(write=True) as store:
        reg = create_registry(store, "reg")
        hook = store.webhooks.add_webhook(reg.id, webhook_values(), T0)
        for event_id, at, status in (
            ("old-done", old, "succeeded"),
            ("old-waiting", old, "pending"),
            ("new-done", recent, "succeeded"),
        ):
            event = an_event(reg.id, at, event_id)
            store.outbox.add_event(event)
            delivery = store.outbox.add_delivery(hook, event, 8, at)
            if status != "pending":
                store.outbox.record_delivery_attempt(delivery, attempt(1), status, None)
        store.outbox.add_event(an_event(reg.id, old, "old-no-delivery"))
    with db.uow(write=True) as store:
        assert store.outbox.purge_events(T0 - timedelta(days=30)) == 2
    with db.uow() as store:
        assert store.outbox.get_event("old-done") is None
        assert store.outbox.get_event("old-no-delivery") is None
        assert store.outbox.get_event("old-waiting") is not None
        assert store.outbox.get_event("new-done") is not None
        assert len(store.outbox.list_deliveries(hook, None, 0, 10)[0]) == 2


# --- the outbox ---------------------------------------------------------------------------------


def test_nothing_is_stored_when_no_webhook_listens(env: Env) -> None:
    env.webhooks.create("reg", spec(event_types=("PULL_ARTIFACT",)))
    env.webhooks.create("reg", spec("off", enabled=False))
    with env.db.uow(write=True) as store:
        assert record_event(store, registry_id(store), EventType.PUSH_ARTIFACT, "a", {}, T0) is None
    assert env.count(t.event) == 0
    assert env.jobs() == []


def test_an_event_gets_a_delivery_and_a_job_per_subscribed_webhook(env: Env) -> None:
    first = env.webhooks.create("reg", spec("one"))
    second = env.webhooks.create("reg", spec("two", event_types=("PUSH_ARTIFACT",)))
    env.webhooks.create("reg", spec("pulls", event_types=("PULL_ARTIFACT",)))
    env.webhooks.create("other", spec("elsewhere"))
    link_config(env)
    env.artifacts.put_manifest("reg/app", "v1", mt.OCI_MANIFEST, manifest(), "alice")
    with env.db.uow() as store:
        deliveries = {
            hook.id: store.outbox.list_deliveries(hook.id, None, 0, 10)[0]
            for hook in (first, second)
        }
        [event] = [store.outbox.get_event(d[0].event_id) for d in deliveries.values()][:1]
    assert all(len(d) == 1 for d in deliveries.values())
    assert event is not None
    assert (event.type, event.operator) == ("PUSH_ARTIFACT", "alice")
    assert event.data["tag"] == "v1"
    assert event.data["image"] == "app"
    jobs = env.jobs()
    assert [j.kind for j in jobs] == [JOB_KIND, JOB_KIND]
    assert {j.payload["delivery_id"] for j in jobs} == {d[0].id for d in deliveries.values()}
    assert {j.dedupe_key for j in jobs} == {f"{JOB_KIND}:{d[0].id}" for d in deliveries.values()}
    assert all(j.max_attempts == MAX_ATTEMPTS + 2 for j in jobs)


def test_a_failed_push_leaves_no_event(env: Env) -> None:
    env.webhooks.create("reg", spec())
    with pytest.raises(ManifestBlobUnknown):  # the config blob is not linked
        env.artifacts.put_manifest("reg/app", "v1", mt.OCI_MANIFEST, manifest(), "alice")
    assert env.count(t.event) == 0
    assert env.jobs() == []


def test_deletes_are_events_with_the_tags_they_took(env: Env) -> None:
    hook = env.webhooks.create("reg", spec())
    link_config(env)
    pushed = env.artifacts.put_manifest("reg/app", "v1", mt.OCI_MANIFEST, manifest(), "alice")
    env.artifacts.tag_artifact("reg/app", "v1", "stable")
    env.artifacts.delete_manifest("reg/app", "stable", "bob")  # a tag only
    env.artifacts.delete_artifacts("reg/app", [pushed.digest], "carol")
    env.artifacts.put_manifest("reg/app", "v2", mt.OCI_MANIFEST, manifest("2"), "alice")
    env.artifacts.delete_images("reg", ["app"], "dave")
    with env.db.uow() as store:
        deliveries, _ = store.outbox.list_deliveries(hook.id, None, 0, 10)
        events = [store.outbox.get_event(d.event_id) for d in reversed(deliveries)]
    summary = [(e.type, e.operator, e.data["tags"]) for e in events if e is not None]
    assert summary == [
        ("PUSH_ARTIFACT", "alice", ["v1"]),
        ("DELETE_ARTIFACT", "bob", ["stable"]),
        ("DELETE_ARTIFACT", "carol", ["v1"]),
        ("PUSH_ARTIFACT", "alice", ["v2"]),
        ("DELETE_ARTIFACT", "dave", ["v2"]),
    ]


def test_every_pull_is_one_event_written_by_the_flush(env: Env) -> None:
    hook = env.webhooks.create("reg", spec())
    link_config(env)
    pushed = env.artifacts.put_manifest("reg/app", "v1", mt.OCI_MANIFEST, manifest(), "alice")
    image, head = get_image(env), env.artifacts.get_manifest("reg/app", "v1", with_body=False).head
    recorder = PullRecorder(env.db.uow, env.clock)
    for who in ("bob", "bob", None):
        recorder.record(
            image.id, head.id, "v1", repository="reg/app", digest=pushed.digest, operator=who
        )
    recorder.record(image.id, head.id, None, repository="reg/app", digest=pushed.digest)
    assert env.count(t.event) == 1  # the push: pulls wait for the flush
    assert recorder.flush() == 2  # pull times are merged per artifact and tag
    with env.db.uow() as store:
        deliveries, total = store.outbox.list_deliveries(hook.id, None, 0, 10)
        pulls = [store.outbox.get_event(d.event_id) for d in reversed(deliveries)][1:]
    assert total == 5
    assert [(e.operator, e.data["tag"]) for e in pulls if e is not None] == [
        ("bob", "v1"),
        ("bob", "v1"),
        (None, "v1"),
        (None, None),
    ]


def test_pull_events_wait_in_a_bounded_list(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    env.webhooks.create("reg", spec())
    link_config(env)
    pushed = env.artifacts.put_manifest("reg/app", "v1", mt.OCI_MANIFEST, manifest(), "alice")
    image = get_image(env)
    recorder = PullRecorder(env.db.uow, env.clock, max_events=3)
    for _ in range(5):
        recorder.record(image.id, 1, "v1", repository="reg/app", digest=pushed.digest)
    recorder.flush()
    assert env.count(t.event) == 1 + 3
    assert "pull events dropped count=2" in caplog.text


def test_dropped_pulls_nobody_listens_to_are_not_logged(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """Under heavy pulls the list fills every second; a warning then would only say that
    events nobody subscribed to were not kept."""
    env.webhooks.create("reg", spec(event_types=("PUSH_ARTIFACT",)))
    link_config(env)
    pushed = env.artifacts.put_manifest("reg/app", "v1", mt.OCI_MANIFEST, manifest(), "alice")
    recorder = PullRecorder(env.db.uow, env.clock, max_events=3)
    for _ in range(5):
        recorder.record(get_image(env).id, 1, "v1", repository="reg/app", digest=pushed.digest)
    recorder.flush()
    assert env.count(t.event) == 1
    assert "pull events dropped" not in caplog.text


def test_a_failed_flush_keeps_its_pulls_and_the_dropped_count(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.webhooks.create("reg", spec())
    link_config(env)
    pushed = env.artifacts.put_manifest("reg/app", "v1", mt.OCI_MANIFEST, manifest(), "alice")
    database_down = True

    def uow(*, write: bool = False, wait: bool = True) -> Any:
        if database_down:
            raise OSError("database unreachable")
        return env.db.uow(write=write, wait=wait)

    recorder = PullRecorder(uow, env.clock, max_events=3)  # type: ignore[arg-type]
    for _ in range(5):
        recorder.record(get_image(env).id, 1, "v1", repository="reg/app", digest=pushed.digest)
    with pytest.raises(OSError, match="unreachable"):
        recorder.flush()
    assert "pull events dropped" not in caplog.text
    database_down = False
    recorder.flush()
    assert env.count(t.event) == 1 + 3
    assert "pull events dropped count=2" in caplog.text


def test_pulls_without_listeners_store_no_event(env: Env) -> None:
    env.webhooks.create("reg", spec(event_types=("PUSH_ARTIFACT",)))
    link_config(env)
    pushed = env.artifacts.put_manifest("reg/app", "v1", mt.OCI_MANIFEST, manifest(), "alice")
    recorder = PullRecorder(env.db.uow, env.clock)
    recorder.record(get_image(env).id, 1, "v1", repository="reg/app", digest=pushed.digest)
    recorder.flush()
    assert env.count(t.event) == 1


def test_a_real_cleanup_run_ends_with_an_event_and_a_test_run_does_not(env: Env) -> None:
    hook = env.webhooks.create("reg", spec(event_types=("CLEANUP",)))
    runs = CleanupRunService(env.db.uow, env.artifacts, env.clock)
    dry = runs.start("reg", dry_run=True, enqueue=False)
    runs.run(dry.id)
    real = runs.start("reg", dry_run=False, enqueue=False)
    runs.run(real.id)
    with env.db.uow() as store:
        [delivery], _ = store.outbox.list_deliveries(hook.id, None, 0, 10)
        event = store.outbox.get_event(delivery.event_id)
    assert event is not None
    assert (event.type, event.operator) == ("CLEANUP", "manual")
    assert event.data["execution_id"] == real.id
    assert event.data["status"] == "succeeded"
    assert event.data["counts"]["deleted"] == 0


# --- delivering ---------------------------------------------------------------------------------


def queued_push(env: Env, **changes: Any) -> tuple[Webhook, int]:
    hook = env.webhooks.create("reg", spec(**changes))
    link_config(env)
    env.artifacts.put_manifest("reg/app", "v1", mt.OCI_MANIFEST, manifest(), "alice")
    with env.db.uow() as store:
        [delivery], _ = store.outbox.list_deliveries(hook.id, None, 0, 10)
    return hook, delivery.id


@pytest.mark.anyio
async def test_a_delivery_is_sent_once_with_its_headers(env: Env) -> None:
    hook, delivery_id = queued_push(env)
    done = await env.webhooks.deliverer.deliver(delivery_id)
    again = await env.webhooks.deliverer.deliver(delivery_id)  # a re-claimed job
    assert done is not None
    assert again == done
    assert (done.status, done.attempts, done.last_status_code) == ("succeeded", 1, 200)
    [sent] = env.sender.sent
    assert sent.url == hook.address
    assert sent.verify_tls
    assert sent.headers["Authorization"] == "Bearer s3cret-token"
    assert sent.headers["Idempotency-Key"] == f"{done.event_id}-{hook.id}"
    assert sent.headers["X-Moorage-Delivery"] == str(delivery_id)
    assert sent.headers["Content-Type"] == "application/json"
    body = json.loads(sent.body)
    assert body["type"] == "PUSH_ARTIFACT"
    assert body["event_data"]["resources"][0]["resource_url"] == "reg.example.com/reg/app:v1"
    assert done.body == sent.body.decode()


@pytest.mark.anyio
async def test_failures_are_retried_with_the_same_body_until_attempts_run_out(env: Env) -> None:
    _, delivery_id = queued_push(env)
    failure = OutboundResponse(500, "HTTP 500: boom", 4)
    env.sender.answers = [failure] * MAX_ATTEMPTS
    for number in range(1, MAX_ATTEMPTS):
        with pytest.raises(DeliveryFailed, match=f"attempt {number} failed: HTTP 500"):
            await env.webhooks.deliverer.deliver(delivery_id)
    done = await env.webhooks.deliverer.deliver(delivery_id)  # the last: no retry asked
    assert done is not None
    assert (done.status, done.attempts, done.last_error) == (
        "failed",
        MAX_ATTEMPTS,
        "HTTP 500: boom",
    )
    assert len({request.body for request in env.sender.sent}) == 1
    detail = env.webhooks.deliveries("reg", done.webhook_id, 1, 10).items[0]
    assert [a.number for a in detail.attempts] == list(range(1, MAX_ATTEMPTS + 1))


@pytest.mark.anyio
async def test_a_refused_address_fails_at_once(env: Env) -> None:
    _, delivery_id = queued_push(env)
    env.sender.answers = [OutboundResponse(None, "refused: private", 0, refused=True)]
    done = await env.webhooks.deliverer.deliver(delivery_id)
    assert done is not None
    assert (done.status, done.attempts) == ("failed", 1)


@pytest.mark.anyio
async def test_deliveries_of_a_disabled_webhook_are_skipped(env: Env) -> None:
    hook, delivery_id = queued_push(env)
    env.webhooks.update("reg", hook.id, spec(enabled=False))
    done = await env.webhooks.deliverer.deliver(delivery_id)
    assert done is not None
    assert (done.status, done.attempts) == ("skipped", 0)
    assert env.sender.sent == []


@pytest.mark.anyio
async def test_a_deleted_webhooks_delivery_job_ends_quietly(env: Env) -> None:
    hook, delivery_id = queued_push(env)
    env.webhooks.delete("reg", hook.id)
    assert await env.webhooks.deliverer.deliver(delivery_id) is None
    assert env.sender.sent == []


@pytest.mark.anyio
async def test_the_test_action_sends_a_sample_now_and_records_it(env: Env) -> None:
    hook = env.webhooks.create("reg", spec(event_types=("CLEANUP",), enabled=False))
    detail = await env.webhooks.test("reg", hook.id, "alice")
    assert (detail.delivery.status, detail.delivery.max_attempts) == ("succeeded", 1)
    assert [a.status_code for a in detail.attempts] == [200]
    assert json.loads(env.sender.sent[0].body)["type"] == "TAG_RETENTION"
    assert env.jobs() == []  # sent now, not queued
    env.sender.answers = [OutboundResponse(None, "ConnectError: refused", 2)]
    failed = await env.webhooks.test("reg", hook.id, "alice")
    assert (failed.delivery.status, failed.delivery.last_error) == (
        "failed",
        "ConnectError: refused",
    )
    assert env.webhooks.deliveries("reg", hook.id, 1, 10).total == 2


# --- the service --------------------------------------------------------------------------------


def test_the_service_validates_and_checks_addresses(env: Env) -> None:
    with pytest.raises(RefusedAddress):
        env.webhooks.create("reg", spec(address="http://inside/hook"))
    with pytest.raises(InvalidWebhook, match="credentials"):
        env.webhooks.create("reg", spec(address="https://u:p@ci.example.com/"))
    created = env.webhooks.create("reg", spec())
    with pytest.raises(Conflict):
        env.webhooks.create("reg", spec())
    with pytest.raises(WebhookNotFound):
        env.webhooks.get("other", created.id)  # not this registry's
    with pytest.raises(RefusedAddress):
        env.webhooks.update("reg", created.id, spec(address="http://inside/x"))
    assert env.webhooks.webhooks("reg") == [created]


def test_updates_keep_the_auth_header_unless_told(env: Env) -> None:
    created = env.webhooks.create("reg", spec())
    env.clock.now = T0 + timedelta(minutes=1)
    kept = env.webhooks.update("reg", created.id, spec(auth_header=None, name="renamed"))
    assert (kept.name, kept.auth_header, kept.updated_at) == (
        "renamed",
        "Bearer s3cret-token",
        env.clock.now,
    )
    cleared = env.webhooks.update("reg", created.id, spec(auth_header=""))
    assert cleared.auth_header is None


def test_purge_keeps_a_month(env: Env) -> None:
    with env.db.uow(write=True) as store:
        store.outbox.add_event(an_event(registry_id(store), T0 - EVENT_RETENTION - timedelta(1)))
    assert env.webhooks.purge() == 1
