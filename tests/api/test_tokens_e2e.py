"""The Docker token flow end to end: token lifetime, tampered and expired tokens, wrong
credentials, and access key secrets that never show again after their creation: not in
responses, not in the log, not in the database. (Sign-in throttling:
test_sign_in_throttle.py.)"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.pool import NullPool

from tests.api.conftest import (
    TOKEN_SERVICE,
    Account,
    Pushed,
    ask_token,
    client,
    create_key,
    expect,
    expect_json,
    isolated_address,
    make_registry,
    new_account,
    push_image,
    rest,
    token_claims,
    unique,
)
from tests.protocol.conftest import OciClient, describe, expect_error
from tests.support.server import ServerProcess

MAX_LIFETIME = 12 * 3600


@pytest.fixture(scope="module")
def pushed(admin_api: httpx.Client, admin_v2: httpx.Client) -> Pushed:
    return push_image(admin_v2, f"{make_registry(admin_api)}/app")


def scope_of(pushed: Pushed, actions: str = "pull") -> str:
    return f"repository:{pushed.repository}:{actions}"


@contextmanager
def bearer(server: ServerProcess, token: str) -> Iterator[OciClient]:
    """A registry client that sends this token as it is, whatever it holds."""
    with client(server) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        yield OciClient(http, "")


def manifest_with(server: ServerProcess, token: str, pushed: Pushed) -> httpx.Response:
    with bearer(server, token) as oci:
        return oci.for_repository(pushed.repository).get_manifest(pushed.tag)


def expect_invalid_token(resp: httpx.Response) -> None:
    expect_error(resp, 401, "UNAUTHORIZED")
    challenge = resp.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer realm="), describe(resp)
    assert 'error="invalid_token"' in challenge, describe(resp)


def encode_segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def server_key(server: ServerProcess) -> bytes:
    return base64.b64decode((server.data_dir / "token.key").read_bytes())


def test_token_lifetime_is_at_most_12_hours(
    live_server: ServerProcess, admin: Account, pushed: Pushed
) -> None:
    resp = ask_token(live_server, admin.auth, scope_of(pushed))
    body = expect_json(resp)
    assert resp.headers.get("Cache-Control") == "no-store"
    assert body["token"] == body["access_token"]
    assert 0 < body["expires_in"] <= MAX_LIFETIME
    claims = token_claims(body["token"])
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert abs(claims["iat"] - time.time()) < 60
    assert body["issued_at"].endswith("Z")
    expect(manifest_with(live_server, body["token"], pushed), 200)


def test_a_tampered_token_is_refused(
    live_server: ServerProcess, admin_api: httpx.Client, pushed: Pushed
) -> None:
    viewer = new_account(admin_api)
    project = expect_json(admin_api.get(f"/registries/{pushed.registry}"))["project"]
    role = {"role": "service_viewer"}
    expect(admin_api.put(f"/projects/{project}/members/{viewer.username}", json=role), 200)
    token = expect_json(ask_token(live_server, viewer.auth, scope_of(pushed, "pull,push,delete")))[
        "token"
    ]
    expect(manifest_with(live_server, token, pushed), 200)
    header, payload, signature = token.split(".")

    # One byte of the payload flipped.
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    at = raw.index(b'"jti":"') + len(b'"jti":"')
    raw[at] ^= 0x01
    flipped = f"{header}.{encode_segment(bytes(raw))}.{signature}"
    expect_invalid_token(manifest_with(live_server, flipped, pushed))

    # The viewer's pull widened to delete, signature kept.
    claims = token_claims(token)
    claims["access"] = [{"type": "repository", "name": pushed.repository, "actions": ["delete"]}]
    widened = f"{header}.{encode_segment(json.dumps(claims).encode())}.{signature}"
    with bearer(live_server, widened) as oci:
        expect_invalid_token(oci.for_repository(pushed.repository).delete_manifest(pushed.digest))
    expect(manifest_with(live_server, token, pushed), 200)  # the original still works


def crafted(server: ServerProcess, pushed: Pushed, issued: float, lifetime: float) -> str:
    """A token signed with the server's own key (from its data directory)."""
    claims = {
        "iss": "moorage",
        "aud": TOKEN_SERVICE,
        "sub": server.username,
        "uid": 1,
        "adm": True,
        "iat": int(issued),
        "nbf": int(issued) - 5,
        "exp": int(issued + lifetime),
        "jti": unique("j"),
        "access": [{"type": "repository", "name": pushed.repository, "actions": ["pull"]}],
    }
    return jwt.encode(claims, server_key(server), algorithm="HS256")


def test_an_expired_token_is_refused(live_server: ServerProcess, pushed: Pushed) -> None:
    now = time.time()
    fresh = crafted(live_server, pushed, now - 60, 3600)
    expect(manifest_with(live_server, fresh, pushed), 200)  # the crafting itself is right
    expired = crafted(live_server, pushed, now - 7200, 3600)
    expect_invalid_token(manifest_with(live_server, expired, pushed))
    too_long = crafted(live_server, pushed, now - 60, MAX_LIFETIME + 3600)
    expect_invalid_token(manifest_with(live_server, too_long, pushed))


def test_wrong_credentials_on_the_token_endpoint(
    live_server: ServerProcess, admin: Account, pushed: Pushed
) -> None:
    source = isolated_address()
    for auth in ((admin.username, "not-" + admin.password), (unique("nobody"), "whatever1")):
        resp = ask_token(live_server, auth, scope_of(pushed), source)
        expect_error(resp, 401, "UNAUTHORIZED")
    anonymous = expect_json(ask_token(live_server, None, scope_of(pushed)))
    assert token_claims(anonymous["token"])["access"] == [
        {"type": "repository", "name": pushed.repository, "actions": []}
    ]
    expect_error(manifest_with(live_server, anonymous["token"], pushed), 401, "UNAUTHORIZED")


def test_the_oauth2_password_grant_gives_a_token_too(
    live_server: ServerProcess, admin: Account, pushed: Pushed
) -> None:
    """containerd-based clients POST a form (grant_type=password) instead of a Basic GET."""
    form = {
        "grant_type": "password",
        "username": admin.username,
        "password": admin.password,
        "service": "moorage",
        "scope": scope_of(pushed),
    }
    token = expect_json(httpx.post(f"{live_server.url}/auth/token", data=form))["token"]
    assert manifest_with(live_server, token, pushed).status_code == 200
    malformed = httpx.post(
        f"{live_server.url}/auth/token",
        content=b"\xff\xfe%%%",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert malformed.status_code < 500, describe(malformed)


# --- secrets ---------------------------------------------------------------------------------


def stored_text(server: ServerProcess) -> bytes:
    """Everything the metadata database holds: the SQLite files' raw bytes, or (PostgreSQL)
    every row of every table."""
    if server.database_url is None:
        files = sorted(Path(server.data_dir).glob("moorage.db*"))
        assert files, "no SQLite database in the data directory"
        return b"".join(f.read_bytes() for f in files)
    engine = create_engine(server.database_url, poolclass=NullPool)
    try:
        tables = MetaData()
        tables.reflect(engine)
        with engine.connect() as conn:
            rows = [repr(tuple(r)) for t in tables.sorted_tables for r in conn.execute(select(t))]
    finally:
        engine.dispose()
    return "\n".join(rows).encode()


def test_an_access_key_secret_never_shows_again(
    live_server: ServerProcess, admin_api: httpx.Client, pushed: Pushed
) -> None:
    owner = new_account(admin_api)
    with rest(live_server, owner.auth) as mine:
        created = expect_json(mine.post("/users/me/access-keys"), 201)
        by_rest = (str(created["key_id"]), str(created["secret"]))
        by_cli = create_key(live_server, owner.username).auth
        seen: list[httpx.Response] = [
            mine.get("/users/me/access-keys"),
            mine.patch(f"/users/me/access-keys/{by_rest[0]}", json={"enabled": True}),
        ]
        for key in (by_rest, by_cli):
            with rest(live_server, key) as by_key:
                seen += [by_key.get("/users/me"), by_key.get("/users/me/access-keys")]
            seen.append(ask_token(live_server, key, "registry:catalog:*"))
            with client(live_server, key) as v2:
                seen.append(v2.get("/v2/_catalog"))
            # A wrong secret for the right key ID: refused, and the ID may be logged.
            wrong = ask_token(live_server, (key[0], "x" + key[1]), "", isolated_address())
            seen.append(wrong)
        seen.append(mine.get("/users/me/access-keys"))
    tokens = [
        token_claims(r.json()["token"])
        for r in seen
        if "/auth/token" in str(r.url) and r.is_success
    ]
    assert [bool(t.get("akid")) for t in tokens] == [True, True], "tokens name their key"
    secrets = [by_rest[1], by_cli[1]]
    for resp in seen:
        assert resp.status_code < 500, describe(resp)
        for secret in secrets:
            assert secret not in resp.text, "a secret shown again: " + describe(resp)
            assert secret not in str(resp.headers), "a secret in headers: " + describe(resp)
    log = live_server.log()
    data = stored_text(live_server)
    for secret in secrets:
        assert secret not in log, "a secret in the server log"
        assert secret.encode() not in data, "a secret stored in clear"
