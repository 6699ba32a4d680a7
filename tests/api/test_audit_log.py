"""GET /api/v1/audit-logs: every change recorded once — REST writes (refusals too), manifest
pushes and deletes, sign-ins, background runs — with who, from where, what and the result;
filtered and paged for system administrators only.

The shared server is used by other tests at the same time, so each test filters by names of
its own (a fresh registry, user or login)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    ask_token,
    client,
    create_key,
    expect,
    expect_json,
    expect_page,
    expect_problem,
    isolated_address,
    make_registry,
    new_account,
    push_image,
    rest,
    token_client,
    unique,
)
from tests.protocol.conftest import OciClient
from tests.support.server import ServerProcess, moorage_command

FIELDS = {
    "id",
    "occurred_at",
    "username",
    "access_key",
    "client",
    "operation",
    "resource_type",
    "resource",
    "result",
    "status",
    "request_id",
    "detail",
}


def entries(admin_api: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    """The entries matching `filters`, newest first (one page of 100)."""
    body = expect_json(admin_api.get("/audit-logs", params={"page_size": 100, **filters}))
    items: list[dict[str, Any]] = body["items"]
    assert all(set(item) == FIELDS for item in items), items
    return items


def brief(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["username"], e["operation"], e["resource_type"], e["resource"], e["result"], e["status"])
        for e in items
    ]


def test_a_rest_write_is_recorded_with_who_where_and_the_request_id(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    registry = unique("r")
    source = isolated_address()
    with rest(live_server, (live_server.username, live_server.password), source=source) as http:
        resp = expect(http.post("/registries", json={"name": registry}), 201)
    [entry] = entries(admin_api, resource=registry)
    assert brief([entry]) == [
        (live_server.username, "create", "registry", registry, "success", 201)
    ]
    assert entry["client"] == source
    assert entry["request_id"] == resp.headers["x-request-id"]
    assert entry["access_key"] is None
    assert datetime.fromisoformat(entry["occurred_at"]) > datetime.now(UTC) - timedelta(minutes=5)


def test_refused_writes_are_recorded_as_denied_or_failed(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    registry = make_registry(admin_api)
    outsider = new_account(admin_api)
    with rest(live_server, outsider.auth) as http:
        expect_problem(http.delete(f"/registries/{registry}"), 403)
    with rest(live_server, None) as http:
        expect_problem(http.delete(f"/registries/{registry}"), 401)
    expect_problem(admin_api.post(f"/registries/{registry}/cleanup-schedule"), 405)
    expect_problem(admin_api.put(f"/registries/{registry}/cleanup-schedule", json={}), 422)
    expect_problem(admin_api.delete(f"/registries/{registry}/images/nothing-here"), 404)
    found = entries(admin_api, resource=registry)
    assert brief(found) == [
        (live_server.username, "delete", "image", f"{registry}/nothing-here", "failed", 404),
        (live_server.username, "update", "cleanup-schedule", registry, "failed", 422),
        ("anonymous", "delete", "registry", registry, "denied", 401),
        (outsider.username, "delete", "registry", registry, "denied", 403),
        (live_server.username, "create", "registry", registry, "success", 201),
    ]
    assert "your role does not allow" in found[3]["detail"]


def test_a_refused_change_leaves_only_its_refusal(
    admin_api: httpx.Client, admin_v2: httpx.Client
) -> None:
    """A request that fails half-way is rolled back with its success entry; the refusal is
    recorded on its own."""
    registry = make_registry(admin_api)
    push_image(admin_v2, f"{registry}/app", "v1")
    policy = {"image": {"pattern": "app"}, "tag": {"pattern": "v1"}}
    expect(admin_api.post(f"/registries/{registry}/protection-policies", json=policy), 201)
    expect_problem(admin_api.delete(f"/registries/{registry}/images/app"), 412)
    deletes = entries(admin_api, resource=f"{registry}/app", operation="delete")
    assert [(e["result"], e["status"]) for e in deletes] == [("failed", 412)]
    [created] = entries(admin_api, resource=f"{registry}/protection-policies/")
    assert created["operation"] == "create"
    assert created["resource"].rsplit("/", 1)[1].isdigit()  # named by the id it was given


def test_manifest_pushes_and_deletes_are_recorded_once_each(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    pusher = new_account(admin_api)
    project = unique("p")
    expect(admin_api.post("/projects", json={"name": project}), 201)
    registry = make_registry(admin_api, project)
    path = f"/projects/{project}/members/{pusher.username}"
    expect(admin_api.put(path, json={"role": "project_member"}), 200)
    with token_client(live_server, pusher.auth) as v2:
        pushed = push_image(v2, f"{registry}/app", "v1", layers=2)
        expect(OciClient(v2, f"{registry}/app").put_manifest(pushed.digest, pushed.manifest), 201)
        expect(OciClient(v2, f"{registry}/app").delete_manifest("v1"), 202)
    found = entries(admin_api, resource=f"{registry}/app")
    assert brief(found) == [
        (pusher.username, "delete", "tag", f"{registry}/app:v1", "success", 202),
        (pusher.username, "push", "artifact", f"{registry}/app@{pushed.digest}", "success", 201),
        (pusher.username, "push", "tag", f"{registry}/app:v1", "success", 201),
    ]
    assert found[2]["detail"] == pushed.digest  # a push by tag names the digest
    assert found[2]["client"] == "127.0.0.1"
    assert found[2]["request_id"]


def test_a_denied_push_is_recorded_but_not_the_protocols_challenge(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    project = unique("p")
    expect(admin_api.post("/projects", json={"name": project}), 201)
    registry = make_registry(admin_api, project)
    viewer = new_account(admin_api)
    path = f"/projects/{project}/members/{viewer.username}"
    expect(admin_api.put(path, json={"role": "service_viewer"}), 200)
    manifest = b'{"schemaVersion": 2}'
    with client(live_server, viewer.auth) as v2:  # Basic on /v2/
        resp = OciClient(v2, f"{registry}/app").put_manifest("v1", manifest)
        assert resp.status_code == 403, resp.text
    with client(live_server) as anonymous:
        resp = OciClient(anonymous, f"{registry}/app").put_manifest("v1", manifest)
        assert resp.status_code == 401, resp.text
    found = entries(admin_api, resource=f"{registry}/app")
    assert brief(found) == [(viewer.username, "push", "tag", f"{registry}/app:v1", "denied", 403)]


def test_sign_ins_are_recorded_successes_and_failures(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    account = new_account(admin_api)
    source = isolated_address()
    scope = "repository:nothing/app:pull"
    expect(ask_token(live_server, account.auth, scope, source=source), 200)
    expect(ask_token(live_server, (account.username, "wrong"), scope, source=source), 401)
    with client(live_server, api=True, source=source) as http:
        body = {"username": account.username, "password": account.password}
        expect(http.post("/session", json=body), 201)
        bad = {"username": account.username, "password": "wrong"}
        expect_problem(http.post("/session", json=bad), 401)
    with rest(live_server, (account.username, "wrong"), source=source) as http:
        expect_problem(http.get("/registries"), 401)
    with rest(live_server, account.auth, source=source) as http:
        expect(http.get("/registries"), 200)  # Basic credentials on a request: not a sign-in
    found = entries(admin_api, resource=account.username, operation="sign-in")
    assert [(e["result"], e["status"], e["detail"]) for e in found] == [
        ("failed", 401, "basic"),
        ("failed", 401, "console"),
        ("success", 200, "console"),
        ("failed", 401, "token"),
        ("success", 200, "token"),
    ]
    assert {e["username"] for e in found} == {account.username}
    assert {e["client"] for e in found} == {source}


def test_an_access_key_is_named(live_server: ServerProcess, admin_api: httpx.Client) -> None:
    account = new_account(admin_api)
    key = create_key(live_server, account.username)
    with rest(live_server, key.auth) as http:
        expect_problem(http.post("/registries", json={"name": unique("r")}), 403)
    [entry] = entries(admin_api, username=account.username, operation="create")
    assert (entry["access_key"], entry["result"]) == (key.key_id, "denied")


def test_filters_paging_and_order(admin_api: httpx.Client) -> None:
    registries = [make_registry(admin_api) for _ in range(3)]
    prefix = registries[0][:-4]
    mine = [e for e in entries(admin_api, resource_type="registry") if e["resource"] in registries]
    assert [e["resource"] for e in mine] == registries[::-1]  # newest first
    ids = [e["id"] for e in mine]
    assert ids == sorted(ids, reverse=True)

    first = mine[-1]
    for name, value in (
        ("username", first["username"]),
        ("operation", "create"),
        ("result", "success"),
        ("resource", registries[0]),
    ):
        found = entries(admin_api, **{name: value})
        assert first["id"] in [e["id"] for e in found], name
    assert entries(admin_api, resource=registries[0]) == [first]
    assert entries(admin_api, resource=prefix + "%") == []  # a prefix, taken literally
    assert entries(admin_api, result="denied", resource=registries[0]) == []

    at = datetime.fromisoformat(first["occurred_at"])
    since = entries(admin_api, since=at.isoformat(), resource_type="registry")
    assert first["id"] in [e["id"] for e in since]
    until = entries(admin_api, until=at.isoformat(), resource=registries[0])
    assert until == []
    naive = at.replace(tzinfo=None).isoformat()  # taken as UTC
    assert entries(admin_api, since=naive, resource=registries[0]) == [first]

    page = expect_json(admin_api.get("/audit-logs", params={"page_size": 1, "page": 2}))
    assert len(expect_page(page, page["total"], 2, 1)) == 1
    expect_problem(admin_api.get("/audit-logs", params={"result": "maybe"}), 422)
    expect_problem(admin_api.get("/audit-logs", params={"since": "yesterday"}), 422)
    expect_problem(admin_api.get("/audit-logs", params={"page_size": 101}), 422)


def test_only_administrators_read_it_and_reading_is_not_recorded(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    account = new_account(admin_api)
    with rest(live_server, account.auth) as http:
        expect_problem(http.get("/audit-logs"), 403)
    with rest(live_server, None) as http:
        expect_problem(http.get("/audit-logs"), 401)
    assert entries(admin_api, username=account.username) == []


def test_a_garbage_collection_run_is_recorded_as_the_systems(admin_api: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while True:
        resp = admin_api.post("/gc-runs", json={"dry_run": True})
        if resp.status_code != 409 or time.monotonic() > deadline:
            run = expect_json(resp, 202)
            break
        time.sleep(0.5)
    resource = f"gc-runs/{run['id']}"
    while time.monotonic() < deadline:
        done = entries(admin_api, resource=resource, username="system")
        if done:
            break
        time.sleep(0.2)
    started = entries(admin_api, resource=resource, operation="run")
    assert [(e["username"], e["result"]) for e in started][-1][1] == "success"
    assert [(e["username"], e["operation"], e["result"]) for e in done] == [
        ("system", "run", "success")
    ]
    assert "manual run" in done[0]["detail"]
    assert "dry run" in done[0]["detail"]


def test_the_cli_lists_entries_locally_and_on_a_server(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    registry = make_registry(admin_api)
    expect_problem(admin_api.delete(f"/registries/{registry}/images/none"), 404)
    local = live_server.cli_json("audit", "list", "--resource", registry)
    assert isinstance(local, list)
    assert [(e["operation"], e["resource_type"], e["result"]) for e in local] == [
        ("delete", "image", "failed"),
        ("create", "registry", "success"),
    ]
    assert live_server.cli_json("audit", "list", "--resource", registry, "--result", "failed") == [
        local[0]
    ]
    since = ["--since", local[0]["occurred_at"], "--resource", registry]
    assert live_server.cli_json("audit", "list", *since) == [local[0]]
    key = create_key(live_server, live_server.username)
    command = [*moorage_command(), "--server", live_server.url, "--key-id", key.key_id]
    remote = subprocess.run(
        [*command, "--secret", key.secret, "audit", "list", "--resource", registry, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(remote.stdout) == local


# --- behind a trusted proxy ------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server (SQLite) that trusts 127.0.0.1 as its reverse proxy."""
    folder: Path = tmp_path_factory.mktemp("audit-proxied")
    env = {"MOORAGE_TRUSTED_PROXIES": "127.0.0.1", "MOORAGE_RUN_JOBS": "false"}
    server = ServerProcess(folder / "data", None, extra_env=env, auth=True).start()
    try:
        yield server
    finally:
        server.stop()


def test_the_client_is_the_one_a_trusted_proxy_names(proxied: ServerProcess) -> None:
    admin = (proxied.username, proxied.password)
    forwarded = {"X-Forwarded-For": "198.51.100.23"}
    name = f"r{uuid.uuid4().hex[:10]}"
    with rest(proxied, admin) as http:
        expect(http.post("/registries", json={"name": name}, headers=forwarded), 201)
        [entry] = entries(http, resource=name)
    assert entry["client"] == "198.51.100.23"
    source = isolated_address()  # not the trusted proxy: its header is not believed
    other = f"r{uuid.uuid4().hex[:10]}"
    with rest(proxied, admin, source=source) as http:
        expect(http.post("/registries", json={"name": other}, headers=forwarded), 201)
        [entry] = entries(http, resource=other)
    assert entry["client"] == source
