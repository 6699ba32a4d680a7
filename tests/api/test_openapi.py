"""The OpenAPI document: what the server serves is the committed docs/openapi.json (so an
unintended API change fails here), and a bounded schemathesis run against a live server finds
no server error and no response that breaks the document's schemas."""

from __future__ import annotations

import difflib
import json
import re
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
    expect,
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
SCHEMATHESIS_SECONDS = 600  # a guard per run: about a minute on an idle machine


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
# Two bounded runs against a server of their own, as the administrator, over every operation
# of the committed document: first all but the two sign-in operations, then those two (their
# generated passwords are wrong, and the failures throttle sign-ins from this address, so
# they come last). Each run's JUnit report gives each operation's outcome, and each operation
# is a test of its own, so a known failure (KNOWN_FAILURES: xfail, strict) hides nothing else.

# "METHOD /path" → what goes wrong, for each operation the run is known to fail on.
KNOWN_FAILURES: dict[str, str] = {}
OTHER_OPERATIONS = "operations missing from docs/openapi.json"
ROLE = "service_viewer"  # of the member there to be removed
MIN_EXAMPLES = 1000  # the runs generate about 3,000 requests; far fewer means they broke off
_GENERATED = re.compile(r"(\d+) generated")


def committed_operations() -> list[str]:
    document = json.loads(COMMITTED.read_text())
    return [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


OPERATIONS = list(dict.fromkeys([*committed_operations(), *KNOWN_FAILURES]))


@dataclass(frozen=True)
class FuzzRun:
    output: str
    tested: set[str]
    problems: dict[str, str]  # operation → schemathesis's account of what went wrong
    examples: int  # requests generated and sent, over both runs


def toml_table(values: dict[str, str]) -> str:
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def operation_parameters(name: str, values: dict[str, str]) -> str:
    """A config table giving one operation ("METHOD /path") its own parameter values."""
    inline = ", ".join(toml_table(values).splitlines())
    return f"[[operations]]\ninclude-name = {json.dumps(name)}\nparameters = {{ {inline} }}\n"


def fuzzing_config(server: ServerProcess, path: Path) -> None:
    """Content for generated requests to reach: reads and changes use `fuzz`, deletions use
    `doomed` copies (and `gone` for a whole registry), so reads still find data. Policies, a
    webhook and a project member exist to be deleted, so those deletions reach more than a
    404."""
    with rest(server, (server.username, server.password)) as admin_api:
        for_reads = new_account(admin_api).username
        for_deletes = new_account(admin_api).username
        with httpx.Client(base_url=server.url, auth=(server.username, server.password)) as v2:
            for name in ("fuzz", "doomed", "gone"):
                push_image(v2, f"{make_registry(admin_api, name=name)}/app", "v1")
        keys = [create_key(server, server.username).key_id for _ in range(2)]
        doomed = doomed_objects(admin_api, for_deletes)
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
    whole_registry = "DELETE /registries/{registry}"
    specific = [operation_parameters(whole_registry, {"registry": "gone"})]
    specific += [operation_parameters(name, {**deletes, **ids}) for name, ids in doomed.items()]
    path.write_text(
        "\n".join(
            (
                "[parameters]",
                toml_table(reads),
                *specific,
                "[[operations]]",
                'include-method = "DELETE"',
                f"exclude-name = {json.dumps([whole_registry, *doomed])}",
                f"parameters = {{ {', '.join(toml_table(deletes).splitlines())} }}",
                "",
            )
        )
    )


def doomed_objects(admin_api: httpx.Client, member: str) -> dict[str, dict[str, str]]:
    """A cleanup policy, a protection policy and a webhook in `doomed`, and `member` in a
    project: for each deleting operation, the identifiers of what it may delete."""
    selectors = {"image": {"pattern": "gone-*"}, "tag": {"pattern": "x*"}}
    cleanup = expect_json(
        admin_api.post(
            "/registries/doomed/cleanup-policies",
            json={**selectors, "rule": {"kind": "always"}},
        ),
        201,
    )
    protection = expect_json(
        admin_api.post("/registries/doomed/protection-policies", json=selectors), 201
    )
    webhook = expect_json(
        admin_api.post(
            "/registries/doomed/webhooks",
            json={
                "name": "doomed",
                "address": "https://hooks.example.com/x",
                "event_types": ["PUSH_ARTIFACT"],
            },
        ),
        201,
    )
    project = expect_json(admin_api.post("/projects", json={"name": "doomed"}), 201)["name"]
    expect(admin_api.put(f"/projects/{project}/members/{member}", json={"role": ROLE}), 200)
    base = "DELETE /registries/{registry}"
    return {
        f"{base}/cleanup-policies/{{policy_id}}": {"policy_id": str(cleanup["id"])},
        f"{base}/protection-policies/{{policy_id}}": {"policy_id": str(protection["id"])},
        f"{base}/webhooks/{{webhook_id}}": {"webhook_id": str(webhook["id"])},
        "DELETE /projects/{project}/members/{username}": {"project": project},
    }


def junit_outcomes(path: Path) -> tuple[set[str], dict[str, str]]:
    tested, problems = set(), {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = case.attrib["name"]
        tested.add(name)
        found = [f"{e.tag}: {e.text or e.attrib.get('message', '')}" for e in case]
        if found:
            problems[name] = "\n".join(found)
    return tested, problems


def schemathesis(
    server: ServerProcess,
    workdir: Path,
    name: str,
    *selection: str,
    phases: str = "examples,coverage,fuzzing",
    max_examples: int = 15,
) -> FuzzRun:
    """One run over the operations `selection` picks (schemathesis options); the JUnit
    report and the number of requests generated."""
    report = workdir / f"{name}.xml"
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
        phases,
        "--max-examples",
        str(max_examples),
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
        str(report),
        *selection,
    ]
    proc = subprocess.run(
        command,
        cwd=workdir,  # its example database stays in the test's directory
        capture_output=True,
        text=True,
        timeout=SCHEMATHESIS_SECONDS,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), f"schemathesis did not run:\n{output[-6000:]}"
    generated = _GENERATED.search(output)
    assert generated, f"no count of generated requests:\n{output[-4000:]}"
    return FuzzRun(output, *junit_outcomes(report), int(generated.group(1)))


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory: pytest.TempPathFactory) -> FuzzRun:
    """The runs, on SQLite, as the administrator (Basic): server errors and responses that
    break their documented schema are what they look for."""
    workdir = tmp_path_factory.mktemp("schemathesis")
    server = ServerProcess(workdir / "data", auth=True).start()
    try:
        fuzzing_config(server, workdir / "schemathesis.toml")
        sign_in = [arg for op in SIGN_IN_OPERATIONS for arg in ("--include-operation-id", op)]
        rest_of_api = [arg for op in SIGN_IN_OPERATIONS for arg in ("--exclude-operation-id", op)]
        runs = [
            schemathesis(server, workdir, "api", *rest_of_api),
            # A few fuzzed requests only: each failed sign-in is slowed by the throttle,
            # and the coverage phase's many would take minutes.
            schemathesis(server, workdir, "sign-in", *sign_in, phases="fuzzing", max_examples=5),
        ]
    finally:
        server.stop()
    return FuzzRun(
        "\n".join(run.output for run in runs),
        set().union(*(run.tested for run in runs)),
        {op: text for run in runs for op, text in run.problems.items()},
        sum(run.examples for run in runs),
    )


def test_schemathesis_sends_enough_requests(fuzz_run: FuzzRun) -> None:
    tested = len(fuzz_run.tested)
    print(f"schemathesis: {fuzz_run.examples} requests generated over {tested} operations")
    assert fuzz_run.examples >= MIN_EXAMPLES, fuzz_run.output[-4000:]
    server_errors = [op for op, text in fuzz_run.problems.items() if "Server error" in text]
    assert not server_errors, f"5xx from {server_errors}"


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
