"""Erasure is verified, not assumed (okeios._internal.publish.erasure): the erased record's sealed
keys, seeds, wrapped keys and sealed Type/id label must be gone from the store's live files before
`erase` says so; otherwise it says what is true and a re-run finishes the job."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from okeios._internal.cli.main import main
from okeios._internal.crypto.recipients import RecipientPrivateKey, bind_recipient_key
from okeios._internal.faults import FAULT_ENV
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.erasure import ErasurePendingError, pending_erasures
from okeios._internal.publish.store import Store
from okeios._internal.publish.tables import StoreError
from okeios.errors import AccessError
from tests.helpers import CountingRng

PATIENT = {"resourceType": "Patient", "id": "p-erase", "name": [{"family": "Doe"}]}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.init(tmp_path / "home", key=CountingRng(b"erasure")(32)) as s:
        yield s


def _secrets(store: Store, record_id: bytes) -> list[bytes]:
    """The record's secret blobs, read straight from the tables (independently of the code
    under test): sealed data keys and seeds, wrapped keys, the sealed Type/id label."""
    out = []
    for key, seed in store.db.execute(
        "SELECT data_key, seed FROM versions WHERE record_id = ?", (record_id,)
    ):
        out += [bytes(key), bytes(seed)]
    out += [
        bytes(w)
        for (w,) in store.db.execute("SELECT wrapped FROM grants WHERE record_id = ?", (record_id,))
    ]
    (label,) = store.db.one("SELECT label FROM resources WHERE record_id = ?", (record_id,))
    return [*out, bytes(label)]


def _live_bytes(store: Store) -> bytes:
    """Every byte of the store's live files: SQLite's database and WAL, or the PostgreSQL
    key tables' files (the test server's role may read server files)."""
    if not store.is_postgres:
        path = Path(store.db.path)
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    data = b""
    for table in ("versions", "grants", "resources"):
        (path,) = store.db.one("SELECT pg_relation_filepath(?)", (table,))
        (raw,) = store.db.one("SELECT pg_read_binary_file(?)", (path,))
        data += bytes(raw)
    return data


def _record_with_grant(store: Store) -> bytes:
    (put,) = store.put([PATIENT])
    store.put([{**PATIENT, "name": [{"family": "Doe", "given": ["J"]}]}])  # a second version
    key = RecipientPrivateKey.generate()
    binding = bind_recipient_key(key.public_key(), LocalSigner.generate())
    store.access.grant(put.resource or "", binding, purpose="care")
    if store.is_postgres:
        store.db.execute("CHECKPOINT")  # the rows reach the table files
    else:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return put.record_id


def test_erased_secrets_are_gone_from_the_live_files(store: Store) -> None:
    """On PostgreSQL the sealed Type/id label stayed in the `resources` table file (only
    versions and grants were vacuumed), and a plain VACUUM leaves dead rows' bytes in the
    page; on both backends the erasure now checks the bytes are gone."""
    record_id = _record_with_grant(store)
    blobs = _secrets(store, record_id)
    assert len(blobs) == 6
    before = _live_bytes(store)
    assert all(b in before for b in blobs)  # the check below can fail
    store.access.erase("0x" + record_id.hex(), purpose="patient request")
    if store.is_postgres:
        store.db.execute("CHECKPOINT")
    after = _live_bytes(store)
    assert [b for b in blobs if b in after] == []
    assert store.access.last_purge is not None
    assert pending_erasures(store) == []
    assert store.check() == []
    with pytest.raises(AccessError, match="erased already"):
        store.access.erase("0x" + record_id.hex())


@pytest.mark.sqlite_only
def test_erase_while_a_reader_holds_a_read_transaction(store: Store) -> None:
    """A reader holding a read transaction (a service exporting) made erase wait about 60 s
    and then say "erased" while the sealed key was still in store.sqlite. Now it says the
    erasure is pending (and that is true), and a re-run after the reader ends finishes."""
    record_id = _record_with_grant(store)
    blobs = _secrets(store, record_id)
    reader = sqlite3.connect(store.db.path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM versions").fetchone()
        with pytest.raises(ErasurePendingError, match="holds a read transaction"):
            store.access.erase("0x" + record_id.hex(), wait=0.3)
        assert any(b in _live_bytes(store) for b in blobs)  # what it said is true
        assert pending_erasures(store) == [record_id]
        assert any("not verified on disk" in p for p in store.check())
    finally:
        reader.close()
    logged = store.access.erase("0x" + record_id.hex())  # the re-run finishes the job
    assert logged.signed.event.kind == "erase"
    assert [b for b in blobs if b in _live_bytes(store)] == []
    assert pending_erasures(store) == []
    assert store.check() == []
    kinds = [e["kind"] for e in store.history("0x" + record_id.hex())]
    assert kinds == ["create", "amend", "grant", "erase"]  # one ERASE, not two


def test_erase_on_a_full_disk_says_so_and_a_rerun_finishes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Erase on a full disk committed, then failed in the checkpoint with a traceback (exit
    1), and a re-run said "erased already" with the bytes still there."""
    record_id = _record_with_grant(store)
    blobs = _secrets(store, record_id)
    monkeypatch.setenv(FAULT_ENV, "erase-purge:enospc")
    with pytest.raises(ErasurePendingError, match="the disk is full") as info:
        store.access.erase("0x" + record_id.hex())
    assert "the erasure is logged" in str(info.value)
    assert "erase 0x" in str(info.value)
    monkeypatch.delenv(FAULT_ENV)
    store.access.erase("0x" + record_id.hex())
    assert [b for b in blobs if b in _live_bytes(store)] == []
    assert store.check() == []


def test_erase_from_the_command_line_on_a_full_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--no-passphrase"]) == 0
    record = tmp_path / "p.json"
    record.write_text(json.dumps(PATIENT))
    capsys.readouterr()
    assert main(["add", "--home", str(home), str(record)]) == 0
    rid = capsys.readouterr().out.split()[0]
    monkeypatch.setenv(FAULT_ENV, "erase-purge:enospc")
    assert main(["erase", rid, "--yes", "--home", str(home)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "ErasurePendingError" in err
    assert "Traceback" not in err
    monkeypatch.delenv(FAULT_ENV)
    assert main(["check", "--home", str(home)]) == 1  # the pending erasure is a problem
    assert "not verified on disk" in capsys.readouterr().out
    assert main(["erase", rid, "--yes", "--home", str(home)]) == 0
    assert "verified gone" in capsys.readouterr().out
    assert main(["check", "--home", str(home)]) == 0


def test_a_writer_role_without_vacuum_rights_is_refused_before_logging(
    store_backend: str, tmp_path: Path
) -> None:
    """The documented writer role (SELECT, INSERT, UPDATE, DELETE) could not VACUUM: the
    server skipped it with a WARNING, erase said success, and the home's master key still
    opened the erased record from the table file. Now it is refused, naming the privilege,
    before anything is logged."""
    if store_backend == "sqlite":
        pytest.skip("PostgreSQL roles only")
    import psycopg

    from tests.pg import with_schema

    home = tmp_path / "home"
    with Store.init(home) as owner:
        (put,) = owner.put([PATIENT])
        schema = owner.db.conn.schema  # type: ignore[attr-defined]
        url = owner.db.url  # type: ignore[attr-defined]
    role = "w_" + secrets.token_hex(4)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        admin.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
        )
    try:
        writer_url = with_schema(url.split("?")[0].replace("okeios@", f"{role}@"), schema)
        (home / "database.url").write_text(writer_url)
        with Store.open(home) as writer:
            size = writer.size
            with pytest.raises(StoreError, match=f"GRANT MAINTAIN ON .* TO {role}"):
                writer.access.erase("0x" + put.record_id.hex())
            assert writer.size == size
            assert not writer.is_erased(put.record_id)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_erase_while_a_postgresql_session_reads_the_key_tables(
    store_backend: str, tmp_path: Path
) -> None:
    """On PostgreSQL a session inside a transaction that read the key tables holds a lock
    VACUUM FULL must wait for: the erasure is pending (said so, within the wait), and erase
    again after that session ends finishes it."""
    if store_backend == "sqlite":
        pytest.skip("the SQLite reader is tested above")
    import psycopg

    with Store.init(tmp_path / "home") as store:
        record_id = _record_with_grant(store)
        blobs = _secrets(store, record_id)
        with psycopg.connect(store.db.url) as reader:  # type: ignore[attr-defined]
            reader.execute("SELECT COUNT(*) FROM versions").fetchone()  # a transaction is open
            started = time.monotonic()
            with pytest.raises(ErasurePendingError, match="other sessions hold the key tables"):
                store.access.erase("0x" + record_id.hex(), wait=0.5)
            assert time.monotonic() - started < 5
            assert pending_erasures(store) == [record_id]
        store.access.erase("0x" + record_id.hex())
        store.db.execute("CHECKPOINT")
        assert [b for b in blobs if b in _live_bytes(store)] == []
        assert pending_erasures(store) == []


@pytest.mark.sqlite_only
def test_the_file_scan_finds_a_blob_across_a_chunk_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from okeios._internal.publish import erasure

    blob = bytes(range(60))
    path = tmp_path / "f"
    prints = [erasure.Fingerprint.of(blob)]
    monkeypatch.setattr(erasure, "_CHUNK", 64)
    for at in range(0, 200, 7):
        path.write_bytes(b"\0" * at + blob + b"\0" * 50)
        assert erasure._file_holds(path, prints), at
    path.write_bytes(b"\0" * 100 + blob[:59] + b"\1" + b"\0" * 100)
    assert not erasure._file_holds(path, prints)
