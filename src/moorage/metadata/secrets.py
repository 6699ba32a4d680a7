"""Secrets at rest: the `SecretBox` that seals what the metadata store must keep but never
show (replication rules' remote passwords) with AES-256-GCM under the deployment's key.

A sealed value is `version byte (1) | 12-byte random nonce | ciphertext and tag`. The key is
`settings.secret_key` or one generated once in the data directory (`wiring.secret_key`);
every node must hold the same one. `cryptography` is imported when a secret is first sealed
or opened, never at start: most processes never touch one, and idle memory matters.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE = 12
_CONTEXT = b"moorage secret v1"  # authenticated with every value: a sealed value means this


class AesGcmSecretBox:
    """`SecretBox` with AES-256-GCM; a wrong key or altered bytes fail to open."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the secret key must be 32 bytes (base64 of 32 random bytes)")
        self._key = key
        self._cipher: AESGCM | None = None

    def _aead(self) -> AESGCM:
        if self._cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._cipher = AESGCM(self._key)
        return self._cipher

    def seal(self, secret: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead().encrypt(nonce, secret.encode(), _CONTEXT)

    def open(self, sealed: bytes) -> str:
        from cryptography.exceptions import InvalidTag

        if len(sealed) < 1 + _NONCE or sealed[:1] != _VERSION:
            raise ValueError("not a sealed secret of this version")
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead().decrypt(nonce, body, _CONTEXT).decode()
        except InvalidTag:
            raise ValueError("the secret was sealed with another key, or altered") from None
