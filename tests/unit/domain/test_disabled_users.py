"""Disabling a user (IdentityService on the fakes): a disabled user's password and access
keys no longer sign in, identities authenticated earlier stop being valid (for good: their
sessions and tokens ended), enabling lets them sign in again, and nobody disables
themselves or the last enabled administrator."""

from __future__ import annotations

import pytest

from moorage.domain.identity.service import IdentityService, NewAccessKey
from moorage.domain.kernel.errors import Conflict, UserNotFound
from tests.fakes.memory import migrated_memory_uow
from tests.unit.domain.test_services import FakeHasher

PASSWORD = "correct-horse"


def key_auth(key: NewAccessKey) -> tuple[str, str]:
    return key.key.key_id, key.secret


@pytest.fixture
def identities() -> IdentityService:
    service = IdentityService(migrated_memory_uow(), FakeHasher())
    service.create_user("root", PASSWORD, is_admin=True)
    service.create_user("bob", PASSWORD)
    return service


def test_a_disabled_user_cannot_sign_in_and_is_no_longer_valid(
    identities: IdentityService,
) -> None:
    key = identities.create_access_key("bob")
    by_password = identities.authenticate("bob", PASSWORD)
    by_key = identities.authenticate(key.key.key_id, key.secret)
    assert by_password is not None
    assert by_key is not None
    before = identities.revocations

    changed = identities.set_disabled("bob", True, acting="root")

    assert changed.disabled is True
    assert identities.revocations > before  # cached "still valid" answers are dropped
    assert identities.authenticate("bob", PASSWORD) is None
    assert identities.authenticate(key.key.key_id, key.secret) is None
    assert not identities.still_valid(by_password)
    assert not identities.still_valid(by_key)

    identities.set_disabled("bob", False, acting="root")
    again = [identities.authenticate("bob", PASSWORD), identities.authenticate(*key_auth(key))]
    assert all(a is not None and identities.still_valid(a) for a in again)
    assert not identities.still_valid(by_password)
    assert not identities.still_valid(by_key)


def test_nobody_disables_themselves(identities: IdentityService) -> None:
    identities.create_user("second", PASSWORD, is_admin=True)
    with pytest.raises(Conflict, match="yourself"):
        identities.set_disabled("root", True, acting="root")
    identities.set_disabled("root", False, acting="root")  # enabling is no change: allowed


def test_the_last_enabled_administrator_stays(identities: IdentityService) -> None:
    with pytest.raises(Conflict, match="last enabled administrator"):
        identities.set_disabled("root", True)  # the command line on the server: no caller
    identities.create_user("second", PASSWORD, is_admin=True)
    identities.set_disabled("root", True)
    with pytest.raises(Conflict, match="last enabled administrator"):
        identities.set_disabled("second", True)


def test_an_unknown_user(identities: IdentityService) -> None:
    with pytest.raises(UserNotFound):
        identities.set_disabled("nobody", True)
