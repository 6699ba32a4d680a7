"""The locks in requirements/ match pyproject.toml: run scripts/lock when one of these fails.

Each lock pins every package, transitive ones included, with the hashes that
`pip install --require-hashes` checks; the runtime lock holds nothing that only tests use.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
TEST_LOCK = ROOT / "requirements" / "test.txt"

# Test tools that `scripts/serve` must never install.
TEST_TOOLS = ("pytest", "mypy", "moto", "playwright", "schemathesis", "ruff")

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: int


def read_lock(path: Path) -> dict[str, Pin]:
    """The lock's pins by canonical name: `name==version \\` followed by `--hash=` lines."""
    pins: dict[str, Pin] = {}
    for entry in re.split(r"\n(?=\S)", path.read_text()):
        line = entry.strip()
        if not line or line.startswith(("#", "--only-binary")):
            continue
        pin = _PIN.match(line)
        assert pin, f"{path.name}: not an exact pin: {line.splitlines()[0]}"
        pins[canonicalize_name(pin["name"])] = Pin(pin["version"], len(_HASH.findall(line)))
    return pins


def requirements(key: str) -> list[Requirement]:
    if key == "dependencies":
        return [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    if key == "build-system":
        return [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    return [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][key]]


RUNTIME = read_lock(RUNTIME_LOCK)
TEST = read_lock(TEST_LOCK)


@pytest.mark.parametrize("lock", [RUNTIME, TEST], ids=["runtime", "test"])
def test_every_pin_has_a_hash(lock: dict[str, Pin]) -> None:
    assert lock
    assert [name for name, pin in lock.items() if pin.hashes == 0] == []


@pytest.mark.parametrize(
    ("lock", "keys"),
    [
        (RUNTIME, ["dependencies", "build-system"]),
        (TEST, ["dependencies", "build-system", "test"]),
    ],
    ids=["runtime", "test"],
)
def test_pyproject_requirements_are_pinned_within_their_ranges(
    lock: dict[str, Pin], keys: list[str]
) -> None:
    for requirement in (r for key in keys for r in requirements(key)):
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{requirement} is not in the lock"
        pinned = lock[name].version
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"{requirement} does not allow the locked {pinned}"
        )


def test_psycopg_binary_extra_is_locked() -> None:
    # `psycopg[binary]`: the extra brings the compiled driver, which has to be locked too.
    assert RUNTIME["psycopg-binary"].version == RUNTIME["psycopg"].version


def test_test_lock_keeps_every_runtime_pin() -> None:
    changed = {
        name: (pin.version, TEST[name].version if name in TEST else None)
        for name, pin in RUNTIME.items()
        if name not in TEST or TEST[name].version != pin.version
    }
    assert changed == {}


def test_runtime_lock_holds_no_test_tool() -> None:
    runtime_names = {canonicalize_name(r.name) for r in requirements("dependencies")}
    test_only = {canonicalize_name(r.name) for r in requirements("test")} - runtime_names
    assert sorted((test_only | set(TEST_TOOLS)) & RUNTIME.keys()) == []
