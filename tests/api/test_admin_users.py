"""A system administrator resets a user's password through the REST API; nobody else may."""

from __future__ import annotations

import uuid

import httpx

from tests.api.conftest import (
    Team,
    expect,
    expect_problem,
    new_account,
    rest,
)
from tests.support.server import ServerProcess


def test_admin_resets_a_password(live_server: ServerProcess, admin_api: httpx.Client) -> None:
    account = new_account(admin_api)
    fresh = f"pw-{uuid.uuid4().hex}"
    expect(admin_api.put(f"/users/{account.username}/password", json={"new_password": fresh}), 204)
    with rest(live_server, account.auth) as old:
        expect_problem(old.get("/users/me"), 401)
    with rest(live_server, (account.username, fresh)) as new:
        expect(new.get("/users/me"), 200)


def test_reset_password_is_for_admins_and_checked(
    live_server: ServerProcess, admin_api: httpx.Client, team: Team
) -> None:
    victim = new_account(admin_api)
    body = {"new_password": f"pw-{uuid.uuid4().hex}"}
    with rest(live_server, team.roles["project_admin"].auth) as http:
        expect_problem(http.put(f"/users/{victim.username}/password", json=body), 403)
    expect_problem(admin_api.put("/users/nobody-here/password", json=body), 404)
    expect_problem(
        admin_api.put(f"/users/{victim.username}/password", json={"new_password": "short"}), 400
    )
    # A user changing their own password still goes through /users/me/password.
    me = {"current_password": victim.password, "new_password": f"pw-{uuid.uuid4().hex}"}
    with rest(live_server, victim.auth) as http:
        expect(http.put("/users/me/password", json=me), 204)
