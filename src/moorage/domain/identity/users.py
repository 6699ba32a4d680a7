"""Users and the first administrator."""

from __future__ import annotations

from dataclasses import dataclass

from moorage.domain.identity.access import typed_secret
from moorage.domain.identity.ports import PasswordHasher, UserTx
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.model import User
from moorage.domain.kernel.ports import UnitOfWork

ADMIN_USERNAME = "admin"


@dataclass(frozen=True, slots=True)
class FirstAdmin:
    user: User
    generated_password: str | None  # shown once, only when moorage made it up


class UserService:
    def __init__(
        self, uow: UnitOfWork[UserTx], hasher: PasswordHasher, clock: Clock = utcnow
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock

    def ensure_first_admin(self, password: str | None) -> FirstAdmin | None:
        """Create the admin on a fresh install; None when users already exist."""
        with self._uow(write=True) as store:
            if store.users.count_users():
                return None
            generated = None if password else typed_secret(18)
            chosen = password or generated
            assert chosen is not None
            user = store.users.create_user(
                ADMIN_USERNAME, self._hasher.hash(chosen), True, self._clock()
            )
            return FirstAdmin(user, generated)
