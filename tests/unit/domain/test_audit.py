"""The audit log's service on the in-memory fakes: recording joins the caller's scope, the
purge keeps what retention keeps, and background deletions are recorded as the system's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from moorage.domain.audit.model import SYSTEM, AuditQuery, NewAuditEntry, Result, result_of
from moorage.domain.audit.service import AuditService, RecordedRemover
from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import PageRequest
from tests.fakes.memory import migrated_memory_uow
from tests.unit.domain.test_services import FixedClock


def entry(resource: str = "reg") -> NewAuditEntry:
    return NewAuditEntry("create", "registry", resource, Result.SUCCESS, "alice")


def test_a_record_in_a_scope_is_rolled_back_with_the_change() -> None:
    uow = migrated_memory_uow()
    audit = AuditService(uow, FixedClock())

    def failing_change() -> None:
        with uow.scope(write=True):
            audit.record(entry("gone"))
            raise Conflict("the change failed")

    with pytest.raises(Conflict):
        failing_change()
    audit.record(entry("kept"))
    page = audit.list(AuditQuery(), PageRequest())
    assert [e.entry.resource for e in page.items] == ["kept"]


def test_the_purge_forgets_only_what_is_older_than_retention() -> None:
    uow = migrated_memory_uow()
    clock = FixedClock()
    audit = AuditService(uow, clock)
    for _ in range(7):  # more than one batch
        audit.record(entry("old"))
    clock.advance(timedelta(days=50))
    audit.record(entry("recent"))
    clock.advance(timedelta(days=45))
    assert audit.purge(90, batch=3) == 7
    assert [e.entry.resource for e in audit.list(AuditQuery(), PageRequest()).items] == ["recent"]


def test_results_of_statuses() -> None:
    assert [result_of(s) for s in (200, 201, 204, 401, 403, 404, 412, 500)] == [
        Result.SUCCESS,
        Result.SUCCESS,
        Result.SUCCESS,
        Result.DENIED,
        Result.DENIED,
        Result.FAILED,
        Result.FAILED,
        Result.FAILED,
    ]


class _Remover:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def delete_artifacts(
        self, repository: str, references: Sequence[str], operator: str | None = None
    ) -> None:
        if self.fail:
            raise Conflict("part of an index")


@pytest.mark.parametrize("fail", [False, True])
def test_a_background_deletion_is_recorded_as_the_systems(fail: bool) -> None:
    uow = migrated_memory_uow()
    audit = AuditService(uow, FixedClock())
    remover = RecordedRemover(_Remover(fail), audit)
    if fail:
        with pytest.raises(Conflict):
            remover.delete_artifacts("reg/app", ["sha256:a", "sha256:b"], "cleanup")
    else:
        remover.delete_artifacts("reg/app", ["sha256:a", "sha256:b"], "cleanup")
    found = [e.entry for e in audit.list(AuditQuery(), PageRequest()).items]
    assert [(e.username, e.operation, e.resource) for e in found] == [
        (SYSTEM, "delete", "reg/app@sha256:b"),
        (SYSTEM, "delete", "reg/app@sha256:a"),
    ]
    assert {e.result for e in found} == {Result.FAILED if fail else Result.SUCCESS}
    assert found[0].detail == ("by cleanup; part of an index" if fail else "by cleanup")
