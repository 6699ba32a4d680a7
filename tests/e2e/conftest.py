"""Real registry clients against a live server: test images, isolated client state, dockerd.

Every client keeps its image storage, credentials and temporary files under the test's own
temporary directory, never in the machine's /var/lib/containers storage or ~/.docker. The one
thing shared is the containers tools' blob-info cache (/var/lib/containers/cache): because of
it, later pushes try cross-repository mounts, which the server must handle either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import oras.client
import pytest

from tests.support.oci_auth import DockerTokenAuth
from tests.support.server import ServerProcess

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
REF_NAME = "org.opencontainers.image.ref.name"

DOCKERD = Path("/usr/sbin/dockerd")
BUSYBOX = Path("/bin/busybox")
RANDOM_DATA_SIZE = 1 << 20  # with busybox, the layer is about 2 MiB

# Tags in the session's test layout.
AMD64_TAG = "v1"
ARM64_TAG = "arm64"
INDEX_TAG = "multi"


def run(
    argv: Sequence[str | Path],
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on an unexpected failure, fail with its whole output."""
    args = [str(arg) for arg in argv]
    proc = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def sha256_digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


# --- OCI image layouts ------------------------------------------------------------------------


@dataclass(frozen=True)
class OciLayout:
    """An OCI image layout directory (what umoci writes and `skopeo copy oci:` reads)."""

    path: Path

    def ref(self, tag: str) -> str:
        return f"oci:{self.path}:{tag}"

    def index(self) -> dict[str, Any]:
        index: dict[str, Any] = json.loads((self.path / "index.json").read_text())
        return index

    def descriptor(self, tag: str) -> dict[str, Any]:
        for desc in self.index()["manifests"]:
            if desc.get("annotations", {}).get(REF_NAME) == tag:
                return dict(desc)
        raise KeyError(f"no tag {tag!r} in {self.path}")

    def blob_path(self, digest: str) -> Path:
        algorithm, hex_digest = digest.split(":", 1)
        return self.path / "blobs" / algorithm / hex_digest

    def blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def json_blob(self, digest: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.blob(digest))
        return value

    def add_blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        self.blob_path(digest).write_bytes(data)
        return digest

    def tag(self, tag: str, descriptor: dict[str, Any]) -> None:
        index = self.index()
        index["manifests"] = [
            d for d in index["manifests"] if d.get("annotations", {}).get(REF_NAME) != tag
        ]
        index["manifests"].append({**descriptor, "annotations": {REF_NAME: tag}})
        (self.path / "index.json").write_text(json.dumps(index))

    def closure(self, tag: str) -> set[str]:
        """Digests of every blob the tag reaches: manifests, configs and layers."""
        return self._reachable(self.descriptor(tag))

    def _reachable(self, desc: dict[str, Any]) -> set[str]:
        digests = {desc["digest"]}
        if desc["mediaType"] in (OCI_INDEX, DOCKER_MANIFEST_LIST):
            for child in self.json_blob(desc["digest"])["manifests"]:
                digests |= self._reachable(child)
        elif desc["mediaType"] in (OCI_MANIFEST, DOCKER_MANIFEST):
            manifest = self.json_blob(desc["digest"])
            digests |= {d["digest"] for d in [manifest["config"], *manifest["layers"]]}
        return digests


def assert_same_image(source: OciLayout, source_tag: str, pulled: OciLayout, tag: str) -> None:
    """The pulled layout holds exactly the source's manifests and blobs, byte for byte."""
    assert pulled.descriptor(tag)["digest"] == source.descriptor(source_tag)["digest"]
    digests = source.closure(source_tag)
    assert pulled.closure(tag) == digests
    for digest in digests:
        assert pulled.blob(digest) == source.blob(digest), digest


def write_index(layout: OciLayout, platforms: dict[str, str], tag: str) -> str:
    """Tag an OCI index of the images tagged as `platforms` keys (tag -> architecture)."""
    manifests = []
    for image_tag, architecture in platforms.items():
        desc = layout.descriptor(image_tag)
        manifests.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": desc["digest"],
                "size": desc["size"],
                "platform": {"architecture": architecture, "os": "linux"},
            }
        )
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
    data = body.encode()
    digest = layout.add_blob(data)
    layout.tag(tag, {"mediaType": OCI_INDEX, "digest": digest, "size": len(data)})
    return digest


def make_rootfs(root: Path) -> Path:
    """A tiny busybox root filesystem plus a random, incompressible data file."""
    (root / "bin").mkdir(parents=True)
    (root / "data").mkdir()
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in ("sh", "ls", "cat", "echo"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "data" / "random.bin").write_bytes(os.urandom(RANDOM_DATA_SIZE))
    return root


def build_test_layout(workdir: Path, rootfs: Path) -> OciLayout:
    """amd64 image (`v1`), the same image as arm64 (`arm64`) and an index of both (`multi`)."""
    layout = OciLayout(workdir / "oci")
    bundle = workdir / "bundle"
    umoci = ["umoci", "--log", "error"]
    run([*umoci, "init", "--layout", layout.path])
    run([*umoci, "new", "--image", f"{layout.path}:base"])
    run([*umoci, "unpack", "--image", f"{layout.path}:base", bundle])
    shutil.copytree(rootfs, bundle / "rootfs", symlinks=True, dirs_exist_ok=True)
    run([*umoci, "repack", "--image", f"{layout.path}:layer", bundle])
    for tag, architecture in ((AMD64_TAG, "amd64"), (ARM64_TAG, "arm64")):
        run(
            [
                *umoci,
                "config",
                "--image",
                f"{layout.path}:layer",
                "--config.cmd=/bin/sh",
                "--config.entrypoint=",
                f"--architecture={architecture}",
                "--os=linux",
                "--tag",
                tag,
            ]
        )
    write_index(layout, {AMD64_TAG: "amd64", ARM64_TAG: "arm64"}, INDEX_TAG)
    return layout


@pytest.fixture(scope="session")
def image_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files of the test image (read-only for tests)."""
    return make_rootfs(tmp_path_factory.mktemp("rootfs") / "rootfs")


@pytest.fixture(scope="session")
def oci_layout(tmp_path_factory: pytest.TempPathFactory, image_rootfs: Path) -> OciLayout:
    """The session's test images; tests must only read it (copy it to change it)."""
    return build_test_layout(tmp_path_factory.mktemp("test-image"), image_rootfs)


# --- registry access --------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryAccess:
    """How clients reach the live server: the one place that knows its address and credentials.

    Every client fixture takes its TLS and credential options from here.
    """

    host: str
    username: str | None = None
    password: str | None = None

    @property
    def creds(self) -> str | None:
        return f"{self.username}:{self.password}" if self.username else None

    def tls_flags(self, prefix: str = "") -> list[str]:
        """The server speaks plain HTTP; prefix is "src-" or "dest-" for skopeo copy/sync."""
        return [f"--{prefix}tls-verify=false"]

    def flags(self, prefix: str = "") -> list[str]:
        """`--tls-verify=false` and, with credentials, `--creds` for containers tools."""
        flags = self.tls_flags(prefix)
        if self.creds:
            flags += [f"--{prefix}creds", self.creds]
        return flags

    def login_args(self) -> list[str]:
        """`login` arguments for clients that keep credentials (docker, podman); [] if none."""
        if not (self.username and self.password):
            return []
        return ["--username", self.username, "--password", self.password, self.host]

    def ref(self, registry: str, image: str, tag: str = "latest") -> str:
        separator = "@" if tag.startswith("sha256:") else ":"
        return f"{self.host}/{registry}/{image}{separator}{tag}"

    def docker_ref(self, registry: str, image: str, tag: str = "latest") -> str:
        return f"docker://{self.ref(registry, image, tag)}"


@pytest.fixture
def new_registry(live_server: ServerProcess) -> Callable[[], str]:
    """Creates one more fresh registry on each call (the `registry` fixture gives the first)."""

    def create() -> str:
        name = f"t{uuid.uuid4().hex[:10]}"
        live_server.create_registry(name)
        return name

    return create


@pytest.fixture
def access(live_server: ServerProcess) -> RegistryAccess:
    if not live_server.auth:
        return RegistryAccess(live_server.host)
    return RegistryAccess(live_server.host, live_server.username, live_server.password)


@pytest.fixture
def http(live_server: ServerProcess, access: RegistryAccess) -> Iterator[httpx.Client]:
    """Plain HTTP to the live server, for what no client shows (headers, referrers)."""
    auth = None
    if access.username and access.password:
        auth = DockerTokenAuth(access.username, access.password)
    with httpx.Client(base_url=live_server.url, auth=auth, timeout=30) as client:
        yield client


@pytest.fixture
def oras_client(access: RegistryAccess, tmp_path: Path) -> oras.client.OrasClient:
    # oras-py's "token" backend keeps the first token it gets: after a HEAD answered with a
    # pull-only token, the POST that asks for push scope (401 insufficient_scope) is retried
    # with that same token and fails. The server also takes Basic credentials, so use those.
    client = oras.client.OrasClient(hostname=access.host, insecure=True, auth_backend="basic")
    if access.username and access.password:
        client.login(
            access.username,
            access.password,
            hostname=access.host,
            config_path=str(tmp_path / "oras-auth.json"),
        )
    return client


# --- command-line clients ---------------------------------------------------------------------


@dataclass
class Tool:
    """A command-line client with its global options and its own environment."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def __call__(
        self, *args: str | Path, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        return run([*self.argv, *args], env=self.env, check=check, timeout=timeout)

    def json(self, *args: str | Path) -> Any:
        return json.loads(self(*args).stdout)


def client_env(home: Path) -> dict[str, str]:
    """Environment with credentials and temporary files kept under `home`."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    auth_file = home / "auth.json"
    if not auth_file.exists():
        # buildah and podman refuse an auth file that does not exist.
        auth_file.write_text('{"auths": {}}')
    return {
        **os.environ,
        "REGISTRY_AUTH_FILE": str(auth_file),
        "DOCKER_CONFIG": str(home / "docker-config"),
        "TMPDIR": str(home / "tmp"),
    }


def storage_options(home: Path, run_dir: Path) -> list[str]:
    """containers/storage options that keep images under `home` (vfs: no mounts to undo)."""
    return ["--root", str(home / "root"), "--runroot", str(run_dir), "--storage-driver", "vfs"]


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path (podman's runroot is limited to 50 characters)."""
    path = Path(tempfile.mkdtemp(prefix="moorage-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Skopeo:
    tool: Tool
    access: RegistryAccess

    def copy(self, src: str, dest: str, *options: str) -> subprocess.CompletedProcess[str]:
        return self.tool(
            "copy",
            "--quiet",
            *self.access.flags("src-"),
            *self.access.flags("dest-"),
            *options,
            src,
            dest,
        )

    def __call__(
        self, command: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """A registry command (inspect, list-tags, delete...) with the access options."""
        return self.tool(command, *self.access.flags(), *args, check=check)

    def inspect(self, ref: str, *options: str) -> Any:
        return json.loads(self("inspect", *options, ref).stdout)


@pytest.fixture
def skopeo(tmp_path: Path, access: RegistryAccess) -> Skopeo:
    return Skopeo(Tool(["skopeo"], client_env(tmp_path / "skopeo")), access)


@pytest.fixture
def buildah(tmp_path: Path, short_tmp: Path) -> Tool:
    home = tmp_path / "buildah"
    return Tool(["buildah", *storage_options(home, short_tmp / "buildah")], client_env(home))


@pytest.fixture
def podman(tmp_path: Path, short_tmp: Path, access: RegistryAccess) -> Tool:
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
    if login := access.login_args():
        podman("login", *access.tls_flags(), *login)  # for commands without --creds (search)
    return podman


# --- a real Docker engine ---------------------------------------------------------------------


class Dockerd:
    """dockerd with its own data root, exec root and socket; it starts its own containerd."""

    def __init__(self, insecure_registries: Sequence[str], data_root: Path) -> None:
        # Unix socket paths are limited to 108 bytes: keep the runtime files in a short path.
        self.run_dir = Path(tempfile.mkdtemp(prefix="moorage-dockerd-"))
        self.socket = self.run_dir / "docker.sock"
        self.log_path = data_root / "dockerd.log"
        options = [f"--insecure-registry={host}" for host in insecure_registries]
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(DOCKERD),
                    f"--data-root={data_root / 'root'}",
                    f"--exec-root={self.run_dir / 'exec'}",
                    f"--pidfile={self.run_dir / 'dockerd.pid'}",
                    f"--host=unix://{self.socket}",
                    "--iptables=false",
                    "--ip6tables=false",
                    "--bridge=none",
                    "--storage-driver=vfs",
                    *options,
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        transport = httpx.HTTPTransport(uds=str(self.socket))
        with httpx.Client(transport=transport, base_url="http://docker", timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"dockerd exited early:\n{self.log()}")
                try:
                    if client.get("/_ping").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"dockerd did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        # Whatever is left of the group (containerd, shims) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        shutil.rmtree(self.run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd(
    live_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dockerd]:
    if not DOCKERD.exists():
        pytest.skip(f"{DOCKERD} is missing: install Debian's docker.io (scripts/bootstrap does)")
    daemon = Dockerd([live_server.host], tmp_path_factory.mktemp("dockerd"))
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def docker(dockerd: Dockerd, access: RegistryAccess, tmp_path: Path) -> Tool:
    """The docker CLI talking to the session's dockerd, with its own client config."""
    env = client_env(tmp_path / "docker")
    env["DOCKER_HOST"] = f"unix://{dockerd.socket}"
    docker = Tool(["docker"], env)
    if login := access.login_args():
        docker("login", *login)
    return docker
