"""Secrets moorage generates for people to paste never start with '-' (read as an option by
`moorage --secret`, `docker login -p`...)."""

from __future__ import annotations

import secrets

import pytest

from moorage.domain.identity.access import typed_secret


def test_a_secret_starting_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["-starts-with-a-dash", "--again", "fine-secret"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: next(drawn))
    assert typed_secret(30) == "fine-secret"


def test_secrets_are_long_and_never_start_with_a_dash() -> None:
    drawn = [typed_secret(30) for _ in range(2000)]
    assert not any(secret.startswith("-") for secret in drawn)
    assert len(set(drawn)) == len(drawn)
    assert min(len(secret) for secret in drawn) == 40
