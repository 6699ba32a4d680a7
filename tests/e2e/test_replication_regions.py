"""Replication between two regions, as an operator sets it up: two `moorage serve` processes
with token auth on loopback (regions kr1 and kr2) and a Debian docker-registry, driven only
through the REST API and the registry protocol.

A push rule kr1 → kr2 made after some images exist turns active; a new push to kr1 (a
multi-platform index with a referrer) reaches kr2 by itself, byte for byte; the older images
only with a manual run; a second run copies nothing; a delete in kr1 leaves kr2 as it was; a
pull rule brings an image from docker-registry; a viewer lists rules and runs but cannot run
one; wrong credentials leave a rule inactive with the error shown."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from moorage.oci import mediatypes as mt
from tests.support.distribution import DockerRegistry
from tests.support.oci_auth import DockerTokenAuth
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

REGISTRY = "app"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"
WAIT_SECONDS = 30.0


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Region:
    server: ServerProcess
    name: str

    def api(self, auth: tuple[str, str] | None = None) -> httpx.Client:
        who = auth or (self.server.username, self.server.password)
        return httpx.Client(base_url=f"{self.server.url}/api/v1", auth=who, timeout=30)

    def v2(self) -> httpx.Client:
        auth = DockerTokenAuth(self.server.username, self.server.password)
        return httpx.Client(base_url=self.server.url, auth=auth, timeout=30)


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Region, Region]]:
    started: list[ServerProcess] = []
    try:
        for name in ("kr1", "kr2"):
            server = ServerProcess(
                tmp_path_factory.mktemp(name),
                auth=True,
                # the other region listens on loopback, which moorage refuses by default
                extra_env={"MOORAGE_REGION": name, "MOORAGE_ALLOW_PRIVATE_TARGETS": "1"},
            )
            started.append(server.start())
            server.create_registry(REGISTRY)
        yield Region(started[0], "kr1"), Region(started[1], "kr2")
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerRegistry]:
    registry = DockerRegistry(tmp_path_factory.mktemp("docker-registry")).start()
    try:
        yield registry
    finally:
        registry.stop()


# --- pushing through the protocol ---------------------------------------------------------


def push_blob(client: httpx.Client, repository: str, data: bytes) -> dict[str, Any]:
    digest = digest_of(data)
    started = client.post(f"/v2/{repository}/blobs/uploads/")
    assert started.status_code == 202, started.text
    # docker-registry's upload URL carries its own query (_state): add the digest to it
    location = httpx.URL(started.headers["location"])
    done = client.put(
        location.copy_merge_params({"digest": digest}),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text
    return {"mediaType": LAYER, "digest": digest, "size": len(data)}


def put_manifest(
    client: httpx.Client, repository: str, reference: str, manifest: dict[str, Any]
) -> dict[str, Any]:
    body = json.dumps(manifest, separators=(",", ":")).encode()
    media_type = manifest["mediaType"]
    answer = client.put(
        f"/v2/{repository}/manifests/{reference}",
        content=body,
        headers={"Content-Type": media_type},
    )
    assert answer.status_code == 201, answer.text
    return {"mediaType": media_type, "digest": digest_of(body), "size": len(body)}


def push_image(
    client: httpx.Client, repository: str, tag: str | None, label: str
) -> dict[str, Any]:
    config = json.dumps({"architecture": label, "os": "linux", "rootfs": {"type": "layers"}})
    config_desc = push_blob(client, repository, config.encode())
    config_desc["mediaType"] = CONFIG
    layer = push_blob(client, repository, os.urandom(64 * 1024) + label.encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config_desc,
        "layers": [layer],
    }
    reference = tag or digest_of(json.dumps(manifest, separators=(",", ":")).encode())
    return put_manifest(client, repository, reference, manifest)


def push_index_with_referrer(client: httpx.Client, repository: str, tag: str) -> dict[str, str]:
    """A two-platform index tagged `tag` and a signature-like artifact whose subject it is;
    returns their digests."""
    children = []
    for architecture in ("amd64", "arm64"):
        child = push_image(client, repository, None, f"{architecture}-{uuid.uuid4().hex}")
        children.append({**child, "platform": {"architecture": architecture, "os": "linux"}})
    index = put_manifest(
        client,
        repository,
        tag,
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": children},
    )
    empty = push_blob(client, repository, b"{}")
    signature = push_blob(client, repository, b"signed " + index["digest"].encode())
    referrer = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {**empty, "mediaType": mt.OCI_EMPTY},
        "layers": [{**signature, "mediaType": "application/octet-stream"}],
        "subject": index,
    }
    body_digest = digest_of(json.dumps(referrer, separators=(",", ":")).encode())
    put_manifest(client, repository, body_digest, referrer)
    return {
        "index": index["digest"],
        "referrer": body_digest,
        **{f"child{i}": c["digest"] for i, c in enumerate(children)},
    }


# --- reading it back -------------------------------------------------------------------------

ACCEPT = ", ".join([mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST])


def manifest_bytes(client: httpx.Client, repository: str, reference: str) -> bytes | None:
    answer = client.get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT})
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return answer.content


def closure(client: httpx.Client, repository: str, reference: str) -> dict[str, bytes]:
    """Every manifest and blob an artifact reaches, by digest, with its bytes."""
    found: dict[str, bytes] = {}
    body = manifest_bytes(client, repository, reference)
    assert body is not None, f"{repository}:{reference} is missing"
    found[digest_of(body)] = body
    manifest = json.loads(body)
    for child in manifest.get("manifests", []):
        found.update(closure(client, repository, child["digest"]))
    for blob in [manifest.get("config"), *manifest.get("layers", [])]:
        if blob:
            answer = client.get(f"/v2/{repository}/blobs/{blob['digest']}", follow_redirects=True)
            assert answer.status_code == 200, answer.text
            found[blob["digest"]] = answer.content
    return found


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:g} s")


# --- rules and runs through the REST API -----------------------------------------------------


def rule_body(name: str, url: str, **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "direction": "push",
        "remote": {"url": url, "registry": REGISTRY, "verify_tls": True},
        "filters": {"image": {"pattern": "**"}, "tag": {"pattern": "**"}},
        "trigger": "event",
        "override": True,
        "enabled": True,
        **changes,
    }


def with_credentials(body: dict[str, Any], server: ServerProcess) -> dict[str, Any]:
    return {
        **body,
        "remote": {**body["remote"], "username": server.username, "password": server.password},
    }


def create_rule(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(f"/registries/{REGISTRY}/replications", json=body)
    assert answer.status_code == 201, answer.text
    rule: dict[str, Any] = answer.json()
    assert rule["status"] == "inactive"
    assert "password" not in rule["remote"]
    return rule


def refreshed(api: httpx.Client, rule_id: int) -> dict[str, Any]:
    answer = api.post(f"/registries/{REGISTRY}/replications/{rule_id}/refresh")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def run_to_end(api: httpx.Client, rule_id: int) -> dict[str, Any]:
    started = api.post(f"/registries/{REGISTRY}/replications/{rule_id}/runs")
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    def finished() -> dict[str, Any] | None:
        run = api.get(f"/registries/{REGISTRY}/replications/runs/{run_id}").json()
        return run if run["status"] in ("succeeded", "failed", "stopped") else None

    run: dict[str, Any] = wait_for(finished, f"run {run_id} finishing", timeout=60)
    return run


@pytest.fixture(scope="module")
def push_rule(regions: tuple[Region, Region]) -> Iterator[dict[str, Any]]:
    """kr1 → kr2, made after an older image exists in kr1."""
    kr1, kr2 = regions
    with kr1.v2() as v2:
        push_image(v2, f"{REGISTRY}/older", "v1", "older")
    with kr1.api() as api:
        rule = create_rule(api, with_credentials(rule_body("to-kr2", kr2.server.url), kr2.server))
        # the check queued at creation turns it active; no refresh needed
        wait_for(
            lambda: (
                api.get(f"/registries/{REGISTRY}/replications/{rule['id']}").json()["status"]
                == "active"
            ),
            "the rule turning active by itself",
        )
        yield rule


def test_a_push_reaches_the_other_region_by_itself_byte_for_byte(
    regions: tuple[Region, Region], push_rule: dict[str, Any]
) -> None:
    kr1, kr2 = regions
    repository = f"{REGISTRY}/web"
    with kr1.v2() as source, kr2.v2() as destination:
        pushed = push_index_with_referrer(source, repository, "v2")
        wait_for(
            lambda: manifest_bytes(destination, repository, "v2") is not None,
            "the pushed index reaching kr2",
        )
        # the referrer is copied after its subject, the tag last: once tagged, all is there
        assert closure(destination, repository, "v2") == closure(source, repository, "v2")
        referrers = destination.get(f"/v2/{repository}/referrers/{pushed['index']}").json()
        assert [d["digest"] for d in referrers["manifests"]] == [pushed["referrer"]]
        assert manifest_bytes(destination, repository, pushed["referrer"]) == manifest_bytes(
            source, repository, pushed["referrer"]
        )
        # only new pushes are copied by the event trigger
        assert manifest_bytes(destination, f"{REGISTRY}/older", "v1") is None


def test_a_manual_run_copies_older_images_and_a_second_run_copies_nothing(
    regions: tuple[Region, Region], push_rule: dict[str, Any]
) -> None:
    kr1, kr2 = regions
    with kr1.api() as api:
        first = run_to_end(api, push_rule["id"])
        assert first["status"] == "succeeded", first
        assert first["trigger"] == "manual"
        assert first["counts"]["failed"] == 0
        with kr1.v2() as source, kr2.v2() as destination:
            older = f"{REGISTRY}/older"
            assert closure(destination, older, "v1") == closure(source, older, "v1")
        second = run_to_end(api, push_rule["id"])
        counts = second["counts"]
        assert second["status"] == "succeeded", second
        assert counts["total"] >= 2
        assert counts["skipped"] == counts["total"], counts
        assert counts["bytes"] == 0
        tasks = api.get(f"/registries/{REGISTRY}/replications/runs/{second['id']}/tasks").json()
        assert {t["status"] for t in tasks["items"]} == {"skipped"}


def test_a_delete_in_the_source_region_never_deletes_in_the_other(
    regions: tuple[Region, Region], push_rule: dict[str, Any]
) -> None:
    kr1, kr2 = regions
    repository = f"{REGISTRY}/doomed"
    with kr1.v2() as source, kr2.v2() as destination:
        pushed = push_image(source, repository, "v1", "doomed")
        wait_for(lambda: manifest_bytes(destination, repository, "v1"), "the copy in kr2")
        deleted = source.delete(f"/v2/{repository}/manifests/{pushed['digest']}")
        assert deleted.status_code == 202, deleted.text
        with kr1.api() as api:
            run = run_to_end(api, push_rule["id"])
        assert run["status"] == "succeeded", run
        assert manifest_bytes(destination, repository, "v1") is not None


def test_a_pull_rule_brings_an_image_from_docker_registry(
    regions: tuple[Region, Region], docker_registry: DockerRegistry
) -> None:
    _, kr2 = regions
    with httpx.Client(base_url=docker_registry.url, timeout=30) as upstream:
        pushed = push_image(upstream, "team/tool", "1.0", "tool")
    body = rule_body("from-distribution", docker_registry.url, direction="pull", trigger="manual")
    body["remote"]["registry"] = "team"
    with kr2.api() as api, kr2.v2() as v2:
        rule = create_rule(api, body)
        assert refreshed(api, rule["id"])["status"] == "active"
        run = run_to_end(api, rule["id"])
        assert run["status"] == "succeeded", run
        assert run["counts"]["succeeded"] == 1, run
        copied = manifest_bytes(v2, f"{REGISTRY}/tool", "1.0")
        assert copied is not None
        assert digest_of(copied) == pushed["digest"]


def test_wrong_credentials_leave_the_rule_inactive_with_the_error_shown(
    regions: tuple[Region, Region],
) -> None:
    kr1, kr2 = regions
    body = rule_body("bad-password", kr2.server.url, trigger="manual")
    body["remote"].update(username=kr2.server.username, password="not-the-password")
    with kr1.api() as api:
        rule = create_rule(api, body)
        checked = refreshed(api, rule["id"])
        assert checked["status"] == "inactive"
        assert checked["last_error"], checked
        shown = api.get(f"/registries/{REGISTRY}/replications/{rule['id']}").json()
        assert shown["last_error"] == checked["last_error"]


def test_a_viewer_lists_rules_and_history_but_cannot_run(
    regions: tuple[Region, Region], push_rule: dict[str, Any]
) -> None:
    kr1, _ = regions
    viewer = (f"viewer{uuid.uuid4().hex[:8]}", "Viewer-passw0rd-long")
    with kr1.api() as admin:
        created = admin.post("/users", json={"username": viewer[0], "password": viewer[1]})
        assert created.status_code == 201, created.text
        member = admin.put(
            f"/projects/default/members/{viewer[0]}", json={"role": "service_viewer"}
        )
        assert member.status_code == 200, member.text
    base = f"/registries/{REGISTRY}/replications"
    with kr1.api(viewer) as api:
        listed = api.get(base)
        assert listed.status_code == 200, listed.text
        assert push_rule["id"] in [r["id"] for r in listed.json()["items"]]
        assert api.get(f"{base}/{push_rule['id']}/runs").status_code == 200
        refused = api.post(f"{base}/{push_rule['id']}/runs")
        assert refused.status_code == 403, refused.text
        assert api.delete(f"{base}/{push_rule['id']}").status_code == 403


def test_each_region_reports_its_name(regions: tuple[Region, Region], tmp_path: Path) -> None:
    for region in regions:
        with region.api() as api:
            assert api.get("/deployment").json()["region"] == region.name


def test_a_failed_copy_leaves_no_tag_at_the_destination(
    regions: tuple[Region, Region], push_rule: dict[str, Any]
) -> None:
    """A layer lost from kr1's storage after its push: the copy of the image tagged next
    fails, and kr2 gets no tag pointing at an image it does not hold whole."""
    kr1, kr2 = regions
    repository = f"{REGISTRY}/broken"
    with kr1.v2() as source, kr2.v2() as destination:
        config = push_blob(source, repository, b'{"architecture":"amd64","os":"linux"}')
        layer = push_blob(source, repository, os.urandom(32 * 1024))
        (lost,) = kr1.server.data_dir.rglob(layer["digest"].removeprefix("sha256:"))
        lost.unlink()
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {**config, "mediaType": CONFIG},
            "layers": [layer],
        }
        pushed = put_manifest(source, repository, "v1", manifest)

        def failed_run() -> dict[str, Any] | None:
            with kr1.api() as api:
                path = f"/registries/{REGISTRY}/replications/{push_rule['id']}/runs"
                runs = api.get(path, params={"page_size": 100}).json()["items"]
            for run in runs:
                tasks_path = f"/registries/{REGISTRY}/replications/runs/{run['id']}/tasks"
                with kr1.api() as api:
                    tasks = api.get(tasks_path).json()["items"]
                mine = [t for t in tasks if t["subject"].startswith("broken")]
                if run["status"] == "failed" and mine:
                    assert mine[0]["status"] == "failed", mine
                    assert mine[0]["error"], mine
                    return dict(run)
            return None

        run = wait_for(failed_run, "the event copy of the broken image failing")
        assert run["counts"]["failed"] >= 1, run
        assert manifest_bytes(destination, repository, "v1") is None
        assert manifest_bytes(destination, repository, pushed["digest"]) is None
