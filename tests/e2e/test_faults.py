"""The fault run in its CI size (scripts/faults runs 200 kills): SIGKILLs at random points of
pushes, deletes, cleanup and garbage-collection runs; a private PostgreSQL restarted under
load; a data directory on a small disk that fills up. Nothing acknowledged is lost, fsck is
clean, interrupted runs finish, and no request is answered 500."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import faults
from tests.support.cluster import PrivatePostgres

pytestmark = pytest.mark.e2e

Phase = Callable[[faults.FaultOptions, Path, faults.FaultVerdict, faults.Log], None]


def run_phase(phase: Phase, options: faults.FaultOptions, tmp_path: Path) -> faults.FaultVerdict:
    lines: list[str] = []
    verdict = faults.FaultVerdict(options)
    phase(options, tmp_path, verdict, lines.append)
    faults.report(verdict, lines.append)
    print("\n".join(lines))
    assert verdict.passed, "\n".join(lines)
    return verdict


def test_kills_lose_nothing_and_interrupted_runs_finish(tmp_path: Path) -> None:
    verdict = run_phase(faults.kill_rounds, faults.FaultOptions(kills=20), tmp_path)
    assert sum(verdict.kills.values()) == 20
    assert verdict.acknowledged > 0


def test_postgresql_restarted_under_load(tmp_path: Path) -> None:
    if missing := PrivatePostgres.available():
        pytest.skip(f"no private PostgreSQL server can be made here: {missing}")
    verdict = run_phase(
        faults.postgres_restarts, faults.FaultOptions(postgres_restarts=2), tmp_path
    )
    assert verdict.postgres_restarts == 2
    assert set(verdict.statuses_while_down) <= {503}


def test_a_full_disk(tmp_path: Path) -> None:
    verdict = run_phase(faults.full_disk, faults.FaultOptions(), tmp_path)
    if verdict.full_disk.startswith("skipped"):
        pytest.skip(f"no small disk could be mounted: {verdict.full_disk}")
    assert verdict.full_disk.startswith("PASS"), verdict.full_disk
