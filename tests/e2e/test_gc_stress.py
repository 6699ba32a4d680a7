"""Garbage collection under load: runs back to back while twenty clients push and delete.

For ~20 s a GC run starts as soon as the previous one finishes (grace window 1 s; every
other run also deletes untagged manifests) while twenty clients, over plain HTTP with the OCI
protocol, push images that share layers (a pool of five base layers, replaced every few
seconds, plus a unique layer and config each), delete manifests by digest and tags, push
deleted images again (their blobs then race the sweeper: marked, deleting or gone) and tag
untagged ones again (racing the deletion of untagged manifests). A client does what a real
one does: HEAD a blob and skip it when the repository has it, mount base layers from another
repository, and push again from the blobs when a manifest PUT answers MANIFEST_BLOB_UNKNOWN
(the sweeper won).

What must hold afterwards:
- no request got a 5xx other than an upload's 503 "busy, retry shortly" (TOOMANYREQUESTS,
  Retry-After) while GC deletes the object of its digest (documented), which the clients
  retry and which is counted and printed with the server's reasons; a manifest PUT is never
  busy (pushes and runs lock blob rows in digest order, so PostgreSQL never breaks a lock
  cycle between them); and every GC run succeeded without errors;
- every image whose manifest PUT answered 201 and that was neither deleted nor untagged since
  pulls back byte for byte: the manifest (by digest and by tag), each blob hashing to its
  digest (on S3 blob GETs redirect to moto: followed);
- once pushing stopped, a run deleted the untagged manifests and marked, the grace window
  passed and a last run swept, the untagged manifests are gone and the store holds exactly
  one object per blob a tagged image references (files under <data-dir>/blobs, or the
  bucket), GET /api/v1/storage counts no unreferenced blob, and `moorage fsck --json` reports
  clean.

Two deployments: SQLite + files with one server; two `moorage serve` nodes sharing one
PostgreSQL database and one moto S3 bucket, with the clients and GC runs spread over both.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.protocol.conftest import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Blob,
    OciClient,
    describe,
    descriptor,
    image_manifest,
    location,
)
from tests.support.databases import fresh_postgres_url
from tests.support.moto import MotoServer
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

GRACE_SECONDS = 1.0
CLIENTS = 20
PUSH_SECONDS = 20.0
REGISTRY = "stress"
REPOSITORIES = 10  # two clients per repository
BASE_POOL = 5
BASE_GENERATION_SECONDS = 4.0
"""The base pool is replaced this often: old bases lose their last references and are
collected while clients may still be HEADing, mounting or pushing them."""
BASE_SIZE = 16 * 1024
UNIQUE_SIZE = 1024
PUSH_ATTEMPTS = 10
BUSY_RETRIES = 50
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
FINISHED = ("succeeded", "failed")
S3_BUCKET = "stress"
S3_PREFIX = "m"
BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
TOO_MANY_REQUESTS = "TOOMANYREQUESTS"
BUSY = "503 busy, retried"


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@functools.cache
def base_pool(generation: int) -> tuple[Blob, ...]:
    """The base layers of one generation: the same bytes for every client."""
    rng = random.Random(f"base-{generation}")
    return tuple(Blob(rng.randbytes(BASE_SIZE)) for _ in range(BASE_POOL))


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    manifest: Blob
    blobs: tuple[Blob, ...]  # config first, then the layers


@dataclass
class Outcome:
    """What the clients saw: acknowledged images not deleted since, and what went wrong."""

    alive: dict[str, Image] = field(default_factory=dict)  # manifest digest -> image
    untagged: set[str] = field(default_factory=set)
    """Alive images whose tag was deleted: GC runs deleting untagged manifests may take them."""
    tally: Counter[str] = field(default_factory=Counter)
    most_attempts: int = 0  # manifest PUTs one push needed at most
    failures: list[str] = field(default_factory=list)

    def merge(self, other: Outcome) -> None:
        self.alive.update(other.alive)
        self.untagged |= other.untagged
        self.tally.update(other.tally)
        self.most_attempts = max(self.most_attempts, other.most_attempts)
        self.failures.extend(other.failures)

    def tagged(self) -> list[Image]:
        return [image for digest, image in self.alive.items() if digest not in self.untagged]

    def referenced(self) -> set[str]:
        """The blobs of the tagged images: all that is left once untagged ones are deleted."""
        return {blob.digest for image in self.tagged() for blob in image.blobs}


# --- a deployment -------------------------------------------------------------------------


@dataclass
class Deployment:
    nodes: list[ServerProcess]
    stored_digests: Callable[[], set[str]]
    """The digests of the blob objects in the store, listed behind the servers' backs."""


def gc_env() -> dict[str, str]:
    return {"MOORAGE_GC_GRACE_SECONDS": str(GRACE_SECONDS)}


@pytest.fixture
def files_deployment(server_factory: type[ServerProcess], tmp_path: Path) -> Deployment:
    server = server_factory(tmp_path / "data", extra_env=gc_env()).start()
    server.create_registry(REGISTRY)
    blob_root = server.data_dir / "blobs" / "blobs"

    def stored() -> set[str]:
        return {
            f"{path.parent.parent.name}:{path.name}"
            for path in blob_root.glob("*/*/*")
            if path.is_file()
        }

    return Deployment([server], stored)


@pytest.fixture
def s3_deployment(server_factory: type[ServerProcess], tmp_path: Path) -> Iterator[Deployment]:
    moto = MotoServer(tmp_path / "moto.log").start()
    try:
        s3 = moto.client()
        env = {**gc_env(), **moto.storage_env(S3_BUCKET, MOORAGE_S3_PREFIX=S3_PREFIX)}

        def stored() -> set[str]:
            found = set()
            pages = s3.get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=S3_BUCKET, Prefix=f"{S3_PREFIX}/blobs/"):
                for item in page.get("Contents", []):
                    algorithm, _, hex_digest = item["Key"].split("/")[2:]
                    found.add(f"{algorithm}:{hex_digest}")
            return found

        with fresh_postgres_url() as url:
            nodes = [server_factory(tmp_path / f"node{n}", url, extra_env=env) for n in (1, 2)]
            try:
                for node in nodes:
                    node.start()
                nodes[0].create_registry(REGISTRY)
                yield Deployment(nodes, stored)
            finally:
                for node in nodes:  # before the database is dropped under them
                    node.stop()
    finally:
        moto.stop()


# --- the clients --------------------------------------------------------------------------


class Pusher:
    """One client on one node: pushes, deletes and pushes again until the deadline."""

    def __init__(self, number: int, node: ServerProcess, started: float, deadline: float):
        self.number = number
        self.rng = random.Random(number)
        self.http = httpx.Client(base_url=node.url, timeout=TIMEOUT)
        self.repository = f"{REGISTRY}/img{number % REPOSITORIES}"
        self.oci = OciClient(self.http, self.repository)
        self.started = started
        self.deadline = deadline
        self.outcome = Outcome()
        self.deleted: list[Image] = []
        self.pushed = 0

    def run(self) -> Outcome:
        try:
            while time.monotonic() < self.deadline and len(self.outcome.failures) < 10:
                self.step()
        except Exception as exc:  # reported with the other failures
            self.outcome.failures.append(f"client {self.number}: {type(exc).__name__}: {exc}")
        finally:
            self.http.close()
        return self.outcome

    def step(self) -> None:
        roll = self.rng.random()
        alive = self.outcome.alive
        tagged = sorted(set(alive) - self.outcome.untagged)
        if roll < 0.2 and alive:
            self.delete_manifest(self.rng.choice(sorted(alive)))
        elif roll < 0.3 and tagged:
            self.delete_tag(self.rng.choice(tagged))
        elif roll < 0.4 and self.deleted:
            self.outcome.tally["deleted images pushed again"] += 1
            self.push(self.deleted.pop(self.rng.randrange(len(self.deleted))))
        elif roll < 0.45 and self.outcome.untagged:
            # GC may be deleting it as untagged right now: the PUT wins or recreates it.
            self.outcome.tally["untagged images tagged again"] += 1
            self.push(alive[self.rng.choice(sorted(self.outcome.untagged))])
        else:
            self.push(self.new_image())

    def new_image(self) -> Image:
        self.pushed += 1
        config = Blob(json.dumps({"architecture": "amd64", "id": uuid.uuid4().hex}).encode())
        generation = int((time.monotonic() - self.started) / BASE_GENERATION_SECONDS)
        bases = self.rng.sample(base_pool(generation), self.rng.randint(1, 2))
        layers = [*bases, Blob(self.rng.randbytes(UNIQUE_SIZE))]
        manifest = image_manifest(
            descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER_GZIP, b) for b in layers]
        )
        tag = f"c{self.number}-{self.pushed}"
        return Image(self.repository, tag, manifest, (config, *layers))

    # what a registry client does ----------------------------------------------------------

    def push(self, image: Image) -> None:
        """Blobs (skipping those the repository has), then the manifest; from the blobs
        again while the manifest PUT finds one of them gone."""
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            if not all(self.ensure_blob(blob, image) for blob in image.blobs):
                return
            put = self.oci.put_manifest(image.tag, image.manifest)
            self.outcome.most_attempts = max(self.outcome.most_attempts, attempt)
            if put.status_code == 201:
                self.outcome.alive[image.manifest.digest] = image
                self.outcome.untagged.discard(image.manifest.digest)
                self.outcome.tally["manifests acknowledged"] += 1
                return
            # A manifest PUT is never busy: pushes and runs lock blob rows in one order, so
            # PostgreSQL never has to break a lock cycle between them (it did before).
            if not self.expect(put, 400) or BLOB_UNKNOWN not in put.text:
                self.fail(put)
                return
            self.outcome.tally["manifest PUTs refused: blob collected meanwhile"] += 1
        self.outcome.failures.append(f"{image.tag}: gave up after {PUSH_ATTEMPTS} attempts")

    def ensure_blob(self, blob: Blob, image: Image) -> bool:
        head = self.oci.head_blob(blob.digest)
        if head.status_code == 200:
            self.outcome.tally["blobs skipped (HEAD 200)"] += 1
            return True
        if not self.expect(head, 404):
            return self.fail(head)
        for _ in range(BUSY_RETRIES):
            started = self.start_upload(blob, image)
            if started is None:
                return False
            if started.status_code == 201:
                self.outcome.tally["blobs mounted"] += 1
                return True
            done = self.oci.put_upload(location(started), blob.digest, blob.content)
            if done.status_code == 201:
                self.outcome.tally["blobs uploaded"] += 1
                return True
            if not self.busy(done, "upload PUTs"):
                return self.fail(done)
        return self.fail(f"{blob.digest}: still refused after {BUSY_RETRIES} tries")

    def start_upload(self, blob: Blob, image: Image) -> httpx.Response | None:
        """A mount from another repository for base layers (half the time), else a session."""
        if blob in image.blobs[1:-1] and self.rng.random() < 0.5:
            source = f"{REGISTRY}/img{self.rng.randrange(REPOSITORIES)}"
            started = self.oci.mount(blob.digest, source)
        else:
            started = self.oci.start_upload()
        if self.expect(started, 201, 202):
            return started
        self.fail(started)
        return None

    def delete_manifest(self, digest: str) -> None:
        image = self.outcome.alive.pop(digest)
        untagged = digest in self.outcome.untagged
        self.outcome.untagged.discard(digest)
        deleted = self.oci.delete_manifest(digest)
        if self.expect(deleted, 202):
            self.outcome.tally["manifests deleted"] += 1
        elif untagged and deleted.status_code == 404 and "MANIFEST_UNKNOWN" in deleted.text:
            self.outcome.tally["untagged manifests GC deleted first"] += 1
        else:
            self.fail(deleted)
            return
        self.deleted.append(image)

    def delete_tag(self, digest: str) -> None:
        deleted = self.oci.delete_manifest(self.outcome.alive[digest].tag)
        if self.expect(deleted, 202):
            self.outcome.untagged.add(digest)
            self.outcome.tally["tags deleted"] += 1
        else:
            self.fail(deleted)

    def busy(self, response: httpx.Response, what: str) -> bool:
        """A 503 "busy, retry shortly" (TOOMANYREQUESTS, Retry-After): counted, then retried
        after a pause, as registry clients do. An upload gets it while GC deletes the object
        of its digest (documented); any request when PostgreSQL gives up a transaction."""
        if response.status_code != 503 or TOO_MANY_REQUESTS not in response.text:
            return False
        self.outcome.tally[BUSY] += 1
        self.outcome.tally[f"{what} answered 503 busy (retried)"] += 1
        time.sleep(0.05)
        return True

    def expect(self, response: httpx.Response, *statuses: int) -> bool:
        return response.status_code in statuses

    def fail(self, what: httpx.Response | str) -> bool:
        text = describe(what) if isinstance(what, httpx.Response) else what
        self.outcome.failures.append(f"client {self.number}: {text}")
        return False


# --- garbage collection -------------------------------------------------------------------


class GcLoop:
    """Runs back to back, each started (POST /api/v1/gc-runs) as soon as the previous one
    finished, on the nodes in turn, every other one deleting untagged manifests too; every
    run must succeed without errors."""

    def __init__(self, nodes: list[ServerProcess]) -> None:
        self.apis = [httpx.Client(base_url=node.url, timeout=TIMEOUT) for node in nodes]
        self.stop = threading.Event()
        self.runs: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._loop, name="gc-loop")

    def __enter__(self) -> GcLoop:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(120)
        for api in self.apis:
            api.close()

    def _loop(self) -> None:
        try:
            while not self.stop.is_set():
                number = len(self.runs)
                self.run_once(self.apis[number % len(self.apis)], delete_untagged=number % 2 == 1)
        except Exception as exc:  # reported by the test
            self.failures.append(f"GC loop: {type(exc).__name__}: {exc}")

    def run_once(self, api: httpx.Client, *, delete_untagged: bool) -> dict[str, Any]:
        body = {"dry_run": False, "delete_untagged": delete_untagged}
        started = api.post("/api/v1/gc-runs", json=body)
        assert started.status_code == 202, describe(started)
        run_id = started.json()["id"]
        deadline = time.monotonic() + 60
        while True:
            got = api.get(f"/api/v1/gc-runs/{run_id}")
            assert got.status_code == 200, describe(got)
            run: dict[str, Any] = got.json()
            if run["status"] in FINISHED:
                break
            assert time.monotonic() < deadline, f"GC run {run_id} did not finish: {run}"
            time.sleep(0.02)
        self.runs.append(run)
        if run["status"] != "succeeded" or run["errors"]:
            self.failures.append(f"GC run {run_id}: {run}")
        return run


# --- checks -------------------------------------------------------------------------------


def pull_problems(client: OciClient, image: Image) -> list[str]:
    """What differs between a tagged image and what the registry serves (empty: identical)."""
    problems = []
    for reference in (image.manifest.digest, image.tag):
        got = client.get_manifest(reference, OCI_MANIFEST)
        if got.status_code != 200 or got.content != image.manifest.content:
            problems.append(f"manifest {reference}: {describe(got)}")
    for blob in image.blobs:
        got = client.get_blob(blob.digest)  # follows a redirect to the object store
        if got.status_code != 200 or sha256(got.content) != blob.digest:
            problems.append(f"blob {blob.digest}: {describe(got)}")
    return [f"{image.repository}:{image.tag}: {p}" for p in problems]


def check_pulls(deployment: Deployment, outcome: Outcome) -> None:
    """Every tagged image pulls back intact (an untagged one may have been collected)."""
    clients = [httpx.Client(base_url=n.url, timeout=TIMEOUT) for n in deployment.nodes]
    images = sorted(outcome.tagged(), key=lambda image: image.tag)

    def pull(index: int) -> list[str]:
        image = images[index]
        return pull_problems(OciClient(clients[index % len(clients)], image.repository), image)

    try:
        with ThreadPoolExecutor(8) as pool:
            problems = [p for found in pool.map(pull, range(len(images))) for p in found]
    finally:
        for client in clients:
            client.close()
    assert not problems, f"{len(problems)} problems pulling back, e.g.:\n" + "\n".join(
        problems[:10]
    )


def check_untagged_collected(deployment: Deployment, outcome: Outcome) -> None:
    with httpx.Client(base_url=deployment.nodes[-1].url, timeout=TIMEOUT) as client:
        for digest in sorted(outcome.untagged):
            image = outcome.alive[digest]
            got = OciClient(client, image.repository).get_manifest(digest, OCI_MANIFEST)
            assert got.status_code == 404, describe(got)


def check_storage(deployment: Deployment, outcome: Outcome) -> None:
    """The store holds the tagged images' blobs, no more; metadata and fsck agree."""
    referenced = outcome.referenced()
    stored = deployment.stored_digests()
    assert stored == referenced, (
        f"{len(stored - referenced)} objects no live image references "
        f"(e.g. {sorted(stored - referenced)[:3]}), "
        f"{len(referenced - stored)} referenced blobs without an object "
        f"(e.g. {sorted(referenced - stored)[:3]})"
    )
    got = httpx.get(f"{deployment.nodes[0].url}/api/v1/storage", timeout=TIMEOUT)
    assert got.status_code == 200, describe(got)
    storage = got.json()
    assert storage["unreferenced_blobs"] == 0, storage
    assert storage["blobs"] == len(referenced), storage
    fsck = deployment.nodes[0].cli("fsck", "--json", check=False)
    report = json.loads(fsck.stdout)
    assert report["clean"] is True, report["findings"][:10]
    assert fsck.returncode == 0, fsck.stderr


def stress(deployment: Deployment) -> None:
    """Push and delete with GC looping, then check pulls, storage and fsck."""
    started = time.monotonic()
    deadline = started + PUSH_SECONDS
    nodes = deployment.nodes
    pushers = [Pusher(n, nodes[n % len(nodes)], started, deadline) for n in range(CLIENTS)]
    outcome = Outcome()
    with GcLoop(nodes) as gc, ThreadPoolExecutor(CLIENTS) as pool:
        for result in pool.map(Pusher.run, pushers):
            outcome.merge(result)
    stopped = time.monotonic()
    summary = (
        f"{len(gc.runs)} GC runs deleting {sum(r['blobs_deleted'] for r in gc.runs)} blobs "
        f"in {stopped - started:.1f} s; {dict(outcome.tally)}; {len(outcome.alive)} alive, "
        f"{len(outcome.untagged)} of them untagged; a push took {outcome.most_attempts} "
        "manifest PUTs at most"
    )
    busy_reasons = Counter(
        line.split("database busy: ", 1)[1].split(":", 1)[-1].strip()
        for node in nodes
        for line in node.log().splitlines()
        if "database busy: " in line
    )
    print(summary, f"; the database's reasons for busy answers: {dict(busy_reasons)}")
    assert not outcome.failures, "\n".join(outcome.failures[:20])
    assert not gc.failures, "\n".join(gc.failures[:5])
    assert len(gc.runs) >= 5, summary
    assert outcome.tally["manifests deleted"] > 0, summary

    # Quiet: one run deletes the untagged manifests and marks whatever is unreferenced, the
    # grace window passes, one more sweeps it (and any object no row knows).
    final = GcLoop(nodes)
    final.run_once(final.apis[0], delete_untagged=True)
    time.sleep(GRACE_SECONDS + 0.2)
    final.run_once(final.apis[-1], delete_untagged=False)
    for api in final.apis:
        api.close()
    assert not final.failures, final.failures
    check_untagged_collected(deployment, outcome)
    check_storage(deployment, outcome)
    check_pulls(deployment, outcome)
    print(f"checked in {time.monotonic() - stopped:.1f} s")


def test_gc_under_load_on_sqlite_and_files(files_deployment: Deployment) -> None:
    stress(files_deployment)


def test_gc_under_load_on_two_nodes_with_postgres_and_s3(s3_deployment: Deployment) -> None:
    stress(s3_deployment)
