"""Contract of the audit log's role (`AuditLog`), on SQLite, PostgreSQL and the in-memory
fakes: appended entries come back whole, newest first, filtered and paged; the purge takes
the oldest first, in batches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from moorage.domain.audit.model import AuditQuery, NewAuditEntry, Result
from moorage.domain.ports import UnitOfWorkFactory
from tests.contract.backends import Database
from tests.contract.test_metadata import T0, T1, T2


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


def entry(resource: str = "reg/app:v1", **changes: object) -> NewAuditEntry:
    values: dict[str, object] = {
        "operation": "push",
        "resource_type": "tag",
        "resource": resource,
        "result": Result.SUCCESS,
        "username": "alice",
        **changes,
    }
    return NewAuditEntry(**values)  # type: ignore[arg-type]


def listed(
    uow: UnitOfWorkFactory, query: AuditQuery, offset: int = 0, limit: int = 50
) -> list[str]:
    with uow() as tx:
        entries, _ = tx.audit.list_entries(query, offset, limit)
    return [e.entry.resource for e in entries]


def test_an_entry_comes_back_whole(uow: UnitOfWorkFactory) -> None:
    full = entry(
        access_key="AKEXAMPLE",
        client="192.0.2.7",
        status=201,
        request_id="req-1",
        detail="sha256:abc",
    )
    with uow(write=True) as tx:
        new_id = tx.audit.append(full, T0)
    with uow() as tx:
        [found], total = tx.audit.list_entries(AuditQuery(), 0, 10)
    assert (found.id, found.occurred_at, found.entry, total) == (new_id, T0, full, 1)


def test_newest_first_and_paged(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as tx:
        for n in range(5):
            tx.audit.append(entry(f"reg/app:v{n}"), T0 + timedelta(seconds=n))
    assert listed(uow, AuditQuery()) == [f"reg/app:v{n}" for n in (4, 3, 2, 1, 0)]
    assert listed(uow, AuditQuery(), offset=1, limit=2) == ["reg/app:v3", "reg/app:v2"]
    with uow() as tx:
        assert tx.audit.list_entries(AuditQuery(), 4, 2)[1] == 5


def test_filters_all_apply(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as tx:
        tx.audit.append(entry("reg/app:v1"), T0)
        tx.audit.append(entry("reg/app_x:v1", username="bob"), T1)
        tx.audit.append(entry("other", operation="delete", resource_type="registry"), T1)
        tx.audit.append(entry("reg/app:v2", result=Result.DENIED, status=403), T2)
    assert listed(uow, AuditQuery(username="bob")) == ["reg/app_x:v1"]
    assert listed(uow, AuditQuery(operation="delete")) == ["other"]
    assert listed(uow, AuditQuery(resource_type="registry")) == ["other"]
    assert listed(uow, AuditQuery(result="denied")) == ["reg/app:v2"]
    assert listed(uow, AuditQuery(resource="reg/app:")) == ["reg/app:v2", "reg/app:v1"]
    # A prefix is taken literally: `_` and `%` are no wildcards.
    assert listed(uow, AuditQuery(resource="reg/app_")) == ["reg/app_x:v1"]
    assert listed(uow, AuditQuery(resource="reg/%")) == []
    assert listed(uow, AuditQuery(since=T1)) == ["reg/app:v2", "other", "reg/app_x:v1"]
    assert listed(uow, AuditQuery(until=T1)) == ["reg/app:v1"]
    assert listed(uow, AuditQuery(since=T1, until=T2, username="alice")) == ["other"]


def test_the_purge_takes_the_oldest_before_the_cutoff_in_batches(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as tx:
        for n in range(5):
            tx.audit.append(entry(f"r{n}"), T0 + timedelta(days=n))
    with uow(write=True) as tx:
        assert tx.audit.purge_before(T0 + timedelta(days=3), 2) == 2
    assert listed(uow, AuditQuery()) == ["r4", "r3", "r2"]
    with uow(write=True) as tx:
        assert tx.audit.purge_before(T0 + timedelta(days=3), 2) == 1
        assert tx.audit.purge_before(T0 + timedelta(days=3), 2) == 0
    assert listed(uow, AuditQuery()) == ["r4", "r3"]


def test_a_failed_transaction_leaves_no_entry(uow: UnitOfWorkFactory) -> None:
    def failing_change() -> None:
        with uow(write=True) as tx:
            tx.audit.append(entry(), T0)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert listed(uow, AuditQuery()) == []
