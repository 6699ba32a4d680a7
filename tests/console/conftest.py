"""The web console in a real browser: Chromium driven by Playwright, against a live server.

Each test gets its own server (`server_factory`) and a fresh browser context; the browser
itself is shared by the session. Images are pushed with skopeo from a tiny OCI layout that
umoci builds around /bin/busybox.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUSYBOX = Path("/bin/busybox")
DESKTOP = {"width": 1280, "height": 800}
NARROW = {"width": 400, "height": 800}
REF_NAME = "org.opencontainers.image.ref.name"


def run(argv: list[str], *, env: dict[str, str] | None = None, check: bool = True) -> str:
    proc = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout + proc.stderr


@dataclass(frozen=True)
class Layout:
    """An OCI image layout with one tag, `v1` (a busybox image for linux/amd64)."""

    path: Path

    def ref(self, tag: str = "v1") -> str:
        return f"oci:{self.path}:{tag}"

    def digest(self, tag: str = "v1") -> str:
        index: dict[str, Any] = json.loads((self.path / "index.json").read_text())
        for desc in index["manifests"]:
            if desc.get("annotations", {}).get(REF_NAME) == tag:
                return str(desc["digest"])
        raise KeyError(tag)


@pytest.fixture(scope="session")
def oci_image(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    for tool in ("umoci", "skopeo"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    work = tmp_path_factory.mktemp("console-image")
    layout, bundle = work / "oci", work / "bundle"
    umoci = ["umoci", "--log", "error"]
    run([*umoci, "init", "--layout", str(layout)])
    run([*umoci, "new", "--image", f"{layout}:base"])
    run([*umoci, "unpack", "--rootless", "--image", f"{layout}:base", str(bundle)])
    bin_dir = bundle / "rootfs" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, bin_dir / "busybox")
    (bin_dir / "sh").symlink_to("busybox")
    run([*umoci, "repack", "--image", f"{layout}:layer", str(bundle)])
    run(
        [
            *umoci,
            "config",
            "--image",
            f"{layout}:layer",
            "--config.cmd=/bin/sh",
            "--architecture=amd64",
            "--os=linux",
            "--tag",
            "v1",
        ]
    )
    return Layout(layout)


@dataclass
class Skopeo:
    """skopeo with its credentials and temporary files under the test's directory."""

    home: Path

    @property
    def env(self) -> dict[str, str]:
        (self.home / "tmp").mkdir(parents=True, exist_ok=True)
        return {**os.environ, "TMPDIR": str(self.home / "tmp")}

    @property
    def authfile(self) -> str:
        return str(self.home / "auth.json")

    def push(self, server: ServerProcess, layout: Layout, dest: str) -> None:
        run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--dest-creds",
                f"{server.username}:{server.password}",
                layout.ref(),
                f"docker://{server.host}/{dest}",
            ],
            env=self.env,
        )

    def login(self, host: str, username: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "skopeo",
                "login",
                "--tls-verify=false",
                "--authfile",
                self.authfile,
                "-u",
                username,
                "-p",
                password,
                host,
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture
def skopeo(tmp_path: Path) -> Skopeo:
    return Skopeo(tmp_path / "skopeo")


@pytest.fixture
def console_server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(tmp_path / "srv", auth=True).start()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the console's tests. Not for the session: Playwright's sync API keeps
    an event loop running in the main thread while it is started, which would break every
    async test that runs after the console's (`Cannot run the event loop while another loop
    is running`)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


class PageProblems:
    """Uncaught script errors and Content-Security-Policy refusals seen by a page."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "Refused" in text):
            self.errors.append(f"CSP: {text}")


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """new_page(viewport=DESKTOP) → a Playwright page in its own context (own cookies)."""
    contexts: list[Any] = []
    problems = PageProblems()

    def make(viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport)
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        problems.watch(page)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems.errors, "\n".join(problems.errors)


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Any, str], Path]:
    """shots(page, "registries") saves a screenshot under tmp_path and prints its path."""
    folder = tmp_path / "screenshots"
    folder.mkdir()

    def take(page: Any, name: str) -> Path:
        path = folder / f"{name}.png"
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(path))
        print(f"screenshot: {path}")
        return path

    return take


def sign_in(page: Any, server: ServerProcess, path: str = "/") -> None:
    page.goto(f"{server.url}{path}")
    page.get_by_label("User name").fill(server.username)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
