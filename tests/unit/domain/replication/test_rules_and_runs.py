"""Replication rules, checks, runs and push triggers over the in-memory store, with
registries in memory on both sides and the real copy engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.content.ports import ContentTx
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import UploadService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.errors import Conflict, InvalidParameter, NotFound, RefusedAddress
from moorage.domain.replication.copy import copy_artifact
from moorage.domain.replication.endpoints import Endpoint
from moorage.domain.replication.errors import RuleNameTaken, RunActive
from moorage.domain.replication.model import Filter, RuleDraft
from moorage.domain.replication.ports import CopyArtifact, CopyLog
from moorage.domain.replication.runs import (
    CHECK_JOB,
    KIND,
    RUN_JOB,
    ReplicationRunner,
)
from moorage.domain.replication.service import ReplicationService
from moorage.domain.replication.triggers import EVENT_DELAY, EVENT_JOB, queue_pushed_tag
from moorage.oci import mediatypes as mt
from moorage.storage.memory import MemoryBlobStore
from tests.fakes.endpoints import MemoryEndpoint
from tests.fakes.memory import MemoryUnitOfWork, migrated_memory_uow
from tests.fakes.replication import MemoryEndpoints, PlainSecretBox
from tests.unit.domain.test_services import Env, FixedClock, pushed_image, put

pytestmark = pytest.mark.anyio

EVENT_JOB_LIMIT = timedelta(seconds=EVENT_JOB.timeout_seconds + 1)

URL = "https://registry.jp1.example.com"
PASSWORD = "s3cret"


def draft(**changes: Any) -> RuleDraft:
    base = RuleDraft(
        name="to-jp1",
        direction="push",
        url=URL,
        remote_registry="team",
        username="robot",
        password=PASSWORD,
        verify_tls=True,
        image_filter=Filter(),
        tag_filter=Filter(),
        trigger="manual",
        cron=None,
        override=True,
        enabled=True,
    )
    return replace(base, **changes)


def image(endpoint: MemoryEndpoint, repo: str, tag: str, text: str) -> str:
    """An image with a config and a layer of its own under `repo:tag`; its digest."""
    config = endpoint.add_blob(repo, f'{{"note":"{text}"}}'.encode())
    layer = endpoint.add_blob(repo, f"layer {text}".encode())
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {**config, "mediaType": "application/vnd.oci.image.config.v1+json"},
        "layers": [layer],
    }
    return endpoint.add_manifest(repo, doc, tag).digest


@dataclass
class World:
    uow: MemoryUnitOfWork
    clock: FixedClock
    endpoints: MemoryEndpoints
    runner: ReplicationRunner
    service: ReplicationService
    copies: list[str]

    @property
    def local(self) -> MemoryEndpoint:
        return self.endpoints.local("reg")

    @property
    def remote(self) -> MemoryEndpoint:
        return self.endpoints.remotes[URL]

    def jobs(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.uow.state.table("job").values() if r["kind"] == kind]

    def events(self) -> list[dict[str, Any]]:
        return [r for r in self.uow.state.table("event").values() if r["type"] == "REPLICATION"]

    def subscribe(self) -> None:
        with self.uow(write=True) as store:
            registry = store.registries.get_registry("reg")
            assert registry is not None
            store.webhooks.add_webhook(
                registry.id,
                {
                    "name": "hook",
                    "kind": "http",
                    "address": "https://hooks.example.com/x",
                    "auth_header": None,
                    "skip_tls_verify": False,
                    "event_types": ["REPLICATION"],
                    "payload_format": "default",
                    "enabled": True,
                },
                self.clock(),
            )


CopyHook = Callable[[str, str], None]


def make_world(hook: list[CopyHook] | None = None) -> World:
    uow = migrated_memory_uow()
    clock = FixedClock()
    RegistryService(uow, clock).create("reg")
    endpoints = MemoryEndpoints(remotes={URL: MemoryEndpoint()}, auth={URL: PASSWORD})
    box = PlainSecretBox()
    blocking = Blocking()
    copies: list[str] = []

    def copier() -> CopyArtifact:
        async def copy(
            source: Endpoint,
            destination: Endpoint,
            source_repo: str,
            destination_repo: str,
            reference: str,
            *,
            override: bool,
            log: CopyLog,
        ) -> Any:
            copies.append(f"{source_repo}:{reference}")
            for each in hook or []:
                each(source_repo, reference)
            return await copy_artifact(
                source,
                destination,
                source_repo,
                destination_repo,
                reference,
                override=override,
                log=log,
            )

        return copy

    runner = ReplicationRunner(uow, endpoints, copier, box, blocking, clock)
    service = ReplicationService(uow, runner, box, blocking, clock)
    return World(uow, clock, endpoints, runner, service, copies)


@pytest.fixture
def world() -> World:
    return make_world()


# rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "x" * 64}, "name"),
        ({"url": "ftp://example.com"}, "remote.url"),
        ({"url": "https://"}, "remote.url"),
        ({"url": "https://user:pw@example.com"}, "remote.url"),
        ({"url": "https://example.com/?q=1"}, "remote.url"),
        ({"remote_registry": "Upper"}, "remote.registry"),
        ({"image_filter": Filter("{a", True)}, "filters.image.pattern"),
        ({"tag_filter": Filter("", True)}, "filters.tag.pattern"),
        ({"direction": "pull", "trigger": "event"}, "trigger"),
        ({"trigger": "schedule"}, "cron"),
        ({"trigger": "schedule", "cron": "61 * * * *"}, "cron"),
        ({"password": "p" * 4097}, "remote.password"),
    ],
)
async def test_an_invalid_rule_is_refused_naming_the_field(
    world: World, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        world.service.create_rule("reg", draft(**changes))
    assert refused.value.parameter == field
    assert world.service.list_rules("reg", 0, 10).total == 0


async def test_a_rule_starts_inactive_with_its_password_sealed_and_a_check_queued(
    world: World,
) -> None:
    rule = world.service.create_rule("reg", draft(url=URL + "/", remote_registry="/team/"))
    assert (rule.status, rule.last_error, rule.checked_at) == ("inactive", None, None)
    assert (rule.remote.url, rule.remote.registry) == (URL, "team")
    assert rule.remote.has_password
    with world.uow() as store:
        assert store.replication.rule_secret(rule.id) == PlainSecretBox().seal(PASSWORD)
    assert [j["payload"] for j in world.jobs(CHECK_JOB.kind)] == [{"rule_id": rule.id}]
    with pytest.raises(RuleNameTaken):
        world.service.create_rule("reg", draft())
    page = world.service.list_rules("reg", 0, 10)
    assert (page.total, [r.id for r in page.items]) == (1, [rule.id])
    with pytest.raises(NotFound):
        world.service.get_rule("reg", rule.id + 1)


async def test_refresh_makes_a_rule_active_or_says_why_not(world: World) -> None:
    rule = world.service.create_rule("reg", draft())
    checked = await world.service.refresh("reg", rule.id)
    assert (checked.status, checked.last_error) == ("active", None)
    assert checked.checked_at == world.clock()
    assert world.endpoints.passwords[-1] == PASSWORD

    wrong = world.service.update_rule("reg", rule.id, draft(password="nope"))
    assert wrong.status == "inactive", "a new password is checked again"
    refused = await world.service.refresh("reg", rule.id)
    assert refused.status == "inactive"
    assert refused.last_error is not None
    assert "refused" in refused.last_error

    gone = world.service.update_rule("reg", rule.id, draft(url="https://nowhere.example.com"))
    await world.runner.check(gone.id)
    after = world.service.get_rule("reg", rule.id)
    assert after.last_error is not None
    assert "cannot connect" in after.last_error
    assert world.endpoints.released == 2, "every endpoint built is let go"


async def test_an_update_keeps_the_password_unless_given_and_rechecks_only_a_new_remote(
    world: World,
) -> None:
    rule = world.service.create_rule("reg", draft())
    await world.service.refresh("reg", rule.id)
    checks = len(world.jobs(CHECK_JOB.kind))
    kept = world.service.update_rule("reg", rule.id, draft(password=None, override=False))
    assert (kept.status, kept.override, kept.remote.has_password) == ("active", False, True)
    assert len(world.jobs(CHECK_JOB.kind)) == checks, "same remote: no new check"
    cleared = world.service.update_rule("reg", rule.id, draft(password=""))
    assert (cleared.status, cleared.remote.has_password) == ("inactive", False)
    with world.uow() as store:
        assert store.replication.rule_secret(rule.id) is None


async def test_a_scheduled_rule_has_one_schedule_that_fires_runs(world: World) -> None:
    rule = world.service.create_rule("reg", draft(trigger="schedule", cron="0 3 * * *"))
    with world.uow() as store:
        schedule = store.schedules.get_schedule(KIND, str(rule.id))
    assert schedule is not None
    assert schedule.cron == "0 3 * * *"
    with world.uow(write=True) as store:
        world.runner.fire_schedule(store, schedule, world.clock())
        world.runner.fire_schedule(store, schedule, world.clock())  # one is pending still
    runs = world.service.list_runs("reg", rule.id, 0, 10)
    assert [(r.trigger, r.status) for r in runs.items] == [("schedule", "pending")]
    world.service.update_rule("reg", rule.id, draft(trigger="manual"))
    with world.uow() as store:
        assert store.schedules.get_schedule(KIND, str(rule.id)) is None


async def test_the_schedule_of_a_rule_deleted_with_its_registry_goes_when_it_fires(
    world: World,
) -> None:
    rule = world.service.create_rule("reg", draft(trigger="schedule", cron="0 3 * * *"))
    with world.uow(write=True) as store:
        store.registries.delete_registry(rule.registry_id)
        schedule = store.schedules.get_schedule(KIND, str(rule.id))
        assert schedule is not None
        world.runner.fire_schedule(store, schedule, world.clock())
        assert store.schedules.get_schedule(KIND, str(rule.id)) is None


# runs ----------------------------------------------------------------------------------------


async def test_a_manual_run_copies_what_the_filters_select_with_a_task_each(
    world: World,
) -> None:
    image(world.local, "app/web", "v1", "web v1")
    image(world.local, "app/web", "dev-1", "web dev")
    image(world.local, "app/api", "v1", "api v1")
    image(world.local, "tools", "v1", "tools")
    world.subscribe()
    rule = world.service.create_rule(
        "reg",
        draft(image_filter=Filter("app/**"), tag_filter=Filter("dev*", include=False)),
    )
    run = world.service.start_run("reg", rule.id, "alice")
    assert (run.status, run.trigger, run.rule_id) == ("pending", "manual", rule.id)
    with pytest.raises(RunActive):
        world.service.start_run("reg", rule.id, "alice")
    [job] = world.jobs(RUN_JOB.kind)
    await world.runner.run(job["payload"]["execution_id"])

    done = world.service.get_run("reg", run.id)
    assert done.status == "succeeded"
    assert {k: v for k, v in done.counts.items() if k != "bytes"} == {
        "total": 2,
        "succeeded": 2,
        "failed": 0,
        "skipped": 0,
        "in_progress": 0,
    }
    assert done.counts["bytes"] > 0
    assert sorted(world.remote.repos) == ["app/api", "app/web"]
    assert sorted(world.remote.repos["app/web"].tags) == ["v1"]
    tasks = world.service.list_tasks("reg", run.id, 0, 10)
    assert sorted(t.subject for t in tasks.items) == ["app/api:v1", "app/web:v1"]
    assert all(t.status == "succeeded" and t.lines for t in tasks.items)
    assert [t.subject for t in world.service.list_tasks("reg", run.id, 1, 1).items] == [
        tasks.items[1].subject
    ]
    [event] = world.events()
    assert event["data"]["replication"]["job_status"] == "succeeded"
    assert event["data"]["replication"]["policy_name"] == "to-jp1"

    again = world.service.start_run("reg", rule.id, None)
    await world.runner.run(again.id)
    repeat = world.service.get_run("reg", again.id)
    assert (repeat.counts["skipped"], repeat.counts["succeeded"]) == (2, 0)
    page = world.service.list_runs("reg", rule.id, 0, 10)
    assert [r.id for r in page.items] == [again.id, run.id]


async def test_a_run_restarted_after_its_worker_died_starts_over(world: World) -> None:
    image(world.local, "app", "v1", "one")
    image(world.local, "app", "v2", "two")
    rule = world.service.create_rule("reg", draft())
    run = world.service.start_run("reg", rule.id, None)
    await world.runner.run(run.id)
    with world.uow(write=True) as store:  # as if the worker died before recording the end
        store.executions.update_execution(run.id, status="running")
    await world.runner.run(run.id)
    done = world.service.get_run("reg", run.id)
    assert (done.status, done.counts["skipped"], done.counts["total"]) == ("succeeded", 2, 2)
    assert world.service.list_tasks("reg", run.id, 0, 10).total == 2


async def test_a_failed_artifact_fails_the_run_but_not_the_others(world: World) -> None:
    image(world.local, "app", "v1", "one")
    image(world.local, "app", "v2", "two")
    broken = next(iter(world.local.repos["app"].blobs))
    world.remote.failing_blobs.add(broken)
    rule = world.service.create_rule("reg", draft())
    run = world.service.start_run("reg", rule.id, None)
    await world.runner.run(run.id)
    done = world.service.get_run("reg", run.id)
    assert done.status == "failed"
    assert done.counts["failed"] >= 1
    assert done.counts["total"] == 2
    failed = [t for t in world.service.list_tasks("reg", run.id, 0, 10).items if t.error]
    assert failed
    assert "broke" in (failed[0].error or "")


async def test_an_unreachable_remote_fails_the_run_with_the_reason(world: World) -> None:
    rule = world.service.create_rule("reg", draft(url="https://nowhere.example.com"))
    run = world.service.start_run("reg", rule.id, None)
    await world.runner.run(run.id)
    done = world.service.get_run("reg", run.id)
    assert done.status == "failed"
    assert "cannot connect" in (done.error or "")


async def test_a_stopped_run_ends_between_artifacts() -> None:
    holder: list[World] = []

    def stop_after_first(repo: str, reference: str) -> None:
        w = holder[0]
        [run] = w.service.list_runs("reg", 1, 0, 1).items
        w.service.stop_run("reg", run.id)

    world = make_world([stop_after_first])
    holder.append(world)
    world.subscribe()
    for tag in ("v1", "v2", "v3"):
        image(world.local, "app", tag, tag)
    rule = world.service.create_rule("reg", draft())
    assert rule.id == 1
    run = world.service.start_run("reg", rule.id, None)
    await world.runner.run(run.id)
    done = world.service.get_run("reg", run.id)
    assert done.status == "stopped"
    assert done.finished_at is not None
    assert world.copies == ["app:v1"], "the artifact under way finished; no other began"
    assert [e["data"]["status"] for e in world.events()] == ["stopped"]


async def test_a_pending_run_stopped_never_starts(world: World) -> None:
    image(world.local, "app", "v1", "one")
    rule = world.service.create_rule("reg", draft())
    run = world.service.start_run("reg", rule.id, None)
    assert world.service.stop_run("reg", run.id).status == "stopped"
    await world.runner.run(run.id)
    assert world.copies == []
    assert world.service.stop_run("reg", run.id).status == "stopped", "a no-op once ended"
    with pytest.raises(NotFound):
        world.service.get_run("reg", run.id + 100)


async def test_a_pull_rule_copies_from_the_remote(world: World) -> None:
    image(world.remote, "base/os", "12", "debian")
    rule = world.service.create_rule("reg", draft(direction="pull"))
    run = world.service.start_run("reg", rule.id, None)
    await world.runner.run(run.id)
    assert world.service.get_run("reg", run.id).counts["succeeded"] == 1
    assert world.local.repos["base/os"].tags.keys() == {"12"}


async def test_deleting_a_rule_takes_its_history_but_waits_for_a_run(world: World) -> None:
    rule = world.service.create_rule("reg", draft(trigger="schedule", cron="0 * * * *"))
    run = world.service.start_run("reg", rule.id, None)
    with pytest.raises(Conflict):
        world.service.delete_rule("reg", rule.id)
    await world.runner.run(run.id)
    world.service.delete_rule("reg", rule.id)
    with pytest.raises(NotFound):
        world.service.get_rule("reg", rule.id)
    with pytest.raises(NotFound):
        world.service.get_run("reg", run.id)
    with world.uow() as store:
        assert store.schedules.get_schedule(KIND, str(rule.id)) is None


async def test_a_stale_password_key_is_reported_not_raised(world: World) -> None:
    rule = world.service.create_rule("reg", draft())
    with world.uow(write=True) as store:
        store.replication.update_rule(rule.id, {"secret": b"other key"}, world.clock())
    checked = await world.service.refresh("reg", rule.id)
    assert checked.status == "inactive"
    assert "secret key" in (checked.last_error or "")


# triggers ------------------------------------------------------------------------------------


def queue(world: World, repository: str, tag: str) -> int:
    with world.uow(write=True) as store:
        registry = store.registries.get_registry("reg")
        assert registry is not None
        return queue_pushed_tag(store, registry.id, repository, tag, world.clock())


async def test_a_push_queues_one_coalesced_copy_per_matching_event_rule(world: World) -> None:
    on_push = world.service.create_rule(
        "reg", draft(trigger="event", image_filter=Filter("app"), tag_filter=Filter("v*"))
    )
    world.service.create_rule("reg", draft(name="manual"))
    world.service.create_rule("reg", draft(name="off", trigger="event", enabled=False))
    world.service.create_rule("reg", draft(name="pull", direction="pull", trigger="manual"))
    assert queue(world, "app", "v1") == 1
    assert queue(world, "app", "v1") == 1, "a burst shares the queued copy"
    assert queue(world, "app", "latest") == 0
    assert queue(world, "other", "v1") == 0
    [job] = world.jobs(EVENT_JOB.kind)
    assert job["payload"]["rule_id"] == on_push.id
    assert job["available_at"] == world.clock() + EVENT_DELAY


async def test_a_push_through_the_artifact_service_queues_its_copy() -> None:
    uow = migrated_memory_uow()
    clock = FixedClock()
    registries = RegistryService(uow, clock)
    registries.create("reg")

    class Listener:
        def tag_pushed(
            self,
            store: ContentTx,
            registry_id: int,
            repository: str,
            tag: str,
            digest: str,
            now: Any,
        ) -> None:
            queue_pushed_tag(store, registry_id, repository, tag, now)  # type: ignore[arg-type]

    blobs = MemoryBlobStore()
    env = Env(
        uow,
        blobs,
        clock,
        ArtifactService(uow, clock, listeners=[Listener()]),
        UploadService(uow, blobs, clock),
        registries,
    )
    box, blocking = PlainSecretBox(), Blocking()
    runner = ReplicationRunner(uow, MemoryEndpoints(), lambda: copy_artifact, box, blocking, clock)
    service = ReplicationService(uow, runner, box, blocking, clock)
    service.create_rule("reg", draft(trigger="event"))
    body = await pushed_image(env, "one")
    put(env, "v1", body)
    put(env, f"sha256:{__import__('hashlib').sha256(body).hexdigest()}", body)  # untagged
    jobs = [r for r in uow.state.table("job").values() if r["kind"] == EVENT_JOB.kind]
    assert [j["payload"]["tag"] for j in jobs] == ["v1"]


async def test_an_event_run_copies_the_tag_as_it_is_when_it_runs(world: World) -> None:
    rule = world.service.create_rule("reg", draft(trigger="event"))
    image(world.local, "app", "v1", "first")
    newest = image(world.local, "app", "v1", "second")
    await world.runner.run_event(rule.id, "app", "v1")
    assert world.remote.repos["app"].tags["v1"] == newest
    [run] = world.service.list_runs("reg", rule.id, 0, 10).items
    assert (run.trigger, run.status, run.counts["succeeded"]) == ("event", "succeeded", 1)
    await world.runner.run_event(rule.id, "app", "gone")
    assert world.service.list_runs("reg", rule.id, 0, 10).total == 1, "nothing to copy"


async def test_an_event_run_copies_again_when_the_tag_moved_during_the_copy() -> None:
    moved: list[str] = []

    def push_during_first_copy(repo: str, reference: str) -> None:
        if not moved:
            moved.append(image(world.local, repo, reference, "pushed meanwhile"))

    world = make_world([push_during_first_copy])
    rule = world.service.create_rule("reg", draft(trigger="event"))
    image(world.local, "app", "v1", "first")
    await world.runner.run_event(rule.id, "app", "v1")
    assert world.remote.repos["app"].tags["v1"] == moved[0]
    assert world.copies == ["app:v1", "app:v1"]
    [run] = world.service.list_runs("reg", rule.id, 0, 10).items
    assert run.counts["total"] == 2


async def test_an_event_copy_of_a_rule_since_disabled_does_nothing(world: World) -> None:
    rule = world.service.create_rule("reg", draft(trigger="event"))
    world.service.update_rule("reg", rule.id, draft(trigger="event", enabled=False))
    image(world.local, "app", "v1", "first")
    await world.runner.run_event(rule.id, "app", "v1")
    assert world.copies == []
    assert world.service.list_runs("reg", rule.id, 0, 10).total == 0


async def test_a_remote_at_a_refused_address_is_refused_when_the_rule_is_saved() -> None:
    world = make_world()

    def refuse_private(url: str) -> None:
        if "10.0.0.1" in url:
            raise RefusedAddress("10.0.0.1 is a private address")

    service = ReplicationService(
        world.uow,
        world.runner,
        PlainSecretBox(),
        Blocking(),
        world.clock,
        address_check=refuse_private,
    )
    with pytest.raises(RefusedAddress) as refused:
        service.create_rule("reg", draft(url="http://10.0.0.1:5000"))
    assert refused.value.parameter == "remote.url"
    rule = service.create_rule("reg", draft())
    with pytest.raises(RefusedAddress):
        service.update_rule("reg", rule.id, draft(url="http://10.0.0.1"))
    assert service.get_rule("reg", rule.id).remote.url == URL


async def test_a_copy_of_a_push_under_way_does_not_hold_back_a_manual_run(world: World) -> None:
    rule = world.service.create_rule("reg", draft(trigger="event"))
    with world.uow(write=True) as store:  # an event copy whose worker died mid-way
        store.executions.create_execution(
            KIND,
            rule.registry_id,
            "event",
            False,
            world.clock(),
            rule_id=rule.id,
            status="running",
        )
    run = world.service.start_run("reg", rule.id, None)
    assert run.status == "pending"

    image(world.local, "app", "v1", "first")
    world.clock.advance(EVENT_JOB_LIMIT)
    await world.runner.run_event(rule.id, "app", "v1")
    runs = world.service.list_runs("reg", rule.id, 0, 10).items
    assert [(r.trigger, r.status) for r in runs] == [
        ("event", "succeeded"),
        ("manual", "pending"),
        ("event", "failed"),
    ]
    assert "worker stopped" in (runs[2].error or "")


async def test_a_run_whose_job_was_given_up_is_failed_and_frees_the_rule(world: World) -> None:
    rule = world.service.create_rule("reg", draft())
    run = world.service.start_run("reg", rule.id, "alice")
    world.runner.abandon(run.id, "too many attempts (the worker died during each)")
    closed = world.service.get_run("reg", run.id)
    assert (closed.status, closed.error) == (
        "failed",
        "too many attempts (the worker died during each)",
    )
    assert world.service.start_run("reg", rule.id, "alice").id > run.id
