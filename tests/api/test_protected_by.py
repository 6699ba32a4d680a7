"""Protected artifact and tag rows name the policy protecting them (`protected_by`: its image
and tag selectors), also when the protected tag is not among the tags a row carries."""

from __future__ import annotations

import time

import httpx

from tests.api.conftest import (
    expect,
    expect_json,
    expect_page,
    make_registry,
    push_image,
)

ON_V1 = "images 'app', tags 'v1.*'"


def test_protected_rows_name_their_policy(admin_api: httpx.Client, admin_v2: httpx.Client) -> None:
    registry = make_registry(admin_api)
    pushed = push_image(admin_v2, f"{registry}/app", "v1.0")
    tags_path = f"{pushed.image_path}/artifacts/{pushed.digest}/tags"
    for n in range(11):  # v1.0 falls out of the ten tags a row carries
        time.sleep(0.002)
        expect(admin_api.post(tags_path, json={"name": f"build-{n:02d}"}), 201)
    (row,) = expect_page(expect_json(admin_api.get(f"{pushed.image_path}/artifacts")), 1)
    assert (row["protected"], row["protected_by"]) == (False, None)

    policy = {"image": {"pattern": "app"}, "tag": {"pattern": "v1.*"}}
    expect(admin_api.post(f"/registries/{registry}/protection-policies", json=policy), 201)
    other = {"image": {"pattern": "other/**"}, "tag": {"pattern": "**"}}
    expect(admin_api.post(f"/registries/{registry}/protection-policies", json=other), 201)

    (row,) = expect_page(expect_json(admin_api.get(f"{pushed.image_path}/artifacts")), 1)
    assert "v1.0" not in row["tags"]
    assert (row["protected"], row["protected_by"]) == (True, ON_V1)
    detail = expect_json(admin_api.get(f"{pushed.image_path}/artifacts/{pushed.digest}"))
    assert (detail["protected"], detail["protected_by"]) == (True, ON_V1)
    tags = expect_json(admin_api.get(tags_path, params={"page_size": 100}))["items"]
    by_name = {t["name"]: (t["protected"], t["protected_by"]) for t in tags}
    assert by_name["v1.0"] == (True, ON_V1)
    assert by_name["build-00"] == (False, None)
