"""The complete floor: the version 2 work of adding and of verifying a record, byte for byte, in
one plain loop over the standard library and the crypto extensions okeios itself uses.

A benchmark figure means something only beside the cost of the work it cannot avoid. This
module does that work and nothing else, with no checks beyond what the format needs:

* **ingest** (:func:`ingest`): per record the JSON parse (``json.loads``, numbers with a
  fraction or an exponent kept as their text), the canonical bytes of the record and of each
  leaf with its typed path bytes (one recursive walk), per field one HMAC-SHA256 salt and one
  SHA-256 digest, the commitment, the random record id, seed, data key and nonces (in the
  order okeios draws them), three AES-256-GCM seals (the payload under the data key, the data
  key and the seed under the master key), the EIP-712 event id with keccak-256, a coincurve
  signature, the RFC 9162 leaf and the nodes it completes, and the rows in SQLite (one
  transaction, one statement per table and batch); :func:`ingest` with ``identity=True`` adds
  what ``Store.put`` adds: the identity lookup and the ``resources`` row (three HMACs and a
  fourth seal);
* **verify with the record** (:func:`verify`): the msgpack decode and its canonical re-encoding,
  the event id, the signature recovery, the commitment over the digests, one SHA-256 per
  disclosed field, the record's parse and leaf walk compared with the disclosed fields, the
  inclusion path, and the checkpoint's signature once per checkpoint; **without the record**,
  instead of the record's walk, each disclosed value parsed and written again (a canonical
  leaf) and the disclosed paths checked to be the leaves of one document.

It is checked, not trusted: :func:`check_ingest` runs okeios and the floor on the same records
with the same randomness and clock and requires identical rows (events, versions, nodes,
resources), so the same commitments, canonical bytes, event ids and signatures;
:func:`check_verify` requires the floor to accept exactly the bundles okeios accepts.
``tests/test_benchmark_floor.py`` runs both on a few records. Benchmarks import it as
``floor`` (this folder is on ``sys.path`` when they run as scripts).
"""

from __future__ import annotations

import hmac
import itertools
import json
import sqlite3
import struct
from collections.abc import Callable, Sequence
from hashlib import sha256
from json.encoder import encode_basestring as _quote  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

import coincurve
import msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sha3 import keccak_256  # type: ignore[import-untyped]

__all__ = ["check_ingest", "check_verify", "ingest", "open_floor_db", "verify"]

_SALT_TAG = b"okeios/salt/v2\x00"
_U32 = struct.Struct(">I").pack
_FIELD_TAG = b"okeios/field/v2\x00"
_COMMIT_TAG = b"okeios/commitment/v2\x00"
_DATA_KEY_LABEL = b"okeios/store/data-key/v1\x00"
_SEED_LABEL = b"okeios/store/seed/v1\x00"
_LABEL_LABEL = b"okeios/store/resource-label/v1\x00"
_IDENTITY_INFO = b"okeios/store/identity-key/v1\x00"
_ZERO32 = bytes(32)
_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_V1 = (1).to_bytes(8, "big")
_IPAD = int.from_bytes(b"\x36" * 64, "big")
_OPAD = int.from_bytes(b"\x5c" * 64, "big")


def _k(data: bytes) -> bytes:
    return bytes(keccak_256(data).digest())


_EVENT_TYPE = (
    b"ProvenanceEvent(string kind,bytes32 logId,bytes32 recordId,uint64 version,bytes32 previous,"
    b"bytes32 commitment,bytes32 ciphertextDigest,address author,uint64 time,bytes32[] sources,"
    b"address subject,string purpose,string role,uint64 notBefore,uint64 notAfter)"
)
_CHECKPOINT_TYPE = b"Checkpoint(bytes32 logId,uint64 treeSize,bytes32 root)"
_DOMAIN = _k(_k(b"EIP712Domain(string name,string version)") + _k(b"okeios") + _k(b"2"))
_EVENT_TYPEHASH = _k(_EVENT_TYPE)
_CHECKPOINT_TYPEHASH = _k(_CHECKPOINT_TYPE)
_EMPTY = _k(b"")


def _u256(n: int) -> bytes:
    return n.to_bytes(32, "big")


def event_id(
    kind: str, log_id: bytes, record_id: bytes, version: int, previous: bytes,
    commitment: bytes, ciphertext: bytes, author20: bytes, time: int,
) -> bytes:  # fmt: skip
    """The EIP-712 digest of a record event without sources, subject, purpose or role."""
    struct = b"".join(
        (
            _EVENT_TYPEHASH, _k(kind.encode()), log_id, record_id, _u256(version), previous,
            commitment, ciphertext, bytes(12) + author20, _u256(time), _EMPTY, _ZERO32, _EMPTY,
            _EMPTY, _ZERO32, _ZERO32,
        )
    )  # fmt: skip
    return _k(b"\x19\x01" + _DOMAIN + _k(struct))


def _eip55(raw: bytes) -> str:
    text = raw.hex()
    h = _k(text.encode()).hex()
    return "0x" + "".join(c.upper() if int(h[i], 16) >= 8 else c for i, c in enumerate(text))


# -- the record: parse, canonical bytes, leaves ---------------------------------------------------


class _Num(str):
    """A JSON number with a fraction or an exponent, kept as its text."""

    __slots__ = ()


def parse(raw: bytes) -> Any:
    return json.loads(raw, parse_float=_Num)


def _key_order(obj: dict[str, Any]) -> list[str]:
    keys = list(obj)
    if "".join(keys).isascii():
        return sorted(keys)
    return sorted(keys, key=lambda k: k.encode("utf-16-be", "surrogatepass"))


def walk(value: Any, leaves: list[tuple[bytes, bytes]]) -> bytes:
    """The canonical bytes of ``value``; appends each leaf's (path bytes, value bytes)."""

    def enc(v: Any, prefix: bytes, depth: int) -> str:
        t = type(v)
        if t is dict:
            if not v:
                leaves.append((depth.to_bytes(4, "big") + prefix, b"{}"))
                return "{}"
            parts = []
            for key in _key_order(v):
                name = key.encode()
                inner = enc(
                    v[key], prefix + b"\x01" + len(name).to_bytes(4, "big") + name, depth + 1
                )
                parts.append(_quote(key) + ":" + inner)
            return "{" + ",".join(parts) + "}"
        if t is list:
            if not v:
                leaves.append((depth.to_bytes(4, "big") + prefix, b"[]"))
                return "[]"
            return (
                "["
                + ",".join(
                    enc(item, prefix + b"\x02" + i.to_bytes(8, "big"), depth + 1)
                    for i, item in enumerate(v)
                )
                + "]"
            )
        if t is str:
            text = _quote(v)
        elif t is _Num:
            text = str.__str__(v)
        elif t is bool:
            text = "true" if v else "false"
        elif v is None:
            text = "null"
        else:
            text = int.__repr__(v)
        leaves.append((depth.to_bytes(4, "big") + prefix, text.encode()))
        return text

    return enc(value, b"", 0).encode()


def _field_digest(salt: bytes, path: bytes, value: bytes) -> bytes:
    """A disclosed field's digest: SHA-256 over the tag, the salt and the length-prefixed
    path and value."""
    return sha256(_FIELD_TAG + salt + _U32(len(path)) + path + _U32(len(value)) + value).digest()


def commit(seed: bytes, leaves: list[tuple[bytes, bytes]]) -> tuple[bytes, list[bytes]]:
    """The commitment and the sorted field digests: one HMAC salt and one SHA-256 per field.

    HMAC-SHA256 (RFC 2104) from its inner state (keyed, after the salt tag) and outer state,
    copied per field: the fastest way the standard library computes it, so that this stays a
    floor (``hmac.digest`` per field costs about twice as much)."""
    key = int.from_bytes(seed.ljust(64, b"\x00"), "big")
    inner = sha256((key ^ _IPAD).to_bytes(64, "big"))
    inner.update(_SALT_TAG)
    outer = sha256((key ^ _OPAD).to_bytes(64, "big"))
    digests = []
    for pb, vb in leaves:
        h = inner.copy()
        h.update(pb)
        o = outer.copy()
        o.update(h.digest())
        salt = o.digest()[:16]
        digests.append(_field_digest(salt, pb, vb))
    digests.sort()
    root = sha256(_COMMIT_TAG + len(digests).to_bytes(4, "big") + b"".join(digests)).digest()
    return root, digests


# -- ingest ---------------------------------------------------------------------------------------


def open_floor_db(path: Path) -> sqlite3.Connection:
    """A database with okeios's tables and settings (WAL, synchronous FULL)."""
    from okeios._internal.publish.tables import SCHEMA

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA secure_delete=ON")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    return conn


class FloorLog:
    """The Merkle frontier of a log in memory (RFC 9162 hashes)."""

    def __init__(self) -> None:
        self.size = 0
        self.frontier: dict[int, bytes] = {}


def ingest(
    records: Sequence[bytes],
    conn: sqlite3.Connection,
    *,
    rng: Callable[[int], bytes],
    clock: Callable[[], float],
    master: bytes,
    private_key: bytes,
    log: FloorLog,
    identity: bool = False,
) -> list[bytes]:
    """Add ``records`` as new records (``identity``: as ``Store.put`` adds new resources), in
    one transaction; return the event ids."""
    key = coincurve.PrivateKey(private_key)
    author20 = _k(key.public_key.format(compressed=False)[1:])[-20:]
    author = _eip55(author20)
    log_id = sha256(b"okeios/log/v2\x00" + author20).digest()
    log_hex = "0x" + log_id.hex()
    sealer = AESGCM(master)
    id_key = hmac.digest(master, _IDENTITY_INFO, "sha256")
    versions, events, nodes, resources, ids = [], [], [], [], []
    frontier, size = log.frontier, log.size
    values = [json.loads(raw, parse_float=_Num) for raw in records]
    labels: list[str | None] = [None] * len(values)
    rkeys: list[bytes] = []
    if identity:  # the stored identities of the whole batch, read in one query per 500
        labels = [f"{v['resourceType']}/{v['id']}" for v in values]
        rkeys = [hmac.digest(id_key, b"resource\x00" + lb.encode(), "sha256") for lb in labels]  # type: ignore[union-attr]
        for i in range(0, len(rkeys), 500):
            part = rkeys[i : i + 500]
            sql = f"SELECT key FROM resources WHERE key IN ({', '.join('?' * len(part))})"
            if conn.execute(sql, part).fetchone():
                raise ValueError("a resource is not new")
    conn.execute("BEGIN IMMEDIATE")
    for n, value in enumerate(values):
        label = labels[n]
        leaves: list[tuple[bytes, bytes]] = []
        canonical = walk(value, leaves)
        record_id = rng(32)
        seed = rng(32)
        root, digests = commit(seed, leaves)
        data_key = rng(32)
        nonce = rng(12)
        aad = record_id + _V1
        sealed = b"OKC1" + nonce + AESGCM(data_key).encrypt(nonce, canonical, aad)
        n1 = rng(12)
        sealed_key = b"OKC1" + n1 + sealer.encrypt(n1, data_key, _DATA_KEY_LABEL + aad)
        n2 = rng(12)
        sealed_seed = b"OKC1" + n2 + sealer.encrypt(n2, seed, _SEED_LABEL + aad)
        time = int(clock())
        ct = sha256(sealed).digest()
        eid = event_id("create", log_id, record_id, 1, _ZERO32, root, ct, author20, time)
        sig = key.sign_recoverable(eid, hasher=None)
        sig = sig[:64] + bytes([sig[64] + 27])
        message = json.dumps(
            {
                "kind": "create", "logId": log_hex, "recordId": "0x" + record_id.hex(),
                "version": 1, "previous": "0x" + _ZERO32.hex(), "commitment": "0x" + root.hex(),
                "ciphertextDigest": "0x" + ct.hex(), "author": author, "time": time,
                "sources": [], "subject": _ZERO_ADDRESS, "purpose": "", "role": "",
                "notBefore": 0, "notAfter": 0,
            }
        )  # fmt: skip
        versions.append((record_id, 1, sealed, sealed_key, sealed_seed, b"".join(digests)))
        events.append((size, eid, record_id, "create", message, sig, 1, time))
        current = sha256(b"\x00" + eid + sig).digest()
        nodes.append((0, size, current))
        level, index = 0, size
        while index & 1:
            current = sha256(b"\x01" + frontier.pop(level) + current).digest()
            level += 1
            index >>= 1
            nodes.append((level, index, current))
        frontier[level] = current
        size += 1
        if label is not None:
            n3 = rng(12)
            sealed_label = (
                b"OKC1" + n3 + sealer.encrypt(n3, label.encode(), _LABEL_LABEL + record_id)
            )
            meta = value.get("meta")
            version_id = meta.get("versionId") if isinstance(meta, dict) else None
            resources.append(
                (
                    rkeys[n],
                    record_id,
                    hmac.digest(id_key, b"type\x00" + value["resourceType"].encode(), "sha256"),
                    sealed_label,
                    version_id,
                    hmac.digest(id_key, b"content\x00" + canonical, "sha256"),
                    size - 1,  # the log index of the record's first event
                )
            )
        ids.append(eid)
    conn.executemany("INSERT INTO versions (record_id, version, payload, data_key, seed, digests)"
                     " VALUES (?, ?, ?, ?, ?, ?)", versions)  # fmt: skip
    conn.executemany("INSERT INTO events (idx, event_id, record_id, kind, message, signature,"
                     " version, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", events)  # fmt: skip
    conn.executemany("INSERT INTO nodes VALUES (?, ?, ?)", nodes)
    if resources:
        conn.executemany("INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?, ?)", resources)
    conn.execute("COMMIT")
    log.size = size
    return ids


# -- verify ---------------------------------------------------------------------------------------


def verify(bundles: Sequence[bytes], records: Sequence[bytes] | None, publisher: str) -> int:
    """Verify each bundle (binary form) with its record against one trusted author and
    publisher; return how many pass. Raises nothing: a failure is counted out. Without the
    records (``None``), each disclosed value is checked to be a canonical JSON leaf and the
    disclosed paths to be the leaves of one document instead."""
    trusted = bytes.fromhex(publisher[2:])
    checkpoints: dict[tuple[bytes, bytes], bytes] = {}
    ok = 0
    for data, raw in zip(bundles, records or [None] * len(bundles), strict=True):
        if data[:8] != b"\x89OKEIOS\x02":
            continue
        body = data[8:]
        b = msgpack.unpackb(body, raw=False)
        if msgpack.packb(b, use_bin_type=True) != body:
            continue
        e = b["event"]
        if e["kind"] != "create" or e["sources"] or e["role"] or e["purpose"]:
            continue  # the floor handles the records ``add`` logs
        eid = event_id(
            e["kind"], e["logId"], e["recordId"], e["version"], e["previous"], e["commitment"],
            e["ciphertextDigest"], e["author"], e["time"],
        )  # fmt: skip
        sig = b["signature"]
        pub = coincurve.PublicKey.from_signature_and_message(
            sig[:64] + bytes([sig[64] - 27]), eid, hasher=None
        )
        if _k(pub.format(compressed=False)[1:])[-20:] != e["author"] or e["author"] != trusted:
            continue
        digests = b["disclosure"]["digests"]
        if any(x >= y for x, y in itertools.pairwise(digests)):
            continue
        root = sha256(_COMMIT_TAG + len(digests).to_bytes(4, "big") + b"".join(digests)).digest()
        if root != e["commitment"]:
            continue
        committed = set(digests)
        disclosed = []
        good = True
        for path, salt, vb in b["disclosure"]["fields"]:
            pb = len(path).to_bytes(4, "big") + b"".join(
                b"\x01" + len(t.encode()).to_bytes(4, "big") + t.encode()
                if type(t) is str
                else b"\x02" + t.to_bytes(8, "big")
                for t in path
            )
            if _field_digest(salt, pb, vb) not in committed:
                good = False
                break
            disclosed.append((pb, vb))
        if not good:
            continue
        if raw is None:
            if not _leaves_of_a_document(b["disclosure"]["fields"]):
                continue
        else:
            if len(disclosed) != len(digests):
                continue
            leaves: list[tuple[bytes, bytes]] = []
            walk(json.loads(raw, parse_float=_Num), leaves)
            leaves.sort()
            if leaves != disclosed:
                continue
        inc, cp = b["inclusion"], b["checkpoint"]
        h = sha256(b"\x00" + eid + sig).digest()
        i, last = inc["index"], inc["treeSize"] - 1
        for sibling in inc["path"]:
            if i & 1 or i == last:
                h = sha256(b"\x01" + sibling + h).digest()
                if not i & 1:
                    while i and not i & 1:
                        i >>= 1
                        last >>= 1
            else:
                h = sha256(b"\x01" + h + sibling).digest()
            i >>= 1
            last >>= 1
        if (
            last != 0
            or h != cp["root"]
            or inc["treeSize"] != cp["treeSize"]
            or cp["logId"] != e["logId"]
        ):
            continue
        pair = (cp["root"] + cp["treeSize"].to_bytes(8, "big"), cp["signature"])
        signer = checkpoints.get(pair)
        if signer is None:
            cid = _k(
                b"\x19\x01"
                + _DOMAIN
                + _k(_CHECKPOINT_TYPEHASH + cp["logId"] + _u256(cp["treeSize"]) + cp["root"])
            )
            s = cp["signature"]
            key = coincurve.PublicKey.from_signature_and_message(
                s[:64] + bytes([s[64] - 27]), cid, hasher=None
            )
            signer = _k(key.format(compressed=False)[1:])[-20:]
            checkpoints[pair] = signer
        if signer != trusted or cp["publisher"] != trusted:
            continue
        if sha256(b"okeios/log/v2\x00" + signer).digest() != cp["logId"]:
            continue
        ok += 1
    return ok


def _leaves_of_a_document(fields: list[list[Any]]) -> bool:
    """Each disclosed value a canonical JSON leaf, and the paths the leaves of one document
    (no path twice, none a prefix of another, each inner node one kind)."""
    seen: set[tuple[Any, ...]] = set()
    inner: dict[tuple[Any, ...], type] = {}
    for path, _, vb in fields:
        value = json.loads(vb, parse_float=_Num)
        if (type(value) is dict or type(value) is list) and value:
            return False
        leaves: list[tuple[bytes, bytes]] = []
        if walk(value, leaves) != vb:
            return False
        tokens = tuple(path)
        if tokens in seen or tokens in inner:
            return False
        seen.add(tokens)
        for k in range(len(tokens)):
            prefix = tokens[:k]
            if prefix in seen or inner.setdefault(prefix, type(tokens[k])) is not type(tokens[k]):
                return False
    return True


# -- checks against okeios --------------------------------------------------------------------


def _rows(conn: Any, identity: bool) -> dict[str, list[tuple[Any, ...]]]:
    tables = {"events": "idx", "versions": "record_id, version", "nodes": "level, idx"}
    if identity:
        tables["resources"] = "key"
    return {
        t: [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in conn.execute(f"SELECT * FROM {t} ORDER BY {order}")
        ]
        for t, order in tables.items()
    }


class _CountingRng:
    def __init__(self, label: bytes, counter: int = 0) -> None:
        self.label, self.counter = label, counter

    def __call__(self, n: int) -> bytes:
        first, self.counter = self.counter + 1, self.counter + -(-n // 32)
        blocks = range(first, self.counter + 1)
        return b"".join(sha256(self.label + i.to_bytes(8, "big")).digest() for i in blocks)[:n]


def check_ingest(records: Sequence[bytes], tmp: Path, *, identity: bool) -> int:
    """Add ``records`` with okeios (``Store.put`` when ``identity``, else ``Store.add``) and
    with the floor, same randomness and clock; raise unless every row is identical. Returns
    the number of records compared."""
    from itertools import count

    from okeios._internal.publish.store import Store

    key = sha256(b"okeios floor check").digest()
    rng = _CountingRng(b"floor")
    ticks = count(1_800_000_000)
    home = tmp / f"check-{'put' if identity else 'add'}"
    store = Store.init(home, key=key, rng=rng, clock=lambda: next(ticks), trust=False)
    start = rng.counter
    if identity:
        results = store.put(list(records))
        if any(r.status != "created" for r in results):
            raise AssertionError("the check needs records new to the store")
    else:
        store.add(list(records))
    expected = _rows(store.db, identity)
    if len(expected["events"]) != len(records):
        raise AssertionError("okeios logged another number of events than records")
    master = store.versions._master
    store.close()
    conn = open_floor_db(tmp / f"floor-{'put' if identity else 'add'}.sqlite")
    floor_ticks = count(1_800_000_000)
    ingest(
        records, conn, rng=_CountingRng(b"floor", start), clock=lambda: next(floor_ticks),
        master=master, private_key=key, log=FloorLog(), identity=identity,
    )  # fmt: skip
    got = _rows(conn, identity)
    conn.close()
    for table, rows in expected.items():
        if got[table] != rows:
            bad = next(
                (i for i, (a, b) in enumerate(zip(rows, got[table], strict=False)) if a != b),
                min(len(rows), len(got[table])),
            )
            raise AssertionError(f"the floor's {table} differ from okeios's at row {bad}")
    return len(records)


def check_verify(bundles: Sequence[bytes], records: Sequence[bytes], publisher: str) -> None:
    """Raise unless the floor passes every bundle okeios passes, and fails a tampered one."""
    for given in (records, None):
        n = verify(bundles, given, publisher)
        if n != len(bundles):
            raise AssertionError(f"the verify floor passed {n} of {len(bundles)} good bundles")
        if bundles:
            tampered = bytearray(bundles[0])
            tampered[-40] ^= 1
            if verify([bytes(tampered)], None if given is None else given[:1], publisher) != 0:
                raise AssertionError("the verify floor passed a tampered bundle")


def sample_records(records: Sequence[bytes], n: int) -> list[bytes]:
    """Every ``len/n``-th record (a deterministic sample)."""
    step = max(1, len(records) // n)
    return list(records[::step][:n])


def timed_cpu(fn: Callable[[], object]) -> float:
    """CPU seconds of this process spent in ``fn``."""
    import time

    start = time.process_time()
    fn()
    return time.process_time() - start
