from __future__ import annotations

from moorage.domain.identity.throttle import (
    FREE_FAILURES,
    MAX_DELAY_SECONDS,
    WINDOW_SECONDS,
    LoginThrottle,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_free_failures_then_exponential_delay_capped() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_FAILURES - 1):
        throttle.failed("ip:1", "login:bob")
    assert throttle.delay("ip:1") == 0
    throttle.failed("ip:1", "login:bob")
    assert throttle.delay("ip:1") == 0.25
    throttle.failed("ip:1", "login:bob")
    assert throttle.delay("ip:1") == 0.5
    for _ in range(20):
        throttle.failed("ip:1")
    assert throttle.delay("ip:1") == MAX_DELAY_SECONDS
    assert throttle.delay("ip:other") == 0


def test_failures_expire_and_success_clears_the_login() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_FAILURES + 2):
        throttle.failed("login:bob")
    assert throttle.delay("login:bob") > 0
    throttle.succeeded("login:bob")
    assert throttle.delay("login:bob") == 0
    for _ in range(FREE_FAILURES + 2):
        throttle.failed("ip:9")
    clock.now += WINDOW_SECONDS + 1
    assert throttle.delay("ip:9") == 0
