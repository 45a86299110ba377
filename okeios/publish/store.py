"""The local personal data store: a publisher's log, record versions, checkpoints and the
anchoring journal, in one SQLite file under the okeios home.

Layout of a home folder (``--home``, else ``$OKEIOS_HOME``, else ``~/.okeios``)::

    store.sqlite      the database (WAL, synchronous=FULL: a committed step survives a crash);
                      record payloads only as ciphertext, keys and seeds only sealed
    master.key        the store's master key, protected by a passphrase (Argon2id) or by
    store.keyfile     this key file (mode 0600) when no passphrase is set
    publisher.key     the publisher's secp256k1 key, sealed under the master key, mode 0600
    chains/           state of the embedded chain, and registry addresses per chain

Every state change is one SQLite transaction: adding records either logs all of them or none,
and an anchoring step is journalled before any transaction is sent (``okeios.publish.anchoring``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time as _time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from okeios.crypto.keyfile import (
    protect_secret,
    protect_secret_with_key,
    unprotect_secret,
    unprotect_secret_with_key,
)
from okeios.crypto.payload import (
    new_data_key,
    open_payload,
    payload_aad,
    payload_digest,
    seal_payload,
)
from okeios.crypto.recipients import RecipientBinding, wrap_data_key
from okeios.crypto.share import Share, grant_info, seal_seed
from okeios.errors import AccessError, InputError
from okeios.protocol.bundle import AnchorRef, Bundle, Extension, InclusionProof
from okeios.protocol.canonical import JSONValue, parse_json
from okeios.protocol.events import (
    KEY_KINDS,
    Checkpoint,
    EventKind,
    SignedCheckpoint,
    SignedEvent,
    event_from_message,
)
from okeios.protocol.signing import LocalSigner, Signer, checksum_address, recover_address
from okeios.publish.publisher import MAX_TIME, LoggedEvent, Publisher

__all__ = ["JournalEntry", "Store", "StoreError", "fhir_resources", "resolve_home"]

SCHEMA_VERSION = 1
DB_NAME = "store.sqlite"
KEY_NAME = "publisher.key"
MASTER_NAME = "master.key"
KEYFILE_NAME = "store.keyfile"
PASSPHRASE_ENV = "OKEIOS_PASSPHRASE"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE versions (
    record_id BLOB NOT NULL, version INTEGER NOT NULL,
    payload BLOB NOT NULL,          -- the sealed record (AES-256-GCM under the data key)
    data_key BLOB,                  -- the data key, sealed under the store's master key
    seed BLOB,                      -- the commitment seed, sealed under the master key
    digests BLOB NOT NULL,          -- the sorted field digests (public: salted)
    erased INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (record_id, version));
CREATE TABLE recipients (address TEXT PRIMARY KEY, binding TEXT NOT NULL);
CREATE TABLE grants (
    id INTEGER PRIMARY KEY, record_id BLOB NOT NULL, version INTEGER NOT NULL,
    recipient TEXT NOT NULL, wrapped BLOB, grant_event BLOB NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, revoke_event BLOB);
CREATE TABLE events (
    idx INTEGER PRIMARY KEY, event_id BLOB NOT NULL UNIQUE, record_id BLOB NOT NULL,
    kind TEXT NOT NULL, message TEXT NOT NULL, signature BLOB NOT NULL);
CREATE INDEX events_record ON events (record_id, idx);
CREATE TABLE checkpoints (
    tree_size INTEGER PRIMARY KEY, root BLOB NOT NULL, signature BLOB NOT NULL,
    created REAL NOT NULL);
CREATE TABLE journal (
    id INTEGER PRIMARY KEY, chain_id INTEGER NOT NULL, registry TEXT NOT NULL,
    tree_size INTEGER NOT NULL, root BLOB NOT NULL, state TEXT NOT NULL,
    prev_size INTEGER, raw_tx BLOB, tx_hash BLOB, nonce INTEGER,
    block_number INTEGER, block_hash BLOB, timestamp INTEGER, error TEXT,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX journal_chain ON journal (chain_id, registry, tree_size);
"""

_JOURNAL_COLUMNS = (
    "id, chain_id, registry, tree_size, root, state, prev_size, raw_tx, tx_hash, nonce,"
    " block_number, block_hash, timestamp, error"
)
_DATA_KEY_LABEL = b"okeios/store/data-key/v1\x00"
_SEED_LABEL = b"okeios/store/seed/v1\x00"

JOURNAL_STATES = ("prepared", "sent", "mined", "final", "dropped", "failed")


class StoreError(InputError):
    """The store is missing, locked, corrupt or of an unknown version."""


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def resolve_home(home: str | Path | None = None) -> Path:
    """The okeios home: the argument, else ``$OKEIOS_HOME``, else ``~/.okeios``."""
    if home is not None:
        return Path(home).expanduser()
    env = os.environ.get("OKEIOS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".okeios"


def fhir_resources(data: bytes) -> list[bytes | JSONValue]:
    """The records in a FHIR JSON file: each ``entry[].resource`` of a Bundle, else the file."""
    value = parse_json(data)
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        entries = value.get("entry", [])
        if not isinstance(entries, list):
            raise InputError("a FHIR Bundle's entry must be an array")
        out: list[bytes | JSONValue] = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                raise InputError(f"FHIR Bundle entry {i} has no resource object")
            out.append(entry["resource"])
        return out
    if not isinstance(value, dict):
        raise InputError("a FHIR resource is a JSON object")
    return [value]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One anchoring attempt of a checkpoint on one chain and registry."""

    id: int
    chain_id: int
    registry: str
    tree_size: int
    root: bytes
    state: str
    prev_size: int | None
    raw_tx: bytes | None
    tx_hash: bytes | None
    nonce: int | None
    block_number: int | None
    block_hash: bytes | None
    timestamp: int | None
    error: str | None


class Store:
    """A publisher's persistent store. Open with :meth:`init` or :meth:`open`; close when done."""

    def __init__(
        self,
        home: Path,
        db: sqlite3.Connection,
        signer: LocalSigner,
        log_name: str,
        clock: Callable[[], float],
        master: bytes,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.home = home
        self._db = db
        self._master = master
        self._rng = rng
        self.signer = signer
        self.clock = clock
        org = db.execute("SELECT value FROM meta WHERE key = 'organisation'").fetchone()
        self.publisher = Publisher(
            signer,
            log_name=log_name,
            clock=clock,
            rng=rng,
            versions=self,
            organisation=None if org is None else str(org[0]),
        )
        leaves = [
            row[0] + row[1]
            for row in db.execute("SELECT event_id, signature FROM events ORDER BY idx")
        ]
        heads = db.execute(
            "SELECT e.record_id, e.message, e.event_id FROM events e JOIN "
            "(SELECT record_id, MAX(idx) AS idx FROM events GROUP BY record_id) h "
            "ON e.idx = h.idx"
        ).fetchall()
        self.publisher.restore_state(
            leaves, [(r, json.loads(m), eid) for r, m, eid in heads], self._load_event
        )

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        home: str | Path | None = None,
        *,
        key: bytes | None = None,
        log_name: str = "main",
        passphrase: str | None = None,
        clock: Callable[[], float] = _time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> Store:
        """Create a store, its master key and a publisher key in ``home``.

        The master key is protected by ``passphrase`` (else ``$OKEIOS_PASSPHRASE``) with
        Argon2id, or, with neither, by a random key file beside the store. An existing store
        is never overwritten.
        """
        path = resolve_home(home)
        if (path / DB_NAME).exists():
            raise StoreError(f"a store exists already in {path}")
        path.mkdir(parents=True, exist_ok=True)
        signer = LocalSigner.from_key(key) if key is not None else LocalSigner.generate(rng)
        master = rng(32)
        passphrase = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV)
        if passphrase:
            protected = protect_secret(master, passphrase, rng=rng)
        else:
            keyfile = rng(32)
            _write_private(path / KEYFILE_NAME, keyfile)
            protected = protect_secret_with_key(master, keyfile, rng=rng)
        _write_private(path / MASTER_NAME, protected)
        _write_private(
            path / KEY_NAME, protect_secret_with_key(signer.private_key, master, rng=rng)
        )
        db = cls._connect(path / DB_NAME)
        with db:
            db.executescript(_SCHEMA)
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("schema", str(SCHEMA_VERSION)),
                    ("log_name", log_name),
                    ("publisher", signer.address),
                ],
            )
        return cls(path, db, signer, log_name, clock, master, rng)

    @classmethod
    def open(
        cls,
        home: str | Path | None = None,
        *,
        passphrase: str | None = None,
        clock: Callable[[], float] = _time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> Store:
        """Open an existing store (the passphrase, if it has one, from the argument or
        ``$OKEIOS_PASSPHRASE``)."""
        path = resolve_home(home)
        if not (path / DB_NAME).exists():
            raise StoreError(f"no okeios store in {path} (run `okeios init` first)")
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
        signer = LocalSigner.from_key(unprotect_secret_with_key(sealed_key, master))
        db = cls._connect(path / DB_NAME)
        try:
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise StoreError(f"{path / DB_NAME} is damaged: {check and check[0]}")
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path / DB_NAME} is not a readable okeios store: {exc}") from exc
        if meta.get("schema") != str(SCHEMA_VERSION):
            raise StoreError(f"store schema {meta.get('schema')!r} is not supported")
        staged = path / (KEY_NAME + ".next")
        if meta.get("publisher") != signer.address and staged.exists():
            # a key rotation was committed but the new key not yet moved in place
            nxt = LocalSigner.from_key(unprotect_secret_with_key(staged.read_bytes(), master))
            if meta.get("publisher") == nxt.address:
                os.replace(staged, path / KEY_NAME)
                signer = nxt
        if meta.get("publisher") != signer.address:
            raise StoreError("the publisher key does not belong to this store")
        try:
            return cls(path, db, signer, meta["log_name"], clock, master, rng)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path / DB_NAME} is damaged: {exc}") from exc

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA secure_delete=ON")  # erased keys are overwritten on disk
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a readable okeios store: {exc}") from exc
        return db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic step; on any error the database rolls back and the log is reloaded."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            self._reload()
            raise
        else:
            self._db.execute("COMMIT")

    def _reload(self) -> None:
        fresh = Store(
            self.home,
            self._db,
            self.signer,
            self.publisher_log_name,
            self.clock,
            self._master,
            self._rng,
        )
        self.publisher = fresh.publisher
        self.publisher.versions = self

    @property
    def publisher_log_name(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'log_name'").fetchone()
        return str(row[0])

    @property
    def address(self) -> str:
        return self.signer.address

    @property
    def log_id(self) -> bytes:
        return self.publisher.log_id

    # -- VersionStore -----------------------------------------------------------------------

    def _seal(self, label: bytes, record_id: bytes, version: int, secret: bytes) -> bytes:
        aad = label + payload_aad(record_id, version)
        return seal_payload(self._master, secret, aad=aad, rng=self._rng)

    def _open(self, label: bytes, record_id: bytes, version: int, sealed: bytes) -> bytes:
        return open_payload(self._master, sealed, aad=label + payload_aad(record_id, version))

    def put_version(
        self, record_id: bytes, version: int, payload: bytes, seed: bytes, digests: Sequence[bytes]
    ) -> bytes:
        data_key = new_data_key(self._rng)
        sealed = seal_payload(data_key, payload, aad=payload_aad(record_id, version), rng=self._rng)
        self._db.execute(
            "INSERT INTO versions (record_id, version, payload, data_key, seed, digests)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                record_id,
                version,
                sealed,
                self._seal(_DATA_KEY_LABEL, record_id, version, data_key),
                self._seal(_SEED_LABEL, record_id, version, seed),
                b"".join(digests),
            ),
        )
        return payload_digest(sealed)

    def _version_row(
        self, record_id: bytes, version: int
    ) -> tuple[bytes, bytes | None, bytes | None, bytes, int]:
        row = self._db.execute(
            "SELECT payload, data_key, seed, digests, erased FROM versions"
            " WHERE record_id = ? AND version = ?",
            (record_id, version),
        ).fetchone()
        if row is None:
            raise InputError(f"record {record_id.hex()} has no stored version {version}")
        return bytes(row[0]), row[1], row[2], bytes(row[3]), int(row[4])

    def version_secrets(self, record_id: bytes, version: int) -> tuple[bytes, bytes, bytes]:
        """The sealed payload, the data key and the seed of a version (AccessError once erased)."""
        sealed, data_key, seed, _, erased = self._version_row(record_id, version)
        if erased or data_key is None or seed is None:
            raise AccessError(f"record {record_id.hex()} was erased: its keys no longer exist")
        return (
            sealed,
            self._open(_DATA_KEY_LABEL, record_id, version, bytes(data_key)),
            self._open(_SEED_LABEL, record_id, version, bytes(seed)),
        )

    def get_version(self, record_id: bytes, version: int) -> tuple[bytes, bytes]:
        sealed, data_key, seed = self.version_secrets(record_id, version)
        return open_payload(data_key, sealed, aad=payload_aad(record_id, version)), seed

    def version_digests(self, record_id: bytes, version: int) -> tuple[bytes, ...]:
        blob = self._version_row(record_id, version)[3]
        return tuple(blob[i : i + 32] for i in range(0, len(blob), 32))

    def sealed_payload(self, record_id: bytes, version: int) -> bytes:
        """The stored ciphertext of a version (it stays after erasure, unreadable)."""
        return self._version_row(record_id, version)[0]

    # -- events -----------------------------------------------------------------------------

    def _save(self, logged: LoggedEvent) -> None:
        e = logged.signed.event
        self._db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
            (
                logged.index,
                logged.id,
                e.record_id,
                str(e.kind),
                json.dumps(e.message()),
                logged.signed.signature,
            ),
        )

    def _load_event(self, event_id: bytes) -> LoggedEvent | None:
        row = self._db.execute(
            "SELECT idx, message, signature FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
        if row is None:
            return None
        return LoggedEvent(
            SignedEvent(event_from_message(json.loads(row[1])), bytes(row[2])), int(row[0])
        )

    def add(
        self,
        records: Iterable[bytes | JSONValue],
        *,
        author: Signer | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[LoggedEvent]:
        """Log each record as a new record (CREATE), all in one transaction.

        ``author`` signs the events (default: the publisher's own key).
        """
        out: list[LoggedEvent] = []
        with self.transaction():
            for record in records:
                logged = self.publisher.create(record, author=author)
                self._save(logged)
                out.append(logged)
                if progress is not None:
                    progress(1)
        return out

    def record_ids(self) -> list[bytes]:
        """Every record id, in the order the records were first logged."""
        rows = self._db.execute("SELECT record_id FROM events GROUP BY record_id ORDER BY MIN(idx)")
        return [bytes(r[0]) for r in rows]

    def event_ids_of(self, record_id: bytes) -> list[bytes]:
        rows = self._db.execute(
            "SELECT event_id FROM events WHERE record_id = ? ORDER BY idx", (record_id,)
        )
        return [bytes(r[0]) for r in rows]

    def find_event(self, ident: str) -> LoggedEvent:
        """An event by its id, or a record's latest event by the record id (0x-hex either way)."""
        try:
            raw = bytes.fromhex(ident.removeprefix("0x"))
        except ValueError:
            raise InputError(f"{ident!r} is not a hex record or event id") from None
        if len(raw) != 32:
            raise InputError(f"{ident!r} is not a 32-byte record or event id")
        row = self._db.execute(
            "SELECT event_id FROM events WHERE event_id = ? OR record_id = ?"
            " ORDER BY idx DESC LIMIT 1",
            (raw, raw),
        ).fetchone()
        if row is None:
            raise InputError(f"no record or event {ident} in this store")
        return self.publisher.event(bytes(row[0]))

    @property
    def size(self) -> int:
        return self.publisher.log.size

    # -- confidentiality: grants, revocations, erasure ---------------------------------------

    def _latest_version(self, record_id: bytes) -> int:
        row = self._db.execute(
            "SELECT MAX(version) FROM versions WHERE record_id = ?", (record_id,)
        ).fetchone()
        if row is None or row[0] is None:
            raise InputError(f"no record {record_id.hex()} in this store")
        return int(row[0])

    def _record_id(self, ident: str) -> bytes:
        return self.find_event(ident).record_id

    def is_erased(self, record_id: bytes) -> bool:
        row = self._db.execute(
            "SELECT MAX(erased) FROM versions WHERE record_id = ?", (record_id,)
        ).fetchone()
        return bool(row and row[0])

    def grant(self, ident: str, binding: RecipientBinding, *, purpose: str = "") -> Share:
        """Give a recipient access to a record's current version; log a signed GRANT event.

        The binding (the recipient's public key, signed by its address) is checked first; the
        version's data key is HPKE-wrapped to it.
        """
        record_id = self._record_id(ident)
        owner = binding.verify()
        version = self._latest_version(record_id)
        _, data_key, _ = self.version_secrets(record_id, version)  # AccessError once erased
        wrapped = wrap_data_key(data_key, binding, info=grant_info(record_id, version))
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO recipients VALUES (?, ?)", (owner, binding.to_json())
            )
            logged = self.publisher.record_event(
                EventKind.GRANT, record_id, subject=owner, purpose=purpose
            )
            self._save(logged)
            self._db.execute(
                "INSERT INTO grants (record_id, version, recipient, wrapped, grant_event)"
                " VALUES (?, ?, ?, ?, ?)",
                (record_id, version, owner, wrapped, logged.id),
            )
        return self.share(ident, owner)

    def share(self, ident: str, recipient: str) -> Share:
        """The share of a record's current version for a recipient with an active grant."""
        record_id = self._record_id(ident)
        address = checksum_address(recipient)
        version = self._latest_version(record_id)
        if self.is_erased(record_id):
            raise AccessError(f"record {record_id.hex()} was erased")
        row = self._db.execute(
            "SELECT wrapped, revoked FROM grants WHERE record_id = ? AND version = ?"
            " AND recipient = ? ORDER BY id DESC LIMIT 1",
            (record_id, version, address),
        ).fetchone()
        if row is None:
            raise AccessError(f"{address} was never granted version {version} of this record")
        if row[1]:
            raise AccessError(f"{address}'s access to this record was revoked")
        binding = RecipientBinding.from_json(
            self._db.execute(
                "SELECT binding FROM recipients WHERE address = ?", (address,)
            ).fetchone()[0]
        )
        sealed, data_key, seed = self.version_secrets(record_id, version)
        content = self._content_event(record_id, version)
        bundle = self.export("0x" + content.hex(), fields=[])
        return Share(
            recipient=address,
            suite=str(binding.suite),
            wrapped_key=bytes(row[0]),
            payload=sealed,
            seed=seal_seed(data_key, seed, record_id, version, self._rng),
            bundle=bundle,
        )

    def _content_event(self, record_id: bytes, version: int) -> bytes:
        row = self._db.execute(
            "SELECT event_id FROM events WHERE record_id = ? AND kind IN ('create', 'derive',"
            " 'amend') AND json_extract(message, '$.version') = ? ORDER BY idx DESC LIMIT 1",
            (record_id, version),
        ).fetchone()
        if row is None:  # pragma: no cover - every version has its content event
            raise StoreError(f"no content event for version {version}")
        return bytes(row[0])

    def revoke(self, ident: str, recipient: str, *, purpose: str = "") -> LoggedEvent:
        """Stop a recipient's access to a record; log a signed REVOKE event.

        Their wrapped keys are deleted; the next version of the record gets a new data key
        anyway, so nothing they kept opens it.
        """
        record_id = self._record_id(ident)
        address = checksum_address(recipient)
        with self.transaction():
            active = self._db.execute(
                "SELECT COUNT(*) FROM grants WHERE record_id = ? AND recipient = ? AND revoked = 0",
                (record_id, address),
            ).fetchone()[0]
            if not active:
                raise AccessError(f"{address} has no access to revoke on this record")
            logged = self.publisher.record_event(
                EventKind.REVOKE, record_id, subject=address, purpose=purpose
            )
            self._save(logged)
            self._db.execute(
                "UPDATE grants SET revoked = 1, wrapped = NULL, revoke_event = ?"
                " WHERE record_id = ? AND recipient = ? AND revoked = 0",
                (logged.id, record_id, address),
            )
        return logged

    def erase(self, ident: str, *, purpose: str = "") -> LoggedEvent:
        """Crypto-shred a record: destroy every version's data key and seed, and every wrapped
        key, then log a signed ERASE event. The ciphertext and the salted digests stay: they
        reveal nothing, and every event of the record still verifies."""
        record_id = self._record_id(ident)
        if self.is_erased(record_id):
            raise AccessError(f"record {record_id.hex()} was erased already")
        with self.transaction():
            logged = self.publisher.record_event(EventKind.ERASE, record_id, purpose=purpose)
            self._save(logged)
            self._db.execute(
                "UPDATE versions SET data_key = NULL, seed = NULL, erased = 1 WHERE record_id = ?",
                (record_id,),
            )
            self._db.execute(
                "UPDATE grants SET wrapped = NULL, revoked = 1 WHERE record_id = ?", (record_id,)
            )
        # Push the change out of the write-ahead log so no copy of the keys stays on disk.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return logged

    def access(self, ident: str, reader: str, *, purpose: str = "") -> LoggedEvent:
        """Log a signed ACCESS receipt: ``reader`` read the record, for ``purpose``."""
        record_id = self._record_id(ident)
        with self.transaction():
            logged = self.publisher.record_event(
                EventKind.ACCESS, record_id, subject=checksum_address(reader), purpose=purpose
            )
            self._save(logged)
        return logged

    def amend(self, ident: str, record: bytes | JSONValue) -> LoggedEvent:
        """Log a new version of a record (fresh data key and seed)."""
        record_id = self._record_id(ident)
        if self.is_erased(record_id):
            raise AccessError(f"record {record_id.hex()} was erased")
        with self.transaction():
            logged = self.publisher.amend(record_id, record)
            self._save(logged)
        return logged

    def history(self, ident: str) -> list[dict[str, object]]:
        """A record's events in log order: kind, version, time, author, subject, purpose."""
        record_id = self._record_id(ident)
        rows = self._db.execute(
            "SELECT idx, event_id, message FROM events WHERE record_id = ? ORDER BY idx",
            (record_id,),
        )
        out: list[dict[str, object]] = []
        for idx, event_id, message in rows:
            m = json.loads(message)
            out.append(
                {
                    "index": idx,
                    "event": "0x" + bytes(event_id).hex(),
                    "kind": m["kind"],
                    "version": m["version"],
                    "time": m["time"],
                    "author": m["author"],
                    "subject": m["subject"],
                    "purpose": m["purpose"],
                }
            )
        return out

    def iter_events(self) -> Iterator[SignedEvent]:
        """Every logged event, in log order."""
        for message, signature in self._db.execute(
            "SELECT message, signature FROM events ORDER BY idx"
        ):
            yield SignedEvent(event_from_message(json.loads(message)), bytes(signature))

    def checkpoints(self) -> list[SignedCheckpoint]:
        sizes = [
            r[0] for r in self._db.execute("SELECT tree_size FROM checkpoints ORDER BY tree_size")
        ]
        return [cp for size in sizes if (cp := self.checkpoint_at(size)) is not None]

    def write_log(self, out: Callable[[str], object]) -> int:
        """Publish the log (every entry, then the signed checkpoints) as an audit file."""
        from okeios.verify.audit import write_log

        # the log's bound key: the organisation's first key, also after a rotation
        return write_log(
            out, self.organisation, self.log_id, self.iter_events(), self.checkpoints()
        )

    # -- identity (docs/identity.md) --------------------------------------------------------

    @property
    def organisation(self) -> str:
        """The organisation this log belongs to: its first publisher key."""
        return self.publisher.organisation

    def authorise(
        self,
        key: str,
        role: str,
        *,
        not_before: int | None = None,
        not_after: int | None = None,
        purpose: str = "",
    ) -> LoggedEvent:
        """Log an AUTHORISE of the author key ``key`` as ``role`` (see
        :meth:`Publisher.authorise`)."""
        with self.transaction():
            logged = self.publisher.authorise(
                key,
                role,
                not_before=not_before,
                not_after=MAX_TIME if not_after is None else not_after,
                purpose=purpose,
            )
            self._save(logged)
        return logged

    def deauthorise(
        self, key: str, *, effective: int | None = None, purpose: str = ""
    ) -> LoggedEvent:
        """Log a DEAUTHORISE of ``key`` from ``effective`` (default: now; earlier for a
        compromised key)."""
        with self.transaction():
            logged = self.publisher.deauthorise(key, effective=effective, purpose=purpose)
            self._save(logged)
        return logged

    def identity_events(self) -> list[LoggedEvent]:
        """Every identity event of the log, in log order."""
        rows = self._db.execute(
            "SELECT idx, message, signature FROM events WHERE kind IN (?, ?, ?) ORDER BY idx",
            tuple(str(k) for k in KEY_KINDS),
        ).fetchall()
        return [
            LoggedEvent(SignedEvent(event_from_message(json.loads(m)), bytes(sig)), int(i))
            for i, m, sig in rows
        ]

    def key_history(self) -> str:
        """The key-history file of this log (``okeios.verify.keyhistory``): every identity
        event, proven against the latest anchored checkpoint (else the latest checkpoint)."""
        from okeios.verify.keyhistory import dump_key_history

        finals = self._db.execute(
            "SELECT MAX(tree_size) FROM journal WHERE state = 'final'"
        ).fetchone()
        size = int(finals[0]) if finals and finals[0] is not None else self.size
        checkpoint = self.checkpoint_at(size) or self.checkpoint()
        size = checkpoint.checkpoint.tree_size
        entry = self.anchored_for(size - 1)
        ref = None
        if entry is not None and entry.tree_size == size and entry.tx_hash is not None:
            ref = AnchorRef(
                chain_id=entry.chain_id,
                registry=bytes.fromhex(entry.registry[2:]),
                transaction=entry.tx_hash,
                block=entry.block_number or 0,
                extension=None,
            )
        events = [logged for logged in self.identity_events() if logged.index < size]
        bundles = [
            self.publisher.bundle(logged.id, checkpoint=checkpoint, anchor=ref) for logged in events
        ]
        # For each handover: the old key's last anchored tree and a consistency proof from it
        # to this tree, which links the keys' anchored histories into one.
        continuity = []
        for logged in events:
            if logged.signed.event.kind is not EventKind.HANDOVER:
                continue
            old = logged.signed.event.author
            sizes = [
                int(row[0])
                for row in self._db.execute(
                    "SELECT DISTINCT tree_size FROM journal WHERE state = 'final' AND "
                    "tree_size <= ? ORDER BY tree_size",
                    (size,),
                )
            ]
            mine = [n for n in sizes if (cp := self.checkpoint_at(n)) and cp.publisher == old]
            if mine:
                last = mine[-1]
                proof = self.publisher.log.consistency_proof(last, size) if last < size else []
                continuity.append((old, last, self.publisher.log.root(last), proof))
        return dump_key_history(self.organisation, size, bundles, continuity)

    def rotate_key(
        self,
        key: bytes | None = None,
        *,
        purpose: str = "",
        before_swap: Callable[[Store, str], object] | None = None,
    ) -> LoggedEvent:
        """Hand the log over to a new publisher key (``key``, else a fresh one).

        Logs a HANDOVER signed by the current key and, still with that key, signs the
        checkpoint of the tree that ends with it; ``before_swap(store, new_address)`` then runs
        while the store still signs with the old key: the CLI anchors that tree there (so the old
        key's last anchor holds the handover) and sends the registry's ``handover``, which closes
        the log for the old key and opens it for the new one. Finally the new key is sealed in
        place of the old one. The log id stays the organisation's; later checkpoints and anchors
        are the new key's. The new key is written (staged) before anything is logged, so a crash
        leaves a store that reopens with it.
        """
        old = self.signer
        new = LocalSigner.from_key(key) if key is not None else LocalSigner.generate(self._rng)
        if new.address == old.address:
            raise InputError("the new publisher key is the current one")
        sealed = protect_secret_with_key(new.private_key, self._master, rng=self._rng)
        staged = self.home / (KEY_NAME + ".next")
        _write_private(staged, sealed)
        organisation = self.organisation
        with self.transaction():
            logged = self.publisher.handover(new, purpose=purpose)
            self.publisher.signer = old  # the old key signs the tree ending with the handover
            self._save(logged)
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('organisation', ?)", (organisation,)
            )
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'publisher'", (new.address,))
        try:
            self.checkpoint()
            if before_swap is not None:
                before_swap(self, new.address)
        finally:
            os.replace(staged, self.home / KEY_NAME)
            self.signer = new
            self.publisher.signer = new
        return logged

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint(self) -> SignedCheckpoint:
        """A signed checkpoint of the log as it is now (stored; reused if already there)."""
        size = self.size
        if size == 0:
            raise InputError("the log is empty: add records first")
        existing = self.checkpoint_at(size)
        if existing is not None:
            return existing
        signed = self.publisher.checkpoint(size)
        with self.transaction():
            self._db.execute(
                "INSERT INTO checkpoints VALUES (?, ?, ?, ?)",
                (size, signed.checkpoint.root, signed.signature, self.clock()),
            )
        return signed

    def checkpoint_at(self, size: int) -> SignedCheckpoint | None:
        row = self._db.execute(
            "SELECT root, signature FROM checkpoints WHERE tree_size = ?", (size,)
        ).fetchone()
        if row is None:
            return None
        checkpoint = Checkpoint(self.log_id, size, bytes(row[0]))
        # signed by the key that held the log then (an earlier one after a key rotation)
        signer = recover_address(checkpoint.id, bytes(row[1]))
        return SignedCheckpoint(checkpoint, signer, bytes(row[1]))

    # -- the anchoring journal --------------------------------------------------------------

    def journal(
        self, chain_id: int, registry: str, states: Iterable[str] | None = None
    ) -> list[JournalEntry]:
        rows = self._db.execute(
            f"SELECT {_JOURNAL_COLUMNS} FROM journal"  # noqa: S608 - a constant
            " WHERE chain_id = ? AND registry = ? ORDER BY id",
            (chain_id, registry),
        ).fetchall()
        wanted = set(states) if states is not None else None
        entries = [JournalEntry(*row) for row in rows]
        return [e for e in entries if wanted is None or e.state in wanted]

    def journal_add(
        self, chain_id: int, registry: str, tree_size: int, root: bytes
    ) -> JournalEntry:
        now = self.clock()
        with self.transaction():
            cur = self._db.execute(
                "INSERT INTO journal (chain_id, registry, tree_size, root, state, created, updated)"
                " VALUES (?, ?, ?, ?, 'prepared', ?, ?)",
                (chain_id, registry, tree_size, root, now, now),
            )
        entry_id = cur.lastrowid
        assert entry_id is not None
        return self._journal_get(entry_id)

    def journal_update(self, entry_id: int, **fields: object) -> JournalEntry:
        allowed = {
            "state",
            "prev_size",
            "raw_tx",
            "tx_hash",
            "nonce",
            "block_number",
            "block_hash",
            "timestamp",
            "error",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise InputError(f"unknown journal fields {sorted(unknown)}")
        if "state" in fields and fields["state"] not in JOURNAL_STATES:
            raise InputError(f"unknown journal state {fields['state']!r}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction():
            self._db.execute(
                f"UPDATE journal SET {sets}, updated = ? WHERE id = ?",  # noqa: S608 - names are checked above
                (*fields.values(), self.clock(), entry_id),
            )
        return self._journal_get(entry_id)

    def _journal_get(self, entry_id: int) -> JournalEntry:
        row = self._db.execute(
            f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE id = ?",  # noqa: S608 - a constant
            (entry_id,),
        ).fetchone()
        return JournalEntry(*row)

    def anchored_for(
        self, index: int, chain_id: int | None = None, registry: str | None = None
    ) -> JournalEntry | None:
        """The smallest final anchor whose tree holds entry ``index`` (on that chain, if given)."""
        query = "SELECT id FROM journal WHERE state = 'final' AND tree_size > ?"
        args: list[object] = [index]
        if chain_id is not None:
            query += " AND chain_id = ?"
            args.append(chain_id)
        if registry is not None:
            query += " AND registry = ?"
            args.append(registry)
        row = self._db.execute(query + " ORDER BY tree_size LIMIT 1", args).fetchone()
        return None if row is None else self._journal_get(int(row[0]))

    # -- export -----------------------------------------------------------------------------

    def export(self, ident: str, *, fields: Iterable[str] | None = None) -> Bundle:
        """The proof bundle of a record's latest event (or of an event, by id).

        The bundle's checkpoint is the smallest *anchored* checkpoint that holds the event, with
        the anchor reference filled in and, when the log was anchored again later, the latest
        anchored tree head with a consistency proof to it. If no anchor holds the event yet,
        the bundle carries the latest checkpoint and no anchor reference.
        """
        logged = self.find_event(ident)
        anchor = self.anchored_for(logged.index)
        ref = None
        if anchor is None:
            checkpoint = self.checkpoint()
        else:
            stored = self.checkpoint_at(anchor.tree_size)
            if stored is None or anchor.tx_hash is None or anchor.block_number is None:
                raise StoreError(f"the journal's anchor of size {anchor.tree_size} is incomplete")
            checkpoint = stored
            latest = self._latest_final(anchor.chain_id, anchor.registry)
            extension = None
            later = None if latest is None else self.checkpoint_at(latest.tree_size)
            if (
                latest is not None
                and latest.tree_size > anchor.tree_size
                # the registry keeps each key's anchors apart: extend only to the same key's
                and later is not None
                and later.publisher == checkpoint.publisher
            ):
                proof = self.publisher.log.consistency_proof(anchor.tree_size, latest.tree_size)
                extension = Extension(latest.tree_size, latest.root, tuple(proof))
            ref = AnchorRef(
                chain_id=anchor.chain_id,
                registry=bytes.fromhex(anchor.registry[2:]),
                transaction=anchor.tx_hash,
                block=anchor.block_number,
                extension=extension,
            )
        size = checkpoint.checkpoint.tree_size
        path = tuple(self.publisher.log.inclusion_proof(logged.index, size))
        disclosure = self.publisher.disclosure(logged.id, fields)
        return Bundle(
            logged.signed, disclosure, InclusionProof(logged.index, size, path), checkpoint, ref
        )

    def _latest_final(self, chain_id: int, registry: str) -> JournalEntry | None:
        finals = self.journal(chain_id, registry, states=("final",))
        return max(finals, key=lambda e: e.tree_size) if finals else None
