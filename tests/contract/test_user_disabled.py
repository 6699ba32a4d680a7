"""A user's disabled flag on SQLite, PostgreSQL and the fakes: new users start enabled, the
flag is stored and read back, and it touches nothing else of the user."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moorage.domain.ports import UnitOfWorkFactory
from tests.contract.backends import Database

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


def test_new_users_are_enabled(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        created = store.users.create_user("bob", "h1", False, T0)
    assert created.disabled is False
    with uow() as store:
        found = store.users.get_user("bob")
    assert found is not None
    assert found.disabled is False


def test_disable_and_enable_a_user(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        bob = store.users.create_user("bob", "h1", False, T0)
        alice = store.users.create_user("alice", "h2", True, T0)
    with uow(write=True) as store:
        store.users.set_disabled(bob.id, True)
    with uow() as store:
        disabled = store.users.get_user_by_id(bob.id)
        assert disabled is not None
        assert disabled.disabled is True
        assert (disabled.username, disabled.password_hash, disabled.is_admin) == (
            "bob",
            "h1",
            False,
        )
        assert [u.disabled for u in store.users.list_users()] == [False, True]  # alice, bob
        assert store.users.get_user("alice") == alice
    with uow(write=True) as store:
        store.users.set_disabled(bob.id, False)
        store.users.set_disabled(bob.id + alice.id + 100, True)  # no such user: nothing
    with uow() as store:
        assert store.users.get_user("bob") == bob
