"""`moorage replication`: how a rule is found from what the user typed, and how a rule's
remote and filters read in the table."""

from __future__ import annotations

from typing import Any

import pytest

from moorage.cli.replication import _filters, _remote, find_rule
from moorage.domain.kernel.errors import NotFound


class Rules:
    """Only what `find_rule` asks: the registry's rules."""

    def __init__(self, *rules: dict[str, Any]) -> None:
        self._rules = list(rules)

    def rules(self, registry: str) -> list[dict[str, Any]]:
        return self._rules


def test_a_rule_is_found_by_name_before_id() -> None:
    first, named_2 = {"id": 2, "name": "to-jp1"}, {"id": 7, "name": "2"}
    rules: Any = Rules(first, named_2)
    assert find_rule(rules, "reg", "to-jp1") is first
    assert find_rule(rules, "reg", "2") is named_2  # a rule may be named like an id
    assert find_rule(rules, "reg", "7") is named_2


def test_a_missing_rule_is_not_found() -> None:
    rules: Any = Rules({"id": 1, "name": "a"})
    with pytest.raises(NotFound, match="registry 'reg' has no replication rule 'b'"):
        find_rule(rules, "reg", "b")


def test_remote_and_filters_in_words() -> None:
    rule = {
        "remote": {"url": "https://jp1.example.com", "registry": "team"},
        "filters": {
            "image": {"pattern": "app/**", "include": True},
            "tag": {"pattern": "*-rc", "include": False},
        },
    }
    assert _remote(rule) == "https://jp1.example.com/team"
    assert _remote({"remote": {"url": "https://jp1.example.com", "registry": ""}}) == (
        "https://jp1.example.com"
    )
    assert _filters(rule["filters"]) == "image app/**, tag not *-rc"
