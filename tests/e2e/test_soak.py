"""The soak run in its CI size (scripts/soak runs it longer): clients pushing, pulling, listing,
deleting and starting cleanup and garbage-collection runs at once, on one node (SQLite) and on
two nodes (PostgreSQL and S3 on moto). No 5xx, every acknowledged image pulled back byte for
byte from every node, fsck clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import soak

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("nodes", [1, 2], ids=["one-node-sqlite", "two-nodes-postgresql-s3"])
def test_soak(nodes: int, tmp_path: Path) -> None:
    lines: list[str] = []
    verdict = soak.run(soak.SoakOptions(clients=4, seconds=15, nodes=nodes), tmp_path, lines.append)
    soak.report(verdict, lines.append)
    print("\n".join(lines))
    assert verdict.passed, "\n".join(lines)
    assert verdict.acknowledged > 0
    assert verdict.requests > 0
