"""`okeios records --type T`: the time of a page at two store sizes, beside its floor and goal.

A script, not a test. It builds two SQLite stores by :meth:`Store.put` (the rows ``okeios add``
writes: events, versions, tree nodes, resource rows) of small generated FHIR resources in the
proportions of a Synthea record (per patient one Patient, about 20 Encounters each with its
Claim, about 100 Observations, about 7 Conditions: Observations about 68%, Patients under 1%),
one of ``--small`` records and one of ``--large``, then times in each, in CPU time of this
process (SQLite runs in it; the machine may be shared, so wall time would measure the
neighbours), the median of ``--repeat`` runs of:

* a page as ``okeios records --type T --json`` reads it: ``Store.records(limit=101)``, the first
  page and the type's last full page (``--after`` a cursor near the end of the log);
* the page as the text listing reads it: the same, and the "N more" count (at most 10,001
  records past the page);

for a common type (Observation) and a rarer one (Condition, about 4%: Patients, under 1%, would
not fill a page of the small store), beside:

* the **floor**: the least work that names the same page's records, a bare read of the 101
  resource rows from the index of types in first-logged order and the opening of their sealed
  labels (the page also reads each record's last event, its number of events and whether it
  was erased);
* the **goal**: the page is flat in the store size, the large store's time within 1.5x of the
  small one's (ideally ~1x);
* **before**: the schema 2 query on the same store (every first event walked in log order from
  the cursor, each record's type checked, until a page of matches), for the record.

Then the bytes per record of the resource rows and their indexes (SQLite's ``dbstat``): what
the index costs. ``benchmarks/floor_bench.py`` prints the whole store's bytes per record by
table and index, on real FHIR resources.

Usage::

    python benchmarks/records_bench.py                # 10,000 and 200,000 records
    python benchmarks/records_bench.py --quick        # 3,000 and 30,000: a smoke run

The default run takes about 2 to 4 minutes on 2 loaded cores, nearly all of it building the
200,000-record store (``Store.put`` of 5,000 resources per transaction); ``--quick`` about 15 s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from okeios._internal.protocol.kinds import START_KINDS, sql_list
from okeios._internal.publish.store import Store

GOAL = 1.5  # the large store's page time over the small one's
LIMIT = 100  # `okeios records`' default page
MORE_COUNTED = 10_000  # what the text listing counts past the page, at most
CHUNK = 5000

# The page as schema 2 read it (a walk of every first event from the cursor, each record's type
# checked), and its count: for the "before" figures only.
_BEFORE_PAGE = (
    "SELECT f.idx, f.record_id, r.type, r.label, h.version, h.kind, h.time,"
    " (SELECT COUNT(*) FROM events e WHERE e.record_id = f.record_id),"
    " (SELECT MAX(erased) FROM versions v WHERE v.record_id = f.record_id)"
    " FROM events f"
    " JOIN events h ON h.idx = (SELECT MAX(idx) FROM events m WHERE m.record_id = f.record_id)"
    " LEFT JOIN resources r ON r.record_id = f.record_id"
    f" WHERE f.kind IN {sql_list(START_KINDS)}"
    " AND EXISTS (SELECT 1 FROM resources t WHERE t.record_id = f.record_id AND t.type = ?)"
    " AND f.idx > ? ORDER BY f.idx LIMIT ?"
)
_BEFORE_COUNT = (
    "SELECT COUNT(*) FROM (SELECT 1 FROM events f"
    f" WHERE f.kind IN {sql_list(START_KINDS)}"
    " AND f.record_id IN (SELECT record_id FROM resources WHERE type = ?)"
    " AND f.idx > ? LIMIT ?) c"
)
_FLOOR = (
    "SELECT t.first_idx, t.record_id, t.label FROM resources t"
    " WHERE t.type = ? AND t.first_idx > ? ORDER BY t.first_idx LIMIT ?"
)


def resources(count: int, seed: int = 23) -> list[dict[str, Any]]:
    """``count`` small FHIR resources, patient by patient, in Synthea's proportions."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    n = 0
    while len(out) < count:
        pid = f"p{n}"
        n += 1
        group: list[dict[str, Any]] = [{"resourceType": "Patient", "id": pid, "active": True}]
        subject = {"reference": f"Patient/{pid}"}
        for e in range(rng.randint(15, 25)):
            eid = f"{pid}-e{e}"
            group.append({"resourceType": "Encounter", "id": eid, "status": "finished",
                          "subject": subject})  # fmt: skip
            group.append({"resourceType": "Claim", "id": f"{eid}-c", "status": "active",
                          "patient": subject})  # fmt: skip
            for o in range(rng.randint(3, 7)):
                value = {"value": rng.randint(40, 200), "unit": "mg/dL"}
                oid = f"{eid}-o{o}"
                group.append({"resourceType": "Observation", "id": oid, "status": "final",
                              "subject": subject, "valueQuantity": value})  # fmt: skip
            if rng.random() < 1 / 3:
                group.append({"resourceType": "Condition", "id": f"{eid}-k", "subject": subject})
        out.extend(group)
    return out[:count]


def build(home: Path, count: int) -> tuple[Store, float]:
    """A store of ``count`` records added by identity; the CPU seconds it took."""
    records = resources(count)
    store = Store.init(home, trust=False)
    t = time.process_time()
    for i in range(0, count, CHUNK):
        store.put(records[i : i + CHUNK])
    return store, time.process_time() - t


def cpu_median(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm: the pages a query reads are in SQLite's cache for every run that follows
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def cursors(store: Store, kind: str) -> dict[str, int | None]:
    """The first page's cursor (none) and the cursor of the type's last full page."""
    n = store.identities.count(store.db, resource_type=kind)
    if n < LIMIT + 2:
        raise SystemExit(f"{kind}: {n} records, not two pages: make the small store larger")
    row = store.db.one(
        "SELECT first_idx FROM resources WHERE type = ? ORDER BY first_idx LIMIT 1 OFFSET ?",
        (store.identities.type_mac(kind), n - LIMIT - 2),
    )
    return {"first page": None, "last page": int(row[0])}


def page_figures(store: Store, kind: str, after: int | None, repeat: int) -> dict[str, float]:
    ids = store.identities
    mac = ids.type_mac(kind)
    start = -1 if after is None else after

    def page() -> object:
        return store.records(resource_type=kind, limit=LIMIT + 1, after=after)

    def text_page() -> object:
        rows = store.records(resource_type=kind, limit=LIMIT + 1, after=after)
        if len(rows) > LIMIT:
            ids.count(store.db, resource_type=kind, after=rows[LIMIT - 1].index,
                      at_most=MORE_COUNTED + 1)  # fmt: skip
        return rows

    def floor() -> object:
        rows = store.db.execute(_FLOOR, (mac, start, LIMIT + 1)).fetchall()
        return [ids._open_label(bytes(rid), bytes(label)) for _, rid, label in rows]

    def before() -> object:
        rows = store.db.execute(_BEFORE_PAGE, (mac, start, LIMIT + 1)).fetchall()
        if len(rows) > LIMIT:
            store.db.one(_BEFORE_COUNT, (mac, int(rows[LIMIT - 1][0]), MORE_COUNTED + 1))
        return rows

    # the same records, in the same order, as the schema 2 query found them
    now = [r.index for r in store.records(resource_type=kind, limit=LIMIT + 1, after=after)]
    old = [int(r[0]) for r in store.db.execute(_BEFORE_PAGE, (mac, start, LIMIT + 1))]
    assert now == old, (kind, after)
    assert len(now) == LIMIT + 1, (kind, after)  # a full page (and the row that says more)
    return {
        "page": cpu_median(page, repeat),
        "text page": cpu_median(text_page, repeat),
        "floor": cpu_median(floor, repeat),
        "before (text page)": cpu_median(before, repeat),
    }


def index_bytes(store: Store, n: int) -> dict[str, float]:
    conn = store.db.conn
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    sizes = {str(name): size / n for name, size in rows}
    total = sum(size for _, size in rows) / n
    print(f"\nbytes per record, {n:,} records ({total:,.0f} B in all; floor_bench.py has them all)")
    for name in ("resources", "sqlite_autoindex_resources_1", "sqlite_autoindex_resources_2",
                 "resources_type_first", "events_first"):  # fmt: skip
        if name in sizes:
            print(f"  {name:<32} {sizes[name]:>6,.0f} B")
    print("  (resources_type_first replaces schema 2's index of the type alone, 32 B of MAC and a")
    print("   row id per record: the first log index adds a few bytes to the row and the index)")
    return {"total": total, **sizes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=31)
    ap.add_argument("--quick", action="store_true", help="3,000 and 30,000 records, 11 repeats")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.small, args.large, args.repeat = 3_000, 30_000, 11
    print(f"okeios records --type T, CPU time of this process, median of {args.repeat} runs;")
    print("a shared machine: figures move by 10-30% from run to run", flush=True)
    out: dict[str, Any] = {"small": args.small, "large": args.large, "figures": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="okeios-records-") as tmp:
        stores: dict[int, Store] = {}
        for n in (args.small, args.large):
            stores[n], seconds = build(Path(tmp) / f"s{n}", n)
            print(f"built {n:,} records in {seconds:,.1f} s CPU ({n / seconds:,.0f}/s)", flush=True)
        for kind in ("Observation", "Condition"):
            share = (
                stores[args.large].identities.count(stores[args.large].db, resource_type=kind)
                / args.large
            )
            print(f"\n--type {kind} ({share:.1%} of the records), ms per page of {LIMIT}")
            print(f"  {'':<26} {args.small:>9,} {args.large:>9,}   ratio   goal <= {GOAL}x")
            for where in ("first page", "last page"):
                got = {}
                for n, store in stores.items():
                    got[n] = page_figures(store, kind, cursors(store, kind)[where], args.repeat)
                out["figures"][f"{kind} {where}"] = got
                for what in ("page", "text page", "floor", "before (text page)"):
                    small, large = got[args.small][what], got[args.large][what]
                    ratio = large / small
                    verdict = ""
                    if what in ("page", "text page"):
                        verdict = "met" if ratio <= GOAL else "NOT met"
                    print(f"  {where + ': ' + what:<26} {small * 1e3:>9.2f} {large * 1e3:>9.2f}"
                          f"   {ratio:5.2f}x  {verdict}", flush=True)  # fmt: skip
        out["bytes"] = index_bytes(stores[args.large], args.large)
        for store in stores.values():
            store.close()
    print(f"\nran {time.perf_counter() - started:,.0f} s wall")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
