"""Webhook targets inside the deployment's network are refused over REST — every spelling of
such an address — with 400 naming the `address` field; a global address is accepted. The
shared server does not allow private targets (`MOORAGE_ALLOW_PRIVATE_TARGETS` unset)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import expect_json, expect_problem, make_registry

GLOBAL = "https://93.184.215.14/hook"

REFUSED = [
    # reported as accepted before
    "http://localhost.:8080/",
    "http://[::127.0.0.1]:8080/",
    "http://[::ffff:0:127.0.0.1]:8080/",
    "http://[64:ff9b:1::7f00:1]:8080/",
    # IPv4 as inet_aton reads it
    "http://127.1/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://2130706433/",
    # IPv4 inside IPv6
    "http://[::ffff:127.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the cloud metadata address
    "http://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo, client 192.0.2.45
    # names, zone ids, IDNA
    "http://a.localhost/",
    "http://ⓛocalhost/",
    "http://[fe80::1%25eth0]/",
    # the kinds of non-global addresses
    "http://0.0.0.0/",
    "http://[::]/",
    "http://10.1.2.3/",
    "http://169.254.169.254/",
    "http://[fe80::1]/",
    "http://240.0.0.1/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://203.0.113.9/",
    "http://239.1.1.1/",
    "http://[fd00::1]/",
]


def webhook(address: str) -> dict[str, object]:
    # Disabled and for an event moorage does not send: a global address is never called.
    return {"name": "target", "address": address, "event_types": ["REPLICATION"], "enabled": False}


@pytest.fixture(scope="module")
def registry(admin_api: httpx.Client) -> str:
    return make_registry(admin_api)


@pytest.mark.parametrize("address", REFUSED)
def test_inside_targets_are_refused_naming_the_address(
    admin_api: httpx.Client, registry: str, address: str
) -> None:
    problem = expect_problem(
        admin_api.post(f"/registries/{registry}/webhooks", json=webhook(address)), 400
    )
    [error] = problem["errors"]
    assert error["field"] == "address"
    assert "MOORAGE_ALLOW_PRIVATE_TARGETS" in error["detail"] or "zone ids" in error["detail"]


def test_a_global_target_is_accepted_and_cannot_be_changed_to_an_inside_one(
    admin_api: httpx.Client, registry: str
) -> None:
    path = f"/registries/{registry}/webhooks"
    created = expect_json(admin_api.post(path, json=webhook(GLOBAL) | {"name": "global"}), 201)
    assert created["address"] == GLOBAL
    moved = webhook("http://localhost.:8080/") | {"name": "global"}
    problem = expect_problem(admin_api.put(f"{path}/{created['id']}", json=moved), 400)
    assert [e["field"] for e in problem["errors"]] == ["address"]
    assert expect_json(admin_api.get(f"{path}/{created['id']}"))["address"] == GLOBAL


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("ftp://files.example.com/", "only http:// and https://"),
        ("https://user:pw@ci.example.com/", "credentials"),
        ("http://[::1/", "not a valid URL"),
    ],
)
def test_an_address_that_is_no_webhook_url_names_the_field_too(
    admin_api: httpx.Client, registry: str, address: str, why: str
) -> None:
    response = admin_api.post(f"/registries/{registry}/webhooks", json=webhook(address))
    [error] = expect_problem(response, 400)["errors"]
    assert error["field"] == "address"
    assert why in error["detail"]
