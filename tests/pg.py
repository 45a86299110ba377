"""A PostgreSQL server for the tests: ``$OKEIOS_TEST_POSTGRES_URL`` (``scripts/test`` starts
one with ``scripts/postgres``). Each test gets a schema of its own on it, dropped afterwards.

Without the variable the PostgreSQL variants skip with a message; under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest

URL_ENV = "OKEIOS_TEST_POSTGRES_URL"


def server_url() -> str:
    url = os.environ.get(URL_ENV)
    if not url:
        message = f"no PostgreSQL server for the tests (set {URL_ENV}; scripts/test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


def with_schema(url: str, schema: str) -> str:
    """``url`` with its search_path set to ``schema`` (a libpq ``options`` parameter)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote('-csearch_path=' + schema)}"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """The URL of a new, empty schema on the test server; dropped with everything in it."""
    import psycopg

    url = server_url()
    schema = "t_" + secrets.token_hex(6)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_schema(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
