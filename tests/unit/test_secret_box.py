"""Secrets at rest: AES-GCM sealing of replication passwords, and the key behind it."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from moorage.config import Settings
from moorage.metadata.secrets import AesGcmSecretBox
from moorage.wiring import secret_key

KEY = bytes(range(32))


def test_a_sealed_secret_opens_with_its_key_only() -> None:
    box = AesGcmSecretBox(KEY)
    sealed = box.seal("pässword")
    assert b"p\xc3\xa4ssword" not in sealed
    assert sealed != box.seal("pässword"), "a fresh nonce each time"
    assert box.open(sealed) == "pässword"
    with pytest.raises(ValueError, match="another key"):
        AesGcmSecretBox(bytes(32)).open(sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(ValueError, match="altered"):
        box.open(tampered)
    with pytest.raises(ValueError, match="not a sealed secret"):
        box.open(b"\x02" + sealed[1:])
    with pytest.raises(ValueError, match="32 bytes"):
        AesGcmSecretBox(b"short")


def test_the_cipher_is_imported_only_when_a_secret_is_sealed() -> None:
    code = (
        "import sys; from moorage.metadata.secrets import AesGcmSecretBox; "
        "box = AesGcmSecretBox(bytes(32)); assert 'cryptography' not in sys.modules; "
        "box.seal('x'); assert 'cryptography' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_key_is_configured_or_generated_once_private(tmp_path: Path) -> None:
    configured = Settings(data_dir=tmp_path, secret_key=base64.b64encode(KEY).decode())
    assert secret_key(configured) == KEY
    assert not (tmp_path / "secret.key").exists()
    generated = Settings(data_dir=tmp_path)
    first = secret_key(generated)
    assert len(first) == 32
    assert secret_key(generated) == first, "the same key on every start"
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
