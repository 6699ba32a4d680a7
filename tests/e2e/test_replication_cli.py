"""`moorage replication list|run|history` on a server (over the REST API) and on local data:
a rule copies an image from one moorage to another; the run is followed to its end and
printed with each artifact's outcome; `--no-wait` only queues it; a rule is named by its
name or id; the password never shows; a missing rule is one line and exit status 1."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import push_image, unique
from tests.support.server import ServerProcess, moorage_command

pytestmark = pytest.mark.e2e

RULE = "to-remote"
MIRROR = "mirror"


@dataclass(frozen=True, slots=True)
class Pair:
    source: ServerProcess
    remote: ServerProcess
    registry: str

    def remote_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`moorage --server SOURCE --username admin --password-stdin ARGS`."""
        proc = subprocess.run(
            [
                *moorage_command(),
                "--server",
                self.source.url,
                "--username",
                self.source.username,
                "--password-stdin",
                *args,
            ],
            input=self.source.password,
            env={
                **{k: v for k, v in self.source.env.items() if not k.startswith("MOORAGE_")},
                "COLUMNS": "200",  # a table row on one line, URL and all
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def remote_json(self, *args: str) -> Any:
        return json.loads(self.remote_cli(*args, "--json").stdout)

    def remote_tags(self, image: str) -> list[str]:
        auth = (self.remote.username, self.remote.password)
        url = f"{self.remote.url}/api/v1/registries/{MIRROR}/images/{image}/tags"
        response = httpx.get(url, auth=auth, timeout=30)
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text
        return sorted(t["name"] for t in response.json()["items"])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """A source moorage whose registry holds app:v1 and other:v1, a rule copying app/** to
    the remote moorage's registry `mirror` (loopback: private targets are allowed)."""
    folder = tmp_path_factory.mktemp("replication-cli")
    remote = ServerProcess(folder / "remote", auth=True).start()
    env = {"MOORAGE_ALLOW_PRIVATE_TARGETS": "1"}
    source = ServerProcess(folder / "source", auth=True, extra_env=env).start()
    try:
        remote.create_registry(MIRROR)
        registry = unique("src")
        source.create_registry(registry)
        admin = (source.username, source.password)
        with httpx.Client(base_url=source.url, auth=admin, timeout=30) as http:
            push_image(http, f"{registry}/app", "v1")
            push_image(http, f"{registry}/other", "v1")
            rule = {
                "name": RULE,
                "direction": "push",
                "remote": {
                    "url": remote.url,
                    "registry": MIRROR,
                    "username": remote.username,
                    "password": remote.password,
                },
                "filters": {"image": {"pattern": "app"}},
            }
            made = http.post(f"/api/v1/registries/{registry}/replications", json=rule)
            assert made.status_code == 201, made.text
        yield Pair(source, remote, registry)
    finally:
        source.stop()
        remote.stop()


def test_list_shows_the_rule_without_its_password(pair: Pair) -> None:
    table = pair.remote_cli("replication", "list", pair.registry).stdout
    assert RULE in table
    assert f"{pair.remote.url}/{MIRROR}" in table
    assert "image app, tag **" in table
    (rule,) = pair.remote_json("replication", "list", pair.registry)
    assert rule["name"] == RULE
    assert rule["remote"]["has_password"] is True
    assert pair.remote.password not in json.dumps(rule)


def test_run_on_the_server_follows_the_run_to_its_end(pair: Pair) -> None:
    finished = pair.remote_json("replication", "run", pair.registry, RULE)
    assert (finished["status"], finished["rule"]) == ("succeeded", RULE)
    assert finished["counts"]["total"] == finished["counts"]["succeeded"] == 1
    assert finished["counts"]["bytes"] > 0
    (task,) = finished["tasks"]
    assert (task["subject"], task["status"]) == ("app:v1", "succeeded")
    assert task["lines"]
    assert pair.remote_tags("app") == ["v1"]
    assert pair.remote_tags("other") == []  # the image filter left it out
    # People get each artifact and a summary line; a rule may be named by its id too.
    rule_id = str(pair.remote_json("replication", "list", pair.registry)[0]["id"])
    printed = pair.remote_cli("replication", "run", pair.registry, rule_id).stdout
    assert "app:v1" in printed
    assert "succeeded: 0 copied, 1 skipped, 0 failed of 1" in printed


def test_no_wait_only_queues_and_history_lists_every_run(pair: Pair) -> None:
    queued = pair.remote_json("replication", "run", pair.registry, RULE, "--no-wait")
    assert queued["status"] in ("pending", "running", "succeeded")
    runs = pair.remote_json("replication", "history", pair.registry)
    assert runs[0]["id"] == queued["id"]  # newest first
    assert {r["rule"] for r in runs} == {RULE}
    assert len(runs) >= 2
    table = pair.remote_cli("replication", "history", pair.registry, RULE).stdout
    assert "total/ok/failed/skipped" in table


def test_a_missing_rule_is_one_line_and_status_1(pair: Pair) -> None:
    proc = pair.remote_cli("replication", "run", pair.registry, "nope", check=False)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip() == f"error: registry {pair.registry!r} has no replication rule 'nope'"
    )
    proc = pair.remote_cli("replication", "list", "no-such-registry", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ")


def test_run_on_local_data_in_this_process(pair: Pair, tmp_path: Path) -> None:
    """With the source stopped (nothing else runs its jobs), a local run copies in this
    process: the artifact is already at the remote, so it is skipped."""
    pair.source.stop()
    try:
        finished = pair.source.cli_json("replication", "run", pair.registry, RULE)
        assert isinstance(finished, dict)
        assert finished["status"] == "succeeded"
        assert (finished["counts"]["skipped"], finished["counts"]["failed"]) == (1, 0)
        history = pair.source.cli_json("replication", "history", pair.registry, RULE)
        assert isinstance(history, list)
        assert history[0]["id"] == finished["id"]
        queued = pair.source.cli_json("replication", "run", pair.registry, RULE, "--no-wait")
        assert isinstance(queued, dict)
        assert queued["status"] == "pending"  # for a serve or worker to carry out
    finally:
        pair.source.start()
