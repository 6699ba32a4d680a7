"""The REST API's side of hostile input: JSON nested past any parser's depth, numbers of
thousands of digits or beyond a double, and digits that are not ASCII's, in bodies and in
query parameters. Each is refused as the client's error (400 or 422, a problem body), never
with a 5xx. (The registry protocol's side is in tests/protocol/test_negative.py.)
"""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import expect_problem

JSON = {"Content-Type": "application/json"}
BODIES = {
    "arrays-nested-100k": b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "objects-nested-100k": b'{"name": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}",
    "nested-900": b'{"name": ' + b"[" * 900 + b"]" * 900 + b"}",
    "number-5000-digits": b'{"name": "abc", "project": ' + b"9" * 5000 + b"}",
    "number-1e400": b'{"name": 1e400}',
    "nan": b'{"name": NaN}',
}
QUERIES = ["page=%C2%B2", "page_size=%D9%A3", "page=" + "9" * 5000, "page=1e3", "page=-1"]


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_hostile_json_bodies_are_client_errors(admin_api: httpx.Client, body: bytes) -> None:
    resp = admin_api.post("/registries", content=body, headers=JSON)
    problem = expect_problem(resp, resp.status_code)
    assert resp.status_code in (400, 422), problem


@pytest.mark.parametrize("query", QUERIES)
def test_hostile_numbers_in_queries_are_client_errors(admin_api: httpx.Client, query: str) -> None:
    resp = admin_api.get(f"/registries?{query}")
    expect_problem(resp, 422)
