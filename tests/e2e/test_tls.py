"""`moorage serve --tls-cert/--tls-key`: HTTPS end to end, verified against a test CA.

skopeo trusts the CA through `--cert-dir`; a real Docker engine through
/etc/docker/certs.d/HOST:PORT/ca.crt, the place operators put it. Neither is told to skip
verification, and each is first shown to refuse the server without the CA, so a push that
works proves the chain, the names and the https token realm.

dockerd treats every loopback registry as insecure (it then skips certificate checks, and
nothing can turn that off), so the server listens on a non-loopback address of this machine
when there is one; the certificate names it, 127.0.0.1 and localhost.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    AMD64_TAG,
    DOCKERD,
    Dockerd,
    OciLayout,
    Tool,
    assert_same_image,
    client_env,
)
from tests.support.certificates import ServerCertificate, make_server_certificate
from tests.support.oci_auth import parse_challenge
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

DOCKER_CERTS = Path("/etc/docker/certs.d")
DIGEST_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})", re.IGNORECASE)


def machine_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one (no packet is
    sent: connecting a UDP socket only picks the route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # TEST-NET-2: any routed address does
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback else address


class TlsServer(ServerProcess):
    """A `moorage serve` on HTTPS with the test CA's certificate; polled over HTTPS."""

    def __init__(self, data_dir: Path, certificate: ServerCertificate, address: str) -> None:
        super().__init__(
            data_dir,
            extra_env={
                "MOORAGE_TLS_CERT": str(certificate.cert),
                "MOORAGE_TLS_KEY": str(certificate.key),
            },
            auth=True,
        )
        self.host = f"{address}:{self.port}"
        self.url = f"https://{self.host}"
        self.trust = ssl.create_default_context(cafile=str(certificate.ca_cert))

    def _wait_ready(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1, verify=self.trust) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"moorage serve exited early:\n{self.log()}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        return False


@pytest.fixture(scope="module")
def address() -> str:
    return machine_address() or "127.0.0.1"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory, address: str) -> ServerCertificate:
    return make_server_certificate(tmp_path_factory.mktemp("tls"), [address])


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory, certificate: ServerCertificate, address: str
) -> Iterator[TlsServer]:
    server = TlsServer(tmp_path_factory.mktemp("tls-server"), certificate, address)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_registry(tls_server: TlsServer) -> str:
    name = f"t{uuid.uuid4().hex[:10]}"
    tls_server.create_registry_with_cli(name)
    return name


@pytest.fixture
def cert_dir(tmp_path: Path, certificate: ServerCertificate) -> Path:
    """A containers-tools certificate directory: the CA as `*.crt`."""
    directory = tmp_path / "certs"
    directory.mkdir()
    shutil.copy(certificate.ca_cert, directory / "ca.crt")
    return directory


def test_https_answers_with_an_https_token_realm(tls_server: TlsServer) -> None:
    with httpx.Client(base_url=tls_server.url, verify=tls_server.trust, timeout=10) as client:
        challenge = client.get("/v2/")
        assert challenge.status_code == 401
        realm = f'realm="https://{tls_server.host}/auth/token"'
        assert realm in challenge.headers["www-authenticate"]
        _scheme, params = parse_challenge(challenge.headers["www-authenticate"])
        token = client.get(
            params["realm"],
            params={"service": params["service"]},
            auth=(tls_server.username, tls_server.password),
        )
        assert token.status_code == 200
        bearer = {"Authorization": f"Bearer {token.json()['token']}"}
        assert client.get("/v2/", headers=bearer).status_code == 200
    assert f"moorage listening on https://{tls_server.host}" in tls_server.log()
    # Plain HTTP on the HTTPS port gets no answer.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{tls_server.host}/v2/", timeout=5)


def test_skopeo_pushes_and_pulls_over_https(
    tls_server: TlsServer,
    tls_registry: str,
    cert_dir: Path,
    oci_layout: OciLayout,
    tmp_path: Path,
) -> None:
    skopeo = Tool(["skopeo"], client_env(tmp_path / "skopeo"))
    creds = f"{tls_server.username}:{tls_server.password}"
    ref = f"docker://{tls_server.host}/{tls_registry}/busybox:v1"

    untrusted = skopeo(
        "copy", "--quiet", "--dest-creds", creds, oci_layout.ref(AMD64_TAG), ref, check=False
    )
    assert untrusted.returncode != 0
    assert "certificate" in untrusted.stderr  # signed by an authority skopeo does not know

    skopeo(
        "copy",
        "--quiet",
        "--dest-cert-dir",
        cert_dir,
        "--dest-creds",
        creds,
        oci_layout.ref(AMD64_TAG),
        ref,
    )
    pulled = OciLayout(tmp_path / "pulled")
    skopeo(
        "copy",
        "--quiet",
        "--src-cert-dir",
        cert_dir,
        "--src-creds",
        creds,
        ref,
        pulled.ref("v1"),
    )
    assert_same_image(oci_layout, AMD64_TAG, pulled, "v1")


@pytest.fixture
def docker_trusting_the_ca(
    tls_server: TlsServer, certificate: ServerCertificate, tmp_path: Path
) -> Iterator[Tool]:
    """The docker CLI on a dockerd of its own that trusts the CA for this server only, as
    an operator sets it up: /etc/docker/certs.d/127.0.0.1:PORT/ca.crt; no insecure registry."""
    if not DOCKERD.exists():
        pytest.skip(f"{DOCKERD} is missing: install Debian's docker.io (scripts/bootstrap does)")
    if os.geteuid() != 0:
        pytest.skip("dockerd and /etc/docker/certs.d need root")
    certs = DOCKER_CERTS / tls_server.host
    try:
        for docker in _docker_client(tmp_path):
            if not ipaddress.ip_address(tls_server.host.rpartition(":")[0]).is_loopback:
                refused = docker(*_login_args(tls_server), check=False)
                assert refused.returncode != 0
                assert "x509" in refused.stderr  # the CA is not trusted yet
            certs.mkdir(parents=True, exist_ok=True)
            shutil.copy(certificate.ca_cert, certs / "ca.crt")
            yield docker
    finally:
        shutil.rmtree(certs, ignore_errors=True)


def _login_args(server: TlsServer) -> list[str]:
    return ["login", "--username", server.username, "--password", server.password, server.host]


def _docker_client(tmp_path: Path) -> Iterator[Tool]:
    (tmp_path / "dockerd").mkdir()
    daemon = Dockerd([], tmp_path / "dockerd")
    try:
        try:
            daemon.wait_ready()
        except RuntimeError as exc:
            pytest.skip(f"no Docker engine can run here: {str(exc)[-400:]}")
        env = client_env(tmp_path / "docker")
        env["DOCKER_HOST"] = f"unix://{daemon.socket}"
        yield Tool(["docker"], env)
    finally:
        daemon.stop()


def test_docker_engine_logs_in_pushes_and_pulls_over_https(
    tls_server: TlsServer,
    tls_registry: str,
    docker_trusting_the_ca: Tool,
    oci_layout: OciLayout,
    tmp_path: Path,
) -> None:
    docker = docker_trusting_the_ca
    archive = tmp_path / "image.tar"
    local = f"moorage-tls/{tls_registry}:loaded"
    Tool(["skopeo"], client_env(tmp_path / "skopeo"))(
        "copy", "--quiet", oci_layout.ref(AMD64_TAG), f"docker-archive:{archive}:{local}"
    )
    docker("load", "--input", archive)

    login = docker(*_login_args(tls_server))
    assert "Login Succeeded" in login.stdout
    ref = f"{tls_server.host}/{tls_registry}/busybox:v1"
    docker("tag", local, ref)
    pushed = DIGEST_RE.search(docker("push", ref).stdout)
    assert pushed, "docker push printed no digest"
    docker("rmi", ref, local)
    pulled = DIGEST_RE.search(docker("pull", ref).stdout)
    assert pulled, "docker pull printed no digest"
    assert pulled.group(1) == pushed.group(1)
