"""/gc-runs, /gc-schedule and /storage: garbage collection for system administrators.

The session's shared server keeps the default grace window (two hours), so nothing the other
tests push is ever collected here; runs that would delete are dry runs.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    Account,
    expect,
    expect_json,
    expect_page,
    expect_problem,
    make_registry,
    new_account,
    push_image,
    rest,
)
from tests.support.server import ServerProcess

RUN_FIELDS = {
    "id",
    "trigger",
    "dry_run",
    "delete_untagged",
    "status",
    "blobs_deleted",
    "manifests_deleted",
    "bytes_freed",
    "errors",
    "created_at",
    "started_at",
    "finished_at",
}


@pytest.fixture
def user_api(live_server: ServerProcess, admin_api: httpx.Client) -> httpx.Client:
    account: Account = new_account(admin_api)
    return rest(live_server, account.auth)


def finished(admin_api: httpx.Client, run_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = expect_json(admin_api.get(f"/gc-runs/{run_id}"))
        if run["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return dict(run)
        time.sleep(0.2)


def start(admin_api: httpx.Client, body: dict[str, bool]) -> dict[str, Any]:
    """Start a run, waiting out one another test (or a schedule) may have started."""
    deadline = time.monotonic() + 60
    while True:
        resp = admin_api.post("/gc-runs", json=body)
        if resp.status_code != 409 or time.monotonic() > deadline:
            return dict(expect_json(resp, 202))
        time.sleep(0.5)


def test_a_dry_run_is_queued_carried_out_and_kept_in_the_history(
    admin_api: httpx.Client, admin_v2: httpx.Client
) -> None:
    registry = make_registry(admin_api)
    push_image(admin_v2, f"{registry}/app")
    run = start(admin_api, {"dry_run": True, "delete_untagged": True})
    assert set(run) == RUN_FIELDS
    assert (run["trigger"], run["dry_run"], run["delete_untagged"]) == ("manual", True, True)
    assert run["status"] in ("queued", "running", "succeeded")

    done = finished(admin_api, run["id"])
    assert done["status"] == "succeeded", done
    assert set(done) == RUN_FIELDS | {"log"}
    assert done["log"], "a run logs its phases"
    assert done["started_at"]
    assert done["finished_at"]

    page = expect_json(admin_api.get("/gc-runs", params={"page_size": 100}))
    assert run["id"] in [r["id"] for r in expect_page(page, page["total"], 1, 100)]
    # a dry run deletes nothing: the image is still listed
    images = expect_json(admin_api.get(f"/registries/{registry}/images"))
    assert [i["name"] for i in images["items"]] == ["app"]


def test_an_unknown_run_is_404_and_a_bad_body_is_422(admin_api: httpx.Client) -> None:
    expect_problem(admin_api.get("/gc-runs/2147483647"), 404)
    expect_problem(admin_api.get("/gc-runs/0"), 422)
    expect_problem(admin_api.post("/gc-runs", json={"dry_run": "maybe"}), 422)
    expect_problem(admin_api.post("/gc-runs", json={"dry_run": True, "extra": 1}), 422)


def test_the_deployment_schedule_is_set_read_and_removed(admin_api: httpx.Client) -> None:
    try:
        body = expect_json(admin_api.put("/gc-schedule", json={"cron": "0 3 * * SUN"}))
        assert body["cron"] == "0 3 * * SUN"
        assert body["next_run_at"]
        assert expect_json(admin_api.get("/gc-schedule"))["cron"] == "0 3 * * SUN"
        bad = expect_problem(admin_api.put("/gc-schedule", json={"cron": "61 * * * *"}), 400)
        assert "minute" in bad["detail"]
    finally:
        expect(admin_api.delete("/gc-schedule"), 204)
    assert expect_json(admin_api.get("/gc-schedule"))["cron"] is None


def test_storage_figures_count_what_is_pushed(
    admin_api: httpx.Client, admin_v2: httpx.Client
) -> None:
    before = expect_json(admin_api.get("/storage"))
    assert set(before) == {
        "blobs",
        "stored_bytes",
        "referenced_bytes",
        "unreferenced_blobs",
        "unreferenced_bytes",
    }
    registry = make_registry(admin_api)
    push_image(admin_v2, f"{registry}/app", layers=2)
    after = expect_json(admin_api.get("/storage"))
    assert after["blobs"] >= before["blobs"] + 3  # a config and two layers
    assert after["referenced_bytes"] > before["referenced_bytes"]
    assert after["stored_bytes"] == after["referenced_bytes"] + after["unreferenced_bytes"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/gc-runs", {"dry_run": True}),
        ("GET", "/gc-runs", None),
        ("GET", "/gc-runs/1", None),
        ("GET", "/gc-schedule", None),
        ("PUT", "/gc-schedule", {"cron": "0 3 * * *"}),
        ("DELETE", "/gc-schedule", None),
        ("GET", "/storage", None),
    ],
)
def test_only_a_system_administrator_may_collect_garbage(
    user_api: httpx.Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    expect_problem(user_api.request(method, path, json=body), 403)


def test_the_history_reads_newest_or_oldest_first(admin_api: httpx.Client) -> None:
    for _ in range(2):
        finished(admin_api, start(admin_api, {"dry_run": True})["id"])
    newest = expect_json(admin_api.get("/gc-runs", params={"page_size": 100}))
    oldest = expect_json(admin_api.get("/gc-runs", params={"page_size": 100, "sort": "created_at"}))
    ids = [r["id"] for r in newest["items"]]
    assert ids == sorted(ids, reverse=True)
    assert [r["id"] for r in oldest["items"]] == sorted(ids)
    last = expect_json(
        admin_api.get("/gc-runs", params={"page_size": 1, "page": 2, "sort": "created_at"})
    )
    assert [r["id"] for r in last["items"]] == sorted(ids)[1:2]
    expect_problem(admin_api.get("/gc-runs", params={"sort": "bytes_freed"}), 400)
