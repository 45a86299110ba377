"""The store suite runs on both backends: every test of this folder that uses a
:class:`~okeios._internal.publish.store.Store` runs once on SQLite and once on PostgreSQL (a schema
of its own on ``$OKEIOS_TEST_POSTGRES_URL``, handed to ``Store.init`` through
``$OKEIOS_DATABASE``; processes the test starts inherit it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from okeios._internal.publish.store import DATABASE_ENV
from tests.pg import fresh_schema

BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "Store" in vars(metafunc.module) and "store_backend" not in metafunc.fixturenames:
        metafunc.fixturenames.append("store_backend")
    if "store_backend" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize(
            "store_backend", BACKENDS[:1] if only_sqlite else BACKENDS, indirect=True
        )


@pytest.fixture(autouse=True)
def _store_backend_set_up(request: pytest.FixtureRequest) -> None:
    """Set up the backend of a test that was parametrised with it without asking for it by
    name (a fixture name added in ``pytest_generate_tests`` gets its parameter, not its set-up:
    without this, every ``[postgresql]`` variant would quietly run on SQLite)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and "store_backend" in callspec.params:
        request.getfixturevalue("store_backend")


@pytest.fixture
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        monkeypatch.delenv(DATABASE_ENV, raising=False)
        yield "sqlite"
        return
    with fresh_schema() as url:
        monkeypatch.setenv(DATABASE_ENV, url)
        yield url
