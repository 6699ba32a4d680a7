"""Revocation in IdentityService on the fakes: what ends which sessions and tokens, and the
per-process cache of "still valid" answers (kept REVALIDATE_SECONDS, dropped at once by a
revocation made in this process)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from moorage.domain.identity.access import Identity
from moorage.domain.identity.service import REVALIDATE_SECONDS, IdentityService
from moorage.domain.kernel.model import Role
from tests.fakes.memory import MemoryUnitOfWork, migrated_memory_uow
from tests.unit.domain.test_services import FakeHasher

PASSWORD = "correct-horse"
LATER = datetime.now(UTC) + timedelta(hours=1)


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def uow() -> MemoryUnitOfWork:
    return migrated_memory_uow()


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def identities(uow: MemoryUnitOfWork, monotonic: Monotonic) -> IdentityService:
    service = IdentityService(uow, FakeHasher(), monotonic=monotonic)
    service.create_user("bob", PASSWORD)
    service.create_project("proj")
    service.set_member("proj", "bob", Role.PROJECT_MEMBER)
    return service


def signed_in(identities: IdentityService, session_id: str | None = None) -> Identity:
    identity = identities.authenticate("bob", PASSWORD)
    assert identity is not None
    if session_id is None:
        return identity
    with_session = replace(identity, session_id=session_id)
    identities.start_session(with_session, LATER)
    return with_session


def test_signing_out_ends_one_session(identities: IdentityService) -> None:
    one, two, token = (
        signed_in(identities, "s1"),
        signed_in(identities, "s2"),
        signed_in(identities),
    )
    identities.end_session("s1")
    assert [identities.still_valid(i) for i in (one, two, token)] == [False, True, True]


@pytest.mark.parametrize(
    "revoke",
    [
        lambda s: s.set_password("bob", "another-password"),
        lambda s: s.end_all_sessions("bob"),
        lambda s: s.set_member("proj", "bob", Role.SERVICE_VIEWER),
        lambda s: s.remove_member("proj", "bob"),
        lambda s: s.delete_user("bob"),
    ],
    ids=["password", "everywhere", "demoted", "removed", "deleted"],
)
def test_what_ends_every_session_and_token(identities: IdentityService, revoke: object) -> None:
    session, token = signed_in(identities, "s1"), signed_in(identities)
    assert identities.still_valid(session)
    assert identities.still_valid(token)
    revoke(identities)  # type: ignore[operator]
    assert not identities.still_valid(session)
    assert not identities.still_valid(token)


def test_an_unchanged_role_or_a_new_membership_ends_nothing(identities: IdentityService) -> None:
    session, token = signed_in(identities, "s1"), signed_in(identities)
    identities.set_member("proj", "bob", Role.PROJECT_MEMBER)
    identities.create_project("other")
    identities.set_member("other", "bob", Role.SERVICE_VIEWER)
    assert identities.still_valid(session)
    assert identities.still_valid(token)


def test_answers_are_cached_for_a_few_seconds(
    identities: IdentityService, uow: MemoryUnitOfWork, monotonic: Monotonic
) -> None:
    """A revocation made by another node (here: straight in the store) is seen once the
    cached answer is REVALIDATE_SECONDS old; one made in this process at once."""
    token = signed_in(identities)
    assert identities.still_valid(token)
    with uow(write=True) as tx:
        user = tx.users.get_user("bob")
        assert user is not None
        tx.users.bump_auth_generation(user.id)
    assert identities.recent_answer(token) is True
    monotonic.now += REVALIDATE_SECONDS
    assert identities.recent_answer(token) is None
    assert identities.still_valid(token) is False

    fresh = signed_in(identities)
    assert identities.still_valid(fresh)
    identities.end_all_sessions("bob")
    assert identities.recent_answer(fresh) is None
    assert identities.still_valid(fresh) is False
