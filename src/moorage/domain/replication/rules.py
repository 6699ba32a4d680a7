"""Pure rules of replication: what a valid rule is, and what a rule selects.

A rule's fields are checked here, each refusal naming the field as the REST body spells it
(`name`, `remote.url`, `remote.registry`, `filters.image.pattern`, `trigger`, `cron`, ...).
Filters use the cleanup selectors' doublestar grammar; a schedule the cleanup schedules'
5-field cron.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from moorage.domain.kernel.errors import InvalidInput
from moorage.domain.policies.schedules import parse_cron
from moorage.domain.policies.selectors import Selector, compile_pattern
from moorage.domain.replication.errors import InvalidRule
from moorage.domain.replication.model import Filter, ReplicationRule, RuleDraft
from moorage.oci.names import InvalidNameError, check_repository_name

NAME_MAX = 63
_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$")
URL_MAX = 2048
USERNAME_MAX = 255
PASSWORD_MAX = 4096
REMOTE_REGISTRY_MAX = 255
TRIGGERS = {"push": ("event", "schedule", "manual"), "pull": ("schedule", "manual")}


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise InvalidRule(
            "name",
            f"a rule name is 1-{NAME_MAX} letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
        )
    return name


def check_url(url: str) -> str:
    """An http(s) base URL without credentials, query or fragment; no trailing '/'."""
    if len(url) > URL_MAX:
        raise InvalidRule("remote.url", f"the URL is longer than {URL_MAX} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as exc:
        raise InvalidRule("remote.url", f"the URL cannot be parsed: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidRule("remote.url", "the URL must start with http:// or https://")
    if not parts.hostname:
        raise InvalidRule("remote.url", "the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidRule(
            "remote.url", "put the credentials in username and password, not in the URL"
        )
    if parts.query or parts.fragment:
        raise InvalidRule("remote.url", "the URL may not have a query or a fragment")
    if any(char.isspace() for char in url):
        raise InvalidRule("remote.url", "the URL may not contain whitespace")
    return url.rstrip("/")


def check_remote_registry(name: str) -> str:
    """The registry or namespace at the other side: "" (the root) or path components."""
    name = name.strip("/")
    if not name:
        return ""
    if len(name) > REMOTE_REGISTRY_MAX:
        raise InvalidRule(
            "remote.registry", f"the name is longer than {REMOTE_REGISTRY_MAX} characters"
        )
    try:
        check_repository_name(name)
    except InvalidNameError as exc:
        raise InvalidRule("remote.registry", str(exc).replace("repository", "registry")) from None
    return name


def check_filter(which: str, given: Filter) -> Filter:
    try:
        compile_pattern(given.pattern)
    except InvalidInput as exc:
        raise InvalidRule(f"filters.{which}.pattern", str(exc)) from None
    return given


def check_trigger(draft: RuleDraft) -> str | None:
    """The trigger fits the direction; the cron (schedules only) is valid. Returns the cron
    to store, normalised; None for other triggers."""
    if draft.direction not in TRIGGERS:
        raise InvalidRule("direction", "direction is push or pull")
    allowed = TRIGGERS[draft.direction]
    if draft.trigger not in allowed:
        raise InvalidRule(
            "trigger", f"a {draft.direction} rule's trigger is one of {', '.join(allowed)}"
        )
    if draft.trigger != "schedule":
        return None
    if not draft.cron:
        raise InvalidRule("cron", "a scheduled rule needs a cron expression")
    try:
        return str(parse_cron(draft.cron))
    except InvalidInput as exc:
        raise InvalidRule("cron", str(exc)) from None


def check_credentials(draft: RuleDraft) -> None:
    if draft.username is not None and len(draft.username) > USERNAME_MAX:
        raise InvalidRule("remote.username", f"at most {USERNAME_MAX} characters")
    if draft.password is not None and len(draft.password) > PASSWORD_MAX:
        raise InvalidRule("remote.password", f"at most {PASSWORD_MAX} characters")


def rule_values(draft: RuleDraft) -> dict[str, Any]:
    """The stored columns of a valid draft (the secret apart: the service seals it)."""
    check_credentials(draft)
    cron = check_trigger(draft)
    image = check_filter("image", draft.image_filter)
    tag = check_filter("tag", draft.tag_filter)
    return {
        "name": check_name(draft.name),
        "direction": draft.direction,
        "url": check_url(draft.url),
        "remote_registry": check_remote_registry(draft.remote_registry),
        "username": draft.username or None,
        "verify_tls": draft.verify_tls,
        "image_pattern": image.pattern,
        "image_include": image.include,
        "tag_pattern": tag.pattern,
        "tag_include": tag.include,
        "trigger": draft.trigger,
        "cron": cron,
        "override": draft.override,
        "enabled": draft.enabled,
    }


REMOTE_COLUMNS = ("url", "remote_registry", "username", "verify_tls")
"""The columns that name the other side: changing one (or the password) makes the rule
inactive until it is checked again."""


def remote_changed(rule: ReplicationRule, values: dict[str, Any], new_secret: bool) -> bool:
    remote = rule.remote
    before = (remote.url, remote.registry, remote.username, remote.verify_tls)
    return new_secret or before != tuple(values[c] for c in REMOTE_COLUMNS)


# what a rule selects ------------------------------------------------------------------------


def selects_image(rule: ReplicationRule, repository: str) -> bool:
    return Selector(rule.image_filter.pattern, rule.image_filter.include).selects(repository)


def selects_tag(rule: ReplicationRule, tag: str) -> bool:
    return Selector(rule.tag_filter.pattern, rule.tag_filter.include).selects(tag)


def selects(rule: ReplicationRule, repository: str, tag: str) -> bool:
    """Whether the rule copies `repository:tag` (repository relative to the registry)."""
    return selects_image(rule, repository) and selects_tag(rule, tag)
