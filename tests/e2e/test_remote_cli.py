"""The CLI against a running server over the REST API: `--server` with an access key, a
saved profile (`login`/`logout`), the read commands, and one-line errors with exit status 1
(refused) or 2 (no server to talk to)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Pushed, push_image, unique
from tests.support.server import ServerProcess, free_port, moorage_command

pytestmark = pytest.mark.e2e

TABLE_WIDTH = 80


@dataclass(frozen=True, slots=True)
class Remote:
    server: ServerProcess
    key_id: str
    secret: str
    home: Path

    def env(self) -> dict[str, str]:
        """The test's environment without MOORAGE_* settings, HOME in a directory of its own."""
        kept = {k: v for k, v in os.environ.items() if not k.startswith(("MOORAGE_", "XDG_"))}
        return {**kept, "HOME": str(self.home), "COLUMNS": str(TABLE_WIDTH)}

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*moorage_command(), *args],
            input=stdin,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def cli(self, *args: str) -> str:
        """`moorage --server URL --key-id ID --secret S ARGS`, which must succeed."""
        proc = self.run(
            "--server", self.server.url, "--key-id", self.key_id, "--secret", self.secret, *args
        )
        assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json"))


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    server = ServerProcess(tmp_path_factory.mktemp("remote-cli"), auth=True).start()
    try:
        admin = (server.username, server.password)
        created = httpx.post(f"{server.url}/api/v1/users/me/access-keys", auth=admin, timeout=30)
        assert created.status_code == 201, created.text
        key = created.json()
        yield Remote(server, key["key_id"], key["secret"], tmp_path_factory.mktemp("home"))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pushed(remote: Remote) -> Pushed:
    """A registry made by the remote CLI, and an image pushed into it over HTTP."""
    registry = unique("cli")
    made = remote.json("registry", "create", registry)
    assert made["name"] == registry
    assert made["public_uri"] == f"{remote.server.host}/{registry}", "the server's address"
    auth = (remote.server.username, remote.server.password)
    with httpx.Client(base_url=remote.server.url, auth=auth, timeout=30) as http:
        return push_image(http, f"{registry}/app/web", "v1")


def assert_fits(table: str) -> None:
    for line in table.splitlines():
        assert len(line) <= TABLE_WIDTH, f"wider than {TABLE_WIDTH} columns: {line!r}"


def test_registries_images_artifacts_and_tags(remote: Remote, pushed: Pushed) -> None:
    registries = remote.json("registry", "list")
    assert isinstance(registries, list), "list commands print the items, every page"
    mine = next(r for r in registries if r["name"] == pushed.registry)
    assert mine["image_count"] == 1
    assert mine["public_uri"] == f"{remote.server.host}/{pushed.registry}"
    assert_fits(remote.cli("registry", "list"))

    images = remote.json("image", "list", pushed.registry)
    assert [(i["name"], i["tag_count"]) for i in images] == [(pushed.image, 1)]
    table = remote.cli("image", "list", pushed.registry)
    assert pushed.image in table
    assert_fits(table)

    artifacts = remote.json("artifact", "list", pushed.registry, pushed.image)
    assert [(a["digest"], a["tags"]) for a in artifacts] == [(pushed.digest, ["v1"])]
    table = remote.cli("artifact", "list", pushed.registry, pushed.image)
    algorithm, hex_digest = pushed.digest.split(":")
    assert f"{algorithm}:{hex_digest[:12]}…" in table
    assert hex_digest[:13] not in table, "digests are cut to 12 hex characters"
    assert_fits(table)

    made = remote.json("tag", "create", pushed.registry, pushed.image, pushed.digest, "stable")
    assert (made["name"], made["digest"]) == ("stable", pushed.digest)
    tags = remote.json("tag", "list", pushed.registry, pushed.image)
    assert sorted(t["name"] for t in tags) == ["stable", "v1"]
    assert_fits(remote.cli("tag", "list", pushed.registry, pushed.image))
    remote.cli("tag", "delete", pushed.registry, pushed.image, "stable")
    tags = remote.json("tag", "list", pushed.registry, pushed.image)
    assert [t["name"] for t in tags] == ["v1"]

    # The same command on the server's data directory prints the same JSON.
    local = remote.server.cli("tag", "list", pushed.registry, pushed.image, "--json")
    assert json.loads(local.stdout) == tags


def test_policies_webhooks_and_cleanup_history(remote: Remote, pushed: Pushed) -> None:
    admin = (remote.server.username, remote.server.password)
    base = f"{remote.server.url}/api/v1/registries/{pushed.registry}"
    rule = {"image": {"pattern": "**"}, "tag": {"pattern": "v*"}}
    response = httpx.post(f"{base}/protection-policies", json=rule, auth=admin, timeout=30)
    assert response.status_code == 201, response.text
    policies = remote.json("policy", "list", pushed.registry)
    assert [p["tag"]["pattern"] for p in policies["protection"]] == ["v*"]
    assert policies["cleanup"] == []
    table = remote.cli("policy", "list", pushed.registry)
    assert "v*" in table
    assert_fits(table)

    assert remote.json("webhook", "list", pushed.registry) == []

    report = json.loads(remote.cli("cleanup", "run", pushed.registry, "--dry-run", "--json"))
    assert (report["dry_run"], report["status"]) == (True, "succeeded")
    runs = remote.json("cleanup", "history", pushed.registry)
    assert [(r["id"], r["dry_run"]) for r in runs] == [(report["id"], True)]
    assert_fits(remote.cli("cleanup", "history", pushed.registry))


def test_login_saves_a_profile_the_commands_use(remote: Remote, pushed: Pushed) -> None:
    proc = remote.run(
        "login",
        remote.server.url,
        "--key-id",
        remote.key_id,
        "--password-stdin",
        stdin=remote.secret + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert f"as {remote.server.username}" in proc.stdout
    profile = remote.home / ".config" / "moorage" / "profile.toml"
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    assert remote.secret in profile.read_text()

    listed = remote.run("image", "list", pushed.registry, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [i["name"] for i in json.loads(listed.stdout)] == [pushed.image]

    assert remote.run("logout").returncode == 0
    assert not profile.exists()


def test_a_wrong_secret_is_one_line_and_status_1(remote: Remote) -> None:
    proc = remote.run(
        "--server",
        remote.server.url,
        "--key-id",
        remote.key_id,
        "--secret",
        "wrong",
        "registry",
        "list",
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ")
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stdout == ""

    login = remote.run(
        "login", remote.server.url, "--key-id", remote.key_id, "--password-stdin", stdin="wrong\n"
    )
    assert login.returncode == 1
    assert len(login.stderr.strip().splitlines()) == 1, login.stderr
    assert not (remote.home / ".config" / "moorage" / "profile.toml").exists()


def test_an_unreachable_server_is_one_line_and_status_2(remote: Remote) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    proc = remote.run("--server", nowhere, "--key-id", "k", "--secret", "s", "image", "list", "x")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert nowhere in proc.stderr
    assert "Traceback" not in proc.stderr


def test_garbage_collection_on_the_server(remote: Remote, pushed: Pushed) -> None:
    """`gc run` queues the run on the server and follows it to its end; history and the
    schedule read and write the server's."""
    run = remote.json("gc", "run", "--dry-run")
    assert (run["status"], run["dry_run"], run["trigger"]) == ("succeeded", True, "manual")
    assert run["log"], "the run's log comes back"
    listed = remote.json("gc", "history")
    assert run["id"] in [r["id"] for r in listed]
    assert_fits(remote.cli("gc", "history"))
    printed = remote.cli("gc", "run", "--dry-run")
    assert "would free" in printed
    scheduled = remote.json("gc", "schedule", "--cron", "0 3 * * SUN")
    assert scheduled["cron"] == "0 3 * * SUN"
    assert scheduled["stored_bytes"] > 0, "the storage figures come with the schedule"
    assert remote.json("gc", "schedule", "--off")["cron"] is None
    refused = remote.run(
        "--server",
        remote.server.url,
        "--key-id",
        remote.key_id,
        "--secret",
        remote.secret,
        "gc",
        "schedule",
        "--cron",
        "61 * * * *",
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ")
    assert "Traceback" not in refused.stderr
