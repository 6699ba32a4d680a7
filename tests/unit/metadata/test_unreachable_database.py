"""A database that cannot be reached (down, restarting) is the store being busy for a moment
(503 with Retry-After to clients), not a server error."""

from __future__ import annotations

import pytest

from moorage.domain.kernel.errors import Busy
from moorage.metadata.uow import SqlUnitOfWork, create_metadata_engine
from tests.support.server import free_port


@pytest.mark.parametrize("write", [False, True])
def test_an_unreachable_database_is_busy(write: bool) -> None:
    engine = create_metadata_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
    try:
        with pytest.raises(Busy, match="cannot be reached"), SqlUnitOfWork(engine)(write=write):
            pass
    finally:
        engine.dispose()
