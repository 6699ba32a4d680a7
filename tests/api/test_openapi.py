"""The OpenAPI document: what the server serves is the committed docs/openapi.json (so an
unintended API change fails here), and a bounded schemathesis run against a live server finds
no server error and no response that breaks the document's schemas."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.api.conftest import (
    API_PREFIX,
    create_key,
    expect_json,
    make_registry,
    new_account,
    push_image,
    rest,
)
from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
SCRIPT = ROOT / "scripts" / "openapi"
REGENERATE = (
    "if the change is intended, run scripts/openapi to regenerate docs/openapi.json, "
    "review the diff and commit it"
)
# Signing in with a wrong password is what these two operations check; generated passwords
# are wrong, and the failures would throttle every later request of the run from this address.
SIGN_IN_OPERATIONS = ("create_session", "change_my_password")
SCHEMATHESIS_SECONDS = 240


def served_document(server: ServerProcess) -> dict[str, Any]:
    document = expect_json(httpx.get(f"{server.url}{API_PREFIX}/openapi.json", timeout=30))
    assert isinstance(document, dict)
    return document


def test_the_served_document_is_the_committed_one(live_server: ServerProcess) -> None:
    served = served_document(live_server)
    committed = json.loads(COMMITTED.read_text())
    if served != committed:
        diff = difflib.unified_diff(
            json.dumps(committed, indent=2).splitlines(),
            json.dumps(served, indent=2).splitlines(),
            "docs/openapi.json",
            "served",
            lineterm="",
        )
        shown = "\n".join(list(diff)[:80])
        pytest.fail(f"the REST API's OpenAPI document changed; {REGENERATE}.\n{shown}")


def test_the_script_regenerates_the_committed_document() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}\n{REGENERATE}"


def test_validation_errors_are_documented_as_served(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    document = served_document(live_server)
    resp = admin_api.post("/registries", json={"name": 42})
    responses = document["paths"]["/registries"]["post"]["responses"]
    content = responses[str(resp.status_code)]["content"]
    media_type = resp.headers["content-type"].split(";")[0]
    assert media_type in content, f"documented: {list(content)}; served: {media_type}"
    schema = {**content[media_type]["schema"], "components": document["components"]}
    jsonschema.validate(resp.json(), schema, cls=jsonschema.Draft202012Validator)


# --- schemathesis ----------------------------------------------------------------------------
#
# One bounded run against a server of its own; its JUnit report gives each operation's
# outcome, and each operation of the committed document is a test of its own, so a known
# failure (KNOWN_FAILURES: xfail, strict) hides nothing else.

# "METHOD /path" → what goes wrong, for each operation the run is known to fail on.
KNOWN_FAILURES: dict[str, str] = {}
OTHER_OPERATIONS = "operations missing from docs/openapi.json"


def committed_operations() -> list[str]:
    document = json.loads(COMMITTED.read_text())
    return [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("operationId") not in SIGN_IN_OPERATIONS
    ]


OPERATIONS = list(dict.fromkeys([*committed_operations(), *KNOWN_FAILURES]))


@dataclass(frozen=True)
class FuzzRun:
    output: str
    tested: set[str]
    problems: dict[str, str]  # operation → schemathesis's account of what went wrong


def toml_table(values: dict[str, str]) -> str:
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def fuzzing_config(server: ServerProcess, path: Path) -> None:
    """Content for generated requests to reach: reads and changes use `fuzz`, deletions use
    `doomed` copies (and `gone` for a whole registry), so reads still find data."""
    with rest(server, (server.username, server.password)) as admin_api:
        for_reads = new_account(admin_api).username
        for_deletes = new_account(admin_api).username
        with httpx.Client(base_url=server.url, auth=(server.username, server.password)) as v2:
            for name in ("fuzz", "doomed", "gone"):
                push_image(v2, f"{make_registry(admin_api, name=name)}/app", "v1")
        keys = [create_key(server, server.username).key_id for _ in range(2)]
    reads = {
        "registry": "fuzz",
        "image": "app",
        "reference": "v1",
        "tag": "v1",
        "project": "default",
        "username": for_reads,
        "key_id": keys[0],
    }
    deletes = {"registry": "doomed", "username": for_deletes, "key_id": keys[1]}
    whole_registry = '"DELETE /registries/{registry}"'
    path.write_text(
        "\n".join(
            (
                "[parameters]",
                toml_table(reads),
                "[[operations]]",
                f"include-name = {whole_registry}",
                'parameters = { registry = "gone" }',
                "",
                "[[operations]]",
                'include-method = "DELETE"',
                f"exclude-name = {whole_registry}",
                f"parameters = {{ {', '.join(toml_table(deletes).splitlines())} }}",
                "",
            )
        )
    )


def junit_outcomes(path: Path) -> tuple[set[str], dict[str, str]]:
    tested, problems = set(), {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = case.attrib["name"]
        tested.add(name)
        found = [f"{e.tag}: {e.text or e.attrib.get('message', '')}" for e in case]
        if found:
            problems[name] = "\n".join(found)
    return tested, problems


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory: pytest.TempPathFactory) -> FuzzRun:
    """The run, on SQLite, as the administrator (Basic): server errors and responses that
    break their documented schema are what it looks for."""
    workdir = tmp_path_factory.mktemp("schemathesis")
    server = ServerProcess(workdir / "data", auth=True).start()
    try:
        fuzzing_config(server, workdir / "schemathesis.toml")
        command = [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(workdir / "schemathesis.toml"),
            "run",
            f"{server.url}{API_PREFIX}/openapi.json",
            "--auth",
            f"{server.username}:{server.password}",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "15",
            "--seed",
            "20261127",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--no-shrink",
            "--report",
            "junit",
            "--report-junit-path",
            str(workdir / "junit.xml"),
            *(arg for op in SIGN_IN_OPERATIONS for arg in ("--exclude-operation-id", op)),
        ]
        proc = subprocess.run(
            command,
            cwd=workdir,  # its example database stays in the test's directory
            capture_output=True,
            text=True,
            timeout=SCHEMATHESIS_SECONDS,
            check=False,
        )
    finally:
        server.stop()
    output = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), f"schemathesis did not run:\n{output[-6000:]}"
    return FuzzRun(output, *junit_outcomes(workdir / "junit.xml"))


@pytest.mark.parametrize(
    "operation",
    [
        *(
            pytest.param(op, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[op]))
            if op in KNOWN_FAILURES
            else op
            for op in OPERATIONS
        ),
        OTHER_OPERATIONS,
    ],
)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    fuzz_run: FuzzRun, operation: str
) -> None:
    if operation == OTHER_OPERATIONS:
        problems = {op: text for op, text in fuzz_run.problems.items() if op not in OPERATIONS}
    else:
        assert operation in fuzz_run.tested, f"not tested:\n{fuzz_run.output[-4000:]}"
        problems = {op: text for op, text in fuzz_run.problems.items() if op == operation}
    shown = "\n\n".join(f"{op}\n{text[:3000]}" for op, text in problems.items())
    assert not problems, f"schemathesis found problems:\n{shown}"
