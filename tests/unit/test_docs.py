"""The operators' guide keeps up with the settings: every key of `Settings` is documented."""

from __future__ import annotations

from pathlib import Path

import moorage
from moorage.config import Settings

OPERATORS = Path(moorage.__file__).parents[2] / "docs" / "operators.md"


def test_every_setting_is_in_the_operators_guide() -> None:
    guide = OPERATORS.read_text()
    missing = [name for name in Settings.declared() if f"`{name}`" not in guide]
    assert not missing, f"docs/operators.md does not document {missing}"
