"""Revocable sign-ins on SQLite, PostgreSQL and the fakes: a user's auth generation, console
session rows (`SessionStore`) and failed sign-in counters (`LoginFailureStore`)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from moorage.domain.identity.ports import FailureCount
from moorage.domain.ports import UnitOfWorkFactory
from tests.contract.backends import Database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


def new_user(uow: UnitOfWorkFactory, name: str = "bob") -> int:
    with uow(write=True) as store:
        return store.users.create_user(name, "h", False, T0).id


def test_generation_starts_at_zero_and_only_rises_for_its_user(uow: UnitOfWorkFactory) -> None:
    bob, alice = new_user(uow), new_user(uow, "alice")
    with uow(write=True) as store:
        store.users.bump_auth_generation(bob)
        store.users.bump_auth_generation(bob)
        store.users.bump_auth_generation(bob + alice + 100)  # no such user: nothing
    with uow() as store:
        found = [store.users.get_user_by_id(u) for u in (bob, alice)]
    assert [u.auth_generation if u else None for u in found] == [2, 0]


def test_a_session_lives_until_it_ends_or_expires(uow: UnitOfWorkFactory) -> None:
    bob = new_user(uow)
    with uow(write=True) as store:
        store.sessions.create_session("s1", bob, T0, T0 + HOUR)
        store.sessions.create_session("s2", bob, T0, T0 + HOUR)
    with uow() as store:
        assert store.sessions.session_user("s1", T0) == bob
        assert store.sessions.session_user("s1", T0 + HOUR) is None  # expired
        assert store.sessions.session_user("nope", T0) is None
    with uow(write=True) as store:
        assert store.sessions.delete_session("s1") is True
        assert store.sessions.delete_session("s1") is False
    with uow() as store:
        assert store.sessions.session_user("s1", T0) is None
        assert store.sessions.session_user("s2", T0) == bob


def test_ending_a_users_sessions_leaves_the_others(uow: UnitOfWorkFactory) -> None:
    bob, alice = new_user(uow), new_user(uow, "alice")
    with uow(write=True) as store:
        for sid, user in (("b1", bob), ("b2", bob), ("a1", alice)):
            store.sessions.create_session(sid, user, T0, T0 + HOUR)
    with uow(write=True) as store:
        assert store.sessions.delete_user_sessions(bob) == 2
    with uow() as store:
        assert [store.sessions.session_user(s, T0) for s in ("b1", "b2", "a1")] == [
            None,
            None,
            alice,
        ]


def test_a_new_session_forgets_the_users_expired_ones(uow: UnitOfWorkFactory) -> None:
    bob = new_user(uow)
    with uow(write=True) as store:
        store.sessions.create_session("old", bob, T0, T0 + HOUR)
        store.sessions.create_session("new", bob, T0 + 2 * HOUR, T0 + 3 * HOUR)
    with uow(write=True) as store:
        assert store.sessions.delete_session("old") is False  # already gone
        assert store.sessions.session_user("new", T0 + 2 * HOUR) == bob


def test_deleting_a_user_takes_their_sessions(uow: UnitOfWorkFactory) -> None:
    bob = new_user(uow)
    with uow(write=True) as store:
        store.sessions.create_session("s", bob, T0, T0 + HOUR)
    with uow(write=True) as store:
        store.users.delete_user(bob)
    with uow() as store:
        assert store.sessions.session_user("s", T0) is None


def test_failures_count_up_restart_after_the_window_and_clear(uow: UnitOfWorkFactory) -> None:
    start = T0 - HOUR
    with uow(write=True) as store:
        f = store.login_failures
        assert f.add_failure("account:bob", T0, start) == FailureCount(1, T0)
        assert f.add_failure("account:bob", T0 + HOUR / 60, start) == FailureCount(
            2, T0 + HOUR / 60
        )
        f.add_failure("address:10.0.0.1", T0, start)
    with uow() as store:
        counts = store.login_failures.failure_counts(
            ["account:bob", "account:x", "address:10.0.0.1"]
        )
    assert counts == {
        "account:bob": FailureCount(2, T0 + HOUR / 60),
        "address:10.0.0.1": FailureCount(1, T0),
    }
    later = T0 + 3 * HOUR
    with uow(write=True) as store:  # the last failure is before the window: from one again
        assert store.login_failures.add_failure("account:bob", later, later - HOUR).failures == 1
        store.login_failures.clear_failures("account:bob")
        store.login_failures.clear_failures("account:never")
    with uow() as store:
        assert store.login_failures.failure_counts(["account:bob"]) == {}


def test_purging_forgets_only_old_counts(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        store.login_failures.add_failure("address:old", T0, T0 - HOUR)
        store.login_failures.add_failure("address:new", T0 + HOUR, T0)
    with uow(write=True) as store:
        assert store.login_failures.purge_failures(T0 + HOUR / 2) == 1
    with uow() as store:
        assert set(store.login_failures.failure_counts(["address:old", "address:new"])) == {
            "address:new"
        }


def test_failures_counted_at_once_all_count(uow: UnitOfWorkFactory) -> None:
    """Several nodes counting the same key concurrently lose none of the failures."""
    errors: list[BaseException] = []

    def fail() -> None:
        try:
            for _ in range(5):
                with uow(write=True) as store:
                    store.login_failures.add_failure("account:bob", T0, T0 - HOUR)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=fail) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with uow() as store:
        assert store.login_failures.failure_counts(["account:bob"])["account:bob"].failures == 20
