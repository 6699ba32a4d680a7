"""The sign-in throttle on the fakes: per-account exponential backoff with a cap, refused
before the credentials are checked; the address counts failures only; counts are forgotten
after the window; a success reads and clears only a count that exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from moorage.domain.identity.errors import SignInThrottled
from moorage.domain.identity.throttle import Attempt, LoginThrottle, ThrottleRules
from tests.fakes.memory import MemoryUnitOfWork

RULES = ThrottleRules(
    window_seconds=600, free_failures=3, backoff_cap_seconds=16, address_failures=10
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def uow() -> MemoryUnitOfWork:
    return MemoryUnitOfWork()


@pytest.fixture
def throttle(uow: MemoryUnitOfWork, clock: Clock) -> LoginThrottle:
    return LoginThrottle(uow, RULES, clock)


def fail(throttle: LoginThrottle, login: str, address: str = "10.0.0.1") -> SignInThrottled | None:
    return throttle.failed(throttle.begin(login, address))[1]


def refused_for(throttle: LoginThrottle, login: str, address: str = "10.0.0.1") -> int:
    with pytest.raises(SignInThrottled) as caught:
        throttle.begin(login, address)
    return caught.value.retry_after


def test_an_account_waits_after_its_free_failures_doubling_up_to_the_cap(
    throttle: LoginThrottle, clock: Clock
) -> None:
    for _ in range(RULES.free_failures):
        fail(throttle, "bob")
    waits = []
    for _ in range(7):
        waits.append(refused_for(throttle, "bob"))
        clock.advance(waits[-1])
        fail(throttle, "bob")
    assert waits == [1, 2, 4, 8, 16, 16, 16]
    throttle.begin("alice", "10.0.0.1")  # another account from the same address: checked


def test_the_wait_is_the_same_from_any_address(throttle: LoginThrottle) -> None:
    for n in range(RULES.free_failures):
        fail(throttle, "bob", f"10.0.0.{n}")
    assert refused_for(throttle, "bob", "192.0.2.7") == 1


def test_a_success_clears_the_account_but_not_the_address(
    throttle: LoginThrottle, uow: MemoryUnitOfWork
) -> None:
    for _ in range(RULES.free_failures - 1):
        fail(throttle, "bob")
    attempt = throttle.begin("bob", "10.0.0.1")
    assert attempt.account_counted
    throttle.succeeded(attempt)
    for _ in range(RULES.free_failures - 1):
        fail(throttle, "bob")
    throttle.begin("bob", "10.0.0.1")  # counted from zero again: not refused
    with uow() as tx:
        counts = tx.login_failures.failure_counts(["address:10.0.0.1", "account:bob"])
    assert counts["address:10.0.0.1"].failures == 2 * (RULES.free_failures - 1)


def test_a_clean_account_succeeds_without_a_write(throttle: LoginThrottle) -> None:
    attempt = throttle.begin("bob", "10.0.0.1")
    assert attempt == Attempt("account:bob", "address:10.0.0.1", False)


def test_failures_are_forgotten_after_the_window(throttle: LoginThrottle, clock: Clock) -> None:
    for _ in range(RULES.free_failures + 2):
        clock.advance(30)
        fail(throttle, "bob")
    refused_for(throttle, "bob")
    clock.advance(RULES.window_seconds + 1)
    throttle.failed(throttle.begin("bob", "10.0.0.1"))  # counted as the first again
    throttle.begin("bob", "10.0.0.1")


def test_an_address_past_its_threshold_refuses_failures_only(
    throttle: LoginThrottle, clock: Clock
) -> None:
    """Failures from one address across many accounts (spraying): past the threshold each
    failure is answered 429; a bystander's first attempt from it is still checked, but an
    account that already failed is not checked from it."""
    answers = [fail(throttle, f"user{n}") for n in range(RULES.address_failures + 1)]
    assert answers[: RULES.address_failures - 1] == [None] * (RULES.address_failures - 1)
    assert all(isinstance(a, SignInThrottled) for a in answers[RULES.address_failures - 1 :])
    bystander = throttle.begin("carol", "10.0.0.1")  # a clean account: checked
    throttle.succeeded(bystander)
    assert refused_for(throttle, "user0") >= 1  # failing account, failing address
    throttle.begin("user0", "10.9.9.9")  # the same account from elsewhere: checked
