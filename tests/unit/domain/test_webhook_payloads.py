"""Webhook payloads (Harbor JSON, CloudEvents 1.0, Slack Block Kit) and webhook validation:
pure functions, no I/O."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from moorage.domain.kernel.model import Event, Webhook
from moorage.domain.webhooks.errors import InvalidWebhook
from moorage.domain.webhooks.payloads import (
    CLOUDEVENTS_JSON,
    JSON,
    EventType,
    cloudevent,
    harbor_payload,
    render,
    slack_message,
)
from moorage.domain.webhooks.subscriptions import (
    WebhookSpec,
    check_address,
    literal_ip,
    mask_secret,
    refused_ip,
)

T0 = datetime(2026, 4, 15, 3, 45, 8, 250000, tzinfo=UTC)
DIGEST = "sha256:" + "8a" * 32
EVENT_ID = "0f6b8d2e-3c1a-4c55-9d4e-6a7b8c9d0e1f"


def artifact_event(
    event_type: EventType = EventType.PUSH_ARTIFACT,
    *,
    tag: str | None = "latest",
    tags: list[str] | None = None,
    operator: str | None = "alice",
    image: str = "team/app",
) -> Event:
    data = {
        "registry": "prod",
        "image": image,
        "digest": DIGEST,
        "tag": tag,
        "tags": tags if tags is not None else ([tag] if tag else []),
        "image_created_at": 1_700_000_000,
    }
    return Event(EVENT_ID, 7, event_type.value, T0, operator, data)


def cleanup_event(status: str = "succeeded") -> Event:
    counts = {"images": 2, "artifacts": 9, "deleted": 4, "kept": 3, "protected": 2, "failed": 0}
    data = {
        "registry": "prod",
        "execution_id": 12,
        "status": status,
        "trigger": "schedule",
        "counts": counts,
    }
    return Event(EVENT_ID, 7, "CLEANUP", T0, "schedule", data)


def webhook(kind: str = "http", payload_format: str = "default") -> Webhook:
    return Webhook(
        id=3,
        registry_id=7,
        name="ci",
        kind=kind,
        address="https://ci.example.com/hook",
        auth_header=None,
        skip_tls_verify=False,
        event_types=("PUSH_ARTIFACT",),
        payload_format=payload_format,
        enabled=True,
        created_at=T0,
        updated_at=T0,
    )


# Harbor's default JSON ---------------------------------------------------------------------------


def test_push_payload_is_harbors_documented_shape() -> None:
    payload = harbor_payload(artifact_event(), "reg.example.com")
    assert payload == {
        "type": "PUSH_ARTIFACT",
        "occur_at": int(T0.timestamp()),
        "operator": "alice",
        "event_data": {
            "resources": [
                {
                    "digest": DIGEST,
                    "tag": "latest",
                    "resource_url": "reg.example.com/prod/team/app:latest",
                }
            ],
            "repository": {
                "date_created": 1_700_000_000,
                "name": "team/app",
                "namespace": "prod",
                "repo_full_name": "prod/team/app",
                "repo_type": "private",
            },
        },
    }


@pytest.mark.parametrize(
    "event_type", [EventType.PUSH_ARTIFACT, EventType.PULL_ARTIFACT, EventType.DELETE_ARTIFACT]
)
def test_artifact_events_keep_their_type(event_type: EventType) -> None:
    assert harbor_payload(artifact_event(event_type), None)["type"] == event_type.value


def test_an_untagged_artifact_is_named_by_digest() -> None:
    payload = harbor_payload(artifact_event(tag=None), "reg.example.com")
    resource = payload["event_data"]["resources"][0]
    assert resource["tag"] == DIGEST
    assert resource["resource_url"] == f"reg.example.com/prod/team/app@{DIGEST}"


def test_a_delete_by_digest_names_the_first_tag() -> None:
    event = artifact_event(EventType.DELETE_ARTIFACT, tag=None, tags=["v2", "stable"])
    assert harbor_payload(event, None)["event_data"]["resources"][0]["tag"] == "v2"


def test_without_a_public_host_the_resource_url_has_no_host() -> None:
    payload = harbor_payload(artifact_event(), None)
    assert payload["event_data"]["resources"][0]["resource_url"] == "prod/team/app:latest"


def test_an_anonymous_caller_is_named_so() -> None:
    assert harbor_payload(artifact_event(operator=None), None)["operator"] == "anonymous"


def test_cleanup_goes_out_as_harbors_tag_retention_with_the_counts() -> None:
    payload = harbor_payload(cleanup_event(), "reg.example.com:443")
    assert payload["type"] == "TAG_RETENTION"
    assert payload["operator"] == "schedule"
    retention = payload["event_data"]["retention"]
    assert retention["total"] == 9
    assert retention["retained"] == 5
    assert retention["result"] == "SUCCESS"
    assert retention["project_name"] == "prod"
    assert retention["harbor_hostname"] == "reg.example.com"
    assert retention["counts"]["deleted"] == 4
    assert harbor_payload(cleanup_event("failed"), None)["event_data"]["retention"]["result"] == (
        "FAILED"
    )


# CloudEvents 1.0 ---------------------------------------------------------------------------------

EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")  # CloudEvents 1.0 attribute naming
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.mark.parametrize(
    ("event", "ce_type"),
    [
        (artifact_event(EventType.PUSH_ARTIFACT), "harbor.artifact.pushed"),
        (artifact_event(EventType.PULL_ARTIFACT), "harbor.artifact.pulled"),
        (artifact_event(EventType.DELETE_ARTIFACT), "harbor.artifact.deleted"),
        (cleanup_event(), "harbor.tag_retention.finished"),
    ],
)
def test_cloudevent_has_the_required_attributes(event: Event, ce_type: str) -> None:
    envelope = cloudevent(event, 3, "reg.example.com")
    assert envelope["specversion"] == "1.0"
    assert envelope["id"] == EVENT_ID
    assert envelope["source"] == "/registries/prod/webhooks/3"
    assert envelope["type"] == ce_type
    assert envelope["datacontenttype"] == "application/json"
    assert RFC3339.match(envelope["time"]), envelope["time"]
    assert datetime.fromisoformat(envelope["time"].replace("Z", "+00:00")) == T0
    assert envelope["operator"] == event.operator
    assert all(EXTENSION_NAME.match(name) for name in envelope)
    assert envelope["data"] == harbor_payload(event, "reg.example.com")["event_data"]


def test_cloudevent_subject_names_the_image() -> None:
    assert cloudevent(artifact_event(), 3, "h")["subject"] == "prod/team/app:latest"


# Slack Block Kit ---------------------------------------------------------------------------------


def check_block_kit(message: dict[str, Any]) -> None:
    """What Slack's incoming webhooks require of the blocks used here."""
    assert isinstance(message["text"], str)
    assert message["text"]
    blocks = message["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] == "mrkdwn"
                assert 0 < len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert field["type"] == "mrkdwn"
                assert 0 < len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
        else:
            pytest.fail(f"unexpected block {block['type']}")


def test_slack_message_says_what_which_image_who_and_when() -> None:
    message = slack_message(artifact_event(), "reg.example.com")
    check_block_kit(message)
    assert message["text"] == "alice pushed reg.example.com/prod/team/app:latest"
    text = json.dumps(message["blocks"])
    assert "Artifact pushed" in text
    assert "reg.example.com/prod/team/app:latest" in text
    assert "*alice*" in text
    assert f"<!date^{int(T0.timestamp())}^" in text  # shown in the reader's time zone
    assert DIGEST in text


def test_slack_message_escapes_mrkdwn_control_characters() -> None:
    message = slack_message(artifact_event(operator="<!channel>&co"), None)
    section = message["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt;&amp;co" in section
    assert "<!channel>" not in json.dumps(message["blocks"])


def test_slack_message_for_a_cleanup_run_has_its_counts() -> None:
    message = slack_message(cleanup_event(), None)
    check_block_kit(message)
    assert message["blocks"][0]["text"]["text"] == "Cleanup run finished"
    assert "4 deleted" in message["text"]
    assert "2 protected" in message["text"]


def test_slack_header_is_cut_to_slacks_limit() -> None:
    message = slack_message(artifact_event(image="a/" * 200 + "b"), None)
    check_block_kit(message)


# rendering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload_format", "content_type", "key"),
    [
        ("http", "default", JSON, "event_data"),
        ("http", "cloudevents", CLOUDEVENTS_JSON, "specversion"),
        ("slack", "default", JSON, "blocks"),
    ],
)
def test_render_picks_the_shape_from_the_webhook(
    kind: str, payload_format: str, content_type: str, key: str
) -> None:
    rendered = render(artifact_event(), webhook(kind, payload_format), "h")
    assert rendered.content_type == content_type
    assert key in json.loads(rendered.body)


# addresses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "http://ci.example.com/hook",
        "https://ci.example.com:8443/hooks/registry?token=x",
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "http://10.1.2.3:8080/",
        "http://[2001:db8::1]/hook",
    ],
)
def test_good_addresses_pass(address: str) -> None:
    assert check_address(address) == address


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("ftp://files.example.com/x", "only http:// and https://"),
        ("ci.example.com/hook", "without a scheme"),
        ("http:///hook", "no host"),
        ("https://", "no host"),
        ("https://user:pass@ci.example.com/", "credentials"),
        ("https://token@ci.example.com/", "credentials"),
        ("https://ci.example.com/a b", "whitespace"),
        (" https://ci.example.com/", "whitespace"),
        ("https://ci.example.com/\n", "whitespace"),
        ("https://ci.example.com:99999/", "port"),
        ("https://ci.example.com:0/", "port"),
        ("http://[::1/hook", "not a valid URL"),
        ("https://ci.example.com/#frag", "fragment"),
        ("", "empty"),
        ("https://ci.example.com/" + "a" * 2048, "longer"),
    ],
)
def test_bad_addresses_are_refused_with_the_reason(address: str, why: str) -> None:
    with pytest.raises(InvalidWebhook, match=why):
        check_address(address)


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "fe80::1",
        "fc00::1",
        "100.64.0.1",  # shared address space (carrier NAT)
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "fe80::1%eth0",
    ],
)
def test_inside_addresses_are_refused(ip: str) -> None:
    assert refused_ip(ip)


@pytest.mark.parametrize("ip", ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888"])
def test_global_addresses_are_allowed(ip: str) -> None:
    assert not refused_ip(ip)


def test_literal_ip_recognises_only_addresses() -> None:
    assert literal_ip("127.0.0.1") == "127.0.0.1"
    assert literal_ip("[::1]") == "::1"
    assert literal_ip("localhost") is None
    assert literal_ip("ci.example.com") is None


# webhook specs -----------------------------------------------------------------------------------


def spec(**changes: Any) -> WebhookSpec:
    values: dict[str, Any] = {
        "name": "ci",
        "kind": "http",
        "address": "https://ci.example.com/hook",
        "event_types": ("PUSH_ARTIFACT",),
    }
    return WebhookSpec(**{**values, **changes})


def test_event_types_are_normalised_and_tag_retention_means_cleanup() -> None:
    valid = spec(event_types=("TAG_RETENTION", "PUSH_ARTIFACT", "PUSH_ARTIFACT")).validated()
    assert valid.event_types == ("PUSH_ARTIFACT", "CLEANUP")


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"event_types": ()}, "at least one"),
        ({"event_types": ("SCANNING_COMPLETED",)}, "unknown event type"),
        ({"kind": "teams"}, "kind"),
        ({"payload_format": "xml"}, "payload_format"),
        ({"kind": "slack", "payload_format": "cloudevents"}, "Slack"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"auth_header": "Bearer x\r\nX-Evil: 1"}, "auth_header"),
        ({"address": "ftp://x/"}, "http"),
    ],
)
def test_bad_specs_are_refused(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidWebhook, match=why):
        spec(**changes).validated()


def test_names_are_trimmed() -> None:
    assert spec(name="  ci  ").validated().name == "ci"


def test_auth_header_is_kept_cleared_or_replaced_on_update() -> None:
    current = replace(webhook(), auth_header="Bearer old-secret")
    assert "auth_header" not in spec(auth_header=None).values(current)
    assert "auth_header" not in spec(auth_header=mask_secret("Bearer old-secret")).values(current)
    assert spec(auth_header="").values(current)["auth_header"] is None
    assert spec(auth_header="Bearer new").values(current)["auth_header"] == "Bearer new"
    assert spec(auth_header="").values(None)["auth_header"] is None
    assert spec(auth_header="Token t").values(None)["auth_header"] == "Token t"


def test_secrets_are_masked() -> None:
    assert mask_secret("Bearer 0123456789abcdef0123456789") == "Bea…(33 chars)"
    assert mask_secret("short") == "…(5 chars)"
