"""Blob store drivers by name: the configuration names one, `build_blob_store` makes it.

An unknown driver or option is a startup error naming what is accepted, never a fallback.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from moorage.domain.content.ports import BlobStore


def _filesystem(options: Mapping[str, Any]) -> BlobStore:
    from moorage.storage.filesystem import FilesystemBlobStore

    _check_options("filesystem", options, FilesystemBlobStore)
    return FilesystemBlobStore(Path(options["root"]))


def _s3(options: Mapping[str, Any]) -> BlobStore:
    # Imported on demand: boto3 is slow to import and most installs use the filesystem.
    from moorage.storage.s3 import S3BlobStore

    _check_options("s3", options, S3BlobStore)
    return S3BlobStore(**options)


def _memory(options: Mapping[str, Any]) -> BlobStore:
    from moorage.storage.memory import MemoryBlobStore

    _check_options("memory", options, MemoryBlobStore)
    return MemoryBlobStore()


DRIVERS: Mapping[str, Callable[[Mapping[str, Any]], BlobStore]] = {
    "filesystem": _filesystem,
    "s3": _s3,
    "memory": _memory,
}


def build_blob_store(driver: str, options: Mapping[str, Any]) -> BlobStore:
    """Make the named driver from its options; ValueError names what is wrong and what is known."""
    factory = DRIVERS.get(driver)
    if factory is None:
        known = ", ".join(sorted(DRIVERS))
        raise ValueError(f"unknown storage driver {driver!r}: known drivers are {known}")
    return factory(options)


def _check_options(driver: str, options: Mapping[str, Any], cls: type[object]) -> None:
    """Refuse unknown and missing options by the constructor's own parameter list."""
    parameters = dict(inspect.signature(cls).parameters)
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for storage driver {driver!r}: "
            f"accepted are {', '.join(parameters) or 'none'}"
        )
    missing = [
        name
        for name, parameter in parameters.items()
        if parameter.default is inspect.Parameter.empty and name not in options
    ]
    if missing:
        raise ValueError(f"storage driver {driver!r} needs option(s) {', '.join(missing)}")
