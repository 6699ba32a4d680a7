"""Failed sign-ins, counted per account and per client address in the metadata store, so
that every node sees the same counts (docs/security.md).

An account that has failed `free_failures` times within the window waits before its next
attempt is even checked: 1 s, then twice as long after each further failure, up to
`backoff_cap_seconds` (SignInThrottled, answered 429 with Retry-After; nobody sleeps on a
request). The address counts failures only: past `address_failures` in the window, its
failed attempts are answered 429 and an account that already has failures is not checked
from it, but a correct sign-in from it succeeds, so the users behind one proxy or NAT do
not pay for one of them. A successful sign-in reads the counts and writes nothing, unless
the account has a count to clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from moorage.domain.identity.errors import SignInThrottled
from moorage.domain.identity.ports import FailureCount, ThrottleTx
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.ports import UnitOfWork

FIRST_BACKOFF_SECONDS = 1.0
MAX_LOGIN_LENGTH = 128  # longer logins are counted by their first characters


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    window_seconds: float = 900.0  # failures older than this are forgotten
    free_failures: int = 5  # per account, before it waits
    backoff_cap_seconds: float = 300.0
    address_failures: int = 50  # per address, before its failures are answered 429

    def wait(self, count: FailureCount | None, free: int, now: datetime) -> float:
        """Seconds until a key with this count may be tried again (0: now)."""
        if count is None or not self.recent(count, now) or count.failures < free:
            return 0.0
        backoff = min(
            self.backoff_cap_seconds, FIRST_BACKOFF_SECONDS * 2.0 ** min(count.failures - free, 32)
        )
        return max(0.0, (count.last_failed_at - now).total_seconds() + backoff)

    def recent(self, count: FailureCount, now: datetime) -> bool:
        return (now - count.last_failed_at).total_seconds() <= self.window_seconds


@dataclass(frozen=True, slots=True)
class Attempt:
    """One sign-in under way: the keys it counts under, and whether the account has a count."""

    account: str
    address: str
    account_counted: bool


class LoginThrottle:
    def __init__(
        self, uow: UnitOfWork[ThrottleTx], rules: ThrottleRules | None = None, clock: Clock = utcnow
    ) -> None:
        self._uow = uow
        self.rules = rules or ThrottleRules()
        self._clock = clock

    def begin(self, login: str, address: str) -> Attempt:
        """Before the credentials are checked; SignInThrottled when they may not be now."""
        attempt = Attempt(f"account:{login[:MAX_LOGIN_LENGTH]}", f"address:{address}", False)
        with self._uow() as store:
            counts = store.login_failures.failure_counts((attempt.account, attempt.address))
        now = self._clock()
        account = counts.get(attempt.account)
        wait = self.rules.wait(account, self.rules.free_failures, now)
        if wait:
            raise SignInThrottled(wait)
        failing = account is not None and self.rules.recent(account, now)
        from_address = self.rules.wait(
            counts.get(attempt.address), self.rules.address_failures, now
        )
        if failing and from_address:
            raise SignInThrottled(from_address)
        return Attempt(attempt.account, attempt.address, account is not None)

    def failed(self, attempt: Attempt) -> tuple[int, SignInThrottled | None]:
        """Count a failure under both keys. Returns the account's failures, and the refusal
        to answer instead of a plain one when the address is past its threshold."""
        now = self._clock()
        window_start = now - timedelta(seconds=self.rules.window_seconds)
        with self._uow(write=True) as store:
            failures = store.login_failures
            account = failures.add_failure(attempt.account, now, window_start)
            address = failures.add_failure(attempt.address, now, window_start)
            failures.purge_failures(window_start)
        wait = self.rules.wait(address, self.rules.address_failures, now)
        return account.failures, (SignInThrottled(wait) if wait else None)

    def succeeded(self, attempt: Attempt) -> None:
        """A correct sign-in clears the account's count (the address keeps its own)."""
        if attempt.account_counted:
            with self._uow(write=True) as store:
                store.login_failures.clear_failures(attempt.account)
