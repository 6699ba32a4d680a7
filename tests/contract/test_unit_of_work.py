"""The unit of work's scopes: one transaction for a block, on every backend.

The REST API makes each request one scope; these are the rules it relies on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from moorage.domain.content.registries import DEFAULT_PROJECT
from moorage.domain.kernel.errors import WriteWouldWait
from moorage.domain.ports import UnitOfWorkFactory
from tests.contract.backends import Database

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


def create(uow: UnitOfWorkFactory, name: str) -> None:
    with uow(write=True) as tx:
        project = tx.projects.get_project(DEFAULT_PROJECT)
        assert project is not None
        tx.registries.create_registry(name, project, NOW)


def exists(uow: UnitOfWorkFactory, name: str) -> bool:
    with uow() as tx:
        return tx.registries.get_registry(name) is not None


def test_a_writing_scope_commits_everything_at_its_end(uow: UnitOfWorkFactory) -> None:
    with uow.scope(write=True):
        create(uow, "first")
        create(uow, "second")
        assert exists(uow, "first")  # the scope reads its own writes
    assert exists(uow, "first")
    assert exists(uow, "second")


def test_a_writing_scope_that_raises_keeps_nothing(uow: UnitOfWorkFactory) -> None:
    with pytest.raises(LookupError), uow.scope(write=True):  # noqa: PT012
        create(uow, "first")
        create(uow, "second")
        raise LookupError("the request failed after two writes")
    assert not exists(uow, "first")
    assert not exists(uow, "second")


def test_an_error_a_service_raised_and_the_block_caught_keeps_the_rest(
    uow: UnitOfWorkFactory,
) -> None:
    with uow.scope(write=True):
        create(uow, "first")
        with pytest.raises(KeyError), uow(write=True):
            raise KeyError("inside a joined transaction")
        create(uow, "second")
    assert exists(uow, "first")
    assert exists(uow, "second")


def test_a_write_inside_a_reading_scope_is_its_own_transaction(
    uow: UnitOfWorkFactory,
) -> None:
    with pytest.raises(LookupError), uow.scope(write=False):  # noqa: PT012
        assert not exists(uow, "kept")
        create(uow, "kept")
        raise LookupError("the request failed after its write committed")
    assert exists(uow, "kept")


def test_an_unused_scope_touches_nothing(uow: UnitOfWorkFactory) -> None:
    with uow.scope(write=True):
        pass
    create(uow, "after")  # no lock or transaction was left behind
    assert exists(uow, "after")


def test_a_scope_belongs_to_its_thread(uow: UnitOfWorkFactory) -> None:
    """Another thread's transactions are not joined into this thread's scope."""
    done = threading.Event()

    def elsewhere() -> None:
        create(uow, "elsewhere")
        done.set()

    with uow.scope(write=False):
        assert not exists(uow, "elsewhere")
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join(timeout=30)
    assert done.is_set()
    assert exists(uow, "elsewhere")


@contextmanager
def another_writer(uow: UnitOfWorkFactory) -> Iterator[None]:
    """A write transaction held open by another thread for the block's duration."""
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with uow(write=True):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join()


def test_a_write_that_may_not_wait_is_refused_while_another_writes(
    db: Database, uow: UnitOfWorkFactory
) -> None:
    """SQLite (and the fakes) take one writer at a time: a write asked not to wait raises
    WriteWouldWait before running anything; PostgreSQL's writers do not wait for one
    another to begin, so there it just runs."""
    ran: list[bool] = []
    with another_writer(uow):
        if db.backend == "postgresql":
            with uow(write=True, wait=False):
                ran.append(True)
            assert ran
        else:
            with pytest.raises(WriteWouldWait), uow(write=True, wait=False):
                ran.append(True)
            assert not ran
    with uow(write=True, wait=False) as tx:  # the writer is gone: no waiting needed
        project = tx.projects.get_project(DEFAULT_PROJECT)
        assert project is not None
        tx.registries.create_registry("after", project, NOW)
    assert exists(uow, "after")


def test_a_scope_that_may_not_wait_is_refused_at_its_first_use_while_another_writes(
    db: Database, uow: UnitOfWorkFactory
) -> None:
    if db.backend == "postgresql":
        pytest.skip("PostgreSQL's writers do not wait for one another to begin")
    with another_writer(uow), pytest.raises(WriteWouldWait), uow.scope(write=True, wait=False):
        create(uow, "refused")
    assert not exists(uow, "refused")
    with uow.scope(write=True, wait=False):
        create(uow, "later")
    assert exists(uow, "later")
