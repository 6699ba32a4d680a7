"""Proxy caches against a real upstream: Debian's docker-registry on loopback, behind a
proxy that counts the requests reaching it; skopeo and podman as clients of moorage.

The first pull of a multi-platform image fetches it; a second pull is served with the
upstream stopped (and says so); a tag changed upstream is picked up once the revalidation
interval (2 s here) has passed; 20 concurrent first pulls of one 200 MiB layer make exactly
one upstream fetch while the server's memory stays under 150 MiB; a push is refused with
DENIED naming the registry kind; a viewer may pull, and so fills the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    AMD64_TAG,
    INDEX_TAG,
    OCI_INDEX,
    OCI_MANIFEST,
    OciLayout,
    RegistryAccess,
    Skopeo,
    Tool,
    assert_same_image,
    client_env,
    sha256_digest,
    storage_options,
)
from tests.support.cluster import _group, _status_kib
from tests.support.counting_proxy import CountingProxy, counting_proxy
from tests.support.databases import BACKENDS, fresh_postgres_url
from tests.support.distribution import DockerRegistry
from tests.support.oci_auth import DockerTokenAuth
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
LAYER_SIZE = int(os.environ.get("MOORAGE_TEST_PROXY_LAYER_MIB", "200")) * MiB
CLIENTS = 20
RSS_LIMIT = 150 * MiB
REVALIDATE_SECONDS = 2
CACHE = "cache"
CACHE_HEADER = "moorage-cache"


@dataclass
class Setup:
    server: ServerProcess
    upstream: DockerRegistry
    proxy: CountingProxy
    access: RegistryAccess
    skopeo: Skopeo

    def api(self, username: str | None = None, password: str | None = None) -> httpx.Client:
        auth = (username or self.server.username, password or self.server.password)
        return httpx.Client(base_url=f"{self.server.url}/api/v1", auth=auth, timeout=30)

    def v2(self, username: str | None = None, password: str | None = None) -> httpx.Client:
        auth = DockerTokenAuth(username or self.server.username, password or self.server.password)
        return httpx.Client(base_url=self.server.url, auth=auth, timeout=120)

    def seed(self, layout: OciLayout, tag: str, repository: str, upstream_tag: str) -> None:
        """Copy an image of the layout into the upstream (all its platforms)."""
        self.skopeo.tool(
            "copy",
            "--quiet",
            "--all",
            "--dest-tls-verify=false",
            layout.ref(tag),
            f"docker://127.0.0.1:{self.upstream.port}/{repository}:{upstream_tag}",
        )

    def ref(self, image: str, tag: str) -> str:
        return self.access.docker_ref(CACHE, image, tag)


@pytest.fixture(params=BACKENDS)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    """A docker-registry upstream behind a counting proxy, and a moorage (SQLite, or
    PostgreSQL: reads in worker threads) with the proxy-cache registry `cache` in front."""
    with contextlib.ExitStack() as stack:
        database_url = None
        if request.param == "postgresql":
            database_url = stack.enter_context(fresh_postgres_url())
        yield stack.enter_context(_setup(tmp_path, database_url))


@contextlib.contextmanager
def _setup(tmp_path: Path, database_url: str | None) -> Iterator[Setup]:
    server = ServerProcess(
        tmp_path / "moorage",
        database_url,
        auth=True,
        extra_env={
            "MOORAGE_ALLOW_PRIVATE_TARGETS": "true",  # the upstream is on loopback
            "MOORAGE_PROXY_CACHE_REVALIDATE_SECONDS": str(REVALIDATE_SECONDS),
            "MOORAGE_LOG_LEVEL": "info",
        },
    )
    with contextlib.ExitStack() as stack:
        upstream = DockerRegistry(tmp_path / "upstream").start()
        stack.callback(upstream.stop)
        proxy = stack.enter_context(counting_proxy(upstream.port))
        stack.callback(server.stop)  # first: its connections to the proxy close with it
        server.start()
        access = RegistryAccess(server.host, server.username, server.password)
        skopeo = Skopeo(Tool(["skopeo"], client_env(tmp_path / "skopeo")), access)
        setup = Setup(server, upstream, proxy, access, skopeo)
        with setup.api() as api:
            body = {"name": CACHE, "proxy_cache": {"url": proxy.url}}
            created = api.post("/registries", json=body)
            assert created.status_code == 201, created.text
            assert created.json()["kind"] == "proxy_cache"
            assert created.json()["upstream"]["url"] == proxy.url
        yield setup


@pytest.fixture
def podman(tmp_path: Path, short_tmp: Path, setup: Setup) -> Tool:
    home = tmp_path / "podman"
    podman = Tool(
        [
            "podman",
            *storage_options(home, short_tmp / "podman"),
            "--tmpdir",
            str(home / "libpod"),
            "--events-backend",
            "file",
            "--cgroup-manager",
            "cgroupfs",
        ],
        client_env(home),
    )
    podman("login", *setup.access.tls_flags(), *setup.access.login_args())
    return podman


def manifest_answer(setup: Setup, image: str, tag: str) -> httpx.Response:
    with setup.v2() as v2:
        return v2.get(
            f"/v2/{CACHE}/{image}/manifests/{tag}",
            headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"},
        )


def test_pulls_fill_the_cache_which_then_survives_the_upstream_and_follows_its_tags(
    setup: Setup, podman: Tool, oci_layout: OciLayout, tmp_path: Path
) -> None:
    setup.seed(oci_layout, INDEX_TAG, "library/busybox", "1.36")
    index_digest = oci_layout.descriptor(INDEX_TAG)["digest"]

    # First pulls: skopeo takes every platform, podman its own.
    pulled = OciLayout(tmp_path / "pulled")
    setup.skopeo.copy(setup.ref("library/busybox", "1.36"), f"oci:{pulled.path}:1.36", "--all")
    assert_same_image(oci_layout, INDEX_TAG, pulled, "1.36")
    podman("pull", "--tls-verify=false", setup.access.ref(CACHE, "library/busybox", "1.36"))
    fetched = [p for m, p in setup.proxy.requests if m == "GET" and "/blobs/" in p]
    assert len(fetched) == len(set(fetched))  # no blob fetched twice
    answer = manifest_answer(setup, "library/busybox", "1.36")
    assert answer.headers["docker-content-digest"] == index_digest
    with setup.api() as api:
        listed = api.get(f"/registries/{CACHE}/images/library%2Fbusybox/artifacts").json()
    marked = {a["digest"]: a for a in listed["items"]}[index_digest]
    assert marked["cached"] is True
    assert marked["upstream"] == f"{setup.proxy.url}/library/busybox"
    assert marked["revalidated_at"]

    # The upstream stops: the cached copy is served, and the answer says it is stale.
    setup.upstream.stop()
    time.sleep(REVALIDATE_SECONDS + 0.5)
    answer = manifest_answer(setup, "library/busybox", "1.36")
    assert answer.status_code == 200, answer.text
    assert answer.headers[CACHE_HEADER] == "stale; upstream unreachable"
    again = OciLayout(tmp_path / "again")
    setup.skopeo.copy(setup.ref("library/busybox", "1.36"), f"oci:{again.path}:1.36", "--all")
    assert_same_image(oci_layout, INDEX_TAG, again, "1.36")
    podman("rmi", "--all", "--force")
    podman("pull", "--tls-verify=false", setup.access.ref(CACHE, "library/busybox", "1.36"))
    assert "serves cache/library/busybox:1.36 stale" in setup.server.log()
    never = manifest_answer(setup, "library/other", "1")
    assert never.status_code == 502
    assert never.json()["errors"][0]["code"] == "UNAVAILABLE"

    # The tag moves upstream: picked up once the interval has passed, not before.
    setup.upstream.start()
    setup.seed(oci_layout, AMD64_TAG, "library/busybox", "1.36")
    moved = oci_layout.descriptor(AMD64_TAG)["digest"]
    time.sleep(REVALIDATE_SECONDS + 0.5)
    answer = manifest_answer(setup, "library/busybox", "1.36")
    assert (answer.headers["docker-content-digest"], answer.headers[CACHE_HEADER]) == (
        moved,
        "miss",
    )
    assert manifest_answer(setup, "library/busybox", "1.36").headers[CACHE_HEADER] == "hit"
    time.sleep(REVALIDATE_SECONDS + 0.5)
    heads = setup.proxy.count("HEAD", "/v2/library/busybox/manifests/1.36")
    assert manifest_answer(setup, "library/busybox", "1.36").headers[CACHE_HEADER] == (
        "revalidated"
    )
    assert setup.proxy.count("HEAD", "/v2/library/busybox/manifests/1.36") == heads + 1
    # A digest is immutable: never asked for again.
    gets = len(setup.proxy.requests)
    assert manifest_answer(setup, "library/busybox", index_digest).headers[CACHE_HEADER] == "hit"
    assert len(setup.proxy.requests) == gets

    with setup.v2() as v2:
        metrics = v2.get("/metrics").text
    assert "moorage_proxy_cache_hits_total" in metrics
    assert "moorage_proxy_cache_upstream_errors_total" in metrics


def test_a_push_into_a_proxy_cache_is_denied_naming_the_kind(
    setup: Setup, podman: Tool, oci_layout: OciLayout
) -> None:
    refusal = f"registry {CACHE} is a proxy cache of {setup.proxy.url}: pushes are refused"
    pushed = setup.skopeo.tool(
        "copy",
        "--quiet",
        *setup.access.flags("dest-"),
        oci_layout.ref(AMD64_TAG),
        setup.ref("library/pushed", "1"),
        check=False,
    )
    assert pushed.returncode != 0
    assert "denied" in pushed.stderr.lower()
    assert refusal in pushed.stderr
    setup.seed(oci_layout, AMD64_TAG, "library/source", "1")
    source = setup.access.ref(CACHE, "library/source", "1")
    podman("pull", "--tls-verify=false", source)
    target = setup.access.ref(CACHE, "library/pushed", "2")
    podman("tag", source, target)
    pushed = podman("push", "--tls-verify=false", target, check=False)
    assert pushed.returncode != 0
    assert refusal in pushed.stderr
    with setup.v2() as v2:
        answer = v2.post(f"/v2/{CACHE}/library/pushed/blobs/uploads/")
        assert answer.status_code == 403
        error = answer.json()["errors"][0]
        assert error["code"] == "DENIED"
        assert error["message"] == refusal
    assert not [r for r in setup.proxy.requests if r[0] in ("POST", "PUT", "PATCH")]


def test_a_viewer_may_pull_and_so_fill_the_cache(
    setup: Setup, oci_layout: OciLayout, tmp_path: Path
) -> None:
    setup.seed(oci_layout, AMD64_TAG, "library/viewed", "1")
    viewer, password = f"v{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with setup.api() as api:
        assert api.post("/users", json={"username": viewer, "password": password}).is_success
        role = {"role": "service_viewer"}
        assert api.put(f"/projects/default/members/{viewer}", json=role).is_success
    pulled = OciLayout(tmp_path / "viewer")
    setup.skopeo.tool(
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--src-creds",
        f"{viewer}:{password}",
        setup.ref("library/viewed", "1"),
        f"oci:{pulled.path}:1",
    )
    assert_same_image(oci_layout, AMD64_TAG, pulled, "1")
    with setup.v2(viewer, password) as v2:
        assert v2.delete(f"/v2/{CACHE}/library/viewed/manifests/1").status_code in (401, 403)


def rss(server: ServerProcess) -> int:
    """Resident memory of the server's processes now, summed, in bytes."""
    return 1024 * sum(_status_kib(pid, "VmRSS") for pid in _group(server.pid))


class RssSampler:
    """The server's resident memory, sampled every 20 ms while the block runs: the most seen.
    (Not the high-water mark since start: starting, migrations included, peaks higher than
    serving does.)"""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss(self.server))
            self.samples += 1

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def big_image(setup: Setup, tmp_path: Path) -> tuple[str, int]:
    """A 200 MiB random layer placed in the upstream's storage, and an image naming it."""
    data_file = tmp_path / "layer.bin"
    hasher = hashlib.sha256()
    with data_file.open("wb") as out:
        for _ in range(LAYER_SIZE // MiB):
            block = os.urandom(MiB)
            hasher.update(block)
            out.write(block)
    layer = f"sha256:{hasher.hexdigest()}"
    setup.upstream.place_blob("library/big", data_file, layer)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    with httpx.Client(base_url=setup.upstream.url, timeout=30) as up:
        started = up.post("/v2/library/big/blobs/uploads/")
        location = httpx.URL(started.headers["location"])
        finish = location.copy_merge_params({"digest": sha256_digest(config)})
        up.put(finish, content=config).raise_for_status()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer,
                    "size": LAYER_SIZE,
                }
            ],
        }
        up.put(
            "/v2/library/big/manifests/1",
            content=json.dumps(manifest).encode(),
            headers={"Content-Type": OCI_MANIFEST},
        ).raise_for_status()
    return layer, LAYER_SIZE


def test_concurrent_first_pulls_of_a_large_layer_fetch_it_once_with_flat_memory(
    setup: Setup, tmp_path: Path
) -> None:
    layer, size = big_image(setup, tmp_path)
    assert manifest_answer(setup, "library/big", "1").status_code == 200

    def pull(_: int) -> tuple[int, str, str]:
        hasher = hashlib.sha256()
        with setup.v2() as v2, v2.stream("GET", f"/v2/{CACHE}/library/big/blobs/{layer}") as got:
            for chunk in got.iter_bytes(MiB):
                hasher.update(chunk)
            return (
                got.status_code,
                f"sha256:{hasher.hexdigest()}",
                got.headers.get(CACHE_HEADER, "store"),
            )

    before = rss(setup.server)
    with RssSampler(setup.server) as sampler, ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(pull, range(CLIENTS)))
    assert {(status, digest) for status, digest, _ in results} == {(200, layer)}
    assert setup.proxy.count("GET", f"/blobs/{layer}") == 1
    print(
        f"{CLIENTS} concurrent first pulls of a {size // MiB} MiB layer: "
        f"{sum(1 for *_, how in results if how == 'miss')} streamed as it arrived, "
        f"upstream GETs {setup.proxy.count('GET', f'/blobs/{layer}')}, "
        f"server RSS {before / MiB:.1f} MiB before, at most {sampler.peak / MiB:.1f} MiB "
        f"during ({sampler.samples} samples)"
    )
    assert sampler.peak < RSS_LIMIT
    # Now cached: served from the store, upstream not asked again.
    assert pull(0)[2] == "store"
    assert setup.proxy.count("GET", f"/blobs/{layer}") == 1
