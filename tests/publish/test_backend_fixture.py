"""The backend parametrisation of this folder really switches the backend: a test that uses a
Store without naming ``store_backend`` still runs its ``[postgresql]`` variant on PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from okeios._internal.publish.postgres import PgDatabase
from okeios._internal.publish.store import DATABASE_ENV, Store


def test_each_variant_opens_its_own_backend(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    backend = request.node.callspec.params["store_backend"]
    with Store.init(tmp_path / "home") as store:
        on_postgres = isinstance(store.db, PgDatabase)
    assert on_postgres == (backend == "postgresql")
    assert (DATABASE_ENV in os.environ) == (backend == "postgresql")
