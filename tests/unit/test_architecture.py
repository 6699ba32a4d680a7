"""The shape of the code, checked: no package cycle anywhere, small role ports."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import tomllib
from pathlib import Path
from typing import Protocol

import grimp
import pytest

import moorage
import moorage.domain

MAX_PORT_METHODS = 15


def _children(graph: grimp.ImportGraph, package: str) -> list[str]:
    prefix = package + "."
    return sorted({m[len(prefix) :].split(".")[0] for m in graph.modules if m.startswith(prefix)})


def _package_cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """Cycles among the direct children of `package`, by their modules' direct imports."""
    children = _children(graph, package)
    edges: dict[str, set[str]] = {child: set() for child in children}
    for child in children:
        name = f"{package}.{child}"
        members = {m for m in graph.modules if m == name or m.startswith(name + ".")}
        for member in members:
            for imported in graph.find_modules_directly_imported_by(member):
                for other in children:
                    target = f"{package}.{other}"
                    if other != child and (imported == target or imported.startswith(target + ".")):
                        edges[child].add(other)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for child in children:
        if child not in state:
            visit(child, [child])
    return cycles


def _packages(graph: grimp.ImportGraph) -> list[str]:
    return sorted({m.rsplit(".", 1)[0] for m in graph.modules if "." in m} | {"moorage"})


def test_no_package_has_an_import_cycle_among_its_children() -> None:
    graph = grimp.build_graph("moorage")
    found = {pkg: cycles for pkg in _packages(graph) if (cycles := _package_cycles(graph, pkg))}
    assert found == {}


def _role_ports() -> list[type]:
    ports = []
    for info in pkgutil.walk_packages(moorage.domain.__path__, "moorage.domain."):
        if not info.name.endswith(".ports"):
            continue
        module = importlib.import_module(info.name)
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and Protocol in getattr(cls, "__mro__", ()):
                ports.append(cls)
    return ports


@pytest.mark.parametrize("port", _role_ports(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_a_role_port_has_at_most_fifteen_methods(port: type) -> None:
    methods = [
        name
        for name, member in vars(port).items()
        if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))
    ]
    assert len(methods) <= MAX_PORT_METHODS, f"{port.__name__} has {len(methods)}: {methods}"


def test_the_whole_transaction_holds_roles_only() -> None:
    from moorage.domain.ports import Transaction

    public = {name: member for name, member in vars(Transaction).items() if name[0] != "_"}
    assert public
    assert all(isinstance(member, property) for member in public.values())


def test_moorage_is_importable() -> None:
    assert moorage.__name__ == "moorage"


def test_the_domain_unit_tests_and_the_fakes_load_neither_sqlalchemy_nor_metadata() -> None:
    """Domain unit tests run on the fakes, which hold the schema as plain data: importing any
    of them (in a fresh interpreter) loads no SQLAlchemy and no `moorage.metadata`."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    modules = []
    for package in ("tests/unit/domain", "tests/fakes"):
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert {"tests.fakes.memory", "tests.unit.domain.test_services"} <= set(modules)
    code = "".join(f"import {name}; " for name in modules) + (
        "import json, sys; print(json.dumps(sorted(m for m in sys.modules"
        " if m.startswith(('sqlalchemy', 'moorage.metadata')))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def _declared_surfaces() -> dict[str, set[str]]:
    """Each capability's surface, as its package docstring declares it."""
    surfaces: dict[str, set[str]] = {}
    for info in pkgutil.iter_modules(moorage.domain.__path__):
        if not info.ispkg or info.name == "kernel":
            continue
        doc = importlib.import_module(f"moorage.domain.{info.name}").__doc__ or ""
        _, found, declared = doc.partition("Surface offered to other capabilities:")
        assert found, f"moorage.domain.{info.name} declares no surface in its docstring"
        surfaces[info.name] = set(re.findall(r"`([a-z_]+)`", declared.split(".\n")[0]))
    return surfaces


def test_the_import_contract_allows_exactly_the_declared_surfaces() -> None:
    """pyproject's independence contract lets capabilities meet only through the modules
    their package docstrings declare, and covers every capability."""
    config = tomllib.loads((Path(moorage.__file__).parents[2] / "pyproject.toml").read_text())
    contract = next(
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["name"] == "capabilities meet only through their declared surfaces"
    )
    allowed: dict[str, set[str]] = {}
    for rule in contract["ignore_imports"]:
        target = rule.split("->")[1].strip().split(".")
        allowed.setdefault(target[2], set()).add(target[3])
    surfaces = _declared_surfaces()
    assert {m.split(".")[2] for m in contract["modules"]} == set(surfaces)
    for capability, modules in surfaces.items():
        assert allowed.get(capability, set()) == modules, capability
