"""`okeios records` / Store.records at scale: keyset pages (a cursor, not OFFSET) that cost the
page whatever the store holds (an index range, with or without a type), counts, the same answers
on SQLite and PostgreSQL (this folder's conftest runs each test on both), and a schema 2 store
(without the first log index of each resource row) upgraded on open, even when killed half way."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.faults import FAULT_ENV
from okeios._internal.protocol.kinds import START_KINDS, sql_list
from okeios._internal.publish.home import open_database
from okeios._internal.publish.identity import RecordFilter, RecordInfo
from okeios._internal.publish.store import Store
from okeios._internal.publish.tables import Database
from okeios.errors import InputError
from tests.helpers import CountingRng, run_cli


@pytest.fixture
def store(tmp_path: Path, store_backend: str) -> Iterator[Store]:  # the backend first
    with Store.init(tmp_path / "home", key=CountingRng(b"publisher")(32)) as s:
        yield s


def _res(kind: str, i: int, **fields: Any) -> dict[str, Any]:
    return {"resourceType": kind, "id": f"{kind[0].lower()}{i}", **fields}


def _fill(store: Store) -> list[str]:
    """30 records: observations and patients interleaved, amends and grants between them,
    one derived record and one erased: the first events are not every other row."""
    names: list[str] = []
    for i in range(12):
        store.put([_res("Observation", i, status="preliminary"), _res("Patient", i)])
        names += [f"Observation/o{i}", f"Patient/p{i}"]
        if i % 3 == 0:  # events that are not first events, between first events
            store.put([_res("Observation", i, status="final")])
            store.amend(f"Observation/o{i}", _res("Observation", i, status="amended"))
    store.derive(_res("Observation", 99, status="final"), ["Observation/o1", "Observation/o2"])
    names.append("Observation/o99")
    for i in range(5):
        store.put([{"note": i}], keys=[f"key-{i}"])
        names.append(f"key-{i}")
    store.access.erase("Patient/p4")
    return names


def _name(r: RecordInfo) -> str:
    return f"{r.resource_type}/{r.resource_id}" if r.resource_type else str(r.resource_id)


def _pages(store: Store, limit: int, **filters: Any) -> list[list[RecordInfo]]:
    pages, after = [], None
    while True:
        page = store.records(limit=limit, after=after, **filters)
        if not page:
            return pages
        pages.append(page)
        after = page[-1].index


def test_pages_walk_every_record_once_in_first_logged_order(store: Store) -> None:
    names = _fill(store)
    everything = store.records()
    assert len(everything) == len(names) == 30
    assert [r.index for r in everything] == sorted(r.index for r in everything)
    erased = [r for r in everything if r.erased]
    assert len(erased) == 1
    assert erased[0].resource_id is None  # erasing forgot the identity
    named = [_name(r) for r in everything if not r.erased]
    assert named == [n for n in names if n != "Patient/p4"]
    for limit in (1, 4, 7, 30, 31):
        pages = _pages(store, limit)
        assert [r.record_id for page in pages for r in page] == [r.record_id for r in everything]
        assert all(len(page) == limit for page in pages[:-1])
    assert store.identities.count(store.db) == 30
    assert store.identities.count(store.db, after=everything[9].index) == 20
    assert store.identities.count(store.db, at_most=5) == 5


def test_filters_page_and_count_alike(store: Store) -> None:
    _fill(store)
    cases: list[dict[str, Any]] = [
        {"resource_type": "Observation"},
        {"resource_type": "Patient", "erased": False},
        {"erased": True},
        {"kind": "amend"},
        {"kind": "derive"},
        {"resource_type": "Observation", "resource_id": "o3"},
        {"resource_type": "Observation", "resource_id": "missing"},
        {"since": 0, "until": 2**40},
    ]
    for filters in cases:
        whole = store.records(**filters)
        paged = [r for page in _pages(store, 3, **filters) for r in page]
        assert [r.record_id for r in paged] == [r.record_id for r in whole], filters
        assert store.identities.count(store.db, **filters) == len(whole), filters
        # a RecordFilter says the same as its fields given as keywords
        match = RecordFilter(**filters)
        assert [r.record_id for r in store.records(match)] == [r.record_id for r in whole]
        assert store.identities.count(store.db, match) == len(whole), filters
    obs = store.records(resource_type="Observation")
    assert len(obs) == 13
    assert {r.resource_type for r in obs} == {"Observation"}
    (o3,) = store.records(resource_type="Observation", resource_id="o3")
    assert (o3.version, o3.events, o3.last_kind) == (3, 3, "amend")
    assert [_name(r) for r in store.records(kind="derive")] == ["Observation/o99"]
    with pytest.raises(InputError, match="needs a resource type"):
        store.records(resource_id="o3")
    with pytest.raises(InputError, match="negative"):
        store.records(limit=-1)


TYPES = ("Observation", "Patient", "Encounter")


def _old_type_order(store: Store, resource_type: str) -> list[int]:
    """The first log indices of a type's records as schema 2 listed them: every first event in
    log order, kept when a resource row of that type names its record."""
    rows = store.db.execute(
        "SELECT f.idx FROM events f"
        f" WHERE f.kind IN {sql_list(START_KINDS)} AND EXISTS (SELECT 1 FROM resources t"
        " WHERE t.record_id = f.record_id AND t.type = ?) ORDER BY f.idx",
        (store.identities.type_mac(resource_type),),
    )
    return [int(r[0]) for r in rows]


def _fill_late(store: Store) -> None:
    """:func:`_fill`, then records that are not in first-logged order by type: an Encounter
    logged without an identity and given one by a later amend, and an early record amended."""
    (plain,) = store.add([{"untyped": 1}])
    store.put([_res("Encounter", i) for i in range(3)])
    store.amend("0x" + plain.record_id.hex(), _res("Encounter", 9))
    store.amend("Observation/o1", _res("Observation", 1, status="cancelled"))


def test_a_type_lists_its_records_in_first_logged_order(store: Store) -> None:
    """A page of a type is read from the index of types in first-event order; the records and
    their order are those of the whole listing, and of the query before that index."""
    _fill(store)
    _fill_late(store)
    everything = store.records()
    assert len(everything) == 34
    for kind in TYPES:
        want = [r for r in everything if r.resource_type == kind]
        assert want, kind
        assert store.records(resource_type=kind) == want, kind
        assert [r.index for r in want] == _old_type_order(store, kind)
        for limit in (1, 4, 5):
            assert [r for page in _pages(store, limit, resource_type=kind) for r in page] == want
        assert store.identities.count(store.db, resource_type=kind) == len(want)
        after = want[len(want) // 2].index
        assert (
            store.records(resource_type=kind, after=after, limit=2)
            == [r for r in want if r.index > after][:2]
        )
        assert store.identities.count(store.db, resource_type=kind, after=after) == len(
            [r for r in want if r.index > after]
        )
    encounters = store.records(resource_type="Encounter")
    assert [r.resource_id for r in encounters] == ["e9", "e0", "e1", "e2"]  # e9: created first
    # every row holds its record's first log index
    (wrong,) = store.db.one(
        "SELECT COUNT(*) FROM resources r WHERE r.first_idx <>"
        " (SELECT MIN(idx) FROM events e WHERE e.record_id = r.record_id)"
    )
    assert wrong == 0


def _capture(store: Store, marker: str) -> tuple[list[tuple[str, list[object]]], Any]:
    captured: list[tuple[str, list[object]]] = []
    real = store.db.execute

    def spy(sql: str, args: Any = ()) -> Any:
        if marker in sql:
            captured.append((sql, list(args)))
        return real(sql, args)

    store.db.execute = spy  # type: ignore[method-assign]
    return captured, real


@pytest.mark.sqlite_only(reason="reads SQLite's query plan")
def test_a_page_reads_the_index_not_the_table(tmp_path: Path, store_backend: str) -> None:
    """SQLite's plan for a page: the partial index of first events, or for a type the index of
    types in first-event order, searched from the cursor, no temporary sort (which would mean
    reading every record before the first row) and no scan."""
    with Store.init(tmp_path / "home") as store:
        store.put([_res(TYPES[i % 3], i) for i in range(30)])
        assert type(store.db) is Database  # SQLite's
        captured, real = _capture(store, " ORDER BY ")
        store.records(limit=2, after=1)
        store.records(limit=2, after=1, kind="create", erased=False)
        store.records(limit=2, after=1, resource_type="Observation")
        store.records(limit=2, after=1, resource_type="Patient", kind="create", erased=False)
        store.db.execute = real  # type: ignore[method-assign]
        assert len(captured) == 4
        for n, (sql, args) in enumerate(captured):
            plan = [row[3] for row in real("EXPLAIN QUERY PLAN " + sql, args)]
            first = plan[0]
            if n < 2:
                assert "INDEX events_first (idx>?)" in first, plan
            else:
                assert "INDEX resources_type_first (type=? AND first_idx>?)" in first, plan
            assert not any("TEMP B-TREE" in step for step in plan), plan
            assert not any(step.startswith("SCAN") for step in plan), plan
        # a count of a type reads the same range of the index alone
        counted: list[tuple[str, list[object]]] = []
        one = store.db.one

        def spy_one(sql: str, args: Any = ()) -> Any:
            counted.append((sql, list(args)))
            return one(sql, args)

        store.db.one = spy_one  # type: ignore[method-assign]
        assert store.identities.count(store.db, resource_type="Observation", after=1) == 9
        store.db.one = one  # type: ignore[method-assign]
        ((sql, args),) = counted
        plan = [row[3] for row in real("EXPLAIN QUERY PLAN " + sql, args)]
        covering = "SEARCH r USING COVERING INDEX resources_type_first (type=? AND first_idx>?)"
        assert plan == [covering]


def test_a_type_page_is_an_index_range_on_either_engine(tmp_path: Path, store_backend: str) -> None:
    """The page of a type reads the index of types from the cursor on both engines: SQLite's
    plan, and PostgreSQL's with sequential scans, bitmap scans and sorts turned off (with the
    statistics of a small table, or of a range with few rows left after the cursor, its planner
    may rightly prefer a scan, or a bitmap scan of the range and a sort of its few rows; what
    matters is that the index can serve the page in its order: a sort would still be planned,
    at a prohibitive cost, if it could not)."""
    with Store.init(tmp_path / "home") as store:
        store.put([_res(TYPES[i % 3], i) for i in range(60)])
        captured, real = _capture(store, " ORDER BY ")
        page = store.records(limit=5, after=10, resource_type="Patient")
        store.db.execute = real  # type: ignore[method-assign]
        assert [r.resource_id for r in page] == ["p13", "p16", "p19", "p22", "p25"]
        ((sql, args),) = captured
        if type(store.db) is Database:
            plan = [row[3] for row in real("EXPLAIN QUERY PLAN " + sql, args)]
            assert "INDEX resources_type_first (type=? AND first_idx>?)" in plan[0], plan
            assert not any("TEMP B-TREE" in step or step.startswith("SCAN") for step in plan)
        else:
            switches = ("enable_seqscan", "enable_bitmapscan", "enable_sort")
            for name in switches:
                real(f"SET {name} = off")
            try:
                plan = [str(row[0]) for row in real("EXPLAIN " + sql, args)]
            finally:
                for name in switches:
                    real(f"RESET {name}")
            text = "\n".join(plan)
            assert "Scan using resources_type_first on resources r" in text, text
            assert "first_idx >" in text, text  # the cursor is an index condition
            assert "Sort" not in text, text
            assert "Seq Scan" not in text, text


def _as_schema_2(store: Store) -> None:
    """Turn a store back into the shape schema 2 had: resource rows without their first log
    index, an index on types alone, and (as the first schema 2 stores) no index of first
    events."""
    with store.db.transaction() as conn:
        for sql in (
            "DROP INDEX resources_type_first",
            "ALTER TABLE resources DROP COLUMN first_idx",
            "CREATE INDEX resources_type ON resources (type)",
            "DROP INDEX events_first",
            "UPDATE meta SET value = '2' WHERE key = 'schema'",
        ):
            conn.execute(sql)


def _schema_of(home: Path) -> str:
    db = open_database(home)
    try:
        return str(db.one("SELECT value FROM meta WHERE key = 'schema'")[0])
    finally:
        db.close()


def _has_first_idx(home: Path) -> bool:
    db = open_database(home)
    try:
        db.execute("SELECT first_idx FROM resources LIMIT 1")
        return True
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()


def _listing(store: Store) -> dict[str, Any]:
    return {
        "all": store.records(),
        **{kind: _pages(store, 4, resource_type=kind) for kind in TYPES},
        **{f"#{kind}": store.identities.count(store.db, resource_type=kind) for kind in TYPES},
        "live patients": store.records(resource_type="Patient", erased=False),
    }


def _schema_2_store(home: Path) -> dict[str, Any]:
    """A filled store at ``home`` taken back to schema 2: its listing before the downgrade."""
    with Store.init(home) as store:
        _fill(store)
        _fill_late(store)
        before = _listing(store)
        _as_schema_2(store)
    return before


def test_a_schema_2_store_is_upgraded_on_open_and_lists_alike(
    tmp_path: Path, store_backend: str
) -> None:
    home = tmp_path / "home"
    before = _schema_2_store(home)
    assert (_schema_of(home), _has_first_idx(home)) == ("2", False)
    with Store.open(home) as store:
        assert _listing(store) == before
        assert store.check() == []
        (new,) = store.put([_res("Patient", 100)])
        assert store.records(resource_type="Patient")[-1].record_id == new.record_id
    assert (_schema_of(home), _has_first_idx(home)) == ("3", True)
    if store_backend == "sqlite":
        db = open_database(home)
        names = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master")}
        db.close()
        assert {"resources_type_first", "events_first"} <= names
        assert "resources_type" not in names


def test_a_store_killed_while_it_upgrades_reopens_and_finishes(
    tmp_path: Path, store_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upgrade is one transaction: killed just before its commit, the store is left at
    schema 2, whole; the next open upgrades it."""
    home = tmp_path / "home"
    before = _schema_2_store(home)
    monkeypatch.setenv(FAULT_ENV, "commit@1:kill")  # the first commit of the command: the upgrade
    killed = run_cli(home, "records", "--type", "Observation", "--json", expect=None)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    monkeypatch.delenv(FAULT_ENV)
    assert (_schema_of(home), _has_first_idx(home)) == ("2", False)
    listed = json.loads(run_cli(home, "records", "--type", "Observation", "--all", "--json").stdout)
    assert [r["index"] for r in listed["records"]] == [
        r.index for page in before["Observation"] for r in page
    ]
    assert _schema_of(home) == "3"
    with Store.open(home) as store:
        assert _listing(store) == before
        assert store.check() == []


def test_the_cli_pages_with_a_cursor_and_says_how_many_more(
    tmp_path: Path, store_backend: str
) -> None:
    home = tmp_path / "home"
    run_cli(home, "init", "--no-passphrase")
    bulk = tmp_path / "o.ndjson"
    bulk.write_text("\n".join(json.dumps(_res("Observation", i)) for i in range(250)))
    run_cli(home, "add", str(bulk))
    first = run_cli(home, "records")
    assert len(first.stdout.splitlines()) == 100  # the default page
    assert "100 record(s); 150 more: use --after " in first.stderr
    listed, after = [], None
    while True:
        args = ["records", "--json", "--limit", "64"] + (["--after", str(after)] if after else [])
        page = json.loads(run_cli(home, *args).stdout)
        listed += [r["id"] for r in page["records"]]
        after = page["next"]
        if after is None:
            break
    assert listed == [f"o{i}" for i in range(250)]
    everything = json.loads(run_cli(home, "records", "--all", "--json").stdout)
    assert [r["id"] for r in everything["records"]] == listed
    assert everything["count"] == 250
    assert run_cli(home, "records", "--count").stdout.strip() == "250"
    counted = run_cli(home, "records", "--count", "--json", "--type", "Patient").stdout
    assert json.loads(counted) == {"count": 0}
    cursor = json.loads(run_cli(home, "records", "--json", "--limit", "249").stdout)["next"]
    last = json.loads(run_cli(home, "records", "--json", "--after", str(cursor)).stdout)
    assert [r["id"] for r in last["records"]] == ["o249"]
    assert last["next"] is None
    refused = run_cli(home, "records", "--limit", "0", expect=2)
    assert "--limit must be at least 1" in refused.stderr


def test_a_record_filter_and_keyword_filters_are_not_mixed(store: Store) -> None:
    _fill(store)
    with pytest.raises(TypeError, match="both given"):
        store.records(RecordFilter(kind="amend"), erased=True)
    with pytest.raises(TypeError):
        store.records(colour="red")  # an unknown filter is refused, not ignored
