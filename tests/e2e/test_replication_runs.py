"""Replication runs over the real parts: moorage as the composition root builds it (SQLite,
the filesystem store, the job runner) and a Debian docker-registry on the other side. A tag
pushed here reaches the other registry through an event rule's coalesced job; a pull rule's
manual run brings it back into another registry; the rules turn active once checked."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from moorage import wiring
from moorage.config import Settings
from moorage.domain.replication.model import Filter, RuleDraft
from moorage.domain.replication.triggers import EVENT_DELAY
from moorage.jobs.handlers import build_catalog
from moorage.jobs.runner import Runner
from moorage.oci import mediatypes as mt
from tests.support.distribution import DockerRegistry
from tests.unit.domain.test_services import Env, FixedClock, pushed_image, put

pytestmark = pytest.mark.e2e


@pytest.fixture
def container(tmp_path: Path) -> Iterator[wiring.Container]:
    # the other registry listens on loopback
    settings = Settings(data_dir=tmp_path / "moorage", auth="none", allow_private_targets=True)
    built = wiring.build(settings)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def docker_registry(tmp_path: Path) -> Iterator[DockerRegistry]:
    registry = DockerRegistry(tmp_path / "docker-registry").start()
    try:
        yield registry
    finally:
        registry.stop()


def rule(url: str, **changes: object) -> RuleDraft:
    values: dict[str, object] = {
        "name": "mirror",
        "direction": "push",
        "url": url,
        "remote_registry": "mirror",
        "username": None,
        "password": None,
        "verify_tls": True,
        "image_filter": Filter(),
        "tag_filter": Filter(),
        "trigger": "event",
        "cron": None,
        "override": True,
        "enabled": True,
        **changes,
    }
    return RuleDraft(**values)  # type: ignore[arg-type]


def remote_digest(registry: DockerRegistry, repository: str, tag: str) -> str | None:
    answer = httpx.head(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": mt.OCI_MANIFEST},
        timeout=10,
    )
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


async def drain(runner: Runner) -> int:
    return await runner.run_until_idle()


def test_a_push_is_replicated_and_a_pull_rule_brings_it_back(
    container: wiring.Container, docker_registry: DockerRegistry
) -> None:
    container.registries.create("reg")
    container.registries.create("back")
    runner = Runner(container.uow, build_catalog(container), blocking=container.blocking)
    service = container.replication
    pushing = service.create_rule("reg", rule(docker_registry.url))
    assert pushing.status == "inactive"
    anyio.run(drain, runner)
    assert service.get_rule("reg", pushing.id).status == "active"

    env = Env(
        container.uow,
        container.blobs,  # type: ignore[arg-type]
        FixedClock(),
        container.artifacts,
        container.uploads,
        container.registries,
    )
    body = anyio.run(pushed_image, env, "first")
    put(env, "v1", body)
    newer = anyio.run(pushed_image, env, "second")
    put(env, "v1", newer)  # the same tag again at once: one copy of its newest state
    time.sleep(EVENT_DELAY.total_seconds() + 0.2)
    anyio.run(drain, runner)
    newest = f"sha256:{hashlib.sha256(newer).hexdigest()}"
    assert remote_digest(docker_registry, "mirror/app", "v1") == newest
    [run] = service.list_runs("reg", pushing.id, 0, 10).items
    assert (run.trigger, run.status, run.counts["succeeded"]) == ("event", "succeeded", 1)
    assert run.counts["bytes"] > 0

    pulling = service.create_rule(
        "back", rule(docker_registry.url, direction="pull", trigger="manual", name="home")
    )
    started = service.start_run("back", pulling.id, "admin")
    assert started.status == "pending"
    anyio.run(drain, runner)
    done = service.get_run("back", started.id)
    assert (done.status, done.counts["total"], done.counts["succeeded"]) == ("succeeded", 1, 1)
    [task] = service.list_tasks("back", started.id, 0, 10).items
    assert task.subject == "app:v1"
    assert task.lines
    fetched = container.artifacts.get_manifest("back/app", "v1", with_body=True)
    assert fetched.body == newer

    again = service.start_run("back", pulling.id, None)
    anyio.run(drain, runner)
    assert service.get_run("back", again.id).counts["skipped"] == 1, "already here"
