"""What an operator sees when moorage cannot start as configured: one line on standard
error saying what is wrong and what to do, exit status 2, never a traceback (`--debug`
adds it). Also: one server per port and per SQLite database, the first administrator's
password printed only once the server serves, a closed pipe that ends quietly.

Each test runs the real `moorage` command in a process of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from unittest.mock import patch

import httpx
import pytest

from moorage import wiring
from moorage.cli.serve import migrate_apart
from moorage.config import Settings
from tests.support.certificates import make_server_certificate
from tests.support.databases import postgres_base_url
from tests.support.server import ServerProcess, free_port, moorage_command

pytestmark = pytest.mark.e2e

EXIT_STARTUP = 2
EXIT_CLOSED_PIPE = 1  # as rich ends a table written to a closed pipe
SETPRIV = shutil.which("setpriv")


def base_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORAGE_")}
    return {**env, "MOORAGE_LOG_LEVEL": "warning", **settings}


def moorage(
    *args: str | Path, env: dict[str, str] | None = None, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *moorage_command(), *(str(a) for a in args)],
        env=env or base_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def serve(
    data_dir: Path, *extra: str | Path, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """`moorage serve` that is expected to fail before serving (a test that sees it serve
    would hang until the timeout)."""
    listen = f"127.0.0.1:{free_port()}"
    return moorage(
        "serve",
        "--listen",
        listen,
        "--data-dir",
        data_dir,
        *extra,
        env=env,
        **kwargs,  # type: ignore[arg-type]
    )


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit status 2, no traceback, and one `error:` line, the last, holding `expected`."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == EXIT_STARTUP, output
    assert "Traceback" not in output, output
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert lines[-1] == errors[0], output
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


# --- the data directory -----------------------------------------------------------------------


def test_a_data_dir_whose_parent_is_missing(tmp_path: Path) -> None:
    data_dir = tmp_path / "no-such-parent" / "data"
    line = assert_one_line_failure(serve(data_dir), "parent", "does not exist", "--data-dir")
    assert str(data_dir.parent) in line
    assert not data_dir.parent.exists()  # nothing was made on a typo


def test_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.write_text("not a directory")
    assert_one_line_failure(serve(data_dir), str(data_dir), "is a file")


def test_an_unwritable_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o500)
    prefix: list[str] = []
    if os.geteuid() == 0:
        # Root writes anywhere by CAP_DAC_OVERRIDE: take it away, as for a service user.
        if SETPRIV is None:
            pytest.skip("setpriv (util-linux) is needed to drop root's file override")
        prefix = [SETPRIV, "--bounding-set", "-dac_override,-dac_read_search"]
    try:
        proc = serve(data_dir, prefix=prefix)
    finally:
        data_dir.chmod(0o700)
    assert_one_line_failure(proc, str(data_dir), "not writable", "chown")


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    proc = serve(tmp_path / "missing" / "data", "--debug")
    assert proc.returncode == EXIT_STARTUP
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: data directory")


# --- one server per port, one per SQLite database ---------------------------------------------


@pytest.fixture
def running(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "first").start()
    try:
        yield server
    finally:
        server.stop()


def test_an_address_another_program_listens_on(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = f"127.0.0.1:{other.getsockname()[1]}"
        proc = moorage("serve", "--listen", taken, "--data-dir", tmp_path / "data")
    assert_one_line_failure(proc, taken, "already in use", "--listen")


def test_a_second_moorage_on_the_same_port_is_refused(
    running: ServerProcess, tmp_path: Path
) -> None:
    proc = moorage("serve", "--listen", running.host, "--data-dir", tmp_path / "other")
    assert_one_line_failure(proc, running.host, "already in use")
    # The first one still serves, alone.
    assert httpx.get(f"{running.url}/readyz", timeout=5).status_code == 200


def test_a_second_serve_on_the_same_sqlite_data_dir_is_refused(running: ServerProcess) -> None:
    proc = serve(running.data_dir)
    assert_one_line_failure(
        proc, f"another moorage serve (pid {running.pid})", "SQLite", "PostgreSQL"
    )
    # Commands on the same data still run next to the server.
    assert running.cli("registry", "create", "beside").returncode == 0


# --- the database -----------------------------------------------------------------------------


def test_an_unreachable_postgresql_server(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://moorage:s3cret-pw@127.0.0.1:{free_port()}/moorage"
    proc = serve(tmp_path / "data", env=base_env(MOORAGE_DATABASE_URL=url))
    line = assert_one_line_failure(proc, "cannot use the database", "database_url")
    assert "s3cret-pw" not in proc.stdout + proc.stderr
    assert "refused" in line.lower()


def test_a_missing_postgresql_database(tmp_path: Path) -> None:
    missing = f"moorage_missing_{uuid.uuid4().hex[:8]}"
    url = postgres_base_url().rpartition("/")[0] + f"/{missing}"
    proc = serve(tmp_path / "data", env=base_env(MOORAGE_DATABASE_URL=url))
    assert_one_line_failure(proc, f'database "{missing}" does not exist', "createdb")


# --- the schema -------------------------------------------------------------------------------


def test_a_first_start_migrates_outside_the_serving_process(tmp_path: Path) -> None:
    """The migration tools (about 11 MiB) would stay loaded in the server until a restart."""
    check = (
        "import sys\n"
        "from moorage import wiring\n"
        "from moorage.cli import serve\n"
        "from moorage.config import Settings\n"
        f"settings = Settings(data_dir={str(tmp_path / 'data')!r})\n"
        "serve.migrate_apart(settings)\n"
        "assert wiring.schema_is_current(settings)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], env=base_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_with_threads_running_the_migration_stays_in_the_process(tmp_path: Path) -> None:
    """A fork copies only the calling thread: with others running, no child is made."""
    settings = Settings(data_dir=tmp_path / "data")
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        with patch("multiprocessing.context.ForkContext.Process") as forked:
            migrate_apart(settings)
    finally:
        release.set()
        other.join()
    forked.assert_not_called()
    assert wiring.schema_is_current(settings)


def test_a_schema_newer_than_this_moorage_is_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir).start()
    server.stop()
    with sqlite3.connect(data_dir / "moorage.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_from_a_newer_moorage'")
    assert_one_line_failure(serve(data_dir), "schema cannot be brought up to date", "9999_from")


# --- the object store -------------------------------------------------------------------------


def s3_env(endpoint: str) -> dict[str, str]:
    return base_env(
        MOORAGE_STORAGE_DRIVER="s3",
        MOORAGE_S3_BUCKET="registry",
        MOORAGE_S3_ENDPOINT_URL=endpoint,
        MOORAGE_S3_ACCESS_KEY="test",
        MOORAGE_S3_SECRET_KEY="test",
    )


def test_a_bad_s3_endpoint(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    proc = serve(tmp_path / "data", env=s3_env(endpoint))
    assert_one_line_failure(proc, "S3 bucket 'registry'", endpoint, "s3_endpoint_url")


# --- TLS files --------------------------------------------------------------------------------


def test_a_tls_key_that_is_not_the_certificates(tmp_path: Path) -> None:
    one = make_server_certificate(tmp_path / "one")
    other = make_server_certificate(tmp_path / "other")
    proc = serve(tmp_path / "data", "--tls-cert", one.cert, "--tls-key", other.key)
    assert_one_line_failure(proc, "cannot use TLS certificate", str(one.cert))


# --- the first administrator ------------------------------------------------------------------


def test_the_admin_password_is_printed_only_once_serving(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = f"127.0.0.1:{other.getsockname()[1]}"
        failed = moorage("serve", "--listen", taken, "--data-dir", data_dir)
    assert_one_line_failure(failed, "already in use")
    assert "password" not in failed.stdout

    server = ServerProcess(data_dir, auth=True)
    del server.env["MOORAGE_ADMIN_PASSWORD"]  # let moorage generate it
    server.start()
    try:
        log = server.log()
        assert log.index(f"moorage listening on http://{server.host}") < log.index("password:")
        password = log.split("password:", 1)[1].split()[0]
        token = httpx.get(
            f"{server.url}/auth/token",
            params={"service": "moorage"},
            auth=("admin", password),
            timeout=10,
        )
        assert token.status_code == 200
    finally:
        server.stop()

    again = ServerProcess(data_dir, auth=True, port=server.port).start()  # password set
    try:
        assert "MOORAGE_ADMIN_PASSWORD is ignored: users already exist" in again.log()
    finally:
        again.stop()


# --- verify-config ----------------------------------------------------------------------------


def test_verify_config_checks_the_database_and_the_store(tmp_path: Path) -> None:
    good = moorage("verify-config", "--data-dir", tmp_path / "data")
    assert good.returncode == 0, good.stderr
    assert "reachable and writable" in good.stdout
    assert not (tmp_path / "data" / "blobs" / "uploads").exists() or not any(
        (tmp_path / "data" / "blobs" / "uploads").iterdir()
    )  # the probe leaves nothing behind

    endpoint = f"http://127.0.0.1:{free_port()}"
    bad = moorage("verify-config", "--data-dir", tmp_path / "data", env=s3_env(endpoint))
    assert_one_line_failure(bad, "S3 bucket 'registry'", endpoint)


def test_a_settings_file_that_is_not_toml(tmp_path: Path) -> None:
    broken = tmp_path / "moorage.toml"
    broken.write_text("listen = [\n")
    proc = moorage(
        "verify-config", "--data-dir", tmp_path / "data", env=base_env(MOORAGE_CONFIG=str(broken))
    )
    assert proc.returncode == EXIT_STARTUP, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"the settings file {broken} is not valid TOML" in proc.stderr


# --- a closed pipe ----------------------------------------------------------------------------


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["table", "json"])
def test_a_closed_pipe_ends_quietly(tmp_path: Path, output: list[str]) -> None:
    """`moorage registry list | head -1`, with the reader gone before anything is written."""
    data_dir = tmp_path / "data"
    assert moorage("registry", "create", "piped", "--data-dir", data_dir).returncode == 0
    proc = subprocess.Popen(
        [*moorage_command(), "registry", "list", *output, "--data-dir", str(data_dir)],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # the reader leaves at once
    stderr = proc.stderr.read().decode()
    assert proc.wait(60) == EXIT_CLOSED_PIPE
    assert stderr == ""


# --- stopping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_stopped_server_exits_cleanly(tmp_path: Path, signal_name: str) -> None:
    """SIGTERM (systemd) or Ctrl-C: the server stops with status 0 and no error line."""
    listen = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [*moorage_command(), "serve", "--listen", listen, "--data-dir", str(tmp_path / "data")],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{listen}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not start")
        proc.send_signal(getattr(signal, signal_name))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out + err
    assert "error:" not in err, err
    assert "Traceback" not in err, err
