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
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    ) -> None:
        self.data_dir = data_dir
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
            [*moorage_command(), "serve", "--listen", self.host, "--data-dir", str(self.data_dir)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moorage serve exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moorage serve did not become ready:\n{self.log()}")

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
