"""Lookups every capability needs: a registry by name, or the caller's error."""

from __future__ import annotations

from moorage.domain.kernel.errors import RegistryNotFound
from moorage.domain.kernel.model import Registry
from moorage.domain.kernel.ports import RegistryTx


def existing_registry(tx: RegistryTx, name: str) -> Registry:
    registry = tx.registries.get_registry(name)
    if registry is None:
        raise RegistryNotFound(name)
    return registry
