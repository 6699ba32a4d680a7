"""Resolving `REGISTRY/IMAGE` names to registries and images, with SPEC §2–3 rules."""

from __future__ import annotations

from datetime import datetime

from moorage.domain.content.errors import InvalidName, InvalidTag
from moorage.domain.content.ports import ImageTx
from moorage.domain.kernel.errors import ImageNotFound
from moorage.domain.kernel.lookups import existing_registry
from moorage.domain.kernel.model import Image
from moorage.oci import names


def split_name(repository: str, address: str = "") -> tuple[str, str]:
    """Validate a repository name and split it into (registry, image)."""
    try:
        names.check_repository_name(repository, address)
        return names.split_repository(repository)
    except names.InvalidNameError as exc:
        raise InvalidName(str(exc)) from None


def check_tag(tag: str) -> str:
    try:
        return names.check_tag(tag)
    except names.InvalidTagError as exc:
        raise InvalidTag(str(exc)) from None


def existing_image(store: ImageTx, repository: str) -> Image:
    """The image named `registry/image`; NAME_UNKNOWN-style errors when either is missing."""
    registry_name, image_name = split_name(repository)
    image = store.images.get_image(registry_name, image_name)
    if image is None:
        existing_registry(store, registry_name)
        raise ImageNotFound(repository)
    return image


def image_for_push(store: ImageTx, repository: str, now: datetime) -> Image:
    """The image to push into, created on first push; its registry must already exist."""
    registry_name, image_name = split_name(repository)
    image = store.images.get_image(registry_name, image_name)
    if image is not None:
        return image
    return store.images.ensure_image(existing_registry(store, registry_name), image_name, now)
