"""What webhook targets receive: Harbor's JSON, CloudEvents 1.0, or a Slack Block Kit message.

Pure functions of a stored event. The event's `data` holds the facts (registry, image,
digest, tags; a cleanup run's counts), written when the event happened; the wire shape is
chosen at delivery time from the webhook's kind and payload format.

Harbor's names are kept on the wire so receivers written for Harbor (or NCR) work
unchanged: the cleanup event goes out as Harbor's `TAG_RETENTION`, and CloudEvents types are
Harbor's `harbor.artifact.pushed` and friends. docs/webhooks.md shows every payload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from moorage.domain.kernel.model import Event, Webhook


class EventType(StrEnum):
    PUSH_ARTIFACT = "PUSH_ARTIFACT"
    PULL_ARTIFACT = "PULL_ARTIFACT"
    DELETE_ARTIFACT = "DELETE_ARTIFACT"
    REPLICATION = "REPLICATION"
    CLEANUP = "CLEANUP"


ARTIFACT_EVENTS = frozenset(
    {EventType.PUSH_ARTIFACT, EventType.PULL_ARTIFACT, EventType.DELETE_ARTIFACT}
)
HARBOR_TYPES = {**{t: t.value for t in EventType}, EventType.CLEANUP: "TAG_RETENTION"}
CLOUDEVENTS_TYPES = {
    EventType.PUSH_ARTIFACT: "harbor.artifact.pushed",
    EventType.PULL_ARTIFACT: "harbor.artifact.pulled",
    EventType.DELETE_ARTIFACT: "harbor.artifact.deleted",
    EventType.REPLICATION: "harbor.replication.status.changed",
    EventType.CLEANUP: "harbor.tag_retention.finished",
}
JSON = "application/json"
CLOUDEVENTS_JSON = "application/cloudevents+json"  # structured mode (CloudEvents JSON format)

# Slack's limits for the blocks used here.
_HEADER_MAX = 150
_FIELD_MAX = 2000
_TEXT_MAX = 3000


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    content_type: str


def render(event: Event, webhook: Webhook, host: str | None) -> Rendered:
    """The bytes a webhook receives for an event, and their media type."""
    if webhook.kind == "slack":
        payload, content_type = slack_message(event, host), JSON
    elif webhook.payload_format == "cloudevents":
        payload, content_type = cloudevent(event, webhook.id, host), CLOUDEVENTS_JSON
    else:
        payload, content_type = harbor_payload(event, host), JSON
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Rendered(body, content_type)


# facts of an event ---------------------------------------------------------------------------


def _type(event: Event) -> EventType:
    return EventType(event.type)


def reference(data: dict[str, Any]) -> str:
    """The tag the event is about: the one pushed or pulled, else the artifact's first tag,
    else the digest (as Harbor does for untagged artifacts)."""
    tags = data.get("tags") or []
    return str(data.get("tag") or (tags[0] if tags else data.get("digest", "")))


def repository(data: dict[str, Any]) -> str:
    return f"{data['registry']}/{data['image']}"


def image_reference(data: dict[str, Any], host: str | None) -> str:
    """`HOST/REGISTRY/IMAGE:TAG`, or `…@DIGEST` for an untagged artifact."""
    ref = reference(data)
    separator = "@" if ref == data.get("digest") else ":"
    prefix = f"{host}/" if host else ""
    return f"{prefix}{repository(data)}{separator}{ref}"


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _operator(event: Event) -> str:
    return event.operator or "anonymous"


# Harbor's default JSON -------------------------------------------------------------------------


def event_data(event: Event, host: str | None) -> dict[str, Any]:
    """Harbor's `event_data` object (also the `data` of a CloudEvent)."""
    data = event.data
    kind = _type(event)
    if kind in ARTIFACT_EVENTS:
        repo: dict[str, Any] = {
            "name": data["image"],
            "namespace": data["registry"],
            "repo_full_name": repository(data),
            "repo_type": "private",
        }
        if data.get("image_created_at") is not None:
            repo = {"date_created": data["image_created_at"], **repo}
        resource = {
            "digest": data["digest"],
            "tag": reference(data),
            "resource_url": image_reference(data, host),
        }
        return {"resources": [resource], "repository": repo}
    if kind is EventType.CLEANUP:
        return {"retention": _retention(data, host)}
    return {"replication": dict(data.get("replication") or {})}


def _retention(data: dict[str, Any], host: str | None) -> dict[str, Any]:
    counts = {k: int(v) for k, v in (data.get("counts") or {}).items()}
    retention: dict[str, Any] = {
        "total": counts.get("artifacts", 0),
        "retained": counts.get("kept", 0) + counts.get("protected", 0),
        "project_name": data["registry"],
        "result": "SUCCESS" if data.get("status") == "succeeded" else "FAILED",
        "execution_id": data.get("execution_id"),
        "trigger": data.get("trigger"),
        "counts": counts,
    }
    if host:
        retention["harbor_hostname"] = host.split(":")[0]
    return retention


def harbor_payload(event: Event, host: str | None) -> dict[str, Any]:
    """Harbor's documented webhook JSON: `type`, `occur_at`, `operator`, `event_data`."""
    return {
        "type": HARBOR_TYPES[_type(event)],
        "occur_at": _unix(event.occurred_at),
        "operator": _operator(event),
        "event_data": event_data(event, host),
    }


# CloudEvents 1.0 -----------------------------------------------------------------------------


def cloudevent(event: Event, webhook_id: int, host: str | None) -> dict[str, Any]:
    """A CloudEvents 1.0 event in structured JSON mode; `operator` is an extension
    attribute, as in Harbor. `source` + `id` is unique per delivery target."""
    kind = _type(event)
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": f"/registries/{event.data['registry']}/webhooks/{webhook_id}",
        "type": CLOUDEVENTS_TYPES[kind],
        "time": _rfc3339(event.occurred_at),
        "datacontenttype": JSON,
        "operator": _operator(event),
    }
    if kind in ARTIFACT_EVENTS:
        envelope["subject"] = image_reference(event.data, None)
    envelope["data"] = event_data(event, host)
    return envelope


# Slack Block Kit -------------------------------------------------------------------------------

_ARTIFACT_VERBS = {
    EventType.PUSH_ARTIFACT: "pushed",
    EventType.PULL_ARTIFACT: "pulled",
    EventType.DELETE_ARTIFACT: "deleted",
}


def _escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(f"*{label}*\n{value}", _FIELD_MAX)}


def _when(moment: datetime) -> str:
    """A date Slack shows in each reader's time zone, with a UTC fallback."""
    return f"<!date^{_unix(moment)}^{{date_short_pretty}} {{time_secs}}|{_rfc3339(moment)}>"


Message = tuple[str, str, list[dict[str, str]], str]
"""(header, plain summary, fields, mrkdwn text)."""


def _artifact_message(event: Event, host: str | None) -> Message:
    data, verb = event.data, _ARTIFACT_VERBS[_type(event)]
    who, ref = _operator(event), image_reference(data, host)
    summary = f"{who} {verb} {ref}"
    text = f"*{_escape(who)}* {verb} `{_escape(ref)}`"
    fields = [
        _field("Registry", _escape(data["registry"])),
        _field("Image", _escape(data["image"])),
        _field("Tag", _escape(", ".join(data.get("tags") or []) or reference(data))),
        _field("Digest", f"`{data['digest']}`"),
        _field("By", _escape(who)),
        _field("When", _when(event.occurred_at)),
    ]
    return f"Artifact {verb}", summary, fields, text


def _cleanup_message(event: Event) -> Message:
    data = event.data
    counts = data.get("counts") or {}
    status = "finished" if data.get("status") == "succeeded" else "failed"
    registry = str(data["registry"])
    summary = (
        f"cleanup run {data.get('execution_id')} of {registry} {status}: "
        f"{counts.get('deleted', 0)} deleted, {counts.get('kept', 0)} kept, "
        f"{counts.get('protected', 0)} protected, {counts.get('failed', 0)} failed"
    )
    fields = [
        _field("Registry", _escape(registry)),
        _field("Trigger", _escape(str(data.get("trigger", "")))),
        _field("Deleted", str(counts.get("deleted", 0))),
        _field("Kept", f"{counts.get('kept', 0)} (+{counts.get('protected', 0)} protected)"),
        _field("Failed", str(counts.get("failed", 0))),
        _field("When", _when(event.occurred_at)),
    ]
    return f"Cleanup run {status}", summary, fields, _escape(summary)


def _replication_message(event: Event) -> Message:
    replication = event.data.get("replication") or {}
    status = str(replication.get("job_status", "finished"))
    summary = f"replication in {event.data['registry']}: {status}"
    fields = [
        _field("Registry", _escape(str(event.data["registry"]))),
        _field("Status", _escape(status)),
        _field("When", _when(event.occurred_at)),
    ]
    return "Replication finished", summary, fields, _escape(summary)


def slack_message(event: Event, host: str | None) -> dict[str, Any]:
    """A readable Block Kit message (what happened, to which image:tag, who, when), with a
    `text` fallback for notifications and clients that show no blocks."""
    kind = _type(event)
    if kind in ARTIFACT_EVENTS:
        title, summary, fields, text = _artifact_message(event, host)
    elif kind is EventType.CLEANUP:
        title, summary, fields, text = _cleanup_message(event)
    else:
        title, summary, fields, text = _replication_message(event)
    return {
        "text": _cut(summary, _TEXT_MAX),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(title, _HEADER_MAX)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _TEXT_MAX)}},
            {"type": "section", "fields": fields},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"moorage · event `{event.id}`"}],
            },
        ],
    }
