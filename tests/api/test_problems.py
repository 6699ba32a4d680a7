"""Problem details a client can act on: a limit reached is told from a duplicate (both 409),
and an invalid parameter is named in `errors` (`field`, `detail`), for moorage's own checks
(400) as for schema errors (422)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import expect, expect_problem, make_registry, new_account, rest
from tests.support.server import ServerProcess

PROBLEMS = "https://moorage.dev/problems/"


def policy(n: int) -> dict[str, Any]:
    return {"image": {"pattern": "**"}, "tag": {"pattern": f"v{n}.*"}}


def fields(problem: dict[str, Any]) -> dict[str, str]:
    """field → detail, from a problem's `errors`."""
    return {item["field"]: item["detail"] for item in problem["errors"]}


@pytest.fixture
def registry(admin_api: httpx.Client) -> str:
    return make_registry(admin_api)


def test_a_policy_limit_is_not_a_duplicate(admin_api: httpx.Client, registry: str) -> None:
    path = f"/registries/{registry}/protection-policies"
    expect(admin_api.post(path, json=policy(0)), 201)
    same = expect_problem(admin_api.post(path, json=policy(0)), 409)
    assert same["type"] == PROBLEMS + "already-exists", same
    for n in range(1, 15):
        expect(admin_api.post(path, json=policy(n)), 201)
    full = expect_problem(admin_api.post(path, json=policy(15)), 409)
    assert full["type"] == PROBLEMS + "limit-reached", full
    assert full["limit"] == 15


def test_a_duplicate_name_already_exists(admin_api: httpx.Client, registry: str) -> None:
    problem = expect_problem(admin_api.post("/registries", json={"name": registry}), 409)
    assert problem["type"] == PROBLEMS + "already-exists", problem


def test_a_sixth_access_key_reaches_the_limit(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    with rest(live_server, new_account(admin_api).auth) as user_api:
        for _ in range(5):
            expect(user_api.post("/users/me/access-keys"), 201)
        problem = expect_problem(user_api.post("/users/me/access-keys"), 409)
    assert problem["type"] == PROBLEMS + "limit-reached", problem
    assert problem["limit"] == 5


def test_a_run_in_progress_stays_a_plain_conflict(admin_api: httpx.Client, registry: str) -> None:
    path = f"/registries/{registry}/cleanup-runs"
    first = admin_api.post(path, json={"dry_run": True})
    second = admin_api.post(path, json={"dry_run": True})
    if second.status_code == 409:  # the first may already be done: then nothing to check
        assert expect_problem(second, 409)["type"] == PROBLEMS + "conflict"
    expect(first, 202)


@pytest.mark.parametrize(
    "schedule", ["/registries/{registry}/cleanup-schedule", "/gc-schedule"], ids=["cleanup", "gc"]
)
def test_a_bad_cron_names_the_cron_field(
    admin_api: httpx.Client, registry: str, schedule: str
) -> None:
    path = schedule.format(registry=registry)
    problem = expect_problem(admin_api.put(path, json={"cron": "61 * * * *"}), 400)
    assert problem["type"] == PROBLEMS + "invalid-input"
    assert "minute" in fields(problem)["cron"], problem


@pytest.mark.parametrize("where", ["image", "tag"])
def test_a_bad_selector_pattern_names_its_field(
    admin_api: httpx.Client, registry: str, where: str
) -> None:
    for kind, extra in (
        ("protection", {}),
        ("cleanup", {"rule": {"kind": "latest_pushed", "count": 3}}),
    ):
        body = {**policy(1), where: {"pattern": "v{1,2"}, **extra}
        path = f"/registries/{registry}/{kind}-policies"
        problem = expect_problem(admin_api.post(path, json=body), 400)
        assert set(fields(problem)) == {f"{where}.pattern"}, problem
        assert "invalid pattern" in fields(problem)[f"{where}.pattern"]


def test_a_bad_rule_number_names_its_field(admin_api: httpx.Client, registry: str) -> None:
    path = f"/registries/{registry}/cleanup-policies"
    for rule, field in (
        ({"kind": "latest_pushed", "count": 0}, "rule.count"),
        ({"kind": "pushed_within"}, "rule.days"),
        ({"kind": "pushed_within", "days": 3, "count": 2}, "rule.count"),
    ):
        problem = expect_problem(admin_api.post(path, json={**policy(1), "rule": rule}), 400)
        assert set(fields(problem)) == {field}, problem


def test_an_unknown_sort_names_the_sort_parameter(admin_api: httpx.Client, registry: str) -> None:
    problem = expect_problem(
        admin_api.get(f"/registries/{registry}/images", params={"sort": "colour"}), 400
    )
    assert set(fields(problem)) == {"sort"}, problem


def test_schema_errors_name_the_field_and_keep_location(admin_api: httpx.Client) -> None:
    problem = expect_problem(admin_api.post("/registries", json={"name": 42}), 422)
    [error] = problem["errors"]
    assert error["field"] == "name"
    assert error["location"] == ["body", "name"]
    assert error["message"] == error["detail"]
    query = expect_problem(admin_api.get("/registries", params={"page_size": 0}), 422)
    assert [e["field"] for e in query["errors"]] == ["page_size"]
