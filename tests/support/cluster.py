"""The deployments the soak and fault runs drive: one node on SQLite, or two nodes on one
PostgreSQL database and one S3 bucket (moto); a private PostgreSQL server that may be
restarted at will; a small tmpfs for a data directory that fills up; and the peak memory of a
server's processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.support.databases import fresh_postgres_url
from tests.support.moto import MotoServer
from tests.support.server import ServerProcess, free_port
from tests.support.workload import Endpoint

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def endpoint(server: ServerProcess) -> Endpoint:
    return Endpoint(server.url, server.username, server.password)


@contextmanager
def sqlite_node(workdir: Path, env: dict[str, str]) -> Iterator[list[ServerProcess]]:
    """One node: SQLite and filesystem blobs in `workdir/node`."""
    server = ServerProcess(workdir / "node", extra_env=env, auth=True).start()
    try:
        yield [server]
    finally:
        server.stop()


@contextmanager
def shared_nodes(
    workdir: Path, env: dict[str, str], count: int = 2, database_url: str | None = None
) -> Iterator[list[ServerProcess]]:
    """`count` nodes on one PostgreSQL database (a throwaway one on the test server unless
    `database_url` is given) and one S3 bucket on a moto server of their own."""
    with ExitStack() as stack:
        moto = MotoServer(workdir / "moto.log").start()
        stack.callback(moto.stop)
        url = database_url or stack.enter_context(fresh_postgres_url())
        storage = moto.storage_env("moorage", MOORAGE_S3_PREFIX="blobs")
        nodes = []
        for index in range(count):  # one after the other: the first one migrates
            node = ServerProcess(
                workdir / f"node{index}", url, extra_env={**storage, **env}, auth=True
            )
            stack.callback(node.stop)
            nodes.append(node.start())
        yield nodes


# --- memory ------------------------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _group(pgid: int) -> list[int]:
    """The processes of a process group (a server started in a session of its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    found.append(int(entry.name))
            except ProcessLookupError:
                continue
    return found


def peak_rss(server: ServerProcess) -> int:
    """The high-water mark of resident memory of the server's processes, summed, in bytes."""
    return 1024 * sum(_status_kib(pid, "VmHWM") for pid in _group(server.pid))


# --- a private PostgreSQL server ---------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL server of its own (initdb in a temporary directory, a free port, trust
    authentication), so it can be stopped and started under load without touching anyone's
    server. As root, the server runs as the `postgres` user (PostgreSQL refuses root)."""

    def __init__(self) -> None:
        # Its own directory under /tmp: as root the server runs as `postgres`, which must
        # reach it (a test's temporary directory is private to root).
        self.directory = Path(tempfile.mkdtemp(prefix="moorage-pg-"))
        self.data = self.directory / "pgdata"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def available() -> str | None:
        """None when a private server can be made here, or why not."""
        if not (POSTGRES_BIN / "initdb").exists():
            return f"no {POSTGRES_BIN / 'initdb'} (Debian's postgresql-15)"
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            return "running as root without runuser"
        return None

    def _run(self, *argv: str) -> None:
        command = [str(POSTGRES_BIN / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stdout}{proc.stderr}")

    def start(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        self._ctl("start", "-w", "-o", f"-p {self.port} -k {self.directory}")
        return self

    def _ctl(self, *argv: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "log"), *argv)

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop it fast (connections cut, as in a crash of the database), wait, start again."""
        self._ctl("stop", "-m", "fast", "-w")
        time.sleep(down_seconds)
        self._ctl("start", "-w", "-o", f"-p {self.port} -k {self.directory}")

    def stop(self) -> None:
        """Stop it (immediately: its data is thrown away) and remove its directory."""
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-m", "immediate", "-w")
        shutil.rmtree(self.directory, ignore_errors=True)


# --- a small disk ------------------------------------------------------------------------------


class SmallDisk:
    """A tmpfs of a few MiB mounted at `path` (root only): a data directory that fills up."""

    def __init__(self, path: Path, size_mib: int) -> None:
        self.path = path
        self.size_mib = size_mib
        self.mounted = False

    def mount(self) -> str | None:
        """None when mounted, or why it could not be."""
        self.path.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_mib}m", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            return f"mount -t tmpfs failed: {proc.stderr.strip() or proc.returncode}"
        self.mounted = True
        return None

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
            self.mounted = False
