"""A replicating server's memory stays flat whatever the layer size: moorage pulls a 1 GiB
layer from docker-registry with a pull rule, then pushes it to another docker-registry with a
push rule, while its resident memory (process tree, sampled every 50 ms) is watched."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_large_blob import RssSampler
from tests.e2e.test_oci_client import LARGE_LAYER, MiB, push_image_around, write_layer
from tests.support.distribution import DockerRegistry
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REGISTRY = "mirror"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"MOORAGE_ALLOW_PRIVATE_TARGETS": "1"}  # the other registries are on loopback
    started = ServerProcess(tmp_path / "moorage", auth=True, extra_env=env).start()
    try:
        yield started
    finally:
        started.stop()


def run_rule(http: httpx.Client, rule: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
    """Create the rule, run it by hand and wait for the run's end."""
    base = f"/api/v1/registries/{REGISTRY}/replications"
    made = http.post(base, json=rule)
    assert made.status_code == 201, made.text
    started = http.post(f"{base}/{made.json()['id']}/runs")
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = http.get(f"{base}/runs/{started.json()['id']}").json()
        if run["status"] not in ("pending", "running"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"the run of {rule['name']} did not end in {timeout} s")


def test_pulling_and_pushing_a_large_layer_keeps_the_server_small(
    server: ServerProcess, tmp_path: Path
) -> None:
    source = DockerRegistry(tmp_path / "source").start()
    target = DockerRegistry(tmp_path / "target").start()
    try:
        layer_file = tmp_path / "source" / "layer"
        layer = write_layer(layer_file, LARGE_LAYER)
        source.place_blob("big/app", layer_file, layer)
        manifest = push_image_around(source, layer, LARGE_LAYER)
        server.create_registry(REGISTRY)
        admin = (server.username, server.password)
        with httpx.Client(base_url=server.url, auth=admin, timeout=60) as http:
            pull = {
                "name": "pull-big",
                "direction": "pull",
                "remote": {"url": source.url, "registry": "big"},
                "filters": {"image": {"pattern": "app"}},
            }
            with RssSampler(server.pid) as pulling:
                run = run_rule(http, pull)
            assert run["status"] == "succeeded", run
            assert run["counts"]["succeeded"] == 1
            pulling.check(f"pulling a {LARGE_LAYER // MiB} MiB layer")
            head = http.head(f"/v2/{REGISTRY}/app/manifests/v1")
            assert head.headers["docker-content-digest"] == manifest

            push = {
                "name": "push-big",
                "direction": "push",
                "remote": {"url": target.url, "registry": "copies"},
                "filters": {"image": {"pattern": "app"}},
            }
            with RssSampler(server.pid) as pushing:
                run = run_rule(http, push)
            assert run["status"] == "succeeded", run
            pushing.check(f"pushing a {LARGE_LAYER // MiB} MiB layer")
        copied = httpx.head(
            f"{target.url}/v2/copies/app/manifests/v1",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert copied.headers["docker-content-digest"] == manifest
        blob = httpx.head(f"{target.url}/v2/copies/app/blobs/{layer}")
        assert int(blob.headers["content-length"]) == LARGE_LAYER
    finally:
        target.stop()
        source.stop()
