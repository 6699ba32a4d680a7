"""One composition root: domain services are built in `moorage/wiring.py` and nowhere else.

A service built twice is two caches, two buffers, two throttles (there were three
`ArtifactService`s, with three manifest caches): every entrypoint gets the one container
`wiring.build` makes. The source of `src/moorage` is read with `ast`, so the check needs no
import and sees every call site: a call of a domain service class (a class of
`moorage.domain` whose name ends in `Service`, and `PullRecorder`) anywhere but in
wiring.py fails it, and so does importing one under another name. Tests may build services.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import moorage

SOURCE = Path(moorage.__file__).parent
DOMAIN = SOURCE / "domain"
WIRING = SOURCE / "wiring.py"
ALSO_SERVICES = {"PullRecorder"}


def modules(root: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def service_classes() -> set[str]:
    return {
        node.name
        for _, tree in modules(DOMAIN)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and (node.name.endswith("Service") or node.name in ALSO_SERVICES)
    }


def called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):  # module.ArtifactService(...)
        return call.func.attr
    return None


def constructions(tree: ast.Module, classes: set[str]) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (name := called_name(node)) in classes:
            found.append((name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            # `from … import ArtifactService as Artifacts` would hide a construction.
            found += [
                (f"{a.name} imported as {a.asname}", node.lineno)
                for a in node.names
                if a.name in classes and a.asname not in (None, a.name)
            ]
    return found


def test_the_domain_services_are_the_expected_ones() -> None:
    """The scan finds the services (so the test below is not vacuous)."""
    assert service_classes() >= {
        "ArtifactService",
        "BrowseService",
        "CleanupRunService",
        "IdentityService",
        "PolicyService",
        "PullRecorder",
        "RegistryService",
        "UploadService",
        "UserService",
        "WebhookService",
    }


def test_domain_services_are_built_only_in_the_composition_root() -> None:
    classes = service_classes()
    elsewhere = [
        f"{path.relative_to(SOURCE.parent)}:{line}: {name}"
        for path, tree in modules(SOURCE)
        if path != WIRING
        for name, line in constructions(tree, classes)
    ]
    assert elsewhere == [], "domain services built outside wiring.py:\n" + "\n".join(elsewhere)


def test_the_composition_root_builds_each_service_once() -> None:
    built = Counter(
        name for name, _ in constructions(ast.parse(WIRING.read_text()), service_classes())
    )
    assert built == Counter(service_classes()), "each service built exactly once in wiring.py"
