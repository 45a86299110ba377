"""The bytes a store writes are pinned: with the same clock and randomness, ``put``, ``add``,
``amend`` and ``export`` write and give exactly what they gave before the ingest and
verification paths were made faster (digests taken from the code before that change).

A change here means a change of format or of the order randomness is drawn in, never only of
speed; such a change needs new vectors and a note in ``docs/``.
"""

from __future__ import annotations

import json
from hashlib import sha256
from itertools import count
from pathlib import Path

import pytest

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.publish.store import Store
from okeios.errors import InputError
from tests.helpers import CountingRng

KEY = bytes(range(7, 39))

# Records with every kind of leaf: empty objects and arrays, nesting, non-ASCII names and
# values, decimals whose precision matters, large integers, booleans and nulls.
ODD = [
    b'{"resourceType":"Basic","id":"odd-1","a":{},"b":[],"c":[[],{}],"d":null,"e":true,'
    b'"f":false,"g":1.000,"h":-0.5E+3,"i":123456789012345678901234567890,'
    b'"\\u00e9t\\u00e9":"\\u2028caf\\u00e9","z":[{"y":[1,2,{"x":"\\ud83d\\ude00"}]}]}',
    b'{"k":"no identity","v":[1,2,3]}',
    b'{"resourceType":"Observation","id":"odd-2","meta":{"versionId":"1"},'
    b'"valueQuantity":{"value":6.10,"unit":"%"}}',
]


def _store(home: Path, label: bytes) -> Store:
    ticks = count(1_800_000_000)
    return Store.init(home, key=KEY, rng=CountingRng(label), clock=lambda: next(ticks))


def _digest(store: Store) -> str:
    """SHA-256 over every row of every table that holds records, events and the log (of the
    resource rows, the columns the digests were pinned with; the first log index that schema 3
    added is checked against the events instead)."""
    (wrong,) = store.db.one(
        "SELECT COUNT(*) FROM resources r WHERE r.first_idx IS NOT"
        " (SELECT MIN(idx) FROM events e WHERE e.record_id = r.record_id)"
    )
    assert wrong == 0
    h = sha256()
    for table, columns, order in (
        ("events", "*", "idx"),
        ("versions", "*", "record_id, version"),
        ("nodes", "*", "level, idx"),
        ("resources", "key, record_id, type, label, version_id, content", "key"),
    ):
        for row in store.db.execute(f"SELECT {columns} FROM {table} ORDER BY {order}"):
            h.update(
                repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)).encode()
            )
    return h.hexdigest()


def _bundles(store: Store, record_ids: list[bytes]) -> str:
    h = sha256()
    for rid in record_ids:
        ident = "0x" + rid.hex()
        h.update(store.export(ident).to_bytes())
        h.update(store.export(ident, reveal_all=True).to_bytes())
        first = sorted(store.show(ident)[0])[0]  # type: ignore[arg-type]
        h.update(store.export(ident, fields=["/" + first]).to_bytes())
    return h.hexdigest()


@pytest.mark.sqlite_only(reason="pins the rows of a SQLite store")
def test_put_amend_and_export_write_the_pinned_bytes(tmp_path: Path) -> None:
    store = _store(tmp_path / "put", b"pinned-put")
    records = synthetic_records(12, seed=11) + ODD
    results = store.put(records, keys=[None] * 13 + ["caller-key", None])
    assert [r.status for r in results] == ["created"] * len(records)
    changed = json.loads(ODD[2])
    changed["meta"]["versionId"] = "2"
    changed["valueQuantity"]["value"] = 6.2
    again = store.put([json.dumps(changed).encode(), ODD[0]])
    assert [r.status for r in again] == ["amended", "unchanged"]
    store.amend("Basic/odd-1", b'{"resourceType":"Basic","id":"odd-1","a":{"b":[]}}')
    ids = [r.record_id for r in results]
    assert _digest(store) == "57ca855d04b5709f38d4ca8624403b5979ac2042749455bb3771f4f07d8c5fc4"
    assert (
        _bundles(store, ids) == "ca276447c74a09674846e4336d1041ab840a875f5efa14de40610da2f255b736"
    )
    store.close()


@pytest.mark.sqlite_only(reason="pins the rows of a SQLite store")
def test_add_writes_the_pinned_bytes(tmp_path: Path) -> None:
    store = _store(tmp_path / "add", b"pinned-add")
    logged = store.add(synthetic_records(20, seed=3) + ODD, chunk_size=7)
    assert _digest(store) == "c6d0c09e094948bb665d5bd41e1d3b1024e36e65e78ea96b58c2b23f16f00293"
    assert (
        _bundles(store, [e.record_id for e in logged[:6]])
        == "55cc0e3ad83d00bcafeff0b546c0528b44836b282eac92fe6a01ff8638466b4f"
    )
    store.close()


def _obs(ident: str, value: str, version: str | None = None) -> bytes:
    meta = f'"meta":{{"versionId":"{version}"}},' if version else ""
    return (
        f'{{"resourceType":"Observation","id":"{ident}",{meta}"status":"final",'
        f'"valueQuantity":{{"value":{value},"unit":"%"}}}}'
    ).encode()


@pytest.mark.sqlite_only(reason="pins the rows of a SQLite store")
def test_one_put_mixing_new_changed_and_repeated_resources_writes_the_pinned_bytes(
    tmp_path: Path,
) -> None:
    """New resources, one changed twice within the call, one repeated, non-FHIR JSON under a
    key and without one: the randomness is drawn in the order of a one-by-one run."""
    store = _store(tmp_path / "mixed", b"pinned-mixed")
    first = store.put([_obs("a", "1.0", "1"), _obs("b", "2.0")])
    assert [r.status for r in first] == ["created", "created"]
    batch = [
        _obs("c", "3.0"),
        _obs("d", "4.00"),
        _obs("a", "1.5", "2"),  # changes a stored resource
        _obs("c", "3.0"),  # repeats one created earlier in this call
        _obs("e", "5.0"),
        _obs("d", "4.5"),  # changes one created earlier in this call
        b'{"free": "json"}',
        b'{"keyed": true}',
        _obs("b", "2.0"),  # the same as stored
        _obs("f", "6.0"),
    ]
    keys = [None] * 7 + ["my-key", None, None]
    got = store.put(batch, keys=keys)
    assert [r.status for r in got] == [
        "created", "created", "amended", "unchanged", "created", "amended", "created",
        "created", "unchanged", "created",
    ]  # fmt: skip
    assert _digest(store) == "737ee63cacd642eb99b49f40065b646b650dd98b10da689f4f920910e8c2a5fd"
    store.close()


class _CountingNodes:
    """Counts the queries a store's tree makes."""

    def __init__(self, store: Store) -> None:
        self.statements: list[str] = []
        store.db.conn.set_trace_callback(self.statements.append)


@pytest.mark.sqlite_only(reason="counts SQLite statements")
def test_an_export_reads_the_tree_in_one_query_and_the_event_once(tmp_path: Path) -> None:
    store = _store(tmp_path / "few", b"few-reads")
    logged = store.add(synthetic_records(300, seed=2))
    store.checkpoints.current()
    trace = _CountingNodes(store)
    store.export("0x" + logged[123].id.hex(), reveal_all=True)
    one_by_one = [s for s in trace.statements if "SELECT hash FROM nodes" in s]
    together = [s for s in trace.statements if "SELECT level, idx, hash FROM nodes" in s]
    event_reads = [s for s in trace.statements if "FROM events WHERE event_id" in s]
    assert one_by_one == []
    assert 1 <= len(together) <= 3  # the proof's nodes, and the frontier when refreshed
    assert len(event_reads) == 1, event_reads
    store.close()


@pytest.mark.sqlite_only(reason="pins the rows of a SQLite store")
def test_an_export_derives_no_commitment_and_gives_the_pinned_bundles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Export discloses from the stored version (salts from the seed, digests as stored): no
    commitment is derived again, and the bundles are those pinned above."""
    import okeios._internal.protocol.commitment as commitment_module
    import okeios._internal.publish.publisher as publisher_module

    store = _store(tmp_path / "add", b"pinned-add")
    logged = store.add(synthetic_records(20, seed=3) + ODD, chunk_size=7)

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("export derived a commitment")

    monkeypatch.setattr(publisher_module, "commit", refused)
    monkeypatch.setattr(publisher_module, "commit_canonical", refused)
    monkeypatch.setattr(commitment_module, "commit_canonical", refused)
    assert (
        _bundles(store, [e.record_id for e in logged[:6]])
        == "55cc0e3ad83d00bcafeff0b546c0528b44836b282eac92fe6a01ff8638466b4f"
    )
    store.close()


@pytest.mark.sqlite_only(reason="edits a SQLite row")
def test_an_export_refuses_stored_digests_that_do_not_give_the_events_commitment(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path / "bad", b"bad-digests")
    logged = store.add(ODD[:1])
    blob = store.db.one("SELECT digests FROM versions")[0]
    with store.transaction():
        store.db.execute("UPDATE versions SET digests = ?", (bytes(blob)[32:] + bytes(blob)[:32],))
    ident = "0x" + logged[0].record_id.hex()
    store.export(ident)  # nothing disclosed: the stored digests, as the private bundle carries
    with pytest.raises(InputError, match="does not match"):
        store.export(ident, reveal_all=True)
    store.close()
