"""Domain failures. They carry data, never HTTP: each entrypoint maps them in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every failure a caller can cause or observe."""


class NotFound(DomainError):
    """Something named by the caller does not exist."""


class RegistryNotFound(NotFound):
    def __init__(self, registry: str) -> None:
        super().__init__(
            f"registry {registry!r} does not exist: create it first "
            f"(console, REST API or `moorage registry create {registry}`)"
        )
        self.registry = registry


class ImageNotFound(NotFound):
    def __init__(self, repository: str) -> None:
        super().__init__(f"image {repository!r} does not exist")
        self.repository = repository


class ManifestNotFound(NotFound):
    def __init__(self, repository: str, reference: str) -> None:
        super().__init__(f"manifest {reference!r} not found in {repository!r}")


class BlobNotFound(NotFound):
    def __init__(self, digest: str) -> None:
        super().__init__(f"blob {digest} not found")
        self.digest = digest


class UploadNotFound(NotFound):
    def __init__(self, upload_id: str) -> None:
        super().__init__(f"upload {upload_id[:64]!r} is unknown or has expired")


class UserNotFound(NotFound):
    pass


class InvalidInput(DomainError):
    """Input that breaks a rule; the message names the rule."""


class InvalidParameter(InvalidInput):
    """Input that breaks a rule, in one named parameter of the request: `parameter` is its
    name as the caller sent it (`sort`, or a dotted path into a body such as `rule.count`)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class RefusedAddress(InvalidParameter):
    """An outbound address moorage does not call: it is, or resolves to, one inside the
    deployment's network (or is no valid host), and the operator did not allow private
    targets. Webhooks, replication endpoints and proxy-cache upstreams refuse alike;
    `parameter` names the request's field that holds the address."""

    def __init__(self, message: str, parameter: str = "address") -> None:
        super().__init__(parameter, message)


class ManifestBlobUnknown(InvalidInput):
    def __init__(self, digest: str, what: str = "blob") -> None:
        super().__init__(f"manifest references {what} {digest} which is not in this image")
        self.digest = digest


class DigestMismatch(InvalidInput):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"content digest {actual} does not match the given digest {expected}")


class SizeMismatch(InvalidInput):
    pass


class RangeInvalid(InvalidInput):
    """A chunk that does not continue the upload where it stands."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class UploadBusy(RangeInvalid):
    """Another request is writing to the upload: one writer at a time."""

    def __init__(self, upload_id: str, offset: int) -> None:
        super().__init__(
            f"upload {upload_id[:64]!r} is being written by another request; it holds "
            f"{offset} bytes",
            offset,
        )


class UploadClaimLost(InvalidInput):
    """The upload was cancelled, expired or taken over while this request wrote to it."""

    def __init__(self, upload_id: str) -> None:
        super().__init__(
            f"upload {upload_id[:64]!r} was cancelled or taken over while this request wrote "
            "to it; what this request sent was not recorded"
        )


class TooLarge(InvalidInput):
    pass


class Conflict(DomainError):
    """The request clashes with the current state (already exists, still in use)."""


class AlreadyExists(Conflict):
    """What the request would create exists already (a name, the same selectors)."""


class LimitReached(Conflict):
    """A count limit is reached: something must be deleted before another is added."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class Unsupported(DomainError):
    pass


class Busy(DomainError):
    """The metadata store gave up on a transaction that a retry may pass (a deadlock, a
    serialization failure, a database restarting or out of reach); never the caller's fault."""


class OutOfSpace(DomainError):
    """A disk (or quota) under moorage is full: never the caller's fault. Nothing of the
    write was kept, and a retry passes once space returns; `str()` has the details for the
    log, `store` names the full one for the caller."""

    store = "storage"
    retry_after = 60  # seconds: freeing space takes an operator, not a moment


class DatabaseFull(OutOfSpace, Busy):
    """The metadata database is out of space (its disk or quota is full, or it cannot write
    its log)."""

    store = "database"


class StorageFailure(DomainError):
    """The blob store failed; never the caller's fault."""


class StorageFull(OutOfSpace, StorageFailure):
    """The blob store is out of space or over its quota."""

    store = "blob storage"


class UploadLocked(StorageFailure):
    """The blob store found the upload's bytes held by another writer (a second line of
    defence behind the claim in the metadata store)."""


class Protected(DomainError):
    """A protection policy forbids moving or deleting a tag, or deleting its artifact (SPEC §7)."""

    def __init__(self, policy_id: int, image: str, tag: str, policy: str = "") -> None:
        # Named by what it selects, never by its id: ids are global, not a count per registry.
        which = f"the protection policy on {policy}" if policy else "a protection policy"
        super().__init__(f"tag {tag!r} of {image!r} is protected by {which}")
        self.policy_id = policy_id
        self.image = image
        self.tag = tag


class WriteWouldWait(Exception):
    """A write transaction asked not to wait found another writer holding the database;
    nothing ran. Not a domain error: the caller runs the write again, prepared to wait
    (`Blocking.write`)."""
