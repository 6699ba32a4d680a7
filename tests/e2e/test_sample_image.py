"""scripts/sample-image: the README's quick-start image, pushed with the command it prints."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.e2e.conftest import OciLayout, Tool, client_env, run
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sample-image"


def build_sample(output: Path, push_to: str) -> tuple[str, str]:
    """Run the script; return the manifest digest it wrote and the push command it printed."""
    printed = run([SCRIPT, "--output", output, "--push-to", push_to]).stdout.splitlines()
    return OciLayout(output).descriptor("latest")["digest"], printed[-1]


def test_printed_command_pushes_the_sample_image(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path / "server", auth=True).start()
    server.create_registry("demo")
    destination = f"{server.host}/demo/sample:v1"
    digest, command = build_sample(tmp_path / "image", destination)

    skopeo = Tool(["skopeo"], client_env(tmp_path / "skopeo"))
    skopeo("login", "--tls-verify=false", "-u", server.username, "-p", server.password, server.host)
    argv = shlex.split(command)
    assert argv[:2] == ["skopeo", "copy"]
    run(argv, env=skopeo.env)

    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{destination}").stdout
    assert OciLayout(tmp_path / "image").blob(digest) == raw.encode()


def test_sample_image_is_the_same_on_every_run(tmp_path: Path) -> None:
    first, _ = build_sample(tmp_path / "first", "127.0.0.1:5000/demo/sample:latest")
    second, _ = build_sample(tmp_path / "second", "127.0.0.1:5000/demo/sample:latest")
    assert first == second
