"""/registries/{registry}/replications: rules (CRUD), their status and its check, runs by
hand (202), the history with tasks, stopping a run; pages and problem details like the rest
of the API; the guide's permission rows for every role; the password never answered back.

This module has servers of its own (one per metadata backend, like the session's), which
allow private targets: rules name a loopback HTTP server that refuses every request with a
403 (`refusing`), so their checks and runs fail at once (a refusal is not retried, where an
unreachable address is, for seconds) without leaving the machine. The runs and checks that
must reach the other side use a pair of servers (`pair`): a source that runs no background
jobs (so a run stays pending until stopped), and a remote moorage with authentication.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from moorage.api.rest.replication import REFRESH_WAIT_SECONDS
from tests.api.conftest import (
    VIEWER_ROLE,
    WRITER_ROLES,
    Team,
    client,
    expect,
    expect_json,
    expect_page,
    expect_problem,
    make_registry,
    make_team,
    push_image,
    rest,
    unique,
)
from tests.support.databases import BACKENDS, fresh_postgres_url
from tests.support.server import ServerProcess, free_port

REFUSING_PORT = free_port()
UNREACHABLE = f"http://127.0.0.1:{REFUSING_PORT}"  # `refusing` answers 403 to everything
PRIVATE_TARGETS = {"MOORAGE_ALLOW_PRIVATE_TARGETS": "1"}
PASSWORD = f"remote-pw-{uuid.uuid4().hex}"
RULE_FIELDS = {
    "id",
    "name",
    "direction",
    "remote",
    "filters",
    "trigger",
    "cron",
    "override",
    "enabled",
    "status",
    "last_error",
    "checked_at",
    "created_at",
    "updated_at",
}
RUN_FIELDS = {
    "id",
    "rule_id",
    "trigger",
    "status",
    "counts",
    "error",
    "created_at",
    "started_at",
    "finished_at",
}
COUNT_KEYS = {"total", "succeeded", "failed", "skipped", "in_progress", "bytes"}


def rule_body(name: str | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name or unique("rule"),
        "direction": "push",
        "remote": {
            "url": UNREACHABLE,
            "registry": "mirror",
            "username": "robot",
            "password": PASSWORD,
            "verify_tls": True,
        },
        "filters": {
            "image": {"pattern": "app/**", "include": True},
            "tag": {"pattern": "*-rc", "include": False},
        },
        "trigger": "manual",
        "override": True,
        "enabled": True,
    }
    body.update(changes)
    return body


def rules_path(registry: str) -> str:
    return f"/registries/{registry}/replications"


def create_rule(http: httpx.Client, registry: str, **changes: Any) -> dict[str, Any]:
    response = http.post(rules_path(registry), json=rule_body(**changes))
    assert PASSWORD not in response.text
    return dict(expect_json(response, 201))


def field_errors(problem: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["detail"] for e in problem.get("errors", [])}


# This module's own servers and accounts, in place of the session's.


@pytest.fixture(scope="module", autouse=True)
def refusing() -> Iterator[None]:
    """The other side of the module's rules: 403 to every request, at once."""

    class Refuse(BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self._refuse()

        def do_HEAD(self) -> None:
            self._refuse()

        def do_POST(self) -> None:
            self._refuse()

        def do_PUT(self) -> None:
            self._refuse()

        def do_PATCH(self) -> None:
            self._refuse()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", REFUSING_PORT), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_url()) if request.param == "postgresql" else None
        folder = tmp_path_factory.mktemp(f"replication-{request.param}")
        server = ServerProcess(folder, url, extra_env=PRIVATE_TARGETS, auth=True).start()
        stack.callback(server.stop)
        yield server


@pytest.fixture(scope="module")
def admin_api(live_server: ServerProcess) -> Iterator[httpx.Client]:
    with rest(live_server, (live_server.username, live_server.password)) as http:
        yield http


@pytest.fixture(scope="module")
def admin_v2(live_server: ServerProcess) -> Iterator[httpx.Client]:
    with client(live_server, (live_server.username, live_server.password)) as http:
        yield http


@pytest.fixture(scope="module")
def team(admin_api: httpx.Client) -> Team:
    return make_team(admin_api)


@pytest.fixture
def registry(admin_api: httpx.Client) -> str:
    return make_registry(admin_api)


# --- CRUD ------------------------------------------------------------------------------------


def test_a_rule_is_created_inactive_and_shown_without_its_password(
    admin_api: httpx.Client, registry: str
) -> None:
    created = create_rule(admin_api, registry, name="to-jp1")
    assert set(created) == RULE_FIELDS
    assert created["name"] == "to-jp1"
    assert created["direction"] == "push"
    assert created["remote"] == {
        "url": UNREACHABLE,
        "registry": "mirror",
        "username": "robot",
        "has_password": True,
        "verify_tls": True,
    }
    assert created["filters"] == {
        "image": {"pattern": "app/**", "include": True},
        "tag": {"pattern": "*-rc", "include": False},
    }
    assert (created["trigger"], created["cron"]) == ("manual", None)
    assert (created["override"], created["enabled"]) == (True, True)
    assert created["status"] == "inactive"
    path = f"{rules_path(registry)}/{created['id']}"
    for response in (admin_api.get(path), admin_api.get(rules_path(registry))):
        expect(response, 200)
        assert PASSWORD not in response.text
    assert expect_json(admin_api.get(path))["id"] == created["id"]


def test_defaults_select_everything_by_hand(admin_api: httpx.Client, registry: str) -> None:
    body = {"name": "plain", "direction": "pull", "remote": {"url": UNREACHABLE}}
    created = expect_json(admin_api.post(rules_path(registry), json=body), 201)
    assert created["filters"] == {
        "image": {"pattern": "**", "include": True},
        "tag": {"pattern": "**", "include": True},
    }
    assert created["remote"] == {
        "url": UNREACHABLE,
        "registry": "",
        "username": None,
        "has_password": False,
        "verify_tls": True,
    }
    assert (created["trigger"], created["override"], created["enabled"]) == ("manual", True, True)


def test_the_list_pages_in_creation_order(admin_api: httpx.Client, registry: str) -> None:
    names = [f"r{i}" for i in range(3)]
    for name in names:
        create_rule(admin_api, registry, name=name)
    body = expect_json(admin_api.get(rules_path(registry), params={"page_size": 2}))
    assert [r["name"] for r in expect_page(body, 3, 1, 2)] == names[:2]
    body = expect_json(admin_api.get(rules_path(registry), params={"page": 2, "page_size": 2}))
    assert [r["name"] for r in expect_page(body, 3, 2, 2)] == names[2:]


def test_an_update_keeps_the_password_unless_told(admin_api: httpx.Client, registry: str) -> None:
    created = create_rule(admin_api, registry)
    path = f"{rules_path(registry)}/{created['id']}"
    body = rule_body(created["name"], trigger="schedule", cron="0 3 * * *", enabled=False)
    del body["remote"]["password"]
    updated = expect_json(admin_api.put(path, json=body))
    assert (updated["trigger"], updated["cron"], updated["enabled"]) == (
        "schedule",
        "0 3 * * *",
        False,
    )
    assert updated["remote"]["has_password"] is True
    body["remote"]["password"] = None
    assert expect_json(admin_api.put(path, json=body))["remote"]["has_password"] is True
    body["remote"]["password"] = ""
    assert expect_json(admin_api.put(path, json=body))["remote"]["has_password"] is False
    body["remote"]["password"] = PASSWORD
    response = admin_api.put(path, json=body)
    assert expect_json(response)["remote"]["has_password"] is True
    assert PASSWORD not in response.text


def test_delete_then_404(admin_api: httpx.Client, registry: str) -> None:
    created = create_rule(admin_api, registry)
    path = f"{rules_path(registry)}/{created['id']}"
    expect(admin_api.delete(path), 204)
    expect_problem(admin_api.get(path), 404)
    expect_problem(admin_api.delete(path), 404)
    expect_problem(admin_api.put(path, json=rule_body()), 404)
    body = expect_json(admin_api.get(rules_path(registry)))
    assert body["total"] == 0


def test_names_are_unique_per_registry(admin_api: httpx.Client, registry: str) -> None:
    create_rule(admin_api, registry, name="once")
    problem = expect_problem(admin_api.post(rules_path(registry), json=rule_body("once")), 409)
    assert problem["type"].endswith("/already-exists")
    other = make_registry(admin_api)
    create_rule(admin_api, other, name="once")


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"remote": {"url": "ftp://example.com"}}, "remote.url"),
        ({"remote": {"url": "https://user:pw@example.com"}}, "remote.url"),
        ({"remote": {"url": UNREACHABLE, "registry": "Bad Name"}}, "remote.registry"),
        ({"filters": {"image": {"pattern": "a/{b"}}}, "filters.image.pattern"),
        ({"filters": {"tag": {"pattern": "[", "include": False}}}, "filters.tag.pattern"),
        ({"trigger": "schedule"}, "cron"),
        ({"trigger": "schedule", "cron": "61 * * * *"}, "cron"),
        ({"direction": "pull", "trigger": "event"}, "trigger"),
        ({"name": "no spaces allowed"}, "name"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_rule_broken_in_one_field_is_a_400_naming_it(
    admin_api: httpx.Client, registry: str, changes: dict[str, Any], field: str
) -> None:
    problem = expect_problem(admin_api.post(rules_path(registry), json=rule_body(**changes)), 400)
    assert problem["type"].endswith("/invalid-input")
    assert set(field_errors(problem)) == {field}, problem
    assert expect_json(admin_api.get(rules_path(registry)))["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "remote": {"url": UNREACHABLE}}, "direction"),
        ({"name": "x", "direction": "sideways", "remote": {"url": UNREACHABLE}}, "direction"),
        ({"name": "x", "direction": "push"}, "remote"),
        ({"name": "x", "direction": "push", "remote": {"url": ""}}, "remote.url"),
        (
            {"name": "x", "direction": "push", "remote": {"url": UNREACHABLE, "pw": "1"}},
            "remote.pw",
        ),
        (
            {"name": "x", "direction": "push", "remote": {"url": UNREACHABLE}, "trigger": "x"},
            "trigger",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_body_off_the_schema_is_a_422_naming_the_field(
    admin_api: httpx.Client, registry: str, body: dict[str, Any], field: str
) -> None:
    problem = expect_problem(admin_api.post(rules_path(registry), json=body), 422)
    assert field in field_errors(problem), problem


def test_unknown_things_are_404s_and_huge_ids_422s(admin_api: httpx.Client, registry: str) -> None:
    expect_problem(admin_api.get(rules_path("no-such-registry")), 404)
    expect_problem(admin_api.post(rules_path("no-such-registry"), json=rule_body()), 404)
    base = rules_path(registry)
    for path in (f"{base}/999999", f"{base}/runs/999999", f"{base}/runs/999999/tasks"):
        expect_problem(admin_api.get(path), 404)
    expect_problem(admin_api.get(f"{base}/999999/runs"), 404)
    expect_problem(admin_api.post(f"{base}/999999/runs"), 404)
    expect_problem(admin_api.post(f"{base}/999999/refresh"), 404)
    expect_problem(admin_api.post(f"{base}/runs/999999/stop"), 404)
    expect_problem(admin_api.get(f"{base}/{2**31}"), 422)
    expect_problem(admin_api.get(f"{base}/runs/{2**40}"), 422)


def test_a_rule_and_its_runs_are_found_only_in_their_registry(
    admin_api: httpx.Client, registry: str
) -> None:
    rule = create_rule(admin_api, registry)
    run = expect_json(admin_api.post(f"{rules_path(registry)}/{rule['id']}/runs"), 202)
    other = rules_path(make_registry(admin_api))
    expect_problem(admin_api.get(f"{other}/{rule['id']}"), 404)
    expect_problem(admin_api.get(f"{other}/runs/{run['id']}"), 404)
    expect_problem(admin_api.post(f"{other}/runs/{run['id']}/stop"), 404)


def test_a_remote_moorage_may_not_call_is_refused_naming_the_url(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """Without allow_private_targets (the default), a loopback or private remote is a 400
    on remote.url when the rule is saved, and nothing is stored."""
    server = server_factory(tmp_path / "srv", auth=True).start()
    server.create_registry("guarded")
    with rest(server, (server.username, server.password)) as http:
        for url in (UNREACHABLE, "http://10.1.2.3:5000", "http://localhost"):
            body = rule_body(remote={"url": url})
            problem = expect_problem(http.post(rules_path("guarded"), json=body), 400)
            assert set(field_errors(problem)) == {"remote.url"}, problem
        assert expect_json(http.get(rules_path("guarded")))["total"] == 0


# --- runs against the refusing remote: they fail at once -----------------------------------------


def wait_run(http: httpx.Client, registry: str, run_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = dict(expect_json(http.get(f"{rules_path(registry)}/runs/{run_id}")))
        if run["status"] in ("succeeded", "failed", "stopped"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.2)


def test_a_run_is_accepted_202_and_recorded(
    admin_api: httpx.Client, admin_v2: httpx.Client, registry: str
) -> None:
    push_image(admin_v2, f"{registry}/app/web", "v1")
    push_image(admin_v2, f"{registry}/app/web", "v2-rc")  # the tag filter leaves it out
    push_image(admin_v2, f"{registry}/other", "v1")  # and the image filter this one
    rule = create_rule(admin_api, registry)
    runs = f"{rules_path(registry)}/{rule['id']}/runs"
    started = expect_json(admin_api.post(runs), 202)
    assert set(started) == RUN_FIELDS
    assert set(started["counts"]) == COUNT_KEYS
    assert (started["trigger"], started["rule_id"]) == ("manual", rule["id"])
    assert started["status"] in ("pending", "running", "failed")
    finished = wait_run(admin_api, registry, started["id"])
    assert finished["status"] == "failed"  # the remote side refuses
    assert (finished["counts"]["total"], finished["counts"]["failed"]) == (1, 1)
    listed = expect_page(expect_json(admin_api.get(runs)), 1)
    assert listed[0]["id"] == started["id"]
    tasks = expect_json(admin_api.get(f"{rules_path(registry)}/runs/{started['id']}/tasks"))
    (task,) = expect_page(tasks, 1)
    assert set(task) == {"id", "subject", "status", "lines", "error", "started_at", "finished_at"}
    assert (task["subject"], task["status"]) == ("app/web:v1", "failed")
    assert task["error"]
    assert all(set(line) >= {"time", "message"} for line in task["lines"])


def test_a_refresh_answers_the_checked_rule(admin_api: httpx.Client, registry: str) -> None:
    rule = create_rule(admin_api, registry)
    checked = expect_json(admin_api.post(f"{rules_path(registry)}/{rule['id']}/refresh"))
    assert checked["status"] == "inactive"
    assert checked["last_error"]
    assert checked["checked_at"] is not None


# --- permissions: the guide's replication rows, for every role ----------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One request of the API, on a rule and a run the administrator made."""

    name: str
    method: str
    path: str  # with {rule} and {run}
    ok: int
    write: bool
    body: dict[str, Any] | None = None


CALLS = (
    Call("list rules", "GET", "", 200, False),
    Call("get rule", "GET", "/{rule}", 200, False),
    Call("history", "GET", "/{rule}/runs", 200, False),
    Call("run", "GET", "/runs/{run}", 200, False),
    Call("tasks", "GET", "/runs/{run}/tasks", 200, False),
    Call("create", "POST", "", 201, True, rule_body()),
    Call("update", "PUT", "/{rule}", 200, True, rule_body()),
    Call("refresh", "POST", "/{rule}/refresh", 200, True),
    Call("start run", "POST", "/{rule}/runs", 202, True),
    Call("stop run", "POST", "/runs/{run}/stop", 200, True),
    Call("delete", "DELETE", "/{rule}", 204, True),
)


@pytest.fixture
def made(admin_api: httpx.Client, team: Team) -> Iterator[dict[str, int]]:
    """A fresh rule with one finished run in the team's registry."""
    rule = create_rule(admin_api, team.registry)
    run = expect_json(admin_api.post(f"{rules_path(team.registry)}/{rule['id']}/runs"), 202)
    wait_run(admin_api, team.registry, run["id"])
    yield {"rule": rule["id"], "run": run["id"]}
    admin_api.delete(f"{rules_path(team.registry)}/{rule['id']}")


def send(http: httpx.Client, registry: str, call: Call, made: dict[str, int]) -> httpx.Response:
    path = rules_path(registry) + call.path.format(**made)
    body = None
    if call.body is not None:
        body = {**call.body, "name": unique("perm")} if call.method == "POST" else call.body
    return http.request(call.method, path, json=body)


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
@pytest.mark.parametrize("role", [*WRITER_ROLES, VIEWER_ROLE])
def test_viewers_read_and_writers_also_change(
    live_server: ServerProcess, team: Team, made: dict[str, int], role: str, call: Call
) -> None:
    with rest(live_server, team.roles[role].auth) as http:
        response = send(http, team.registry, call, made)
    if role == VIEWER_ROLE and call.write:
        problem = expect_problem(response, 403)
        assert problem["type"].endswith("/forbidden")
    else:
        expect(response, call.ok)
        assert PASSWORD not in response.text


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_outsiders_and_anonymous_callers_are_refused(
    live_server: ServerProcess, team: Team, made: dict[str, int], call: Call
) -> None:
    with rest(live_server, team.outsider.auth) as http:
        expect_problem(send(http, team.registry, call, made), 403)
    with rest(live_server, None) as http:
        expect_problem(send(http, team.registry, call, made), 401)


def test_a_refused_change_changes_nothing(
    live_server: ServerProcess, admin_api: httpx.Client, team: Team, made: dict[str, int]
) -> None:
    path = f"{rules_path(team.registry)}/{made['rule']}"
    before = expect_json(admin_api.get(path))
    runs = expect_json(admin_api.get(f"{path}/runs"))["total"]
    with rest(live_server, team.roles[VIEWER_ROLE].auth) as http:
        expect_problem(http.put(path, json=rule_body(enabled=False)), 403)
        expect_problem(http.post(f"{path}/runs"), 403)
        expect_problem(http.delete(path), 403)
    assert expect_json(admin_api.get(path)) == before
    assert expect_json(admin_api.get(f"{path}/runs"))["total"] == runs


# --- a pair of servers: checks that reach the other side, runs held pending ---------------------


@dataclass(frozen=True, slots=True)
class Pair:
    source: ServerProcess
    remote: ServerProcess
    registry: str  # in the source
    remote_registry: str

    def api(self) -> httpx.Client:
        return rest(self.source, (self.source.username, self.source.password))

    def rule(self, http: httpx.Client, password: str, **changes: Any) -> dict[str, Any]:
        remote = {
            "url": self.remote.url,
            "registry": self.remote_registry,
            "username": self.remote.username,
            "password": password,
        }
        return create_rule(http, self.registry, remote=remote, **changes)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("replication-pair")
    remote = ServerProcess(folder / "remote", auth=True).start()
    try:
        env = {"MOORAGE_RUN_JOBS": "false", **PRIVATE_TARGETS}
        source = ServerProcess(folder / "source", auth=True, extra_env=env).start()
        try:
            registry, remote_registry = unique("src"), unique("dst")
            source.create_registry(registry)
            remote.create_registry(remote_registry)
            yield Pair(source, remote, registry, remote_registry)
        finally:
            source.stop()
    finally:
        remote.stop()


def test_a_refresh_with_working_credentials_makes_the_rule_active(pair: Pair) -> None:
    with pair.api() as http:
        good = pair.rule(http, pair.remote.password)
        assert good["status"] == "inactive"  # no job runs here: nothing checked it yet
        checked = expect_json(http.post(f"{rules_path(pair.registry)}/{good['id']}/refresh"))
        assert (checked["status"], checked["last_error"]) == ("active", None)
        bad = pair.rule(http, "wrong-password")
        refused = expect_json(http.post(f"{rules_path(pair.registry)}/{bad['id']}/refresh"))
        assert refused["status"] == "inactive"
        assert refused["last_error"]


def test_one_run_at_a_time_and_a_pending_run_stops(pair: Pair) -> None:
    with pair.api() as http:
        rule = pair.rule(http, pair.remote.password)
        runs = f"{rules_path(pair.registry)}/{rule['id']}/runs"
        started = expect_json(http.post(runs), 202)
        assert started["status"] == "pending"  # no job runner in this server
        problem = expect_problem(http.post(runs), 409)
        assert problem["type"].endswith("/conflict")
        stop = f"{rules_path(pair.registry)}/runs/{started['id']}/stop"
        stopped = expect_json(http.post(stop))
        assert (stopped["id"], stopped["status"]) == (started["id"], "stopped")
        assert stopped["finished_at"] is not None
        assert expect_json(http.post(stop))["status"] == "stopped"  # again: nothing changes
        again = expect_json(http.post(runs), 202)
        history = expect_page(expect_json(http.get(runs)), 2)
        assert [r["id"] for r in history] == [again["id"], started["id"]]  # newest first
        tasks = expect_json(http.get(f"{rules_path(pair.registry)}/runs/{started['id']}/tasks"))
        assert expect_page(tasks, 0) == []


@contextlib.contextmanager
def silent_remote(seconds: float) -> Iterator[str]:
    """An address that accepts connections and hangs up, without a word, after `seconds`."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def hang_up_later(conn: socket.socket) -> None:
        done.wait(seconds)
        conn.close()

    def serve() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = listener.accept()
                threading.Thread(target=hang_up_later, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        thread.join()
        listener.close()


def test_a_refresh_that_takes_long_answers_202_and_the_check_goes_on(pair: Pair) -> None:
    """The rule's remote accepts connections and says nothing for longer than a refresh
    waits: the refresh answers 202 with the rule unchecked, and the check ends later."""
    with pair.api() as http, silent_remote(REFRESH_WAIT_SECONDS + 2) as url:
        rule = create_rule(http, pair.registry, remote={"url": url})
        path = f"{rules_path(pair.registry)}/{rule['id']}"
        started = time.monotonic()
        waiting = expect_json(http.post(f"{path}/refresh"), 202)
        assert time.monotonic() - started < REFRESH_WAIT_SECONDS + 1.5
        assert (waiting["status"], waiting["checked_at"]) == ("inactive", None)
        deadline = time.monotonic() + 30
        while (checked := expect_json(http.get(path)))["checked_at"] is None:
            assert time.monotonic() < deadline, "the check never ended"
            time.sleep(0.5)
        assert checked["status"] == "inactive"
        assert checked["last_error"]
