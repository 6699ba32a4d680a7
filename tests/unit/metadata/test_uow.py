from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from moorage.metadata.uow import create_metadata_engine

SQLITE_SYNCHRONOUS = {"NORMAL": 1, "FULL": 2}


@pytest.mark.parametrize("level", ["NORMAL", "FULL"])
def test_sqlite_runs_in_wal_mode_with_the_chosen_durability(tmp_path: Path, level: str) -> None:
    engine = create_metadata_engine(f"sqlite:///{tmp_path / 'm.db'}", level.lower())
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == SQLITE_SYNCHRONOUS[level]
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        create_metadata_engine(f"sqlite:///{tmp_path / 'm.db'}", "off")
