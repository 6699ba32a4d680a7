"""A blob's bytes always hash to its digest, even when requests race on one upload session.

Two PATCHes of different bytes sent at once to one upload must never both land: one writer
holds the session at a time, the other is refused. Every PUT that answers 201 must leave a
blob whose stored bytes (the file or S3 object, and what a GET serves) hash to its digest,
and a second registry pushing the genuine bytes of every digest pulls them back intact.
Runs on SQLite + files and on PostgreSQL + S3 (moto on loopback): one server of each,
shared by the module's tests, which work on digests of their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.databases import fresh_postgres_url
from tests.support.moto import MotoServer
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

ROUNDS = 200
RACE, GENUINE = "race", "genuine"
MiB = 1024 * 1024


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Backend:
    server: ServerProcess
    stored: Callable[[str], bytes]
    """The bytes the blob store holds under a digest, read behind the server's back."""


@dataclass
class Tally:
    created: dict[str, bytes] = field(default_factory=dict)
    refused_patches: int = 0
    rounds_with_two_writers: int = 0


def _blob_path(root: Path, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":", 1)
    return root / "blobs" / "blobs" / algorithm / hex_digest[:2] / hex_digest  # store root, key


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """SQLite and blob files, shared by the module's tests: each works on digests of its own,
    and every check reads only what its own test wrote."""
    server = ServerProcess(tmp_path_factory.mktemp("files") / "data").start()
    try:
        server.create_registry(RACE)
        server.create_registry(GENUINE)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """PostgreSQL and S3 (moto), shared by the module's tests like `files_server`."""
    tmp_path = tmp_path_factory.mktemp("s3")
    moto = MotoServer(tmp_path / "moto.log").start()
    try:
        bucket = "integrity"
        env = moto.storage_env(bucket, MOORAGE_S3_PREFIX="m")

        def stored(digest: str) -> bytes:
            algorithm, hex_digest = digest.split(":", 1)
            key = f"m/blobs/{algorithm}/{hex_digest[:2]}/{hex_digest}"
            body: bytes = moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()
            return body

        with fresh_postgres_url() as url:
            server = ServerProcess(tmp_path / "data", database_url=url, extra_env=env).start()
            try:
                server.create_registry(RACE)
                server.create_registry(GENUINE)
                yield Backend(server, stored)
            finally:
                server.stop()
    finally:
        moto.stop()


@pytest.fixture(scope="module", params=["sqlite-files", "postgres-s3"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "sqlite-files":
        server: ServerProcess = request.getfixturevalue("files_server")
        return Backend(server, lambda digest: _blob_path(server.data_dir, digest).read_bytes())
    s3: Backend = request.getfixturevalue("s3_backend")
    return s3


async def _trickle(data: bytes, pieces: int) -> AsyncIterator[bytes]:
    """A body sent in pieces with pauses, so two of them overlap on the server."""
    step = -(-len(data) // pieces)
    for start in range(0, len(data), step):
        yield data[start : start + step]
        await asyncio.sleep(0.001)


async def _patch(
    client: httpx.AsyncClient, location: str, data: bytes, with_range: bool
) -> httpx.Response:
    headers = {"Content-Type": "application/octet-stream"}
    if with_range:
        headers["Content-Range"] = f"0-{len(data) - 1}"
    return await client.patch(location, content=_trickle(data, 4), headers=headers)


async def _race_round(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    number: int,
    size: int,
    tally: Tally,
    informed: bool,
) -> None:
    rng = random.Random(number)
    first, second = rng.randbytes(size), rng.randbytes(size)
    started = await clients[0].post(f"/v2/{RACE}/img/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    with_range = number % 2 == 0  # both claim offset 0 explicitly, or both just append
    answers = await asyncio.gather(
        _patch(clients[0], location, first, with_range),
        _patch(clients[1], location, second, with_range),
    )
    codes = sorted(answer.status_code for answer in answers)
    assert all(code in (202, 416) for code in codes), [a.text for a in answers]
    assert codes != [416, 416], "one of two PATCHes must land"
    tally.refused_patches += codes.count(416)
    tally.rounds_with_two_writers += codes == [202, 202]
    for answer in answers:
        if answer.status_code == 416:
            assert answer.json()["errors"][0]["code"] == "RANGE_INVALID"
            assert answer.headers["Range"] in ("0-0", f"0-{size - 1}")  # what it holds
    candidates = [first, second, first + second, second + first]
    rng.shuffle(candidates)
    if informed and codes == [202, 416]:  # the one that landed first: a 201 is likely
        landed = first if answers[0].status_code == 202 else second
        candidates.sort(key=lambda content: content != landed)
    for content in candidates:
        digest = sha256(content)
        put = await clients[number % 2].put(location, params={"digest": digest})
        if put.status_code == 201:
            assert put.headers["Docker-Content-Digest"] == digest
            tally.created[digest] = content
            return
        assert put.status_code in (400, 404), put.text  # wrong digest, then the session is gone


async def _race(server: ServerProcess, rounds: int, size: int, *, informed: bool) -> Tally:
    tally = Tally()
    timeout = httpx.Timeout(60.0, connect=10.0)
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=timeout) as one,
        httpx.AsyncClient(base_url=server.url, timeout=timeout) as other,
    ):
        for number in range(rounds):
            await _race_round((one, other), number + size, size, tally, informed)
    return tally


def _check_created(backend: Backend, tally: Tally) -> None:
    with httpx.Client(base_url=backend.server.url, timeout=60) as client:
        for digest, content in tally.created.items():
            assert sha256(backend.stored(digest)) == digest, "stored bytes do not match"
            pulled = client.get(f"/v2/{RACE}/img/blobs/{digest}", follow_redirects=True)
            assert pulled.status_code == 200
            assert sha256(pulled.content) == digest
            assert pulled.content == content


def _push_genuine_and_pull(backend: Backend, contents: list[bytes]) -> None:
    """Another registry pushes the genuine bytes of each digest and gets them back intact."""
    with httpx.Client(base_url=backend.server.url, timeout=60) as client:
        for content in contents:
            digest = sha256(content)
            pushed = client.post(
                f"/v2/{GENUINE}/copy/blobs/uploads/",
                params={"digest": digest},
                content=content,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert pushed.status_code == 201, pushed.text
            pulled = client.get(f"/v2/{GENUINE}/copy/blobs/{digest}", follow_redirects=True)
            assert pulled.status_code == 200
            assert pulled.content == content, f"{digest} came back corrupted"
            assert sha256(backend.stored(digest)) == digest


def _genuine_contents(rounds: int, size: int) -> list[bytes]:
    contents = []
    for number in range(rounds):
        rng = random.Random(number + size)
        first, second = rng.randbytes(size), rng.randbytes(size)
        contents += [first, second, first + second, second + first]
    return contents


def test_concurrent_patches_never_poison_a_blob(backend: Backend) -> None:
    size = 64 * 1024 + 3
    tally = asyncio.run(_race(backend.server, ROUNDS, size, informed=False))
    _check_created(backend, tally)
    # The digest tried first is right in about one round of four (a wrong one ends the session).
    assert len(tally.created) >= ROUNDS // 10, "too few rounds completed a blob"
    assert tally.refused_patches > 0, "the PATCHes never overlapped: the test proved nothing"
    # A few of every kind is enough for the second registry: all would be slow on moto.
    _push_genuine_and_pull(backend, _genuine_contents(20, size))
    assert "Traceback" not in backend.server.log()


def test_concurrent_patches_across_s3_parts(backend: Backend) -> None:
    """Bodies larger than an S3 part (8 MiB): the multipart path, and large file writes."""
    size = 9 * MiB + 5
    tally = asyncio.run(_race(backend.server, 3, size, informed=True))
    assert tally.created
    _check_created(backend, tally)
    _push_genuine_and_pull(backend, _genuine_contents(1, size)[:2])
    assert "Traceback" not in backend.server.log()


def test_bytes_found_wrong_are_quarantined_until_a_verified_push_replaces_them(
    files_server: ServerProcess,
) -> None:
    """Bytes on disk that do not hash to their digest (written by an older version, or
    damaged) are found when the server reads them, quarantined and logged; pulls get
    BLOB_UNKNOWN, a manifest naming them MANIFEST_BLOB_UNKNOWN, until a push of the genuine
    bytes replaces them. The config is first pushed in a PATCH: one stored in a single
    request is kept in memory for the manifest push that follows, which then reads no disk."""
    server = files_server
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    digest = sha256(config)
    manifest = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        '"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
        f'"digest":"{digest}","size":{len(config)}}},"layers":[]}}'
    ).encode()
    manifest_headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    with httpx.Client(base_url=server.url, timeout=30) as client:

        def push_config() -> None:
            pushed = client.post(
                f"/v2/{RACE}/img/blobs/uploads/", params={"digest": digest}, content=config
            )
            assert pushed.status_code == 201, pushed.text

        started = client.post(f"/v2/{RACE}/img/blobs/uploads/")
        patched = client.patch(started.headers["location"], content=config)
        pushed = client.put(patched.headers["location"], params={"digest": digest})
        assert pushed.status_code == 201, pushed.text
        path = _blob_path(server.data_dir, digest)
        path.write_bytes(config.replace(b"amd64", b"arm64"))  # same size, wrong bytes

        refused = client.put(
            f"/v2/{RACE}/img/manifests/v1", content=manifest, headers=manifest_headers
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
        head = client.head(f"/v2/{RACE}/img/blobs/{digest}")
        assert head.status_code == 404
        assert client.get(f"/v2/{RACE}/img/blobs/{digest}").json()["errors"][0]["code"] == (
            "BLOB_UNKNOWN"
        )
        assert f"blob {digest} quarantined" in server.log()

        push_config()  # the genuine bytes replace the wrong ones
        assert path.read_bytes() == config
        assert client.get(f"/v2/{RACE}/img/blobs/{digest}").content == config
        accepted = client.put(
            f"/v2/{RACE}/img/manifests/v1", content=manifest, headers=manifest_headers
        )
        assert accepted.status_code == 201, accepted.text
    assert "Traceback" not in server.log()


def test_a_leftover_object_without_a_row_is_replaced_by_the_first_push(
    files_server: ServerProcess,
) -> None:
    """A crash between writing a blob and recording it can leave an object no row names;
    the next push of that digest must not trust it."""
    server = files_server
    content = random.Random(7).randbytes(4096)
    digest = sha256(content)
    path = _blob_path(server.data_dir, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * len(content))  # a torn leftover
    with httpx.Client(base_url=server.url, timeout=30) as client:
        started = client.post(f"/v2/{RACE}/img/blobs/uploads/")
        location = started.headers["Location"]
        assert client.patch(location, content=content).status_code == 202
        assert client.put(location, params={"digest": digest}).status_code == 201
        assert client.get(f"/v2/{RACE}/img/blobs/{digest}").content == content
    assert path.read_bytes() == content


async def _put_whole(client: httpx.AsyncClient, location: str, data: bytes) -> httpx.Response:
    return await client.put(
        location,
        params={"digest": sha256(data)},
        content=_trickle(data, 4),
        headers={"Content-Type": "application/octet-stream"},
    )


async def _put_races(server: ServerProcess, rounds: int, size: int) -> Tally:
    """A PUT carrying a whole blob races a PATCH, or another such PUT, on a fresh session."""
    tally = Tally()
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as one,
        httpx.AsyncClient(base_url=server.url, timeout=60) as other,
    ):
        for number in range(rounds):
            rng = random.Random(10_000 + number)
            first, second = rng.randbytes(size), rng.randbytes(size)
            location = (await one.post(f"/v2/{RACE}/img/blobs/uploads/")).headers["Location"]
            rival = (
                _patch(other, location, second, number % 4 == 0)
                if number % 2
                else _put_whole(other, location, second)
            )
            answers = await asyncio.gather(_put_whole(one, location, first), rival)
            for answer, content in zip(answers, (first, second), strict=True):
                assert answer.status_code < 500, answer.text
                if answer.status_code == 201:
                    tally.created[sha256(content)] = content
                elif answer.status_code in (400, 404, 416):
                    tally.refused_patches += 1
    return tally


def test_a_put_with_the_whole_blob_racing_other_writers(backend: Backend) -> None:
    tally = asyncio.run(_put_races(backend.server, 60, 32 * 1024 + 1))
    _check_created(backend, tally)
    assert tally.created
    assert "Traceback" not in backend.server.log()
