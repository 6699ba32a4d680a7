"""`moorage cleanup run` says why an artifact was kept by naming the policy by what it
selects, never by its (global) id."""

from __future__ import annotations

from typing import Any

import pytest

from moorage.cli.cleanup import _why

ON_V1 = "images 'app', tags 'v1'"
KEEP_ONE = "images '**', tags '**', tagged only: keep the 1 most recently pushed"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (
            {"protected_by": 41, "protected_by_policy": ON_V1, "kept_by": []},
            f"the protection policy on {ON_V1}",
        ),
        (
            {"protected_by": None, "kept_by": [7, 9], "kept_by_policies": [KEEP_ONE, "x"]},
            f"the cleanup policy on {KEEP_ONE}; the cleanup policy on x",
        ),
        # Lines recorded before runs described their policies.
        ({"protected_by": 41, "kept_by": []}, "a protection policy"),
        ({"protected_by": None, "kept_by": [7]}, "a cleanup policy"),
        ({"protected_by": None, "kept_by": [], "error": "refused"}, "refused"),
    ],
)
def test_why_names_the_policy_by_its_selectors(line: dict[str, Any], why: str) -> None:
    assert _why(line) == why
