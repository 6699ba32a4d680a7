"""Every list the REST API answers is a page: `items`, `total`, `page`, `page_size`.

The test walks the served OpenAPI document, so a list endpoint added later is checked
without being named here: each GET whose response is list-like (an array, or an object
holding one) must be documented as a page with `page` and `page_size` parameters, and must
answer one when called on a live server.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import expect_json, make_registry, push_image
from tests.api.test_openapi import served_document
from tests.support.server import ServerProcess

PAGE_KEYS = {"items", "total", "page", "page_size"}
# Lists that were bare arrays once: the walk must keep finding them.
KNOWN_LISTS = {
    "/registries/{registry}/protection-policies",
    "/registries/{registry}/cleanup-policies",
    "/registries/{registry}/webhooks",
    "/registries/{registry}/images/{image}/artifacts/{reference}/tags",
    "/registries/{registry}/replications",
    "/registries/{registry}/replications/{rule_id}/runs",
    "/registries/{registry}/replications/runs/{run_id}/tasks",
}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its `$ref` (a local one) followed."""
    while "$ref" in schema:
        found: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            found = found[part]
        schema = found
    return schema


def ok_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return resolve(document, schema) if schema else None


def is_list_like(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """An array, or an object with an array member named `items`."""
    if schema.get("type") == "array":
        return True
    items = schema.get("properties", {}).get("items")
    return items is not None and resolve(document, items).get("type") == "array"


def list_operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """path → GET operation, for every GET that answers a list."""
    found = {}
    for path, operations in document["paths"].items():
        operation = operations.get("get")
        schema = ok_schema(document, operation) if operation else None
        if operation and schema and is_list_like(document, schema):
            found[path] = operation
    return found


@pytest.fixture(scope="module")
def document(live_server: ServerProcess) -> dict[str, Any]:
    return served_document(live_server)


def test_the_walk_finds_the_lists(document: dict[str, Any]) -> None:
    assert set(list_operations(document)) >= KNOWN_LISTS


def test_every_list_is_documented_as_a_page(document: dict[str, Any]) -> None:
    wrong = []
    for path, operation in list_operations(document).items():
        schema = ok_schema(document, operation)
        assert schema is not None
        params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        if schema.get("type") != "object" or set(schema.get("properties", {})) != PAGE_KEYS:
            wrong.append(f"GET {path}: answers {schema.get('title') or schema.get('type')}")
        elif not set(schema.get("required", ())) >= PAGE_KEYS:
            wrong.append(f"GET {path}: the page's members are not all required")
        if not {"page", "page_size"} <= params:
            wrong.append(f"GET {path}: no page/page_size parameters ({sorted(params)})")
    assert not wrong, "\n".join(wrong)


@pytest.fixture(scope="module")
def path_values(admin_api: httpx.Client, admin_v2: httpx.Client) -> dict[str, str]:
    """A value for each path parameter of the list endpoints, naming things that exist."""
    registry = make_registry(admin_api)
    pushed = push_image(admin_v2, f"{registry}/team/app", "v1")
    # Disabled and for an event moorage does not send: the address is never called.
    webhook = {
        "name": "pages",
        "address": "https://93.184.215.14/hook",
        "event_types": ["REPLICATION"],
        "enabled": False,
    }
    created = expect_json(admin_api.post(f"/registries/{registry}/webhooks", json=webhook), 201)
    # A rule whose remote name never resolves (.invalid), and a run of it that fails.
    replications = f"/registries/{registry}/replications"
    rule = {"name": "pages", "direction": "push", "remote": {"url": "https://pages.invalid"}}
    rule_id = expect_json(admin_api.post(replications, json=rule), 201)["id"]
    run = expect_json(admin_api.post(f"{replications}/{rule_id}/runs"), 202)
    return {
        "registry": registry,
        "image": pushed.image.replace("/", "%2F"),
        "reference": pushed.digest,
        "project": "default",
        "webhook_id": str(created["id"]),
        "rule_id": str(rule_id),
        "run_id": str(run["id"]),
    }


def test_every_list_answers_a_page(
    document: dict[str, Any], admin_api: httpx.Client, path_values: dict[str, str]
) -> None:
    checked = []
    for path, operation in sorted(list_operations(document).items()):
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        missing = set(names) - set(path_values)
        assert not missing, f"GET {path}: give the test a value for {missing}"
        url = path.format(**{n: path_values[n] for n in names})
        body = expect_json(admin_api.get(url, params={"page": 1, "page_size": 1}))
        assert isinstance(body, dict), f"GET {path} answered {type(body).__name__}"
        assert set(body) == PAGE_KEYS, f"GET {path} answered {sorted(body)}"
        assert (body["page"], body["page_size"]) == (1, 1), f"GET {path}: {body}"
        assert isinstance(body["items"], list), f"GET {path}"
        assert len(body["items"]) <= 1, f"GET {path}"
        assert isinstance(body["total"], int), f"GET {path}"
        assert body["total"] >= len(body["items"]), f"GET {path}"
        checked.append(path)
    assert set(checked) >= KNOWN_LISTS


@pytest.mark.parametrize(
    "path", ["protection-policies", "cleanup-policies", "webhooks"], ids=lambda p: p
)
def test_the_former_bare_lists_page_and_refuse_an_unknown_sort(
    admin_api: httpx.Client, path_values: dict[str, str], path: str
) -> None:
    url = f"/registries/{path_values['registry']}/{path}"
    body = expect_json(admin_api.get(url, params={"page": 2, "page_size": 10, "sort": "-id"}))
    assert (body["page"], body["page_size"]) == (2, 10)
    assert admin_api.get(url, params={"sort": "colour"}).status_code == 400
