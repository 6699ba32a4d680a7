"""Sign-in throttling: per account, with exponential backoff up to a cap, answered 429 with
Retry-After (no request sleeps); per client address for failures only, so users behind one
proxy or NAT do not wait for someone else's failures; a correct sign-in stays fast.

The server here has small limits: 3 free failures per account, a 2 s cap, 10 failures per
address.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

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
    new_account,
    rest,
    unique,
)
from tests.protocol.conftest import expect_error
from tests.support.server import ServerProcess

FREE = 3
CAP = 2
ADDRESS_FAILURES = 10
FAST = 2.0  # seconds a correct sign-in may take, argon2 on a busy test machine included (was 8)

Attempt = Callable[[ServerProcess, tuple[str, str], str], httpx.Response]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "MOORAGE_LOGIN_FREE_FAILURES": str(FREE),
        "MOORAGE_LOGIN_BACKOFF_CAP_SECONDS": str(CAP),
        "MOORAGE_LOGIN_ADDRESS_FAILURES": str(ADDRESS_FAILURES),
        "MOORAGE_LOGIN_FAILURE_WINDOW_SECONDS": "120",
        "MOORAGE_LOG_LEVEL": "warning",
    }
    server = ServerProcess(tmp_path_factory.mktemp("throttle"), auth=True, extra_env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin_api(server: ServerProcess) -> Iterator[httpx.Client]:
    with rest(server, (server.username, server.password)) as http:
        yield http


def token_attempt(server: ServerProcess, auth: tuple[str, str], source: str) -> httpx.Response:
    return ask_token(server, auth, "", source)


def rest_attempt(server: ServerProcess, auth: tuple[str, str], source: str) -> httpx.Response:
    with rest(server, auth, source=source) as http:
        return http.get("/users/me")


def v2_attempt(server: ServerProcess, auth: tuple[str, str], source: str) -> httpx.Response:
    with client(server, auth, source=source) as http:
        return http.get("/v2/")


def console_attempt(server: ServerProcess, auth: tuple[str, str], source: str) -> httpx.Response:
    with rest(server, None, source=source) as http:
        return http.post("/session", json={"username": auth[0], "password": auth[1]})


PATHS: dict[str, Attempt] = {
    "token": token_attempt,
    "rest": rest_attempt,
    "v2": v2_attempt,
    "console": console_attempt,
}
SUCCESS = {"token": 200, "rest": 200, "v2": 200, "console": 201}


def timed(attempt: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    resp = attempt()
    return resp, time.monotonic() - started


def retry_after(resp: httpx.Response) -> int:
    assert resp.status_code == 429, resp.text
    value = int(resp.headers["Retry-After"])
    assert value >= 1
    return value


def test_a_bystander_behind_a_failing_address_signs_in_at_once(
    server: ServerProcess, admin_api: httpx.Client
) -> None:
    """Everyone behind one proxy shares its address: someone's failures there (spraying
    user names past the address's threshold) never slow another user's correct sign-in."""
    shared = isolated_address()
    answers = [
        token_attempt(server, (unique("guess"), "wrong-password"), shared).status_code
        for _ in range(ADDRESS_FAILURES + 2)
    ]
    assert answers[: ADDRESS_FAILURES - 1] == [401] * (ADDRESS_FAILURES - 1)
    assert set(answers[ADDRESS_FAILURES - 1 :]) == {429}  # its failures: back off
    bystander = new_account(admin_api)
    for name, attempt in PATHS.items():
        resp, took = timed(lambda attempt=attempt: attempt(server, bystander.auth, shared))
        assert resp.status_code == SUCCESS[name], (name, resp.text)
        assert took < FAST, (name, took)


def test_parallel_guesses_are_bounded_per_account_and_nobody_sleeps(
    server: ServerProcess, admin_api: httpx.Client
) -> None:
    """40 wrong guesses at once, each from its own address: only the free ones are checked;
    the others are refused at once with 429 and Retry-After."""
    victim = new_account(admin_api)
    sources = [isolated_address() for _ in range(40)]

    def guess(source: str) -> tuple[httpx.Response, float]:
        return timed(lambda: token_attempt(server, (victim.username, "wrong-guess"), source))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(guess, sources))
    elapsed = time.monotonic() - started
    statuses = sorted(resp.status_code for resp, _ in results)
    assert statuses.count(401) <= FREE, statuses
    assert statuses.count(429) >= 40 - FREE, statuses
    for resp, _ in results:
        if resp.status_code == 429:
            expect_error(resp, 429, "TOOMANYREQUESTS")
            assert 1 <= retry_after(resp) <= CAP
    assert elapsed < 10, f"40 parallel guesses took {elapsed:.1f} s"
    print(f"40 parallel wrong guesses: {statuses.count(401)} checked, {elapsed:.2f} s in all")

    # Locked: even the right password waits; after Retry-After it is fast again.
    locked = token_attempt(server, victim.auth, isolated_address())
    time.sleep(retry_after(locked))
    resp, took = timed(lambda: token_attempt(server, victim.auth, isolated_address()))
    expect(resp, 200)
    assert took < FAST, took


def test_the_wait_doubles_up_to_the_cap_on_every_path(
    server: ServerProcess, admin_api: httpx.Client
) -> None:
    victim = new_account(admin_api)
    wrong = (victim.username, "wrong-password")
    for name in ("token", "rest", "v2"):
        expect(PATHS[name](server, wrong, isolated_address()), 401)
    waits = []
    for name in ("console", "rest", "v2", "token"):
        resp, took = timed(lambda name=name: PATHS[name](server, wrong, isolated_address()))
        waits.append(retry_after(resp))
        assert took < FAST, (name, took)  # refused, not slept on
        if name in ("console", "rest"):
            problem = expect_problem(resp, 429)
            assert problem["type"].endswith("too-many-requests")
        else:
            expect_error(resp, 429, "TOOMANYREQUESTS")
        time.sleep(waits[-1])
        expect(PATHS[name](server, wrong, isolated_address()), 401)  # checked: wrong again
    assert waits == [1, 2, 2, 2], waits  # 1 s, doubled, capped at 2 s
    time.sleep(CAP)
    expect(token_attempt(server, victim.auth, isolated_address()), 200)
    # The success cleared the count: the next failures are free again.
    for _ in range(FREE):
        expect(token_attempt(server, wrong, isolated_address()), 401)


def test_a_password_change_with_a_wrong_password_is_throttled(
    server: ServerProcess, admin_api: httpx.Client
) -> None:
    victim: Account = new_account(admin_api)
    with rest(server, None, source=isolated_address()) as browser:
        body = {"username": victim.username, "password": victim.password}
        csrf = expect_json(browser.post("/session", json=body), 201)["csrf_token"]
        browser.headers.update({"X-Moorage-Console": "1", "X-CSRF-Token": csrf})
        change = {"current_password": "wrong-password", "new_password": "whatever-new"}
        statuses = [browser.put("/users/me/password", json=change).status_code for _ in range(5)]
    assert statuses == [403] * FREE + [429] * (5 - FREE), statuses


def test_repeated_failures_are_logged(server: ServerProcess, admin_api: httpx.Client) -> None:
    victim = new_account(admin_api)
    source = isolated_address()
    for _ in range(FREE):
        token_attempt(server, (victim.username, "wrong-password"), source)
    deadline = time.monotonic() + 5
    while f"address={source}" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [line for line in server.log().splitlines() if f"address={source}" in line]
    assert lines, "the server log does not mention the repeated failures"
    assert "failed sign-ins" in lines[-1]
    assert f"login={victim.username!r}" in lines[-1]
