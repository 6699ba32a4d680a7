"""Users, projects, members and access keys; signing in; what a caller may do (SPEC §5)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from moorage.domain.identity.access import Action, Identity, allowed_actions, typed_secret
from moorage.domain.identity.errors import AccessKeyNotFound, ProjectNotFound
from moorage.domain.identity.ports import IdentityTx, PasswordHasher
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import (
    Conflict,
    InvalidInput,
    LimitReached,
    NotFound,
    UserNotFound,
)
from moorage.domain.kernel.lookups import existing_registry
from moorage.domain.kernel.model import AccessKey, Member, Project, Role, User
from moorage.domain.kernel.ports import UnitOfWork
from moorage.oci import names

MAX_ACCESS_KEYS = 5
KEY_ID_PREFIX = "MRG"
_KEY_ALPHABET = string.ascii_uppercase + string.digits
MIN_PASSWORD_LENGTH = 8
# How long a node trusts its last answer to "may this session or token still act?": a
# revocation made on another node reaches this one within that time.
REVALIDATE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class NewAccessKey:
    key: AccessKey
    secret: str  # shown once; only its hash is stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_key_id() -> str:
    return KEY_ID_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(17))


class _VerifiedPasswords:
    """Remembers recent successful argon2 checks, keyed by (stored hash, password digest).

    Registry clients send Basic credentials on many requests; argon2 costs tens of
    milliseconds by design. A changed password changes the stored hash, so entries for the
    old one can never match again.
    """

    def __init__(self, limit: int = 1024) -> None:
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def check(self, stored: str, password: str, hasher: PasswordHasher) -> bool:
        key = (stored, hashlib.sha256(password.encode()).hexdigest())
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
        if not hasher.verify(stored, password):
            return False
        with self._lock:
            self._seen[key] = None
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)
        return True


class _RecentAnswers:
    """ "Still valid?" answers per identity for REVALIDATE_SECONDS, forgotten at once when
    this process revokes anything (the revocation count changed)."""

    def __init__(self, monotonic: Callable[[], float], limit: int = 10_000) -> None:
        self._answers: dict[Identity, tuple[bool, float, int]] = {}
        self._monotonic = monotonic
        self._limit = limit

    def get(self, identity: Identity, revocations: int) -> bool | None:
        found = self._answers.get(identity)
        if found is None or found[2] != revocations:
            return None
        if self._monotonic() - found[1] >= REVALIDATE_SECONDS:
            return None
        return found[0]

    def put(self, identity: Identity, valid: bool, asked_at: float, revocations: int) -> None:
        if len(self._answers) >= self._limit:
            self._answers.clear()
        self._answers[identity] = (valid, asked_at, revocations)


class IdentityService:
    def __init__(
        self,
        uow: UnitOfWork[IdentityTx],
        hasher: PasswordHasher,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock
        self._monotonic = monotonic
        self._verified = _VerifiedPasswords()
        self._answers = _RecentAnswers(monotonic)
        # Bumped by every change that can revoke a caller (keys, users, sessions, roles), so
        # cached "still valid" answers in this process can tell they are stale.
        self.revocations = 0

    # signing in -----------------------------------------------------------------------

    def authenticate(self, login: str, secret: str) -> Identity | None:
        """Username + password, or access key ID + secret; None when they do not match.

        A disabled or deleted key, and a disabled user's password and keys, stop working at
        once.
        """
        if login.startswith(KEY_ID_PREFIX) and len(login) == len(KEY_ID_PREFIX) + 17:
            return self._authenticate_key(login, secret)
        with self._uow() as store:
            user = store.users.get_user(login)
        if user is None:
            self._hasher.hash(secret)  # same cost as a wrong password: names don't leak
            return None
        if not self._verified.check(user.password_hash, secret, self._hasher):
            return None
        if user.disabled:
            return None
        return Identity(user.id, user.username, user.is_admin, generation=user.auth_generation)

    def _authenticate_key(self, key_id: str, secret: str) -> Identity | None:
        with self._uow(write=True) as store:
            key = store.access_keys.get_access_key(key_id)
            if key is None or not key.enabled:
                return None
            if not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
                return None
            user = store.users.get_user_by_id(key.user_id)
            if user is None or user.disabled:
                return None
            store.access_keys.touch_access_key(key_id, self._clock())
        return Identity(
            user.id,
            user.username,
            user.is_admin,
            access_key_id=key_id,
            generation=user.auth_generation,
        )

    def recent_answer(self, identity: Identity) -> bool | None:
        """`still_valid`'s answer when this process gave it less than REVALIDATE_SECONDS ago
        and has revoked nothing since; None otherwise (no I/O)."""
        return self._answers.get(identity, self.revocations)

    def still_valid(self, identity: Identity) -> bool:
        """Whether a caller authenticated earlier (a console session, a bearer token) may
        still act: the user exists, is not disabled and has the generation the caller
        carries; the access key they signed in with (if any) exists and is enabled; the
        console session (if any) has not ended. Answers are kept REVALIDATE_SECONDS."""
        recent = self.recent_answer(identity)
        if recent is not None:
            return recent
        revocations, asked_at = self.revocations, self._monotonic()
        valid = self._still_valid(identity)
        self._answers.put(identity, valid, asked_at, revocations)
        return valid

    def _still_valid(self, identity: Identity) -> bool:
        with self._uow() as store:
            if identity.session_id is not None:
                owner = store.sessions.session_user(identity.session_id, self._clock())
                if owner != identity.user_id:
                    return False
            if identity.access_key_id is not None:
                key = store.access_keys.get_access_key(identity.access_key_id)
                if key is None or not key.enabled:
                    return False
            user = store.users.get_user_by_id(identity.user_id)
            return (
                user is not None
                and not user.disabled
                and user.auth_generation == identity.generation
            )

    # console sessions and revocation ---------------------------------------------------

    def start_session(self, identity: Identity, expires_at: datetime) -> None:
        """Record the console session `identity.session_id` (valid until it ends)."""
        assert identity.session_id is not None
        with self._uow(write=True) as store:
            store.sessions.create_session(
                identity.session_id, identity.user_id, self._clock(), expires_at
            )

    def end_session(self, session_id: str) -> None:
        """Sign out one console session; the user's other sessions and tokens go on."""
        self.revocations += 1
        with self._uow(write=True) as store:
            store.sessions.delete_session(session_id)

    def end_all_sessions(self, username: str) -> None:
        """Sign the user out everywhere: every console session and bearer token ends."""
        with self._uow(write=True) as store:
            self._revoke(store, self._user(store, username).id)

    def _revoke(self, store: IdentityTx, user_id: int) -> None:
        self.revocations += 1
        store.users.bump_auth_generation(user_id)
        store.sessions.delete_user_sessions(user_id)

    # permissions ----------------------------------------------------------------------

    def allowed(self, identity: Identity | None, registry: str) -> frozenset[Action]:
        """What the caller may do in a registry (nothing for an unknown registry)."""
        if identity is None:
            return frozenset()
        if identity.is_admin:
            return allowed_actions(identity, None)
        with self._uow() as store:
            role = store.projects.role_in_registry(identity.user_id, registry)
        return allowed_actions(identity, role)

    def allowed_in_project(self, identity: Identity, project: str) -> frozenset[Action]:
        """What the caller may do in a project; ProjectNotFound when it does not exist."""
        with self._uow() as store:
            found = self._project(store, project)
            if identity.is_admin:
                return allowed_actions(identity, None)
            return allowed_actions(
                identity, store.projects.role_in_project(identity.user_id, found.id)
            )

    def role_in_project(self, identity: Identity, project: str) -> Role | None:
        with self._uow() as store:
            return store.projects.role_in_project(
                identity.user_id, self._project(store, project).id
            )

    def memberships(self, identity: Identity) -> list[tuple[str, Role]]:
        with self._uow() as store:
            return store.projects.memberships(identity.user_id)

    def readable_registries(self, identity: Identity | None) -> set[str] | None:
        """Registries the caller may list; None means all of them."""
        if identity is not None and identity.is_admin:
            return None
        if identity is None:
            return set()
        with self._uow() as store:
            return store.projects.readable_registries(identity.user_id)

    # users ----------------------------------------------------------------------------

    def _check_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")

    def create_user(self, username: str, password: str, *, is_admin: bool = False) -> User:
        try:
            names.check_registry_name(username)
        except names.InvalidNameError as exc:
            raise InvalidInput(str(exc).replace("registry name", "user name")) from None
        self._check_password(password)
        password_hash = self._hasher.hash(password)
        with self._uow(write=True) as store:
            return store.users.create_user(username, password_hash, is_admin, self._clock())

    def list_users(self) -> list[User]:
        with self._uow() as store:
            return store.users.list_users()

    def _user(self, store: IdentityTx, username: str) -> User:
        user = store.users.get_user(username)
        if user is None:
            raise UserNotFound(f"user {username!r} does not exist")
        return user

    def delete_user(self, username: str) -> None:
        self.revocations += 1
        with self._uow(write=True) as store:
            user = self._user(store, username)
            if user.is_admin and sum(u.is_admin for u in store.users.list_users()) == 1:
                raise Conflict("the last administrator cannot be deleted")
            store.users.delete_user(user.id)

    def set_disabled(self, username: str, disabled: bool, *, acting: str | None = None) -> User:
        """Disable a user (who can no longer sign in; their console sessions, tokens and
        access keys stop at once) or enable them again. `acting` is the administrator asking
        (None from the command line on the server): nobody disables themselves, and the last
        enabled administrator stays, so someone can always enable the others again."""
        self.revocations += 1
        with self._uow(write=True) as store:
            user = self._user(store, username)
            if disabled and not user.disabled:
                if username == acting:
                    raise Conflict("you cannot disable yourself")
                if user.is_admin and not any(
                    u.is_admin and not u.disabled and u.id != user.id
                    for u in store.users.list_users()
                ):
                    raise Conflict("the last enabled administrator cannot be disabled")
            if disabled:
                self._revoke(store, user.id)
            store.users.set_disabled(user.id, disabled)
            changed = store.users.get_user_by_id(user.id)
            assert changed is not None
            return changed

    def set_password(self, username: str, password: str) -> User:
        """Change the password; the user's console sessions and bearer tokens end (their
        access keys keep working). Returns the user as changed."""
        self._check_password(password)
        password_hash = self._hasher.hash(password)
        with self._uow(write=True) as store:
            user = self._user(store, username)
            store.users.set_password(user.id, password_hash)
            self._revoke(store, user.id)
            changed = store.users.get_user_by_id(user.id)
            assert changed is not None
            return changed

    # projects and members -------------------------------------------------------------

    def create_project(self, name: str) -> Project:
        try:
            names.check_registry_name(name)
        except names.InvalidNameError as exc:
            raise InvalidInput(str(exc).replace("registry name", "project name")) from None
        with self._uow(write=True) as store:
            return store.projects.create_project(name, self._clock())

    def list_projects(self) -> list[Project]:
        with self._uow() as store:
            return store.projects.list_projects()

    @staticmethod
    def _project(store: IdentityTx, name: str) -> Project:
        project = store.projects.get_project(name)
        if project is None:
            raise ProjectNotFound(name)
        return project

    def set_member(self, project: str, username: str, role: Role) -> None:
        """Add a member or change their role; a changed role ends the member's sessions and
        tokens (a token carries what the old role allowed)."""
        with self._uow(write=True) as store:
            found = self._project(store, project)
            user = self._user(store, username)
            before = store.projects.role_in_project(user.id, found.id)
            store.projects.set_member(found.id, user.id, role, self._clock())
            if before is not None and before is not role:
                self._revoke(store, user.id)

    def remove_member(self, project: str, username: str) -> None:
        """Remove a member; their sessions and tokens end."""
        with self._uow(write=True) as store:
            found = self._project(store, project)
            user = self._user(store, username)
            if not store.projects.remove_member(found.id, user.id):
                raise NotFound(f"{username!r} is not a member of {project!r}")
            self._revoke(store, user.id)

    def list_members(self, project: str) -> list[Member]:
        with self._uow() as store:
            return store.projects.list_members(self._project(store, project).id)

    def project_of_registry(self, registry: str) -> str:
        with self._uow() as store:
            return existing_registry(store, registry).project

    # access keys ----------------------------------------------------------------------

    def create_access_key(self, username: str) -> NewAccessKey:
        """A new key pair; at most five per user. The secret is returned only here."""
        secret = typed_secret(30)
        with self._uow(write=True) as store:
            user = self._user(store, username)
            if len(store.access_keys.list_access_keys(user.id)) >= MAX_ACCESS_KEYS:
                raise LimitReached(
                    f"user {username!r} already has {MAX_ACCESS_KEYS} access keys, the most "
                    "allowed: delete one before creating another",
                    MAX_ACCESS_KEYS,
                )
            key = store.access_keys.create_access_key(
                user.id, _new_key_id(), hash_secret(secret), self._clock()
            )
        return NewAccessKey(key, secret)

    def list_access_keys(self, username: str) -> list[AccessKey]:
        with self._uow() as store:
            return store.access_keys.list_access_keys(self._user(store, username).id)

    def _owned_key(self, store: IdentityTx, username: str | None, key_id: str) -> AccessKey:
        key = store.access_keys.get_access_key(key_id)
        if key is None:
            raise AccessKeyNotFound(key_id)
        if username is not None and key.user_id != self._user(store, username).id:
            raise AccessKeyNotFound(key_id)
        return key

    def set_access_key_enabled(self, key_id: str, enabled: bool, owner: str | None = None) -> None:
        self.revocations += 1
        with self._uow(write=True) as store:
            self._owned_key(store, owner, key_id)
            store.access_keys.set_access_key_enabled(key_id, enabled)

    def delete_access_key(self, key_id: str, owner: str | None = None) -> None:
        self.revocations += 1
        with self._uow(write=True) as store:
            self._owned_key(store, owner, key_id)
            store.access_keys.delete_access_key(key_id)


def granted(requested: Iterable[Action], allowed: frozenset[Action]) -> list[Action]:
    """The part of a request the caller may have (a partial grant is not an error)."""
    return sorted({a for a in requested if a in allowed}, key=lambda a: a.value)
