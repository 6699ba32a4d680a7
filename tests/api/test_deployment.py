"""GET /deployment: the deployment at a glance for system administrators — and never one of
its secrets (the token key, the S3 secret key, the database password), which a server here
is given on purpose; anyone else gets 403."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import make_url

from moorage import __version__
from tests.api.conftest import (
    Team,
    expect_json,
    expect_problem,
    new_account,
    rest,
)
from tests.support.databases import fresh_postgres_url
from tests.support.moto import MotoServer
from tests.support.server import ServerProcess

DATABASE_PASSWORD = f"db-pw-{uuid.uuid4().hex}"
S3_SECRET = f"s3-secret-{uuid.uuid4().hex}"
S3_ACCESS_KEY = f"AKIA{uuid.uuid4().hex[:16].upper()}"
TOKEN_KEY = base64.b64encode(os.urandom(32)).decode()
BUCKET = "deployment-facts"


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server on PostgreSQL (its URL with a password, which trust auth ignores) and S3
    (moto, which takes any key), with a token key, a public host, no background jobs and
    region kr1 (the `serve --region` option)."""
    folder = tmp_path_factory.mktemp("deployment")
    moto = MotoServer(folder / "moto.log").start()
    try:
        with fresh_postgres_url() as plain_url:
            url = make_url(plain_url).set(password=DATABASE_PASSWORD)
            env = {
                **moto.storage_env(BUCKET),
                "MOORAGE_S3_ACCESS_KEY": S3_ACCESS_KEY,
                "MOORAGE_S3_SECRET_KEY": S3_SECRET,
                "MOORAGE_S3_PREFIX": "blobs/",
                "MOORAGE_TOKEN_KEY": TOKEN_KEY,
                "MOORAGE_PUBLIC_HOST": "registry.example.com",
                "MOORAGE_RUN_JOBS": "false",
            }
            server = ServerProcess(
                folder / "data",
                url.render_as_string(hide_password=False),
                extra_env=env,
                auth=True,
                serve_args=["--region", "kr1"],
            ).start()
            try:
                yield server
            finally:
                server.stop()
    finally:
        moto.stop()


def test_an_administrator_sees_the_deployment_and_none_of_its_secrets(
    configured: ServerProcess,
) -> None:
    with rest(configured, (configured.username, configured.password)) as admin:
        expect_json(admin.post("/registries", json={"name": "facts"}), 201)
        expect_json(admin.put("/gc-schedule", json={"cron": "0 3 * * SUN"}))
        response = admin.get("/deployment")
        me = expect_json(admin.get("/users/me"))
    body = expect_json(response)
    for secret in (DATABASE_PASSWORD, S3_SECRET, S3_ACCESS_KEY, TOKEN_KEY, "postgres@"):
        assert secret not in response.text
    assert body["version"] == __version__
    assert body["region"] == me["region"] == "kr1"
    assert body["metadata"]["backend"] == "postgresql"
    assert body["metadata"]["location"].startswith("127.0.0.1:5432/moorage_t_")
    assert body["storage_driver"] == {
        "driver": "s3",
        "root": None,
        "bucket": BUCKET,
        "endpoint": configured.env["MOORAGE_S3_ENDPOINT_URL"],
        "region": "us-east-1",
        "prefix": "blobs/",
    }
    assert (body["public_host"], body["private_host"]) == ("registry.example.com", None)
    assert (body["auth"], body["token_lifetime_minutes"]) == ("token", 60)
    assert (body["upload_expiry_hours"], body["gc_grace_seconds"]) == (24.0, 7200.0)
    assert body["gc_schedule"]["cron"] == "0 3 * * SUN"
    assert body["storage"]["stored_bytes"] == 0
    assert body["counts"] == {"registries": 1, "projects": 1, "users": 1}
    assert body["background_jobs"] is False


def test_a_filesystem_deployment(admin_api: httpx.Client) -> None:
    body = expect_json(admin_api.get("/deployment"))
    assert body["region"] == "local"  # the default
    assert body["metadata"]["backend"] in {"sqlite", "postgresql"}
    if body["metadata"]["backend"] == "sqlite":
        assert body["metadata"]["location"].endswith("moorage.db")
    assert body["storage_driver"]["driver"] == "filesystem"
    assert body["storage_driver"]["root"].endswith("blobs")
    assert body["storage_driver"]["bucket"] is None
    assert set(body["gc_schedule"]) == {"cron", "next_run_at", "last_run_at"}
    assert body["background_jobs"] is True
    assert body["counts"]["users"] >= 1


def test_only_administrators_may_see_it(
    live_server: ServerProcess, admin_api: httpx.Client, team: Team
) -> None:
    for account in (*team.roles.values(), new_account(admin_api)):
        with rest(live_server, account.auth) as http:
            expect_problem(http.get("/deployment"), 403)
            # The region is no secret: everyone signed in reads it (the console's header).
            assert expect_json(http.get("/users/me"))["region"] == "local"
    with rest(live_server, None) as anonymous:
        expect_problem(anonymous.get("/deployment"), 401)
