"""Start and stop a real `moorage serve` process on a loopback port the test picks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-Passw0rd-for-tests"


def free_port() -> int:
    """A loopback port free now, for a server about to start.

    Under pytest-xdist each worker takes only ports of its own: between one worker's
    choosing a port and its server's binding it, another worker could otherwise choose the
    same one, and the first server's readiness poll would be answered by the other worker's
    server. A port is a worker's when half of it (Linux hands out odd ports first for
    `bind` to port 0, so not the port itself) leaves the worker's index as remainder by the
    number of workers. A port that is not the worker's is let go at once: holding it would
    take it from the worker whose it is."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw")) if worker.startswith("gw") else 0
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if (port // 2) % count == index % count:
            return port


def moorage_command() -> list[str]:
    return [sys.executable, "-m", "moorage"]


class ServerProcess:
    """One `moorage serve` on 127.0.0.1:<free port> with its own data directory.

    `database_url` selects PostgreSQL; by default the server uses SQLite in `data_dir`.
    """

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None = None,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
        auth: bool = False,
        serve_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.serve_args = list(serve_args)  # more `serve` options, e.g. --log-format json
        self.database_url = database_url
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.env = {
            **os.environ,
            "MOORAGE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MOORAGE_LOG_LEVEL": "warning",
            "MOORAGE_AUTH": "token" if auth else "none",
            **(extra_env or {}),
        }
        if database_url:
            self.env["MOORAGE_DATABASE_URL"] = database_url
        self.auth = auth
        self.username, self.password = ADMIN_USERNAME, ADMIN_PASSWORD
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                *moorage_command(),
                "serve",
                "--listen",
                self.host,
                "--data-dir",
                str(self.data_dir),
                *self.serve_args,
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if self._wait_ready(timeout):
            return self
        self.stop()
        raise RuntimeError(f"moorage serve did not become ready:\n{self.log()}")

    def _wait_ready(self, timeout: float) -> bool:
        """Poll /readyz until it answers 200 (False after `timeout`).

        Tests start dozens of servers: a short pause notices each one promptly, and one client
        for all the polls keeps them cheap (a new client builds a TLS context each time).
        """
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"moorage serve exited early:\n{self.log()}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
        return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a `moorage` admin command against this server's data."""
        return run_cli(args, self.data_dir, self.env, check=check)

    def cli_json(self, *args: str) -> object:
        return json.loads(self.cli(*args, "--json").stdout)

    def create_registry(self, name: str) -> None:
        """Create a registry in the default project, as the administrator.

        Through the REST API rather than `moorage registry create`: the CLI starts a Python
        process, about a second each, and tests create a registry for almost every test. The
        protocol suite makes its registries with `create_registry_with_cli`, so the command an
        operator types stays covered on every backend.
        """
        auth = (self.username, self.password) if self.auth else None
        response = httpx.post(
            f"{self.url}/api/v1/registries", json={"name": name}, auth=auth, timeout=30
        )
        if response.status_code != 201:
            raise AssertionError(
                f"creating registry {name} failed ({response.status_code}):\n{response.text}"
            )

    def create_registry_with_cli(self, name: str) -> None:
        """`moorage registry create NAME`, as an operator does."""
        self.cli("registry", "create", name)


def run_cli(
    args: Sequence[str], data_dir: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*moorage_command(), *args, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"moorage {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc
