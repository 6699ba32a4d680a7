"""Errors of webhooks: invalid or refused targets, unknown webhooks, failed deliveries."""

from __future__ import annotations

from moorage.domain.kernel.errors import DomainError, InvalidInput, InvalidParameter, NotFound
from moorage.domain.kernel.errors import (  # shared by all that calls out, named here too
    RefusedAddress as RefusedAddress,
)


class DeliveryFailed(DomainError):
    """An attempt failed and the delivery has attempts left: retry it later."""


class InvalidWebhook(InvalidInput):
    pass


class InvalidWebhookAddress(InvalidWebhook, InvalidParameter):
    """The address is no http(s) URL moorage accepts (the `address` field is at fault)."""

    def __init__(self, message: str) -> None:
        InvalidParameter.__init__(self, "address", message)


class WebhookNotFound(NotFound):
    def __init__(self, webhook_id: int) -> None:
        super().__init__(f"webhook {webhook_id} does not exist in this registry")


class DeliveryNotFound(NotFound):
    pass
