"""`okeios records` / Store.records at scale: keyset pages (a cursor, not OFFSET) that cost the
page whatever the store holds, counts, the same answers on SQLite and PostgreSQL (this folder's
conftest runs each test on both), and an older store that lacked the index gets it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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


@pytest.mark.sqlite_only(reason="reads SQLite's query plan")
def test_a_page_reads_the_index_not_the_table(tmp_path: Path, store_backend: str) -> None:
    """SQLite's plan for a page: the partial index of first events, searched from the cursor,
    no temporary sort (which would mean reading every record before the first row)."""
    with Store.init(tmp_path / "home") as store:
        store.put([_res("Observation", i) for i in range(5)])
        assert type(store.db) is Database  # SQLite's
        captured: list[tuple[str, list[object]]] = []
        real = store.db.execute

        def spy(sql: str, args: Any = ()) -> Any:
            if "ORDER BY f.idx" in sql:
                captured.append((sql, list(args)))
            return real(sql, args)

        store.db.execute = spy  # type: ignore[method-assign]
        store.records(limit=2, after=1)
        store.records(limit=2, after=1, kind="create", erased=False)
        store.records(limit=2, after=1, resource_type="Observation")  # not: all of a type, sorted
        store.db.execute = real  # type: ignore[method-assign]
        assert len(captured) == 3
        for sql, args in captured:
            plan = [row[3] for row in real("EXPLAIN QUERY PLAN " + sql, args)]
            first = plan[0]
            assert "USING COVERING INDEX events_first (idx>?)" in first or (
                "USING INDEX events_first (idx>?)" in first
            ), plan
            assert not any("TEMP B-TREE" in step for step in plan), plan
            assert not any(step.startswith("SCAN") and "events_first" not in step for step in plan)


def test_a_store_without_the_index_gets_it_once(tmp_path: Path, store_backend: str) -> None:
    with Store.init(tmp_path / "home") as store:
        store.put([_res("Observation", i) for i in range(3)])
        with store.db.transaction() as conn:
            conn.execute("DROP INDEX events_first")  # as a store made before the index
    with Store.open(tmp_path / "home") as store:
        assert not store.identities._indexed
        assert [r.resource_id for r in store.records()] == ["o0", "o1", "o2"]
        assert store.identities._indexed
        assert store.identities.count(store.db) == 3
        if type(store.db) is Database:
            names = [r[0] for r in store.db.execute("SELECT name FROM sqlite_master")]
            assert "events_first" in names
        else:
            assert store.db.one("SELECT to_regclass('events_first') IS NOT NULL")[0]
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
