"""`moorage policy list REGISTRY` (image protection and image cleanup) and `moorage webhook
list REGISTRY`: a registry's rules as the REST API shows them, locally or on a server."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol

from moorage.cli.output import Column, emit_items, joined, print_json, yes_no
from moorage.cli.remote import RemoteApi, segment
from moorage.cli.target import Group
from moorage.wiring import Container


class Policies(Protocol):
    def protection(self, registry: str) -> list[dict[str, Any]]: ...
    def cleanup(self, registry: str) -> list[dict[str, Any]]: ...
    def webhooks(self, registry: str) -> list[dict[str, Any]]: ...


class LocalPolicies:
    """The API's own serializers, so that `--json` prints the same here as remotely."""

    def __init__(self, container: Container) -> None:
        self._policies = container.policies
        self._webhooks = container.webhooks

    def protection(self, registry: str) -> list[dict[str, Any]]:
        from moorage.api.rest.policies import _protection

        records = self._policies.protection_policies(registry)
        return [_protection(r).model_dump(mode="json") for r in records]

    def cleanup(self, registry: str) -> list[dict[str, Any]]:
        from moorage.api.rest.policies import _cleanup

        records = self._policies.cleanup_policies(registry)
        return [_cleanup(r).model_dump(mode="json") for r in records]

    def webhooks(self, registry: str) -> list[dict[str, Any]]:
        from moorage.api.rest.webhooks import _webhook

        return [_webhook(w).model_dump(mode="json") for w in self._webhooks.webhooks(registry)]


class RemotePolicies:
    def __init__(self, api: RemoteApi) -> None:
        self._api = api

    def _list(self, registry: str, what: str) -> list[dict[str, Any]]:
        return self._api.items(f"/registries/{segment(registry)}/{what}")

    def protection(self, registry: str) -> list[dict[str, Any]]:
        return self._list(registry, "protection-policies")

    def cleanup(self, registry: str) -> list[dict[str, Any]]:
        return self._list(registry, "cleanup-policies")

    def webhooks(self, registry: str) -> list[dict[str, Any]]:
        return self._list(registry, "webhooks")


POLICIES: Group[Policies] = Group(LocalPolicies, RemotePolicies)


def selector(value: dict[str, Any]) -> str:
    """`app/*`, `not app/*`; a tag selector that also takes untagged artifacts: `+ untagged`."""
    shown = value["pattern"] if value["include"] else f"not {value['pattern']}"
    return f"{shown} + untagged" if value.get("untagged") else shown


def rule(value: dict[str, Any]) -> str:
    """`latest_pushed 5`, `pushed_within 30d`, `always`."""
    if value.get("count") is not None:
        return f"{value['kind']} {value['count']}"
    if value.get("days") is not None:
        return f"{value['kind']} {value['days']}d"
    return str(value["kind"])


PROTECTION_COLUMNS = (
    Column("id"),
    Column("image", show=selector),
    Column("tag", show=selector),
    Column("enabled", show=yes_no),
)
CLEANUP_COLUMNS = (
    Column("id"),
    Column("image", show=selector),
    Column("tag", show=selector),
    Column("rule", "keep", rule),
    Column("enabled", show=yes_no),
)
WEBHOOK_COLUMNS = (
    Column("id"),
    Column("name"),
    Column("kind"),
    Column("address"),
    Column("event_types", "events", joined),
    Column("enabled", show=yes_no),
)


def policy_list(args: argparse.Namespace, policies: Policies) -> int:
    """Both kinds: in JSON one object with the two lists, `protection` and `cleanup`."""
    protection, cleanup = policies.protection(args.registry), policies.cleanup(args.registry)
    if args.json:
        print_json({"protection": protection, "cleanup": cleanup})
        return 0
    print("protection policies (tags that cannot be moved or deleted)")
    emit_items(protection, PROTECTION_COLUMNS, as_json=False)
    print("\ncleanup policies (what to keep)")
    emit_items(cleanup, CLEANUP_COLUMNS, as_json=False)
    return 0


def webhook_list(args: argparse.Namespace, policies: Policies) -> int:
    emit_items(policies.webhooks(args.registry), WEBHOOK_COLUMNS, as_json=args.json)
    return 0


def add_commands(
    common: argparse.ArgumentParser,
    group: Callable[[str, str], argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    p = group("policy", "image protection and image cleanup policies").add_parser(
        "list", parents=[common], help="a registry's protection and cleanup policies"
    )
    p.add_argument("registry")
    p.set_defaults(run=policy_list, group=POLICIES)
    p = group("webhook", "webhooks of a registry").add_parser(
        "list", parents=[common], help="a registry's webhooks (auth headers masked)"
    )
    p.add_argument("registry")
    p.set_defaults(run=webhook_list, group=POLICIES)
