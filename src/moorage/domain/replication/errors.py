"""Errors of replication: unknown rules and runs, invalid rules, a run already under way."""

from __future__ import annotations

from moorage.domain.kernel.errors import AlreadyExists, Conflict, InvalidParameter, NotFound


class RuleNotFound(NotFound):
    def __init__(self, rule_id: int) -> None:
        super().__init__(f"replication rule {rule_id} does not exist in this registry")
        self.rule_id = rule_id


class RunNotFound(NotFound):
    def __init__(self, run_id: int) -> None:
        super().__init__(f"replication run {run_id} does not exist in this registry")
        self.run_id = run_id


class InvalidRule(InvalidParameter):
    """A rule field that breaks a rule; `parameter` names the field (`remote.url`,
    `filters.image.pattern`, `cron`, ...) as the REST body spells it."""


class RuleNameTaken(AlreadyExists):
    def __init__(self, name: str) -> None:
        super().__init__(f"a replication rule named {name!r} already exists in this registry")
        self.name = name


class RunActive(Conflict):
    """A rule's run is pending or running: a second one, or deleting the rule, must wait."""

    def __init__(self, run_id: int, status: str) -> None:
        super().__init__(f"replication run {run_id} of this rule is still {status}")
        self.run_id = run_id
