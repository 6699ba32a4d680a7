"""Contract of replication's rule store (`ReplicationStore`) and of what replication asks of
the shared execution history (runs linked to their rule, tasks by page), on SQLite,
PostgreSQL and the in-memory fakes."""

from __future__ import annotations

from typing import Any

import pytest

from moorage.domain.ports import Transaction, UnitOfWorkFactory
from moorage.domain.replication.errors import RuleNameTaken
from moorage.domain.replication.model import Filter, Remote
from tests.contract.backends import Database
from tests.contract.test_metadata import T0, T1, T2, create_registry

SECRET = bytes(range(256)) * 2  # every byte value: stored and read back as given


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


def values(name: str = "to-jp1", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "direction": "push",
        "url": "https://registry.jp1.example.com",
        "remote_registry": "team",
        "username": "robot",
        "secret": SECRET,
        "verify_tls": True,
        "image_pattern": "app/**",
        "image_include": True,
        "tag_pattern": "dev*",
        "tag_include": False,
        "trigger": "event",
        "cron": None,
        "override": True,
        "enabled": True,
        **changes,
    }


def registry_id(store: Transaction, name: str = "reg") -> int:
    found = store.registries.get_registry(name) or create_registry(store, name, T0)
    return found.id


def test_a_rule_is_stored_inactive_and_read_back_without_its_secret(
    uow: UnitOfWorkFactory,
) -> None:
    with uow(write=True) as store:
        rule_id = store.replication.add_rule(registry_id(store), values(), T0)
    with uow() as store:
        rule = store.replication.get_rule(rule_id)
        assert store.replication.rule_secret(rule_id) == SECRET
        assert store.replication.get_rule(rule_id + 1) is None
        assert store.replication.rule_secret(rule_id + 1) is None
    assert rule is not None
    assert (rule.registry, rule.name, rule.direction, rule.trigger) == (
        "reg",
        "to-jp1",
        "push",
        "event",
    )
    assert rule.remote == Remote(
        "https://registry.jp1.example.com", "team", "robot", has_password=True, verify_tls=True
    )
    assert (rule.image_filter, rule.tag_filter) == (Filter("app/**"), Filter("dev*", False))
    assert (rule.status, rule.last_error, rule.checked_at) == ("inactive", None, None)
    assert (rule.created_at, rule.updated_at, rule.override, rule.enabled) == (T0, T0, True, True)


def test_names_are_unique_per_registry(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        store.replication.add_rule(registry_id(store), values(), T0)
        other = store.replication.add_rule(registry_id(store, "other"), values(), T0)
        second = store.replication.add_rule(registry_id(store), values("second"), T0)
    with uow(write=True) as store, pytest.raises(RuleNameTaken):
        store.replication.add_rule(registry_id(store), values(), T1)
    with uow(write=True) as store:
        with pytest.raises(RuleNameTaken):
            store.replication.update_rule(second, {"name": "to-jp1"}, T1)
        assert store.replication.get_rule(other) is not None, "the transaction goes on"


def test_rules_list_by_page_update_and_carry_their_status(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        reg = registry_id(store)
        ids = [store.replication.add_rule(reg, values(f"r{i}"), T0) for i in range(3)]
        store.replication.add_rule(registry_id(store, "other"), values(), T0)
    with uow(write=True) as store:
        assert store.replication.update_rule(
            ids[1], {"secret": None, "cron": "0 3 * * *", "trigger": "schedule"}, T1
        )
        assert not store.replication.update_rule(ids[-1] + 100, {"enabled": False}, T1)
        assert store.replication.set_rule_status(ids[1], "inactive", "refused", T2)
        assert store.replication.set_rule_status(ids[2], "active", None, T2)
    with uow() as store:
        page, total = store.replication.list_rules(reg, 1, 5)
        assert total == 3
        assert [r.id for r in page] == ids[1:]
        changed = page[0]
        assert (changed.trigger, changed.cron, changed.updated_at) == ("schedule", "0 3 * * *", T1)
        assert not changed.remote.has_password
        assert store.replication.rule_secret(ids[1]) is None
        assert (changed.status, changed.last_error, changed.checked_at) == (
            "inactive",
            "refused",
            T2,
        )
        assert (page[1].status, page[1].last_error) == ("active", None)


def test_event_rules_are_the_enabled_push_rules_triggered_by_pushes(
    uow: UnitOfWorkFactory,
) -> None:
    with uow(write=True) as store:
        reg = registry_id(store)
        wanted = store.replication.add_rule(reg, values("wanted"), T0)
        store.replication.add_rule(reg, values("off", enabled=False), T0)
        store.replication.add_rule(reg, values("manual", trigger="manual"), T0)
        store.replication.add_rule(reg, values("pull", direction="pull"), T0)
        store.replication.add_rule(registry_id(store, "other"), values(), T0)
    with uow() as store:
        assert [r.id for r in store.replication.event_rules(reg)] == [wanted]


def test_runs_belong_to_their_rule_and_go_with_it(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        reg = registry_id(store)
        rule = store.replication.add_rule(reg, values(), T0)
        other = store.replication.add_rule(reg, values("other"), T0)
        runs = [
            store.executions.create_execution(
                "replication", reg, "manual", False, T0, rule_id=rule, status="pending"
            )
            for _ in range(3)
        ]
        elsewhere = store.executions.create_execution(
            "replication", reg, "event", False, T0, rule_id=other
        )
        for n in range(5):
            store.executions.add_execution_task(
                runs[0].id, f"app:v{n}", "succeeded", [{"message": "ok"}], None, T0, T1
            )
    assert (runs[0].rule_id, runs[0].status) == (rule, "pending")
    with uow() as store:
        page, total = store.executions.list_executions("replication", reg, 1, 1, rule_id=rule)
        assert (total, [e.id for e in page]) == (3, [runs[1].id])
        _, everything = store.executions.list_executions("replication", reg, 0, 10)
        assert everything == 4
        tasks = store.executions.list_execution_tasks(runs[0].id, 1, 2)
        assert [t.subject for t in tasks] == ["app:v1", "app:v2"]
        assert len(store.executions.list_execution_tasks(runs[0].id)) == 5
        assert store.executions.count_execution_tasks(runs[0].id) == 5
    with uow(write=True) as store:
        assert store.replication.delete_rule(rule)
        assert not store.replication.delete_rule(rule)
    with uow() as store:
        assert store.replication.get_rule(rule) is None
        assert all(store.executions.get_execution(r.id) is None for r in runs)
        assert store.executions.count_execution_tasks(runs[0].id) == 0
        assert store.executions.get_execution(elsewhere.id) is not None


def test_a_registry_takes_its_rules_with_it(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        reg = registry_id(store)
        rule = store.replication.add_rule(reg, values(), T0)
    with uow(write=True) as store:
        store.registries.delete_registry(reg)
    with uow() as store:
        assert store.replication.get_rule(rule) is None
