"""A system administrator disables a user (PATCH /users/{username}) and enables them again.

A disabled user is refused everywhere at once: password and access-key sign-in on the REST
API, on /v2/ and at the token endpoint, the console session they already hold and the
bearer tokens already issued to them. Enabling them lets them sign in again; the sessions
and tokens that disabling ended stay ended.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.api.conftest import (
    Account,
    Auth,
    KeyPair,
    Team,
    ask_token,
    client,
    expect,
    expect_json,
    expect_page,
    expect_problem,
    isolated_address,
    new_account,
    rest,
)
from tests.protocol.conftest import expect_error
from tests.support.server import ServerProcess, moorage_command

CATALOG = "registry:catalog:*"


@contextmanager
def console_session(server: ServerProcess, account: Account) -> Iterator[httpx.Client]:
    """A browser signed in to the console: the session cookie, no Basic credentials."""
    with rest(server, None, source=isolated_address()) as browser:
        body = {"username": account.username, "password": account.password}
        expect(browser.post("/session", json=body), 201)
        browser.headers["X-Moorage-Console"] = "1"
        yield browser


def bearer_catalog(server: ServerProcess, token: str) -> httpx.Response:
    with client(server) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        return http.get("/v2/_catalog")


def signs_in(server: ServerProcess, auth: Auth) -> dict[str, int]:
    """The status of each way to sign in with these credentials, each from its own address
    (the sign-in throttle must not slow the next one down)."""
    with rest(server, auth, source=isolated_address()) as http:
        api = http.get("/users/me").status_code
    with client(server, auth, source=isolated_address()) as http:
        v2 = http.get("/v2/").status_code
    token = ask_token(server, auth, CATALOG, isolated_address()).status_code
    return {"rest": api, "v2": v2, "token": token}


def create_own_key(server: ServerProcess, account: Account) -> KeyPair:
    with rest(server, account.auth) as http:
        created = expect_json(http.post("/users/me/access-keys"), 201)
    return KeyPair(created["key_id"], created["secret"])


def test_a_disabled_user_is_refused_everywhere_until_enabled(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    account = new_account(admin_api)
    key = create_own_key(live_server, account)
    token = expect_json(ask_token(live_server, account.auth, CATALOG))["token"]
    key_token = expect_json(ask_token(live_server, key.auth, CATALOG))["token"]
    allowed = {"rest": 200, "v2": 200, "token": 200}
    refused = {"rest": 401, "v2": 401, "token": 401}
    with console_session(live_server, account) as browser:
        expect(browser.get("/users/me"), 200)
        expect(bearer_catalog(live_server, token), 200)

        path = f"/users/{account.username}"
        disabled = expect_json(admin_api.patch(path, json={"disabled": True}))
        assert (disabled["username"], disabled["disabled"]) == (account.username, True)
        listed = expect_json(admin_api.get("/users", params={"q": account.username}))
        assert expect_page(listed, 1) == [disabled]

        assert signs_in(live_server, account.auth) == refused
        assert signs_in(live_server, key.auth) == refused
        expect_problem(browser.get("/users/me"), 401)
        for issued in (token, key_token):
            expect_error(bearer_catalog(live_server, issued), 401, "UNAUTHORIZED")
        with rest(live_server, None, source=isolated_address()) as other_browser:
            body = {"username": account.username, "password": account.password}
            expect_problem(other_browser.post("/session", json=body), 401)

        enabled = expect_json(admin_api.patch(path, json={"disabled": False}))
        assert enabled["disabled"] is False
        assert signs_in(live_server, account.auth) == allowed
        assert signs_in(live_server, key.auth) == allowed
        # What disabling ended stays ended: the session and tokens held before.
        expect_problem(browser.get("/users/me"), 401)
        expect_error(bearer_catalog(live_server, token), 401, "UNAUTHORIZED")
    with console_session(live_server, account) as browser:
        expect(browser.get("/users/me"), 200)


def test_disabling_is_for_admins_and_checked(
    live_server: ServerProcess, admin_api: httpx.Client, admin: Account, team: Team
) -> None:
    victim = new_account(admin_api)
    body = {"disabled": True}
    with rest(live_server, team.roles["project_admin"].auth) as http:
        expect_problem(http.patch(f"/users/{victim.username}", json=body), 403)
    expect_problem(admin_api.patch("/users/nobody-here", json=body), 404)
    expect_problem(admin_api.patch(f"/users/{victim.username}", json={"disabled": None}), 422)
    expect_problem(admin_api.patch(f"/users/{victim.username}", json={}), 422)
    problem = expect_problem(admin_api.patch(f"/users/{admin.username}", json=body), 409)
    assert "yourself" in problem["detail"]
    # Enabling a user who is enabled already changes nothing and is not an error.
    assert (
        expect_json(admin_api.patch(f"/users/{victim.username}", json={"disabled": False}))[
            "disabled"
        ]
        is False
    )


# --- the command line ---------------------------------------------------------------------------


def remote_cli(server: ServerProcess, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`moorage --server URL --username admin ARGS`, the password on standard input."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("MOORAGE_", "XDG_"))}
    sign_in = ("--server", server.url, "--username", server.username, "--password-stdin")
    return subprocess.run(
        [*moorage_command(), *sign_in, *args],
        input=server.password + "\n",
        env={**kept, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def rest_status(server: ServerProcess, account: Account) -> int:
    with rest(server, account.auth, source=isolated_address()) as http:
        return http.get("/users/me").status_code


def test_user_disable_and_enable_on_local_data(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    account = new_account(admin_api)
    row = live_server.cli_json("user", "disable", account.username)
    assert isinstance(row, dict)
    assert (row["username"], row["disabled"]) == (account.username, True)
    assert rest_status(live_server, account) == 401
    listed = live_server.cli_json("user", "list")
    assert isinstance(listed, list)
    assert next(u for u in listed if u["username"] == account.username)["disabled"] is True
    table = live_server.cli("user", "list").stdout
    assert "disabled" in table.splitlines()[0]

    said = live_server.cli("user", "enable", account.username).stdout
    assert said.strip() == f"enabled user {account.username}"
    assert rest_status(live_server, account) == 200
    missing = live_server.cli("user", "disable", "nobody-here", check=False)
    assert missing.returncode == 1
    assert "nobody-here" in missing.stderr


def test_user_disable_and_enable_on_a_server(
    live_server: ServerProcess, admin_api: httpx.Client, tmp_path: Path
) -> None:
    account = new_account(admin_api)
    disabled = remote_cli(live_server, tmp_path, "user", "disable", account.username)
    assert disabled.returncode == 0, disabled.stderr
    assert disabled.stdout.startswith(f"disabled user {account.username}")
    assert rest_status(live_server, account) == 401
    enabled = remote_cli(live_server, tmp_path, "user", "enable", account.username, "--json")
    assert enabled.returncode == 0, enabled.stderr
    assert json.loads(enabled.stdout)["disabled"] is False
    assert rest_status(live_server, account) == 200

    myself = remote_cli(live_server, tmp_path, "user", "disable", live_server.username)
    assert myself.returncode == 1
    assert "yourself" in myself.stderr
    assert len(myself.stderr.strip().splitlines()) == 1  # one line, no traceback
