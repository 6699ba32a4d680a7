"""Registries (namespaces): create, list with usage, delete (SPEC §2)."""

from __future__ import annotations

from moorage.domain.content.errors import InvalidRegistryName
from moorage.domain.content.ports import ContentTx
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import Conflict, NotFound
from moorage.domain.kernel.lookups import existing_registry
from moorage.domain.kernel.model import Registry, RegistryUsage
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.policies.protection import check_tag_update
from moorage.domain.policies.runs import CLEANUP_SCHEDULE
from moorage.domain.policies.service import protection_for
from moorage.oci import names

DEFAULT_PROJECT = "default"  # created by the migration that introduced projects


class RegistryService:
    def __init__(self, uow: UnitOfWork[ContentTx], clock: Clock = utcnow) -> None:
        self._uow = uow
        self._clock = clock

    def create(self, name: str, project: str = DEFAULT_PROJECT) -> Registry:
        """Create an empty registry in a project; Conflict when the name is taken."""
        try:
            names.check_registry_name(name)
        except names.InvalidNameError as exc:
            raise InvalidRegistryName(str(exc)) from None
        with self._uow(write=True) as store:
            owner = store.projects.get_project(project)
            if owner is None:
                raise NotFound(f"project {project!r} does not exist")
            return store.registries.create_registry(name, owner, self._clock())

    def list(self) -> list[RegistryUsage]:
        with self._uow() as store:
            return store.registries.list_registries()

    def get(self, name: str) -> RegistryUsage:
        """One registry with its usage; RegistryNotFound when it does not exist."""
        with self._uow() as store:
            usage = store.registries.registry_usage(existing_registry(store, name).id)
        assert usage is not None  # it exists in this transaction
        return usage

    def delete(self, name: str, *, force: bool = False) -> None:
        """Delete a registry; one that still holds images needs `force`."""
        with self._uow(write=True) as store:
            registry = existing_registry(store, name)
            images = store.registries.registry_image_count(registry.id)
            policies = protection_for(store, registry.id)
            for image, tag in store.registries.registry_tags(registry.id):
                check_tag_update(policies, image, tag, "", None)  # Protected if protected
            if images and not force:
                raise Conflict(
                    f"registry {name!r} still holds {images} image(s): delete them first "
                    "or force the deletion"
                )
            store.schedules.delete_schedule(CLEANUP_SCHEDULE, registry.name)
            store.registries.delete_registry(registry.id)
