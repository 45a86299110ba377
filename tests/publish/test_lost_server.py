"""A PostgreSQL server lost in the middle of a write: what was acknowledged is kept, the
message says what happened in one line (exit 2), and running the command again finishes the
job."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.cli.main import main
from okeios._internal.publish.postgres import PgConnection
from tests.pg import fresh_schema

OBS = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}}


def _terminate(pid: int, url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _die_at(monkeypatch: pytest.MonkeyPatch, url: str, when: Callable[[str], bool]) -> list[str]:
    """Terminate the store's server connection just before the first statement ``when``
    selects (as if the server died there)."""
    original, original_many = PgConnection.execute, PgConnection.executemany
    hit: list[str] = []

    def _maybe_die(self: PgConnection, sql: str) -> None:
        if not hit and when(sql):
            hit.append(sql)
            _terminate(self._conn.info.backend_pid, url)

    def execute(self: PgConnection, sql: str, args: Any = ()) -> Any:
        _maybe_die(self, sql)
        return original(self, sql, args)

    def executemany(self: PgConnection, sql: str, seq: Any) -> Any:
        _maybe_die(self, sql)  # rows written in one batch die the same way
        return original_many(self, sql, seq)

    monkeypatch.setattr(PgConnection, "execute", execute)
    monkeypatch.setattr(PgConnection, "executemany", executemany)
    return hit


@pytest.mark.parametrize(
    "step", ["INSERT INTO events", "INSERT OR REPLACE INTO resources", "COMMIT", "BEGIN"]
)
def test_a_lost_postgresql_server_is_one_line_and_exit_2(
    step: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server dying mid-write gave `sqlite3.OperationalError: the connection is closed`
    with a traceback and exit 1 (the rollback met the dead connection). It is a StoreError,
    exit 2, one line; a re-run finishes the job and the store checks."""
    record = tmp_path / "o1.json"
    record.write_text(json.dumps(OBS))
    with fresh_schema() as url:
        home = tmp_path / "home"
        assert main(["init", "--home", str(home), "--no-passphrase", "--database", url]) == 0
        capsys.readouterr()
        with monkeypatch.context() as patch:
            hit = _die_at(patch, url, lambda sql: sql.lstrip().startswith(step))
            code = main(["add", "--home", str(home), str(record)])
        err = capsys.readouterr().err
        assert hit
        assert code == 2, err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert lines[0].startswith("okeios: error: StoreError: lost the connection"), err
        assert "sqlite3" not in err
        # Running it again finishes the job: one record, whatever the commit's fate.
        assert main(["add", "--home", str(home), str(record)]) == 0
        assert main(["check", "--home", str(home)]) == 0
        from okeios._internal.publish.store import Store

        with Store.open(home) as store:
            assert len(store.record_ids()) == 1
