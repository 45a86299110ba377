"""The files of a store's home: the master key, the sealed publisher key, the database or its
URL, and the locks every process shares (the layout is in :mod:`okeios._internal.publish.store`).

Kept apart from :class:`~okeios._internal.publish.store.Store` so the store's class holds its
lifecycle (which files are read when, and in which order a key rotation replaces them) and not the
details of each file: how a key is protected, where a staged key waits, what a database URL
file may hold, how a new database gets its schema, how an old one is upgraded and how its rows
name the master key they are sealed under (:func:`check_master`).
"""

from __future__ import annotations

import hmac
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path

from okeios._internal.crypto.keyfile import (
    protect_secret,
    protect_secret_with_key,
    unprotect_secret,
    unprotect_secret_with_key,
)
from okeios._internal.files import write_atomic
from okeios._internal.protocol.merkle import leaf_hash
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.postgres import PgDatabase, is_database_url
from okeios._internal.publish.tables import (
    MIGRATE_1_TO_2,
    MIGRATE_2_TO_3,
    SCHEMA,
    SCHEMA_VERSION,
    Database,
    Nodes,
    StoreError,
)
from okeios._internal.publish.tree import StoredTree
from okeios.errors import MasterKeyMismatchError

__all__ = [
    "DATABASE_ENV",
    "DB_NAME",
    "KEYFILE_NAME",
    "KEY_NAME",
    "MASTER_CHECK",
    "MASTER_NAME",
    "PASSPHRASE_ENV",
    "URL_NAME",
    "check_master",
    "create_schema",
    "home_lock",
    "master_check",
    "migrate",
    "open_database",
    "read_keys",
    "retire_key",
    "retired_keys",
    "stage_publisher_key",
    "staged_key",
    "swap_staged_key",
    "write_keys",
]

DB_NAME = "store.sqlite"
KEY_NAME = "publisher.key"
STAGED_KEY_NAME = KEY_NAME + ".next"  # a rotated key, written before the handover is logged
RETIRED_DIR = "retired-keys"  # every key that held the log (or was staged and abandoned), sealed
MASTER_NAME = "master.key"
KEYFILE_NAME = "store.keyfile"
PASSPHRASE_ENV = "OKEIOS_PASSPHRASE"
URL_NAME = "database.url"  # the store's PostgreSQL URL, when it lives on a server
DATABASE_ENV = "OKEIOS_DATABASE"


@contextmanager
def home_lock(home: Path, name: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``home/NAME.lock``, shared by every process."""
    import fcntl

    fd = os.open(home / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_keys(
    path: Path,
    signer: LocalSigner,
    master: bytes,
    passphrase: str | None,
    rng: Callable[[int], bytes],
) -> None:
    """Write a new home's master key (under ``passphrase``, else ``$OKEIOS_PASSPHRASE``, with
    Argon2id; with neither, under a random key file beside it) and its publisher key, sealed
    under the master key. Every file mode 0600."""
    passphrase = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV)
    if passphrase:
        protected = protect_secret(master, passphrase, rng=rng)
    else:
        keyfile = rng(32)
        write_atomic(path / KEYFILE_NAME, keyfile, private=True)
        protected = protect_secret_with_key(master, keyfile, rng=rng)
    write_atomic(path / MASTER_NAME, protected, private=True)
    write_atomic(
        path / KEY_NAME,
        protect_secret_with_key(signer.private_key, master, rng=rng),
        private=True,
    )


def read_keys(path: Path, passphrase: str | None) -> tuple[bytes, LocalSigner]:
    """The master key and the publisher key of the home at ``path`` (the passphrase, if the
    master key has one, from the argument or ``$OKEIOS_PASSPHRASE``)."""
    try:
        protected = (path / MASTER_NAME).read_bytes()
        keyfile = (path / KEYFILE_NAME).read_bytes() if (path / KEYFILE_NAME).exists() else None
        sealed_key = (path / KEY_NAME).read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read the keys of the store in {path}: {exc}") from exc
    if keyfile is not None:
        master = unprotect_secret_with_key(protected, keyfile)
    else:
        passphrase = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV)
        if not passphrase:
            raise StoreError(
                f"the store in {path} is protected by a passphrase: set {PASSPHRASE_ENV}"
            )
        master = unprotect_secret(protected, passphrase)
    return master, LocalSigner.from_key(unprotect_secret_with_key(sealed_key, master))


def open_database(path: Path) -> Database:
    """The home's database: on the server ``database.url`` names, else ``store.sqlite``."""
    url_file = path / URL_NAME
    if not url_file.exists():
        return Database(path / DB_NAME)
    try:
        url = url_file.read_text("utf-8").strip()
    except OSError as exc:
        raise StoreError(f"cannot read {url_file}: {exc}") from exc
    if not is_database_url(url):
        raise StoreError(f"{url_file} does not hold a postgresql:// URL")
    return PgDatabase(url, url_file)


def stage_publisher_key(
    home: Path, signer: LocalSigner, master: bytes, rng: Callable[[int], bytes]
) -> None:
    """Write a new publisher key, sealed, beside the current one (before a handover is
    logged, so a crash leaves a home that reopens with whichever key the store names)."""
    sealed = protect_secret_with_key(signer.private_key, master, rng=rng)
    write_atomic(home / STAGED_KEY_NAME, sealed, private=True)


def swap_staged_key(home: Path) -> None:
    """Move the staged publisher key in place of the current one. The current one must have
    been kept in ``retired-keys/`` first (:func:`retire_key`): a key is never lost."""
    current = home / KEY_NAME
    if current.exists():
        sealed = current.read_bytes()
        # read the address back without the master key: the retired copy is named by the
        # caller (retire_key) before the swap; refuse to drop a key that has no copy there
        if not any(p.read_bytes() == sealed for p in _retired_files(home)):
            raise StoreError(
                f"refusing to replace {current}: it is not kept in {home / RETIRED_DIR} yet"
            )
    os.replace(home / STAGED_KEY_NAME, current)


def _retired_files(home: Path) -> list[Path]:
    folder = home / RETIRED_DIR
    return sorted(folder.glob("*.key")) if folder.is_dir() else []


def retire_key(home: Path, address: str, sealed: bytes, *, state: str = "retired") -> Path:
    """Keep a sealed key in ``retired-keys/ADDRESS.STATE.key`` (``retired``: it held the log;
    ``abandoned``: staged for a rotation that was rolled back). Written once; never replaced."""
    from okeios._internal.files import private_dir

    folder = home / RETIRED_DIR
    private_dir(folder)
    path = folder / f"{address}.{state}.key"
    if not path.exists():
        write_atomic(path, sealed, private=True)
    return path


def retired_keys(home: Path, master: bytes) -> dict[str, tuple[str, LocalSigner]]:
    """Every key kept in ``retired-keys/``: address -> (state, key)."""
    out: dict[str, tuple[str, LocalSigner]] = {}
    for path in _retired_files(home):
        address, state, _ = path.name.split(".", 2)
        out[address] = (
            state,
            LocalSigner.from_key(unprotect_secret_with_key(path.read_bytes(), master)),
        )
    return out


def staged_key(home: Path, master: bytes) -> LocalSigner | None:
    """The staged publisher key, if a rotation left one."""
    staged = home / STAGED_KEY_NAME
    if not staged.exists():
        return None
    return LocalSigner.from_key(unprotect_secret_with_key(staged.read_bytes(), master))


# -- the database: its schema and the master key its rows are sealed under -------------------

MASTER_CHECK = "master_check"  # meta row: HMAC of a fixed label under the store's master key
_MASTER_MISMATCH = (
    "the rows of the store at {where} are sealed under another master key than this home's "
    "(two homes, one database?): refused before anything was written"
)


def master_check(master: bytes) -> str:
    """What the ``master_check`` meta row holds for ``master``: it names the master key
    without revealing it (an HMAC of a fixed label)."""
    return hmac.new(master, b"okeios/store/master-check/v1\x00", sha256).hexdigest()


def create_schema(conn: sqlite3.Connection, log_name: str, publisher: str, master: bytes) -> None:
    """Make the tables of a new store and its ``meta`` rows (in the transaction of ``conn``)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [
            ("schema", str(SCHEMA_VERSION)),
            ("log_name", log_name),
            ("publisher", publisher),
            (MASTER_CHECK, master_check(master)),
        ],
    )


def check_master(db: Database, master: bytes, stored: str | None) -> None:
    """Refuse a master key the rows are not sealed under (:class:`MasterKeyMismatchError`).
    A store made before the ``master_check`` row gets it here, once one of its sealed rows
    (a resource label, else a version's data key) is shown to open under ``master``."""
    if stored is not None:
        if not hmac.compare_digest(stored, master_check(master)):
            raise MasterKeyMismatchError(_MASTER_MISMATCH.format(where=db.path))
        return
    from okeios._internal.crypto.payload import open_payload, payload_aad
    from okeios.errors import CryptoError

    try:
        row = db.one("SELECT record_id, label FROM resources LIMIT 1")
        if row is not None:
            rid = bytes(row[0])
            open_payload(master, bytes(row[1]), aad=b"okeios/store/resource-label/v1\x00" + rid)
        else:
            row = db.one(
                "SELECT record_id, version, data_key FROM versions WHERE data_key IS NOT NULL"
                " LIMIT 1"
            )
            if row is not None:
                aad = b"okeios/store/data-key/v1\x00" + payload_aad(bytes(row[0]), int(row[1]))
                open_payload(master, bytes(row[2]), aad=aad)
    except CryptoError:
        raise MasterKeyMismatchError(_MASTER_MISMATCH.format(where=db.path)) from None
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO meta SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = ?)",
            (MASTER_CHECK, master_check(master), MASTER_CHECK),
        )


def migrate(db: Database) -> None:
    """Upgrade a schema 1 or 2 store in place (once, in one transaction: a store killed half
    way is left as it was and upgrades on its next open). From 1: build the stored Merkle tree
    from the events, add the new columns, indexes and tables; from 2: give each resource row
    its record's first log index (:data:`~okeios._internal.publish.tables.MIGRATE_2_TO_3`)."""
    with db.transaction() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row[0] not in ("1", "2"):
            return  # another process upgraded it first
        if row[0] == "1":
            for statement in MIGRATE_1_TO_2.split(";"):
                if statement.strip():
                    conn.execute(statement)
            tree = StoredTree(Nodes(db))
            batch: list[bytes] = []
            for event_id, signature in conn.execute(
                "SELECT event_id, signature FROM events ORDER BY idx"
            ).fetchall():
                batch.append(leaf_hash(bytes(event_id) + bytes(signature)))
            tree.append_leaf_hashes(batch)
        for statement in MIGRATE_2_TO_3.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
