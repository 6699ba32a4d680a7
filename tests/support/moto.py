"""A real S3 API for tests: `moto_server` in its own process on a loopback port."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx

from tests.support.server import free_port

ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"


class MotoServer:
    """`moto_server` listening on 127.0.0.1:<free port>; its request log goes to `log_path`."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> MotoServer:
        moto = Path(sys.executable).with_name("moto_server")
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited early:\n{self.log()}")
            try:
                httpx.get(self.endpoint, timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto_server did not start:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, endpoint: str | None = None) -> Any:
        """A boto3 S3 client on this server (or on another spelling of its address)."""
        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def storage_env(self, bucket: str, **extra: str) -> dict[str, str]:
        """The environment of a moorage storing its blobs in `bucket` here (created when new);
        `extra` adds or overrides settings (MOORAGE_S3_PREFIX=…, MOORAGE_S3_REDIRECT=…)."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
        return {
            "MOORAGE_STORAGE_DRIVER": "s3",
            "MOORAGE_S3_BUCKET": bucket,
            "MOORAGE_S3_ENDPOINT_URL": self.endpoint,
            "MOORAGE_S3_ACCESS_KEY": ACCESS_KEY,
            "MOORAGE_S3_SECRET_KEY": SECRET_KEY,
            "MOORAGE_S3_REGION": REGION,
            **extra,
        }
