"""Garbage collection on real servers, driven as an operator would: over the REST API
(POST /api/v1/gc-runs, polled until finished), the registry protocol and `moorage fsck`.

What must hold (docs/operators.md, "Garbage collection"):
- a run marks unreferenced blobs and deletes only those marked at least the grace window
  ago; what another artifact still references is never touched, and pulls back intact;
- a dry run changes nothing and reports what a real run would free;
- an upload file that no session owns (a monolithic upload cut off by a crash) is removed
  once it is older than the grace window; one a session owns is kept;
- a manifest PUT or a mount racing a run either wins (201, and its blobs stay) or is refused
  (the blob is gone): never a 201 for a manifest whose blob's object is then deleted;
- a run killed midway (SIGKILL) is retried by its job after a restart and finishes the
  work: nothing unreferenced is left and fsck finds metadata and storage consistent.

Servers run with a grace window of 0–1 s (`MOORAGE_GC_GRACE_SECONDS`), on SQLite + files,
and on PostgreSQL + S3 (moto on loopback) for the race.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.protocol.conftest import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    Blob,
    OciClient,
    descriptor,
    expect_error,
    expect_status,
    image_config,
    image_manifest,
    location,
    random_blob,
)
from tests.support.databases import fresh_postgres_url
from tests.support.moto import MotoServer
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
KiB = 1024
GRACE_SECONDS = 1.0
REGISTRY = "gc"
OCTET = "application/octet-stream"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
FINISHED = ("succeeded", "failed")
S3_PREFIX = "gcprefix"


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


@dataclass(frozen=True)
class Image:
    """What was pushed: the manifest, and the config and layers it lists."""

    repository: str
    manifest: Blob
    blobs: tuple[Blob, ...]


class Node:
    """A server on its own data directory (restarted there after a crash), driven over HTTP."""

    def __init__(
        self,
        factory: type[ServerProcess],
        data_dir: Path,
        grace_seconds: float,
        *,
        database_url: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.factory = factory
        self.data_dir = data_dir
        self.database_url = database_url
        self.env = {"MOORAGE_GC_GRACE_SECONDS": str(grace_seconds), **(extra_env or {})}
        self.server = self._start()
        self.server.create_registry(REGISTRY)
        self.http = httpx.Client(base_url=self.server.url, timeout=TIMEOUT)

    def _start(self) -> ServerProcess:
        return self.factory(self.data_dir, self.database_url, extra_env=self.env).start()

    def restart(self) -> None:
        """Start again on the same data (after `server.kill()`), on a new port."""
        self.server.kill()
        self.http.close()
        self.server = self._start()
        self.http = httpx.Client(base_url=self.server.url, timeout=TIMEOUT)

    def close(self) -> None:
        self.http.close()
        self.server.stop()

    def oci(self, image: str) -> OciClient:
        return OciClient(self.http, f"{REGISTRY}/{image}")

    # garbage collection, as an operator runs it --------------------------------------------

    def start_gc(self, *, dry_run: bool = False) -> int:
        started = self.http.post(
            "/api/v1/gc-runs", json={"dry_run": dry_run, "delete_untagged": False}
        )
        assert started.status_code == 202, started.text
        assert started.json()["status"] == "queued"
        run_id: int = started.json()["id"]
        return run_id

    def gc_run(self, run_id: int) -> dict[str, Any]:
        got = self.http.get(f"/api/v1/gc-runs/{run_id}")
        assert got.status_code == 200, got.text
        run: dict[str, Any] = got.json()
        return run

    def wait_gc(self, run_id: int, timeout: float = 60.0) -> dict[str, Any]:
        """The finished run; it must have succeeded without errors."""
        deadline = time.monotonic() + timeout
        while (run := self.gc_run(run_id))["status"] not in FINISHED:
            assert time.monotonic() < deadline, f"GC run {run_id} did not finish: {run}"
            time.sleep(0.05)
        assert run["status"] == "succeeded", run
        assert run["errors"] == 0, run
        return run

    def gc(self, *, dry_run: bool = False) -> dict[str, Any]:
        return self.wait_gc(self.start_gc(dry_run=dry_run))

    def storage(self) -> dict[str, int]:
        got = self.http.get("/api/v1/storage")
        assert got.status_code == 200, got.text
        totals: dict[str, int] = got.json()
        return totals

    def stored_bytes(self) -> int:
        got = self.http.get(f"/api/v1/registries/{REGISTRY}")
        assert got.status_code == 200, got.text
        return int(got.json()["stored_bytes"])

    def fsck(self) -> dict[str, Any]:
        """`moorage fsck --json` on this node's data; exit 0 means consistent."""
        report = self.server.cli_json("fsck")
        assert isinstance(report, dict)
        return report

    # the filesystem driver's layout (storage/layout.py under <data-dir>/blobs) -------------

    def blob_file(self, digest: str) -> Path:
        algorithm, hex_digest = digest.split(":", 1)
        return self.data_dir / "blobs" / "blobs" / algorithm / hex_digest[:2] / hex_digest

    def upload_files(self) -> list[Path]:
        return sorted((self.data_dir / "blobs" / "uploads").iterdir())

    def blob_files(self) -> list[Path]:
        return sorted(p for p in (self.data_dir / "blobs" / "blobs").rglob("*") if p.is_file())


@pytest.fixture
def node(server_factory: type[ServerProcess], tmp_path: Path) -> Iterator[Node]:
    started = Node(server_factory, tmp_path / "data", GRACE_SECONDS)
    try:
        yield started
    finally:
        started.close()
    assert "Traceback" not in started.server.log()


def push_image(client: OciClient, layers: list[Blob], tag: str = "v1") -> Image:
    config = client.push_blob(image_config(uuid.uuid4().hex))
    for layer in layers:
        client.push_blob(layer)
    manifest = image_manifest(
        descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER_GZIP, layer) for layer in layers]
    )
    client.push_manifest(tag, manifest)
    return Image(client.name, manifest, (config, *layers))


def assert_pulls_back(client: OciClient, image: Image, reference: str) -> None:
    """The manifest and every blob it lists come back byte for byte, hashing to their digests."""
    got = expect_status(client.get_manifest(reference), 200)
    assert got.content == image.manifest.content
    assert got.headers["docker-content-digest"] == image.manifest.digest
    for blob in image.blobs:
        pulled = expect_status(client.get_blob(blob.digest), 200)
        assert sha256(pulled.content) == blob.digest
        assert pulled.content == blob.content


def sizes(*blobs: Blob) -> int:
    return sum(blob.size for blob in blobs)


# a deleted image ------------------------------------------------------------------------------


def test_a_deleted_image_is_collected_and_the_image_sharing_its_layer_survives(
    node: Node,
) -> None:
    rng = random.Random(1)
    shared = random_blob(256 * KiB, rng)
    alpha, beta = node.oci("alpha"), node.oci("beta")
    kept = push_image(alpha, [shared, random_blob(64 * KiB + 1, rng)])
    deleted = push_image(beta, [shared, random_blob(128 * KiB + 3, rng)])
    deleted_config, _, deleted_layer = deleted.blobs
    unique = (deleted_config, deleted_layer)
    stored_before = node.stored_bytes()
    assert stored_before == sizes(*kept.blobs, *unique)  # the shared layer counts once

    expect_status(beta.delete_manifest(deleted.manifest.digest), 202)
    marking = node.gc()
    # Unreferenced now, but not for the grace window yet: marked and still served.
    assert (marking["blobs_deleted"], marking["bytes_freed"]) == (0, 0), marking
    assert any("marked 2 unreferenced blobs" in line for line in marking["log"]), marking
    for blob in unique:
        assert node.blob_file(blob.digest).is_file()
        expect_status(beta.head_blob(blob.digest), 200)

    time.sleep(GRACE_SECONDS + 0.2)
    sweep = node.gc()
    assert sweep["blobs_deleted"] == 2, sweep
    assert sweep["bytes_freed"] == sizes(*unique), sweep

    for blob in unique:
        assert not node.blob_file(blob.digest).exists(), blob.digest
        expect_status(beta.head_blob(blob.digest), 404)
        expect_status(alpha.head_blob(blob.digest), 404)
    expect_status(beta.get_manifest(deleted.manifest.digest), 404)
    for blob in kept.blobs:
        assert node.blob_file(blob.digest).is_file(), blob.digest
    assert_pulls_back(alpha, kept, "v1")
    assert_pulls_back(alpha, kept, kept.manifest.digest)

    assert node.stored_bytes() == stored_before - sizes(*unique)
    storage = node.storage()
    assert storage["blobs"] == len(kept.blobs), storage
    assert storage["unreferenced_blobs"] == 0, storage
    assert storage["stored_bytes"] == storage["referenced_bytes"] == sizes(*kept.blobs)
    assert len(node.blob_files()) == len(kept.blobs)

    report = node.fsck()  # alongside the running server: it only reads
    assert report["clean"] is True, report
    assert report["blobs_checked"] == report["objects_checked"] == len(kept.blobs), report


# dry runs -------------------------------------------------------------------------------------


def test_a_dry_run_frees_nothing_and_reports_what_a_real_run_frees(node: Node) -> None:
    rng = random.Random(2)
    repository = node.oci("dry")
    pushed = [repository.push_blob(random_blob(size, rng)) for size in (1, 4 * KiB, 300 * KiB)]
    assert node.gc()["blobs_deleted"] == 0  # marks them (a dry run never marks)
    time.sleep(GRACE_SECONDS + 0.2)

    dry = node.gc(dry_run=True)
    assert dry["dry_run"] is True
    assert dry["blobs_deleted"] == len(pushed), dry
    assert dry["bytes_freed"] == sizes(*pushed), dry
    assert any(f"would delete {len(pushed)} unreferenced blobs" in line for line in dry["log"])
    for blob in pushed:
        assert node.blob_file(blob.digest).read_bytes() == blob.content
        assert expect_status(repository.get_blob(blob.digest), 200).content == blob.content
    storage = node.storage()
    assert storage["unreferenced_blobs"] == len(pushed), storage
    assert storage["unreferenced_bytes"] == sizes(*pushed), storage

    real = node.gc()
    assert (real["blobs_deleted"], real["bytes_freed"]) == (
        dry["blobs_deleted"],
        dry["bytes_freed"],
    )
    for blob in pushed:
        assert not node.blob_file(blob.digest).exists()
        expect_status(repository.head_blob(blob.digest), 404)
    assert node.storage()["blobs"] == 0


# upload leftovers -----------------------------------------------------------------------------


def _post_whole_blob_until_killed(
    node: Node, data: bytes, cut_at: int, partway: threading.Event, killed: threading.Event
) -> list[BaseException | httpx.Response]:
    """POST ?digest= with the whole blob as the body, holding the request open at `cut_at`
    until the server is killed; returns (once the thread is done) what the client got."""
    outcome: list[BaseException | httpx.Response] = []

    def body() -> Iterator[bytes]:
        for offset in range(0, len(data), MiB):
            if offset == cut_at:
                partway.set()
                killed.wait(60)
            yield data[offset : offset + MiB]

    def send() -> None:
        try:
            outcome.append(
                node.http.post(
                    f"/v2/{REGISTRY}/leftover/blobs/uploads/",
                    params={"digest": sha256(data)},
                    content=body(),
                    headers={"Content-Type": OCTET, "Content-Length": str(len(data))},
                )
            )
        except httpx.HTTPError as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send, name="monolithic-upload")
    sender.start()
    try:
        assert partway.wait(60), "the client never got partway through the body"
        wait_until(
            lambda: any(p.stat().st_size >= 2 * MiB for p in node.upload_files()),
            "the server wrote part of the body to an upload file",
        )
        node.server.kill()
    finally:
        killed.set()
        sender.join(60)
    assert not sender.is_alive()
    return outcome


def test_an_upload_killed_mid_body_is_removed_after_the_grace_window(node: Node) -> None:
    data = random.Random(3).randbytes(8 * MiB)
    outcome = _post_whole_blob_until_killed(
        node, data, 4 * MiB, threading.Event(), threading.Event()
    )
    (cut_off,) = outcome
    assert isinstance(cut_off, httpx.TransportError), cut_off
    node.restart()
    (leftover,) = node.upload_files()
    leftover_size = leftover.stat().st_size
    assert leftover_size >= 2 * MiB
    expect_status(node.oci("leftover").head_blob(sha256(data)), 404)

    # A chunked upload in progress, as old as the leftover by the time GC runs: its session
    # owns its file, so it must survive and finish.
    chunked = node.oci("chunked")
    content = random.Random(4).randbytes(3 * MiB + 7)
    started = expect_status(chunked.start_upload(), 202)
    patched = expect_status(chunked.patch_upload(location(started), content[: 2 * MiB]), 202)
    assert len(node.upload_files()) == 2
    wait_until(
        lambda: all(
            time.time() - p.stat().st_mtime > GRACE_SECONDS + 0.1 for p in node.upload_files()
        ),
        "both upload files are older than the grace window",
    )

    run = node.gc()
    assert not leftover.exists(), "the leftover of the killed upload is still there"
    assert any("discarded 1 upload leftovers" in line for line in run["log"]), run
    assert run["bytes_freed"] == leftover_size, run
    assert len(node.upload_files()) == 1  # the session's file

    done = chunked.put_upload(location(patched), sha256(content), content[2 * MiB :])
    expect_status(done, 201)
    assert expect_status(chunked.get_blob(sha256(content)), 200).content == content
    assert node.upload_files() == []
    assert node.fsck()["clean"] is True


# references racing runs (PostgreSQL + S3) -----------------------------------------------------

RACE_ROUNDS = 30
RACE_WORKERS = 3
REFERENCE_DELAY_SECONDS = (0.0, 2.5)
"""How long a round waits between pushing its blobs and referencing them. Runs follow each
other every ~0.6 s with a 1 s grace window: a blob is marked by the first run after its
push and swept by the first run a second later, so the delay spreads the references over
before the mark, while marked (the take-back), at the sweep, and after it."""


@dataclass(frozen=True)
class S3Deployment:
    node: Node
    object_size: Callable[[str], int | None]
    """The size of the S3 object holding a digest's blob, None when there is none."""
    blob_status: Callable[[str], str | None]
    """A blob row's status, read from PostgreSQL behind the server's back."""


@dataclass(frozen=True)
class RaceOutcome:
    acknowledged: Image | None
    """The image whose manifest PUT answered 201, None when the reference was refused."""
    seen_marked: bool
    """A blob was marked just before the reference: a take-back was needed."""
    mount_fallbacks: int = 0


@pytest.fixture
def s3_deployment(server_factory: type[ServerProcess], tmp_path: Path) -> Iterator[S3Deployment]:
    """PostgreSQL + S3 (moto on loopback), grace window 1 s."""
    moto = MotoServer(tmp_path / "moto.log").start()
    try:
        bucket = "gc-race"
        s3 = moto.client()
        env = moto.storage_env(bucket, MOORAGE_S3_PREFIX=S3_PREFIX)

        def object_size(digest: str) -> int | None:
            algorithm, hex_digest = digest.split(":", 1)
            key = f"{S3_PREFIX}/blobs/{algorithm}/{hex_digest[:2]}/{hex_digest}"
            found = s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
            sizes = [int(item["Size"]) for item in found if item["Key"] == key]
            return sizes[0] if sizes else None

        with fresh_postgres_url() as url:
            engine = create_engine(url, poolclass=NullPool)

            def blob_status(digest: str) -> str | None:
                with engine.connect() as conn:
                    query = text("SELECT status FROM blob WHERE digest = :digest")
                    status = conn.execute(query, {"digest": digest}).scalar_one_or_none()
                return None if status is None else str(status)

            node = Node(
                server_factory, tmp_path / "data", GRACE_SECONDS, database_url=url, extra_env=env
            )
            try:
                yield S3Deployment(node, object_size, blob_status)
            finally:
                node.close()
                engine.dispose()
            assert "Traceback" not in node.server.log()
    finally:
        moto.stop()


def _mount_or_upload(target: OciClient, source: str, blob: Blob) -> tuple[bool, int]:
    """Make the blob readable in `target`: a mount, or (when the mount falls back to an
    upload session because the blob is being deleted or gone) an upload of its bytes.
    Returns (done, fallbacks); not done if the registry kept answering 503 (the sweeper
    still holds the digest: the client is to retry)."""
    fallbacks = 0
    for _ in range(5):
        mounted = expect_status(target.mount(blob.digest, source), 201, 202)
        if mounted.status_code == 201:
            return True, fallbacks
        fallbacks += 1
        done = target.put_upload(location(mounted), blob.digest, blob.content)
        if expect_status(done, 201, 503).status_code == 201:
            return True, fallbacks
    return False, fallbacks


def _race_round(deployment: S3Deployment, round_no: int) -> RaceOutcome:
    """Push a config and a layer nothing references, wait, then reference them by a
    manifest (after mounting them into another image, on odd rounds). A 201 is an
    acknowledgement the registry must keep; a refusal must be MANIFEST_BLOB_UNKNOWN."""
    rng = random.Random(round_no)
    with httpx.Client(base_url=deployment.node.server.url, timeout=TIMEOUT) as http:
        source = OciClient(http, f"{REGISTRY}/src{round_no}")
        config = source.push_blob(image_config(f"round {round_no}"))
        layer = source.push_blob(random_blob(4 * KiB + rng.randrange(512), rng))
        time.sleep(rng.uniform(*REFERENCE_DELAY_SECONDS))
        seen_marked = any(deployment.blob_status(b.digest) == "marked" for b in (config, layer))
        client, fallbacks = source, 0
        if round_no % 2:
            client = OciClient(http, f"{REGISTRY}/dst{round_no}")
            for blob in (config, layer):
                done, tries = _mount_or_upload(client, source.name, blob)
                fallbacks += tries
                if not done:
                    return RaceOutcome(None, seen_marked, fallbacks)
        manifest = image_manifest(
            descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER_GZIP, layer)]
        )
        put = client.put_manifest(f"r{round_no}", manifest)
        if put.status_code == 201:
            return RaceOutcome(
                Image(client.name, manifest, (config, layer)), seen_marked, fallbacks
            )
        expect_error(put, 400, "MANIFEST_BLOB_UNKNOWN")
        return RaceOutcome(None, seen_marked, fallbacks)


def _marked_blobs_are_taken_back(deployment: S3Deployment) -> Image:
    """Marked (unreferenced, grace window not over) is still served: a manifest PUT and a
    mount take such blobs back to live. Returns the image pushed over them."""
    node = deployment.node
    source, other = node.oci("marked"), node.oci("marked-mount")
    config = source.push_blob(image_config("taken back"))
    layer = source.push_blob(random_blob(8 * KiB, random.Random(7)))
    mounted = source.push_blob(random_blob(5 * KiB, random.Random(8)))
    assert node.gc()["blobs_deleted"] == 0
    blobs = (config, layer, mounted)
    assert [deployment.blob_status(b.digest) for b in blobs] == ["marked"] * 3
    manifest = image_manifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER_GZIP, layer)])
    expect_status(source.put_manifest("kept", manifest), 201)
    expect_status(other.mount(mounted.digest, source.name), 201)
    assert [deployment.blob_status(b.digest) for b in blobs] == ["live"] * 3
    return Image(source.name, manifest, (config, layer))


def _collect_until(node: Node, stop: threading.Event) -> list[dict[str, Any]]:
    """Garbage-collection runs back to back until told to stop."""
    runs = []
    while not stop.is_set():
        runs.append(node.gc())
    return runs


def test_references_racing_runs_are_either_refused_or_kept(
    s3_deployment: S3Deployment,
) -> None:
    node = s3_deployment.node
    taken_back = _marked_blobs_are_taken_back(s3_deployment)
    stop = threading.Event()
    with (
        ThreadPoolExecutor(1, thread_name_prefix="gc") as collector,
        ThreadPoolExecutor(RACE_WORKERS, thread_name_prefix="round") as pushers,
    ):
        runs_future = collector.submit(_collect_until, node, stop)
        try:
            outcomes = list(pushers.map(partial(_race_round, s3_deployment), range(RACE_ROUNDS)))
        finally:
            stop.set()
        runs = runs_future.result()

    acknowledged = [o.acknowledged for o in outcomes if o.acknowledged is not None]
    took_back = [o for o in outcomes if o.seen_marked and o.acknowledged is not None]
    deleted = sum(run["blobs_deleted"] for run in runs)
    print(
        f"race: {len(runs)} runs deleted {deleted} blobs; {len(acknowledged)} manifests "
        f"acknowledged ({len(took_back)} over marked blobs), "
        f"{len(outcomes) - len(acknowledged)} refused, "
        f"{sum(o.mount_fallbacks for o in outcomes)} mounts fell back to uploads"
    )
    # Otherwise the rounds never met the runs where it matters, and proved nothing.
    assert acknowledged, outcomes
    assert took_back, outcomes
    assert deleted, runs

    # Two more runs with nothing racing, a grace window apart: whatever a refused round
    # left unreferenced goes, and referenced blobs must survive them too.
    node.gc()
    time.sleep(GRACE_SECONDS + 0.2)
    node.gc()
    for image in [taken_back, *acknowledged]:
        client = node.oci(image.repository.split("/", 1)[1])
        assert_pulls_back(client, image, image.manifest.digest)
        for blob in image.blobs:
            assert s3_deployment.object_size(blob.digest) == blob.size, blob.digest
            assert s3_deployment.blob_status(blob.digest) == "live", blob.digest
    storage = node.storage()
    assert storage["stored_bytes"] == storage["referenced_bytes"], storage
    report = node.fsck()
    assert report["clean"] is True, report


# a run killed midway --------------------------------------------------------------------------

SEEDED_BLOBS = 500


def _seed_unreferenced(node: Node, count: int) -> list[Blob]:
    """Blobs no manifest references (unreferenced from the start): monolithic POSTs."""
    rng = random.Random(6)
    blobs = [random_blob(KiB + rng.randrange(KiB), rng) for _ in range(count)]
    for blob in blobs:
        pushed = node.http.post(
            f"/v2/{REGISTRY}/seed/blobs/uploads/",
            params={"digest": blob.digest},
            content=blob.content,
            headers={"Content-Type": OCTET},
        )
        assert pushed.status_code == 201, pushed.text
    return blobs


class Database:
    """The node's SQLite metadata, read (and once written) behind the server's back."""

    def __init__(self, node: Node) -> None:
        self.path = node.data_dir / "moorage.db"
        self.reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)

    def close(self) -> None:
        self.reader.close()

    def deleting(self) -> int:
        query = "SELECT count(*) FROM blob WHERE status = 'deleting'"
        (count,) = self.reader.execute(query).fetchone()
        return int(count)

    def digests(self, status: str) -> list[str]:
        rows = self.reader.execute("SELECT digest FROM blob WHERE status = ?", (status,))
        return [str(digest) for (digest,) in rows]

    def run_and_job(self, run_id: int) -> tuple[str, str]:
        (run,) = self.reader.execute("SELECT status FROM gc_run WHERE id = ?", (run_id,)).fetchone()
        query = "SELECT state FROM job WHERE kind = 'gc_run' ORDER BY id DESC"
        (job,) = self.reader.execute(query).fetchone()
        return str(run), str(job)

    def expire_job_lease(self) -> None:
        """What a minute without the dead worker's lease renewals does: the job can be
        claimed again (the runner's lease is 60 s, too long to wait out in a test)."""
        writer = sqlite3.connect(self.path, timeout=10)
        try:
            with writer:
                writer.execute(
                    "UPDATE job SET lease_until = '2000-01-01 00:00:00.000000' "
                    "WHERE kind = 'gc_run' AND state = 'running'"
                )
        finally:
            writer.close()


def _kill_once_sweeping(node: Node, database: Database, run_id: int) -> None:
    """SIGKILL the server as soon as the sweep has moved blobs to deleting: before their
    objects and rows are gone, the part of a run that a retry must finish."""
    deadline = time.monotonic() + 30
    while not database.deleting():
        assert time.monotonic() < deadline, f"the run never swept: {node.gc_run(run_id)}"
    node.server.kill()


def test_a_run_killed_midway_is_resumed_after_a_restart(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    node = Node(server_factory, tmp_path / "data", 0)
    database = Database(node)
    try:
        seeded = _seed_unreferenced(node, SEEDED_BLOBS)
        assert len(node.blob_files()) == SEEDED_BLOBS
        run_id = node.start_gc()
        _kill_once_sweeping(node, database, run_id)
        assert database.run_and_job(run_id) == ("running", "running")
        deleting = database.digests("deleting")
        assert deleting, "the kill came after the sweep: nothing left to resume"

        # Back up, with the dead worker's job still leased: blobs being deleted are unknown
        # to clients even where their objects are still there.
        node.restart()
        assert node.gc_run(run_id)["status"] == "running"
        seed = node.oci("seed")
        for digest in deleting[:20]:
            expect_status(seed.head_blob(digest), 404)
        expect_status(node.http.post("/api/v1/gc-runs", json={}), 409)  # one run at a time

        database.expire_job_lease()
        run = node.wait_gc(run_id)  # the job, claimed again, resumes the run
        assert any(
            f"resumed: deleted {len(deleting)} blobs an earlier run left deleting" in line
            for line in run["log"]
        ), run["log"]
        assert run["blobs_deleted"] == SEEDED_BLOBS, run
        assert node.blob_files() == [], "unreferenced blobs are still on disk"
        assert node.storage()["blobs"] == 0
        for blob in seeded[:20]:
            expect_status(seed.head_blob(blob.digest), 404)

        after = node.gc()  # nothing keeps the next run from starting; nothing is left to do
        assert after["blobs_deleted"] == 0, after
        report = node.fsck()
        assert report["clean"] is True, report
        assert report["blobs_checked"] == report["objects_checked"] == 0, report
    finally:
        database.close()
        node.close()
    assert "Traceback" not in node.server.log()
