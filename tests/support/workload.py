"""A registry workload over plain HTTP, for the soak and fault runs (scripts/soak, scripts/faults).

Images are pushed the way clients push them (HEAD each blob, upload what is missing, sometimes
by cross-repository mount, then PUT the manifest); every request is counted by its status, and
an image counts as acknowledged only once its manifest PUT answered 201. The ledger keeps
what is needed to check an acknowledged image later byte for byte: the manifest's bytes and
the digest and size of each blob it refers to.

Layers are of two kinds: a small pool of shared layers (the same bytes in many images and
repositories, pushed concurrently by several clients) and one unique layer per image.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.oci_auth import DockerTokenAuth

KiB = 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCTET = "application/octet-stream"
API = "/api/v1"
CHUNK = 256 * KiB  # blobs larger than this go up in PATCH chunks
TIMEOUT = httpx.Timeout(60.0, connect=5.0)


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


# --- counting --------------------------------------------------------------------------------


@dataclass
class Tally:
    """Every response by status, server errors with what was asked, and other outcomes worth
    reporting (a connection cut by a kill, a manifest refused because a blob went away)."""

    statuses: Counter[int] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, response: httpx.Response) -> None:
        with self._lock:
            self.statuses[response.status_code] += 1
            if response.status_code >= 500:
                request = response.request
                self.server_errors.append(
                    f"{request.method} {request.url.path} -> {response.status_code}"
                )

    def note(self, what: str) -> None:
        with self._lock:
            self.notes[what] += 1

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


class CountedTokenAuth(DockerTokenAuth):
    """The Docker token flow, its token requests counted too (they are served requests)."""

    def __init__(self, username: str, password: str, tally: Tally) -> None:
        super().__init__(username, password)
        self._tally = tally

    def fetch_token(self, realm: str, service: str, scope: str | None) -> str:
        params = {"service": service, **({"scope": scope} if scope else {})}
        response = httpx.get(realm, params=params, auth=self._basic, timeout=TIMEOUT)
        self._tally.record(response)
        response.raise_for_status()
        return str(response.json()["token"])


@dataclass(frozen=True)
class Endpoint:
    """One node as clients see it: its URL and the administrator's credentials."""

    url: str
    username: str
    password: str

    def v2(self, tally: Tally) -> httpx.Client:
        """A /v2 client; blob reads redirected to the object store are followed (and counted
        apart: they are not moorage's)."""
        return httpx.Client(
            base_url=self.url,
            auth=CountedTokenAuth(self.username, self.password, tally),
            event_hooks={"response": [self._counter(tally)]},
            timeout=TIMEOUT,
            follow_redirects=True,
        )

    def rest(self, tally: Tally) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}{API}",
            auth=(self.username, self.password),
            event_hooks={"response": [self._counter(tally)]},
            timeout=TIMEOUT,
        )

    def _counter(self, tally: Tally) -> Callable[[httpx.Response], None]:
        ours = httpx.URL(self.url).netloc

        def count(response: httpx.Response) -> None:
            if response.request.url.netloc == ours:
                tally.record(response)
            else:
                tally.note("redirected blob reads served by the object store")

        return count


# --- content ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobRef:
    digest: str
    size: int


@dataclass(frozen=True)
class Image:
    """An image as pushed: where, its manifest's bytes, and the blobs it refers to."""

    repository: str
    tag: str
    manifest: bytes
    blobs: tuple[BlobRef, ...]

    @property
    def digest(self) -> str:
        return sha256(self.manifest)


class Content:
    """The bytes images are made of: the shared layers (built once) and fresh unique ones."""

    def __init__(self, shared_layers: int, max_layer: int, seed: int) -> None:
        rng = random.Random(seed)
        self.shared = [rng.randbytes(rng.randint(KiB, max_layer)) for _ in range(shared_layers)]
        self.max_layer = max_layer

    def build(
        self, repository: str, tag: str, rng: random.Random
    ) -> tuple[Image, dict[str, bytes]]:
        """An image of 1-3 shared layers and one unique layer, and its blobs' bytes."""
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"image": f"{repository}:{tag}", "nonce": rng.random()}},
                "rootfs": {"type": "layers", "diff_ids": []},
            }
        ).encode()
        layers = [*rng.sample(self.shared, rng.randint(1, min(3, len(self.shared))))]
        layers.append(rng.randbytes(rng.randint(1, self.max_layer)))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}
                    for layer in layers
                ],
            }
        ).encode()
        blobs = {sha256(data): data for data in (config, *layers)}
        refs = tuple(BlobRef(digest, len(data)) for digest, data in blobs.items())
        return Image(repository, tag, manifest, refs), blobs


# --- the protocol ----------------------------------------------------------------------------


class PushRefused(Exception):
    """The server answered a push step with something other than success (never a 5xx alone:
    those are counted by the tally as they happen)."""


class Pusher:
    """Pushes images and pulls them back through one client of one node."""

    def __init__(self, client: httpx.Client, tally: Tally, rng: random.Random) -> None:
        self.client = client
        self.tally = tally
        self.rng = rng

    def push(self, image: Image, blobs: dict[str, bytes], mount_from: str | None = None) -> bool:
        """True when the manifest PUT was acknowledged (201). A manifest refused because a
        blob the HEAD found was collected in between is retried once with every blob sent."""
        for attempt in range(2):
            for ref in image.blobs:
                self._ensure_blob(image.repository, ref, blobs[ref.digest], mount_from, attempt)
            response = self.client.put(
                f"/v2/{image.repository}/manifests/{image.tag}",
                content=image.manifest,
                headers={"Content-Type": OCI_MANIFEST},
            )
            if response.status_code == 201:
                return True
            if response.status_code == 400 and b"MANIFEST_BLOB_UNKNOWN" in response.content:
                self.tally.note("manifest refused: a blob was collected after its HEAD")
                continue
            raise PushRefused(f"manifest PUT -> {response.status_code}: {response.text[:200]}")
        return False

    def _ensure_blob(
        self, repository: str, ref: BlobRef, data: bytes, mount_from: str | None, attempt: int
    ) -> None:
        if attempt == 0:
            head = self.client.head(f"/v2/{repository}/blobs/{ref.digest}")
            if head.status_code == 200:
                return
        params = {"mount": ref.digest, "from": mount_from} if mount_from else {}
        start = self.client.post(f"/v2/{repository}/blobs/uploads/", params=params)
        if start.status_code == 201:
            return  # mounted
        if start.status_code != 202:
            raise PushRefused(f"upload start -> {start.status_code}: {start.text[:200]}")
        location = start.headers["location"]
        offset = 0
        # Large blobs in chunks (the session's size is recorded per PATCH), small ones in one PUT.
        while len(data) - offset > CHUNK:
            chunk = data[offset : offset + CHUNK]
            patched = self.client.patch(
                location,
                content=chunk,
                headers={
                    "Content-Type": OCTET,
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                },
            )
            if patched.status_code != 202:
                raise PushRefused(f"PATCH -> {patched.status_code}: {patched.text[:200]}")
            location = patched.headers["location"]
            offset += len(chunk)
        done = self.client.put(
            location,
            params={"digest": ref.digest},
            content=data[offset:],
            headers={"Content-Type": OCTET},
        )
        if done.status_code != 201:
            raise PushRefused(f"upload PUT -> {done.status_code}: {done.text[:200]}")

    def verify(self, image: Image, by_digest: bool = False) -> str | None:
        """None when the image pulls back byte for byte; otherwise what differs."""
        reference = image.digest if by_digest else image.tag
        got = self.client.get(
            f"/v2/{image.repository}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
        )
        if got.status_code != 200:
            return f"{image.repository}:{reference} manifest -> {got.status_code}"
        if got.content != image.manifest:
            return f"{image.repository}:{reference} manifest bytes differ"
        for ref in image.blobs:
            blob = self.client.get(f"/v2/{image.repository}/blobs/{ref.digest}")
            if blob.status_code != 200:
                return f"{image.repository}@{ref.digest} -> {blob.status_code}"
            if len(blob.content) != ref.size or sha256(blob.content) != ref.digest:
                return f"{image.repository}@{ref.digest} bytes differ"
        return None

    def delete(self, image: Image) -> int:
        """DELETE the manifest by digest; the status (202 when deleted)."""
        return self.client.delete(f"/v2/{image.repository}/manifests/{image.digest}").status_code

    def tags(self, repository: str) -> int:
        return self.client.get(f"/v2/{repository}/tags/list").status_code


# --- jobs through the REST API ------------------------------------------------------------------


FINISHED = ("succeeded", "failed", "stopped")


def start_gc(rest: httpx.Client) -> int | None:
    """Queue a garbage collection (untagged manifests too); None when one is already running."""
    response = rest.post("/gc-runs", json={"delete_untagged": True})
    if response.status_code == 409:
        return None
    response.raise_for_status()
    return int(response.json()["id"])


def start_cleanup(rest: httpx.Client, registry: str) -> int | None:
    response = rest.post(f"/registries/{registry}/cleanup-runs", json={"dry_run": False})
    if response.status_code == 409:
        return None
    response.raise_for_status()
    return int(response.json()["id"])


def add_replication(rest: httpx.Client, registry: str, node: Endpoint, to: str, images: str) -> int:
    """A manual push rule copying `images` of `registry` to the registry `to` of `node`
    (the same node will do: a copy goes out and comes back over HTTP); its id."""
    response = rest.post(
        f"/registries/{registry}/replications",
        json={
            "name": f"to-{to}",
            "direction": "push",
            "remote": {
                "url": node.url,
                "registry": to,
                "username": node.username,
                "password": node.password,
            },
            "filters": {"image": {"pattern": images}},
            "trigger": "manual",
        },
    )
    response.raise_for_status()
    return int(response.json()["id"])


def start_replication(rest: httpx.Client, registry: str, rule_id: int) -> str | None:
    """Run a rule by hand: the run's REST path, or None when one of the rule's is running."""
    response = rest.post(f"/registries/{registry}/replications/{rule_id}/runs")
    if response.status_code == 409:
        return None
    response.raise_for_status()
    return f"/registries/{registry}/replications/runs/{response.json()['id']}"


def run_status(rest: httpx.Client, path: str) -> str:
    response = rest.get(path)
    response.raise_for_status()
    return str(response.json()["status"])


def every_page(rest: httpx.Client, path: str) -> list[dict[str, Any]]:
    """Every item of a paged REST list."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        response = rest.get(path, params={"page": page, "page_size": 100})
        response.raise_for_status()
        body = response.json()
        items += body["items"]
        if len(items) >= body["total"] or not body["items"]:
            return items
        page += 1


def wait_finished(rest: httpx.Client, paths: Sequence[str], timeout: float) -> dict[str, str]:
    """Each run's status once all are finished, or as they stand at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = {path: run_status(rest, path) for path in paths}
        if all(s in FINISHED for s in statuses.values()) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.25)


def add_cleanup_policy(rest: httpx.Client, registry: str, images: str, keep: int) -> None:
    """Keep the `keep` latest pushed artifacts of the images matching `images`."""
    response = rest.post(
        f"/registries/{registry}/cleanup-policies",
        json={
            "image": {"pattern": images},
            "tag": {"pattern": "**", "untagged": True},
            "rule": {"kind": "latest_pushed", "count": keep},
        },
    )
    response.raise_for_status()


def create_registry(rest: httpx.Client, name: str) -> None:
    rest.post("/registries", json={"name": name}).raise_for_status()


# --- the ledger ------------------------------------------------------------------------------


class Ledger:
    """Acknowledged images, kept for the final check, and doomed ones, there to be deleted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kept: list[Image] = []
        self.doomed: list[Image] = []
        self.deleted: list[Image] = []

    def acknowledged(self, image: Image, keep: bool) -> None:
        with self._lock:
            (self.kept if keep else self.doomed).append(image)

    def any_kept(self, rng: random.Random) -> Image | None:
        with self._lock:
            return rng.choice(self.kept) if self.kept else None

    def take_doomed(self, rng: random.Random) -> Image | None:
        with self._lock:
            if not self.doomed:
                return None
            return self.doomed.pop(rng.randrange(len(self.doomed)))

    def gone(self, image: Image) -> None:
        with self._lock:
            self.deleted.append(image)

    def snapshot(self) -> list[Image]:
        with self._lock:
            return list(self.kept)


def verify_all(
    pushers: Sequence[Pusher], images: Sequence[Image], threads: int = 4
) -> tuple[int, list[str]]:
    """Pull every image back through each client (each node), by tag and by digest, a few at
    once: how many came back byte for byte everywhere, and the problems found."""

    def problems_of(image: Image) -> list[str]:
        return [
            problem
            for pusher in pushers
            for by_digest in (False, True)
            if (problem := pusher.verify(image, by_digest))
        ]

    with ThreadPoolExecutor(threads) as pool:
        found = list(pool.map(problems_of, images))
    return sum(not f for f in found), [p for f in found for p in f]


@contextmanager
def clients(endpoint: Endpoint, tally: Tally) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """A /v2 client and a REST client on one node, closed afterwards."""
    with endpoint.v2(tally) as v2, endpoint.rest(tally) as rest:
        yield v2, rest
