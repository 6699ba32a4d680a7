"""The distribution-spec name grammars and moorage's length limits (SPEC §2, §3)."""

from __future__ import annotations

import re

# OCI distribution-spec: path components separated by '/'.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
# Registry (namespace) names: lowercase letters and digits with single separators.
_REGISTRY_RE = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$")

MAX_REFERENCE_LENGTH = 255  # the full name, registry address included
MAX_TAG_LENGTH = 128
REGISTRY_NAME_MIN, REGISTRY_NAME_MAX = 2, 63


class InvalidNameError(ValueError):
    """A repository or registry name that breaks a naming rule; the message names the rule."""


class InvalidTagError(ValueError):
    """A tag that breaks the tag grammar."""


def check_registry_name(name: str) -> str:
    if not REGISTRY_NAME_MIN <= len(name) <= REGISTRY_NAME_MAX:
        raise InvalidNameError(
            f"registry name must be {REGISTRY_NAME_MIN}-{REGISTRY_NAME_MAX} characters long"
        )
    if not _REGISTRY_RE.match(name):
        raise InvalidNameError(
            "registry name may contain only lowercase letters, digits and single "
            "'-', '_' or '.' separators, and must start and end with a letter or digit"
        )
    return name


def check_repository_name(name: str, address: str = "") -> str:
    """Validate `REGISTRY/IMAGE` (the part of a reference after the host).

    `address` is the registry's host (and port) as clients write it; the whole reference
    `address/name` may be at most 255 characters.
    """
    full = f"{address}/{name}" if address else name
    if len(full) > MAX_REFERENCE_LENGTH:
        raise InvalidNameError(
            f"repository name is too long: {len(full)} characters including the registry "
            f"address, at most {MAX_REFERENCE_LENGTH} allowed"
        )
    if not _REPOSITORY_RE.match(name):
        raise InvalidNameError(
            "repository name may contain only lowercase letters, digits and the separators "
            "'.', '_', '__', '-' and '/', with each path component starting and ending "
            "with a letter or digit"
        )
    return name


def split_repository(name: str) -> tuple[str, str]:
    """`REGISTRY/IMAGE` → (registry, image); every image lives inside a registry."""
    registry, sep, image = name.partition("/")
    if not sep or not image:
        raise InvalidNameError(
            f"repository {name!r} has no image name: references are REGISTRY/IMAGE[:TAG]"
        )
    return registry, image


def check_tag(tag: str) -> str:
    if len(tag) > MAX_TAG_LENGTH:
        raise InvalidTagError(f"tag is longer than {MAX_TAG_LENGTH} characters")
    if not _TAG_RE.match(tag):
        raise InvalidTagError(
            "tag must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}: letters, digits, '_', '.' "
            "and '-', not starting with '.' or '-'"
        )
    return tag
