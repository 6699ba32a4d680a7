"""The reference deployment, run: deploy/nginx/moorage.conf in front of two moorage nodes on
one PostgreSQL database and one S3 bucket (moto), all on loopback.

Debian's nginx runs the deploy file itself, with only its addresses, ports and certificate
paths replaced, under a self-signed certificate. skopeo pushes and pulls through it over
HTTPS and verifies the certificate; the nodes trust 127.0.0.1 (where nginx connects from) as
their proxy. nginx's access log names the node that answered each request, so the test sees
requests, a chunked upload's PATCHes included, alternate between the nodes.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import itertools
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import OciLayout, Tool, assert_same_image, client_env
from tests.support.databases import fresh_postgres_url
from tests.support.moto import MotoServer
from tests.support.oci_auth import parse_challenge
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess, free_port

pytestmark = pytest.mark.e2e

DEPLOY_CONF = Path(__file__).parents[2] / "deploy" / "nginx" / "moorage.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# The clients connect from this loopback address: not a trusted proxy, unlike 127.0.0.1,
# where nginx connects to the nodes from.
CLIENT_ADDRESS = "127.0.0.2"
MiB = 1024 * 1024


# --- a self-signed certificate ---------------------------------------------------------------


def write_self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (key, certificate), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / "privkey.pem", directory / "fullchain.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


# --- nginx -----------------------------------------------------------------------------------


def render_site(nodes: list[str], port: int, key: Path, cert: Path) -> str:
    """deploy/nginx/moorage.conf with loopback addresses, a free port and the test's
    certificate. Each replaced line must be there exactly once: a deploy file that changes
    its shape fails here rather than testing something else."""
    text = DEPLOY_CONF.read_text()
    replacements = {
        "server 10.0.0.11:5000 ": f"server {nodes[0]} ",
        "server 10.0.0.12:5000 ": f"server {nodes[1]} ",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{port} ssl http2;",
        "listen [::]:443 ssl http2;": "",  # the machine may have no IPv6
        "/etc/ssl/moorage/fullchain.pem": str(cert),
        "/etc/ssl/moorage/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{DEPLOY_CONF} no longer has {old!r} exactly once"
        text = text.replace(old, new)
    return text


def main_config(directory: Path, site: Path) -> str:
    """nginx.conf around the site: in the foreground, every file in `directory`, one worker
    (so the upstream's round robin alternates strictly) and an access log that names the node
    that answered."""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;" if os.geteuid() == 0 else ""  # workers may then read the test's files
    return f"""
daemon off;
worker_processes 1;
{user}
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} info;
events {{ worker_connections 512; }}
http {{
    log_format nodes '$remote_addr $request_method $uri $status $upstream_addr $server_protocol';
    access_log {directory / "access.log"} nodes;
{temp}
    include {site};
}}
"""


@dataclass(frozen=True)
class LogLine:
    method: str
    path: str
    status: int
    upstream: str
    protocol: str


class Nginx:
    """Debian's nginx in the foreground, in its own process group, on a free loopback port."""

    def __init__(self, directory: Path, nodes: list[str]) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        key, self.cert = write_self_signed(directory)
        site = directory / "moorage.conf"
        site.write_text(render_site(nodes, self.port, key, self.cert))
        self.config = directory / "nginx.conf"
        self.config.write_text(main_config(directory, site))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> Nginx:
        command = [NGINX, "-p", str(self.directory), "-c", str(self.config)]
        command += ["-e", str(self.directory / "error.log")]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited early:\n{self.error_log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nginx did not start:\n{self.error_log()}")

    def stop(self) -> None:
        """SIGTERM (nginx's fast shutdown) to the master, then whatever is left of the group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> list[LogLine]:
        lines = []
        for line in (self.directory / "access.log").read_text().splitlines():
            _client, method, path, status, upstream, protocol = line.split(" ")
            lines.append(LogLine(method, path, int(status), upstream, protocol))
        return lines


# --- the deployment --------------------------------------------------------------------------


@dataclass
class Deployment:
    nginx: Nginx
    nodes: list[ServerProcess]
    registry: str

    @property
    def node_addresses(self) -> set[str]:
        return {node.host for node in self.nodes}

    def client(self) -> httpx.Client:
        """HTTPS to nginx from CLIENT_ADDRESS, checking nginx's certificate."""
        verify = ssl.create_default_context(cafile=self.nginx.cert)
        transport = httpx.HTTPTransport(verify=verify, local_address=CLIENT_ADDRESS)
        return httpx.Client(base_url=self.nginx.url, transport=transport, timeout=30)


def _start_nodes(tmp_path: Path, env: dict[str, str]) -> list[ServerProcess]:
    nodes: list[ServerProcess] = []
    try:
        for number in (1, 2):  # one after the other: the first migrates the database
            node = ServerProcess(tmp_path / f"node{number}", extra_env=env, auth=True)
            nodes.append(node.start())
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def deployment(moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """nginx and two nodes on a fresh PostgreSQL database and a fresh bucket, shared by the
    module's tests (each works in an image or with a sign-in name of its own): starting it
    costs about 6 s on an idle machine, and 8 to 11 s on a busy one, per test."""
    tmp_path = tmp_path_factory.mktemp("deploy")
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: install Debian's nginx (scripts/bootstrap does)")
    bucket = f"deploy-{uuid.uuid4().hex[:12]}"
    env = {
        # Downloads stream through nginx (proxy_buffering off), not past it to S3.
        **moto.storage_env(bucket, MOORAGE_S3_REDIRECT="false"),
        "MOORAGE_TOKEN_KEY": base64.b64encode(os.urandom(32)).decode(),
        "MOORAGE_TRUSTED_PROXIES": "127.0.0.1",
    }
    with fresh_postgres_url() as database_url:
        env["MOORAGE_DATABASE_URL"] = database_url
        nodes = _start_nodes(tmp_path, env)
        try:
            registry = f"d{uuid.uuid4().hex[:8]}"
            nodes[0].create_registry(registry)
            nginx_dir = tmp_path / "nginx"
            nginx_dir.mkdir()
            nginx = Nginx(nginx_dir, [node.host for node in nodes]).start()
            try:
                yield Deployment(nginx, nodes, registry)
            finally:
                nginx.stop()
        finally:
            for node in nodes:
                node.stop()


def realm_of(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    scheme, params = parse_challenge(response.headers["www-authenticate"])
    assert scheme == "bearer"
    return params["realm"]


def bearer_token(client: httpx.Client, realm: str, scope: str) -> str:
    response = client.get(
        realm,
        params={"service": "moorage", "scope": scope},
        auth=(ADMIN_USERNAME, ADMIN_PASSWORD),
    )
    response.raise_for_status()
    return str(response.json()["token"])


# --- the tests -------------------------------------------------------------------------------


def test_skopeo_pushes_and_pulls_through_nginx_over_https(
    deployment: Deployment, oci_layout: OciLayout, tmp_path: Path
) -> None:
    nginx = deployment.nginx
    with deployment.client() as client:
        assert realm_of(client.get("/v2/")) == f"{nginx.url}/auth/token"

    # skopeo checks nginx's certificate against the cert dir's ca.crt.
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    shutil.copy(nginx.cert, cert_dir / "ca.crt")
    skopeo = Tool(["skopeo"], client_env(tmp_path / "skopeo"))
    creds = f"{ADMIN_USERNAME}:{ADMIN_PASSWORD}"
    ref = f"docker://{nginx.host}/{deployment.registry}/app:v1"
    skopeo("copy", "--quiet", "--dest-cert-dir", cert_dir, "--dest-creds", creds,
           oci_layout.ref("v1"), ref)  # fmt: skip
    pulled = OciLayout(tmp_path / "pulled")
    skopeo("copy", "--quiet", "--src-cert-dir", cert_dir, "--src-creds", creds,
           ref, f"oci:{pulled.path}:v1")  # fmt: skip
    assert_same_image(oci_layout, "v1", pulled, "v1")

    # skopeo asked nginx for its tokens: the realm it was sent is nginx's https URL, port
    # included (a node's own URL, or one without the port, would not reach /auth/token
    # here). Both nodes served it.
    log = nginx.access_log()
    assert [line.status for line in log if line.path == "/auth/token"].count(200) >= 2
    assert {line.upstream for line in log if line.path.startswith("/v2/")} == (
        deployment.node_addresses
    )


def test_forwarded_headers_are_believed_from_nginx_only(deployment: Deployment) -> None:
    spoofed = {
        "X-Forwarded-For": "203.0.113.66",
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "evil.example",
    }
    node = deployment.nodes[0]
    # Straight to a node from an address it does not trust: the connection's own view.
    direct = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(transport=direct, timeout=30) as client:
        assert realm_of(client.get(f"{node.url}/v2/", headers=spoofed)) == (
            f"{node.url}/auth/token"
        )
    # Through nginx, which overwrites Proto and Host and appends the client to For.
    with deployment.client() as client:
        assert realm_of(client.get("/v2/", headers=spoofed)) == (
            f"{deployment.nginx.url}/auth/token"
        )
        # Failed sign-ins are throttled per client: the client nginx saw, not the one made
        # up. The nodes share the account's count: past its free failures it waits (429,
        # Retry-After) on both, and each further failure is logged by the node that saw it;
        # failures alternate between the nodes until both have logged one.
        login = f"nobody-{uuid.uuid4().hex[:6]}"
        statuses = []
        for _ in range(20):
            response = client.get("/auth/token", headers=spoofed, auth=(login, "wrong"))
            statuses.append(response.status_code)
            if response.status_code == 429:
                time.sleep(int(response.headers["Retry-After"]))
                # One more request shifts nginx's round robin: the next failure lands on
                # the other node than the last one did.
                client.get("/v2/")
            if all(login in node.log() for node in deployment.nodes):
                break
    assert statuses[:5] == [401] * 5, statuses
    assert 429 in statuses, statuses
    for node in deployment.nodes:
        warnings = [line for line in node.log().splitlines() if login in line]
        assert warnings, node.log()
        assert all(f"address={CLIENT_ADDRESS} " in line for line in warnings), warnings


def test_the_realm_over_http2(deployment: Deployment) -> None:
    """skopeo and httpx speak HTTP/1.1 to nginx; curl speaks HTTP/2, where the host comes in
    :authority, not a Host header."""
    nginx = deployment.nginx
    curl = ["curl", "--http2", "--silent", "--show-error", "--output", "/dev/null"]
    curl += ["--dump-header", "-", "--cacert", str(nginx.cert), "--interface", CLIENT_ADDRESS]
    proc = subprocess.run(
        [*curl, f"{nginx.url}/v2/"], capture_output=True, text=True, timeout=30, check=True
    )
    assert proc.stdout.startswith("HTTP/2 401"), proc.stdout
    challenge = re.search(r"^www-authenticate: (.+?)\r?$", proc.stdout, re.M | re.I)
    assert challenge is not None, proc.stdout
    assert parse_challenge(challenge[1])[1]["realm"] == f"{nginx.url}/auth/token"
    assert nginx.access_log()[-1].protocol == "HTTP/2.0"


def test_a_chunked_upload_continues_on_the_other_node(deployment: Deployment) -> None:
    name = f"{deployment.registry}/chunked"
    data = os.urandom(20 * MiB + 12345)
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    chunk = 5 * MiB + 7  # not a multiple of the S3 driver's 8 MiB parts
    with deployment.client() as client:
        realm = realm_of(client.post(f"/v2/{name}/blobs/uploads/"))
        token = bearer_token(client, realm, f"repository:{name}:pull,push")
        client.headers["Authorization"] = f"Bearer {token}"
        response = client.post(f"/v2/{name}/blobs/uploads/")
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
        for start in range(0, len(data), chunk):
            piece = data[start : start + chunk]
            response = client.patch(
                location,
                content=piece,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + len(piece) - 1}",
                },
            )
            assert response.status_code == 202, response.text
            location = response.headers["Location"]
        response = client.put(location, params={"digest": digest})
        assert response.status_code == 201, response.text
        assert client.get(f"/v2/{name}/blobs/{digest}").content == data

    upload = re.compile(rf"^/v2/{re.escape(name)}/blobs/uploads/.+")
    patches = [line for line in deployment.nginx.access_log() if line.method == "PATCH"]
    patches = [line for line in patches if upload.match(line.path)]
    assert len(patches) == 5
    assert {line.upstream for line in patches} == deployment.node_addresses
    # Round robin with one worker: consecutive PATCHes went to different nodes.
    assert all(a.upstream != b.upstream for a, b in itertools.pairwise(patches))
