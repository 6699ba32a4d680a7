"""Debian's docker-registry (CNCF distribution 2.8) on a loopback port the test picks.

Filesystem storage in the test's directory, a fixed HTTP secret (an upload's URL carries
state signed with it, so an upload survives a restart), optionally htpasswd (Basic) auth.
It is started without AWS_CA_BUNDLE, which crashes its S3 driver (CLIENTS.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port

BINARY = "docker-registry"
CONFIG = """\
version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {root}}}
  delete: {{enabled: true}}
http:
  addr: 127.0.0.1:{port}
  secret: moorage-tests-fixed-secret
"""
HTPASSWD = """\
auth:
  htpasswd: {{realm: basic-realm, path: {path}}}
"""


class DockerRegistry:
    def __init__(self, workdir: Path, credentials: tuple[str, str] | None = None) -> None:
        if shutil.which(BINARY) is None:
            pytest.skip("docker-registry is missing: apt-get install docker-registry")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.root = workdir / "storage"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.credentials = credentials
        config = CONFIG.format(root=self.root, port=self.port)
        if credentials is not None:
            path = workdir / "htpasswd"
            line = subprocess.run(
                ["htpasswd", "-Bbn", *credentials], capture_output=True, text=True, check=True
            ).stdout
            path.write_text(line)
            config += HTPASSWD.format(path=path)
        self.config = workdir / "config.yml"
        self.config.write_text(config)
        self.log_path = workdir / "registry.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> DockerRegistry:
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [BINARY, "serve", str(self.config)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not start:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    # placing content without HTTP (for blobs too large to push in a test's time) ------------

    def place_blob(self, repository: str, data_file: Path, digest: str) -> None:
        """Move a file into the storage as the blob `digest`, readable in `repository`."""
        hex_digest = digest.removeprefix("sha256:")
        v2 = self.root / "docker" / "registry" / "v2"
        blob = v2 / "blobs" / "sha256" / hex_digest[:2] / hex_digest / "data"
        blob.parent.mkdir(parents=True, exist_ok=True)
        data_file.rename(blob)
        link = v2 / "repositories" / repository / "_layers" / "sha256" / hex_digest / "link"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.write_text(digest)
