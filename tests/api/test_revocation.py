"""Sessions and tokens end when they should, on every node.

A console session ends when it is signed out (that session only), and with every other
session and bearer token of its user when the password changes, when the user signs out
everywhere, is disabled or deleted, or has a project role changed or removed. A copied
cookie (with its CSRF token) or token stops working: at once on the node that made the
change, within seconds (the nodes' REVALIDATE_SECONDS) on the others.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import (
    Account,
    ask_token,
    client,
    expect,
    expect_json,
    expect_problem,
    isolated_address,
    make_registry,
    new_account,
    push_image,
    rest,
    unique,
)
from tests.support.databases import fresh_postgres_url
from tests.support.server import ServerProcess

REVALIDATE_SECONDS = 5.0  # the servers' cache of "may this session or token still act?"
CONSOLE = {"X-Moorage-Console": "1"}


@dataclass(frozen=True, slots=True)
class Copied:
    """A console session as someone who copied it holds it: the cookie and the CSRF token."""

    cookie: str
    csrf: str

    def client(self, server: ServerProcess) -> httpx.Client:
        http = rest(server, None, source=isolated_address())
        http.headers.update({**CONSOLE, "X-CSRF-Token": self.csrf})
        http.cookies.set("moorage_session", self.cookie)
        return http


def sign_in(server: ServerProcess, account: Account) -> Copied:
    with rest(server, None, source=isolated_address()) as browser:
        body = {"username": account.username, "password": account.password}
        created = expect_json(browser.post("/session", json=body), 201)
        return Copied(browser.cookies["moorage_session"], created["csrf_token"])


def reads(server: ServerProcess, session: Copied) -> int:
    with session.client(server) as http:
        return http.get("/users/me").status_code


def writes(server: ServerProcess, session: Copied) -> int:
    """POST /registries with the session's CSRF token (a write any signed-in user may try:
    403 for a user without a project, 201 for an administrator, 401 once it has ended)."""
    with session.client(server) as http:
        return http.post("/registries", json={"name": unique("r")}).status_code


def bearer_status(server: ServerProcess, token: str, repository: str, method: str) -> int:
    """Start a blob upload (`POST`, needs push) or list tags (`GET`, needs pull)."""
    with client(server) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        if method == "POST":
            return http.post(f"/v2/{repository}/blobs/uploads/").status_code
        return http.get(f"/v2/{repository}/tags/list").status_code


def token_for(server: ServerProcess, auth: tuple[str, str], repository: str) -> str:
    body = expect_json(ask_token(server, auth, f"repository:{repository}:pull,push"))
    return str(body["token"])


def wait_until(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until `check()` held; fails after `timeout`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"not within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - started


def new_member(admin_api: httpx.Client, admin_v2: httpx.Client) -> tuple[Account, str, str]:
    """A Project Member of a new project: (account, project, an image in its registry)."""
    account = new_account(admin_api)
    project = unique("p")
    expect(admin_api.post("/projects", json={"name": project}), 201)
    path = f"/projects/{project}/members/{account.username}"
    expect(admin_api.put(path, json={"role": "project_member"}), 200)
    pushed = push_image(admin_v2, f"{make_registry(admin_api, project)}/app")
    return account, project, pushed.repository


@pytest.fixture
def member(admin_api: httpx.Client, admin_v2: httpx.Client) -> tuple[Account, str, str]:
    return new_member(admin_api, admin_v2)


# --- one node -----------------------------------------------------------------------------


def test_signing_out_ends_that_session_only(
    live_server: ServerProcess, admin_api: httpx.Client, admin: Account
) -> None:
    copied, other = sign_in(live_server, admin), sign_in(live_server, admin)
    assert (reads(live_server, copied), writes(live_server, copied)) == (200, 201)
    with copied.client(live_server) as browser:
        expect(browser.delete("/session"), 204)
    assert reads(live_server, copied) == 401
    assert writes(live_server, copied) == 401
    with copied.client(live_server) as http:
        expect_problem(http.get("/session"), 401)  # no CSRF token for an ended session
    assert reads(live_server, other) == 200  # the admin's other session goes on
    with other.client(live_server) as browser:
        expect(browser.delete("/session"), 204)


def test_a_password_change_ends_every_session_and_token(
    live_server: ServerProcess, member: tuple[Account, str, str]
) -> None:
    account, _, repository = member
    changing, elsewhere = sign_in(live_server, account), sign_in(live_server, account)
    token = token_for(live_server, account.auth, repository)
    assert bearer_status(live_server, token, repository, "POST") == 202
    new_password = f"new-{account.password}"
    with changing.client(live_server) as browser:
        body = {"current_password": account.password, "new_password": new_password}
        changed = expect(browser.put("/users/me/password", json=body), 204)
    # The browser that changed it carries on with a new cookie and the same CSRF token.
    renewed = Copied(changed.cookies["moorage_session"], changing.csrf)
    assert renewed.cookie != changing.cookie
    assert (reads(live_server, renewed), writes(live_server, renewed)) == (200, 403)
    for ended in (changing, elsewhere):
        assert (reads(live_server, ended), writes(live_server, ended)) == (401, 401)
    assert bearer_status(live_server, token, repository, "POST") == 401
    fresh = token_for(live_server, (account.username, new_password), repository)
    assert bearer_status(live_server, fresh, repository, "POST") == 202


def test_a_password_reset_by_an_administrator_ends_sessions_not_keys(
    live_server: ServerProcess, admin_api: httpx.Client, member: tuple[Account, str, str]
) -> None:
    account, _, repository = member
    session = sign_in(live_server, account)
    with rest(live_server, account.auth) as http:
        key = expect_json(http.post("/users/me/access-keys"), 201)
    key_auth = (key["key_id"], key["secret"])
    key_token = token_for(live_server, key_auth, repository)
    body = {"new_password": f"reset-{account.password}"}
    expect(admin_api.put(f"/users/{account.username}/password", json=body), 204)
    assert reads(live_server, session) == 401
    assert bearer_status(live_server, key_token, repository, "GET") == 401
    fresh = token_for(live_server, key_auth, repository)  # the key itself still works
    assert bearer_status(live_server, fresh, repository, "GET") == 200


def test_signing_out_everywhere(
    live_server: ServerProcess, member: tuple[Account, str, str]
) -> None:
    account, _, repository = member
    first, second = sign_in(live_server, account), sign_in(live_server, account)
    token = token_for(live_server, account.auth, repository)
    with first.client(live_server) as browser:
        expect(browser.delete("/users/me/sessions"), 204)
    assert [reads(live_server, s) for s in (first, second)] == [401, 401]
    assert bearer_status(live_server, token, repository, "GET") == 401
    assert reads(live_server, sign_in(live_server, account)) == 200  # signing in again works


def test_a_demoted_member_token_stops_pushing(
    live_server: ServerProcess, admin_api: httpx.Client, member: tuple[Account, str, str]
) -> None:
    account, project, repository = member
    token = token_for(live_server, account.auth, repository)
    session = sign_in(live_server, account)
    assert bearer_status(live_server, token, repository, "POST") == 202
    path = f"/projects/{project}/members/{account.username}"
    expect(admin_api.put(path, json={"role": "service_viewer"}), 200)
    assert bearer_status(live_server, token, repository, "POST") == 401
    assert reads(live_server, session) == 401
    viewer = token_for(live_server, account.auth, repository)  # pull only, now
    assert bearer_status(live_server, viewer, repository, "GET") == 200
    assert bearer_status(live_server, viewer, repository, "POST") in (401, 403)
    expect(admin_api.delete(path), 204)
    assert bearer_status(live_server, viewer, repository, "GET") == 401


def test_adding_a_member_elsewhere_ends_nothing(
    live_server: ServerProcess, admin_api: httpx.Client, member: tuple[Account, str, str]
) -> None:
    account, _, repository = member
    token = token_for(live_server, account.auth, repository)
    session = sign_in(live_server, account)
    other = unique("p")
    expect(admin_api.post("/projects", json={"name": other}), 201)
    path = f"/projects/{other}/members/{account.username}"
    expect(admin_api.put(path, json={"role": "service_viewer"}), 200)
    assert bearer_status(live_server, token, repository, "POST") == 202
    assert reads(live_server, session) == 200


def test_deleting_a_user_ends_their_sessions(
    live_server: ServerProcess, admin_api: httpx.Client
) -> None:
    account = new_account(admin_api)
    session = sign_in(live_server, account)
    expect(admin_api.delete(f"/users/{account.username}"), 204)
    assert reads(live_server, session) == 401


# --- two nodes on one PostgreSQL database ----------------------------------------------------


@dataclass
class Pair:
    nodes: list[ServerProcess]
    admin: Account

    def api(self, node: int) -> httpx.Client:
        return rest(self.nodes[node], self.admin.auth)


@pytest.fixture
def pair(server_factory: type[ServerProcess], tmp_path: Path) -> Iterator[Pair]:
    env = {
        "MOORAGE_TOKEN_KEY": base64.b64encode(os.urandom(32)).decode(),
        "MOORAGE_STORAGE_ROOT": str(tmp_path / "shared-blobs"),
        "MOORAGE_RUN_JOBS": "false",
        "MOORAGE_LOGIN_FREE_FAILURES": "3",
    }
    with fresh_postgres_url() as url:
        nodes = [
            server_factory(tmp_path / f"node{n}", url, extra_env=env, auth=True) for n in (1, 2)
        ]
        try:
            for node in nodes:
                node.start()
            yield Pair(nodes, Account(nodes[0].username, nodes[0].password))
        finally:
            for node in nodes:  # before the database is dropped under them
                node.stop()


def test_revocations_reach_the_other_node_within_seconds(pair: Pair) -> None:
    one, two = pair.nodes
    with pair.api(0) as admin_api, client(one, pair.admin.auth) as admin_v2:
        account, project, repository = new_member(admin_api, admin_v2)
    path = f"/projects/{project}/members/{account.username}"

    # Sign out on node one: node two stops taking the copied cookie within seconds.
    session = sign_in(one, account)
    assert (reads(two, session), writes(two, session)) == (200, 403)  # known on node two
    with session.client(one) as browser:
        expect(browser.delete("/session"), 204)
    took = wait_until(lambda: reads(two, session) == 401, REVALIDATE_SECONDS + 2)
    assert writes(two, session) == 401
    print(f"sign-out reached the other node after {took:.2f} s")

    # A token issued by node two stops pushing there once node one demotes its user.
    token = token_for(two, account.auth, repository)
    assert bearer_status(two, token, repository, "POST") == 202
    with pair.api(0) as admin_api:
        expect(admin_api.put(path, json={"role": "service_viewer"}), 200)
    took = wait_until(
        lambda: bearer_status(two, token, repository, "POST") == 401, REVALIDATE_SECONDS + 2
    )
    print(f"the demotion reached the other node after {took:.2f} s")

    # A password changed on node two ends a session node one knows.
    session = sign_in(one, account)
    assert reads(one, session) == 200
    with rest(two, account.auth) as http:
        body = {"current_password": account.password, "new_password": f"n-{account.password}"}
        expect(http.put("/users/me/password", json=body), 204)
    wait_until(lambda: reads(one, session) == 401, REVALIDATE_SECONDS + 2)


def test_failed_sign_ins_are_counted_for_every_node(pair: Pair) -> None:
    one, two = pair.nodes
    with pair.api(0) as admin_api:
        account = new_account(admin_api)
    wrong = (account.username, "wrong-password")
    for n in range(3):
        node = pair.nodes[n % 2]
        assert ask_token(node, wrong, "", isolated_address()).status_code == 401
    refused = ask_token(one, account.auth, "", isolated_address())
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    refused = ask_token(two, account.auth, "", isolated_address())
    assert refused.status_code == 429
    time.sleep(int(refused.headers["Retry-After"]))
    expect(ask_token(two, account.auth, "", isolated_address()), 200)
