"""okeios at scale: ingest and verification rates, each printed beside its floor, in one run.

A script, not a test. For two corpora, the shared FHIR R4 examples (``../shared/fhir/r4-examples``,
Bundles flattened to their entries) and realistic generated resources (:func:`mix`: per patient
one Patient, encounters, each with a Claim, observations and sometimes a Condition, in the
proportions of a Synthea record), it measures:

1. **ingest, one core**: ``Store.add`` on SQLite, serially, resources per second;
2. **ingest, process pool**: the same with ``executor=ProcessPoolExecutor(W)``, and its speed-up;
3. **PostgreSQL vs SQLite ingest**: the same serial ``add`` on a PostgreSQL store (``--postgres
   URL``, else ``$OKEIOS_TEST_POSTGRES_URL``), with the time split into preparing (the same for
   both engines) and appending;
4. **verify with record, one core**: ``verify_many`` of every exported bundle with its record;
5. **inclusion proofs**: ``verify_inclusion`` of every bundle's proof against a bare loop of the
   same SHA-256 compressions;
6. **bulk verification on Dask**: ``verify_many`` through a ``LocalCluster(W)``'s executor, and
   its speed-up over serial.

The **floor** beside the ingest and verify rates is the complete floor of ``floor.py``: the
version 2 work byte for byte in one plain loop (JSON parse, canonical bytes, typed leaf walk,
an HMAC salt and a digest per field, the commitment, the randomness, three AES-GCM seals, the
EIP-712 id, the signature, the leaf, the SQLite rows; for a bundle its decoding, the event id,
the recovery, the field digests, the record's leaves, the inclusion path), timed in the same
run; the primitives' costs are printed too. Rates are best of ``--repeat`` runs.

Usage::

    python benchmarks/scale_bench.py                  # 5,000 generated resources
    python benchmarks/scale_bench.py --quick          # 1,000: a smoke run
    python benchmarks/scale_bench.py --count 20000 --workers 2 --json scale.json
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import coincurve
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parent))
import floor  # benchmarks/floor.py: the complete floor
from _common import dask_executor, process_pool

from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.canonical import canonicalize, iter_leaves, parse_json
from okeios._internal.protocol.fhir import fhir_resources
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.merkle import leaf_hash, verify_inclusion
from okeios._internal.publish.store import Store
from okeios._internal.verify.bulk import verify_many
from okeios._internal.verify.policy import TrustPolicy

SHARED = REPO.parent / "shared" / "fhir" / "r4-examples"
KEY = hashlib.sha256(b"okeios scale benchmark publisher").digest()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- corpora ------------------------------------------------------------------------------------


def shared_examples() -> list[bytes]:
    out: list[bytes] = []
    for path in sorted(SHARED.glob("*.json")):
        try:
            for r in fhir_resources(path.read_bytes()):
                out.append(r if isinstance(r, bytes) else json.dumps(r).encode())
        except Exception as exc:  # a few examples are not okeios-canonicalisable JSON
            log(f"  skipped {path.name}: {exc}")
    return out


_LOINC = [
    ("8302-2", "Body Height", "cm", 150.0, 195.0),
    ("29463-7", "Body Weight", "kg", 45.0, 120.0),
    ("39156-5", "Body mass index", "kg/m2", 17.0, 38.0),
    ("8867-4", "Heart rate", "/min", 50.0, 110.0),
    ("9279-1", "Respiratory rate", "/min", 11.0, 22.0),
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 65.0, 180.0),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 140.0, 280.0),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 10.0, 17.5),
]
_CONDITIONS = [
    ("44054006", "Diabetes mellitus type 2"),
    ("38341003", "Hypertensive disorder"),
    ("195662009", "Acute viral pharyngitis"),
    ("10509002", "Acute bronchitis"),
    ("55822004", "Hyperlipidemia"),
]
_ENCOUNTERS = [
    ("185349003", "Encounter for check up"),
    ("162673000", "General examination of patient"),
    ("185345009", "Encounter for symptom"),
]


def _uuid(rng: random.Random) -> str:
    return "%08x-%04x-4%03x-a%03x-%012x" % (  # noqa: UP031
        rng.getrandbits(32),
        rng.getrandbits(16),
        rng.getrandbits(12),
        rng.getrandbits(12),
        rng.getrandbits(48),
    )


def mix(count: int, seed: int = 13) -> list[bytes]:
    """``count`` generated FHIR R4 resources shaped like Synthea's: per patient one Patient,
    about 20 Encounters, each with its Claim, about 5 Observations and, one time in three, a
    Condition (Observations about 68%, Encounters and Claims 14% each, Conditions 4%)."""
    rng = random.Random(seed)
    out: list[bytes] = []
    while len(out) < count:
        pid = _uuid(rng)
        patient = {
            "resourceType": "Patient",
            "id": pid,
            "meta": {
                "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]
            },
            "text": {
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">Generated</div>',
            },
            "extension": [
                {
                    "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
                    "valueCode": rng.choice("MF"),
                }
            ],
            "identifier": [
                {"system": "https://github.com/synthetichealth/synthea", "value": pid},
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "MR",
                                "display": "Medical Record Number",
                            }
                        ]
                    },
                    "system": "http://hospital.smarthealthit.org",
                    "value": _uuid(rng),
                },
            ],
            "name": [
                {
                    "use": "official",
                    "family": rng.choice(["Okafor", "Lindqvist", "Moreau", "Tanaka", "Müller"]),
                    "given": [rng.choice(["Ada", "Noor", "Ilse", "Kenji", "José"])],
                    "prefix": ["Ms."],
                }
            ],
            "telecom": [
                {"system": "phone", "value": f"555-{rng.randrange(10**4):04d}", "use": "home"}
            ],
            "gender": rng.choice(["male", "female"]),
            "birthDate": (
                f"{rng.randrange(1930, 2015)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
            ),
            "address": [
                {
                    "line": [f"{rng.randrange(999)} Main St"],
                    "city": "Springfield",
                    "state": "MA",
                    "postalCode": "01105",
                    "country": "US",
                }
            ],
            "maritalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                        "code": "M",
                        "display": "Married",
                    }
                ]
            },
            "communication": [
                {
                    "language": {
                        "coding": [
                            {"system": "urn:ietf:bcp:47", "code": "en-US", "display": "English"}
                        ]
                    }
                }
            ],
        }
        out.append(json.dumps(patient).encode())
        for _ in range(20):
            eid = _uuid(rng)
            day = f"20{rng.randrange(10, 26)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
            code, display = rng.choice(_ENCOUNTERS)
            encounter = {
                "resourceType": "Encounter",
                "id": eid,
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "type": [
                    {
                        "coding": [
                            {"system": "http://snomed.info/sct", "code": code, "display": display}
                        ],
                        "text": display,
                    }
                ],
                "subject": {"reference": f"urn:uuid:{pid}"},
                "participant": [
                    {
                        "individual": {
                            "reference": f"urn:uuid:{_uuid(rng)}",
                            "display": "Dr. Kim Lee",
                        }
                    }
                ],
                "period": {"start": f"{day}T08:00:00+00:00", "end": f"{day}T08:30:00+00:00"},
                "serviceProvider": {
                    "reference": f"urn:uuid:{_uuid(rng)}",
                    "display": "Springfield Clinic",
                },
            }
            out.append(json.dumps(encounter).encode())
            claim = {
                "resourceType": "Claim",
                "id": _uuid(rng),
                "status": "active",
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                            "code": "institutional",
                        }
                    ]
                },
                "use": "claim",
                "patient": {"reference": f"urn:uuid:{pid}"},
                "billablePeriod": {
                    "start": f"{day}T08:00:00+00:00",
                    "end": f"{day}T08:30:00+00:00",
                },
                "created": f"{day}T08:30:00+00:00",
                "provider": {"reference": f"urn:uuid:{_uuid(rng)}"},
                "priority": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/processpriority",
                            "code": "normal",
                        }
                    ]
                },
                "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Medicaid"}}],
                "item": [
                    {
                        "sequence": 1,
                        "productOrService": {
                            "coding": [
                                {
                                    "system": "http://snomed.info/sct",
                                    "code": code,
                                    "display": display,
                                }
                            ]
                        },
                        "encounter": [{"reference": f"urn:uuid:{eid}"}],
                    },
                    {
                        "sequence": 2,
                        "productOrService": {
                            "coding": [
                                {"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}
                            ]
                        },
                        "net": {"value": round(rng.uniform(50, 400), 2), "currency": "USD"},
                    },
                ],
                "total": {"value": round(rng.uniform(50, 900), 2), "currency": "USD"},
            }
            out.append(json.dumps(claim).encode())
            for _ in range(5):
                lcode, ldisplay, unit, lo, hi = rng.choice(_LOINC)
                observation = {
                    "resourceType": "Observation",
                    "id": _uuid(rng),
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "vital-signs",
                                    "display": "vital-signs",
                                }
                            ]
                        }
                    ],
                    "code": {
                        "coding": [
                            {"system": "http://loinc.org", "code": lcode, "display": ldisplay}
                        ],
                        "text": ldisplay,
                    },
                    "subject": {"reference": f"urn:uuid:{pid}"},
                    "encounter": {"reference": f"urn:uuid:{eid}"},
                    "effectiveDateTime": f"{day}T08:10:00+00:00",
                    "issued": f"{day}T08:10:00.123+00:00",
                    "valueQuantity": {
                        "value": round(rng.uniform(lo, hi), 1),
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": unit,
                    },
                }
                out.append(json.dumps(observation).encode())
            if rng.random() < 1 / 3:
                ccode, cdisplay = rng.choice(_CONDITIONS)
                condition = {
                    "resourceType": "Condition",
                    "id": _uuid(rng),
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "verificationStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                "code": "confirmed",
                            }
                        ]
                    },
                    "code": {
                        "coding": [
                            {"system": "http://snomed.info/sct", "code": ccode, "display": cdisplay}
                        ],
                        "text": cdisplay,
                    },
                    "subject": {"reference": f"urn:uuid:{pid}"},
                    "encounter": {"reference": f"urn:uuid:{eid}"},
                    "onsetDateTime": f"{day}T08:20:00+00:00",
                    "recordedDate": f"{day}T08:20:00+00:00",
                }
                out.append(json.dumps(condition).encode())
    return out[:count]


# -- timing -------------------------------------------------------------------------------------


def best(fn: Callable[[], Any], repeat: int) -> float:
    """The least CPU time of this process over ``repeat`` runs of ``fn`` (CPU, not wall: the
    machine is shared, and a single-process figure is its CPU cost)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def _children_cpu() -> float:
    import psutil

    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        with suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system
    return total


@dataclass
class Run:
    wall: float
    cpu: float  # this process
    workers: float  # every child process (pool or cluster workers)

    def bound(self, serial_cpu: float, workers: int) -> float:
        """The speed-up this run's CPU split allows on ``workers`` idle cores that the caller
        shares with the workers: serial CPU over the larger of the caller's CPU and all the CPU
        of the run per core."""
        return serial_cpu / max(self.cpu, (self.cpu + self.workers) / workers)


def measure(fn: Callable[[], Any], repeat: int) -> Run:
    """The run with the least wall time, with its CPU split."""
    runs = []
    for _ in range(repeat):
        gc.collect()
        kids, cpu, wall = _children_cpu(), time.process_time(), time.perf_counter()
        fn()
        runs.append(
            Run(
                time.perf_counter() - wall,
                time.process_time() - cpu,
                _children_cpu() - kids,
            )
        )
    return min(runs, key=lambda r: r.wall)


@dataclass
class Floors:
    """Seconds per item of each primitive, from bare loops over the corpus."""

    canonical: float
    field_hashes: float
    aes: float
    sign: float
    recover: float
    fields: float  # mean fields per record

    @property
    def ingest(self) -> float:
        return self.canonical + self.field_hashes + self.aes + self.sign

    def verify(self, path_hashes: float) -> float:
        return self.canonical + self.field_hashes + path_hashes + self.recover


def floors(records: Sequence[bytes], repeat: int) -> Floors:
    values = [parse_json(r) for r in records]
    salt = os.urandom(16)
    fields = [[(p.encode(), canonicalize(v)) for p, v in iter_leaves(value)] for value in values]
    canon = [canonicalize(v) for v in values]
    n = len(records)

    def canonical() -> None:
        for v in values:
            canonicalize(v)

    def hashes() -> None:
        sha = hashlib.sha256
        for leaves in fields:
            for p, v in leaves:
                sha(salt + p + v).digest()

    key = AESGCM(os.urandom(32))
    nonce = os.urandom(12)

    def aes() -> None:
        for c in canon:
            key.encrypt(nonce, c, b"")

    priv = coincurve.PrivateKey(KEY)
    digests = [hashlib.sha256(c).digest() for c in canon]

    def sign() -> None:
        for d in digests:
            priv.sign_recoverable(d, hasher=None)

    sigs = [priv.sign_recoverable(d, hasher=None) for d in digests]

    def recover() -> None:
        for d, s in zip(digests, sigs, strict=True):
            coincurve.PublicKey.from_signature_and_message(s, d, hasher=None)

    return Floors(
        best(canonical, repeat) / n,
        best(hashes, repeat) / n,
        best(aes, repeat) / n,
        best(sign, repeat) / n,
        best(recover, repeat) / n,
        sum(len(f) for f in fields) / n,
    )


def complete_ingest_floor(records: Sequence[bytes], tmp: Path, repeat: int) -> float:
    """Seconds per record of the complete floor (``floor.py``) with its SQLite rows."""
    times = []
    for r in range(repeat):
        conn = floor.open_floor_db(tmp / f"floor-{time.perf_counter_ns()}-{r}.sqlite")
        gc.collect()
        start = time.process_time()
        floor.ingest(records, conn, rng=os.urandom, clock=time.time, master=os.urandom(32),
                     private_key=KEY, log=floor.FloorLog())  # fmt: skip
        times.append(time.process_time() - start)
        conn.close()
    return min(times) / len(records)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>9,.0f}/s"


def line(label: str, count: int, seconds: float, floor_s: float | None, note: str = "") -> None:
    text = f"  {label:<44} {rate(count, seconds)}"
    if floor_s is not None:
        text += f"   floor {1 / floor_s:>9,.0f}/s   ({seconds / count / floor_s:4.1f}x the floor)"
    print(text + (f"   {note}" if note else ""), flush=True)


# -- the figures --------------------------------------------------------------------------------


def ingest_once(
    records: Sequence[bytes], tmp: Path, executor: Executor | None, database: str | None
) -> tuple[float, float, Store, float]:
    """CPU seconds of ``add``, of which appending to the log and tables, the store, and the
    CPU seconds of the PostgreSQL server process serving it (0 on SQLite)."""
    home = tmp / f"home-{time.perf_counter_ns()}"
    store = Store.init(home, key=KEY, database=database, trust=False)
    appending = [0.0]
    book = store.put.__self__  # the store's records part, which appends a batch
    inner = book._append_prepared

    def timed(chunk: Any, draws: Any) -> Any:
        start = time.process_time()
        try:
            return inner(chunk, draws)
        finally:
            appending[0] += time.process_time() - start

    book._append_prepared = timed  # type: ignore[method-assign]
    server = _backend(store) if database else None
    server_cpu = _cpu_of(server) if server is not None else 0.0
    gc.collect()
    start = time.process_time()
    store.add(records, executor=executor)
    total = time.process_time() - start
    if server is not None:
        server_cpu = _cpu_of(server) - server_cpu
    book._append_prepared = inner  # type: ignore[method-assign]
    return total, appending[0], store, server_cpu


def run_corpus(
    name: str, records: list[bytes], args: argparse.Namespace, tmp: Path, out: dict[str, Any]
) -> None:
    n = len(records)
    print(f"\n== {name}: {n:,} resources, {sum(map(len, records)) / n:,.0f} bytes each", flush=True)
    f = floors(records, args.repeat)
    print(
        f"  floor per resource: canonical JSON {f.canonical * 1e6:.1f} us, {f.fields:.1f} salted"
        f" SHA-256 {f.field_hashes * 1e6:.1f} us, AES-GCM {f.aes * 1e6:.1f} us, sign"
        f" {f.sign * 1e6:.1f} us, recover {f.recover * 1e6:.1f} us",
        flush=True,
    )
    fig: dict[str, Any] = {"count": n, "floor_us": f.__dict__}

    # 1. ingest, one core (SQLite)
    runs = [ingest_once(records, tmp, None, None) for _ in range(args.repeat)]
    t_serial, t_append, keep, _ = min(runs, key=lambda r: r[0])
    for _, _, other, _ in runs:
        if other is not keep:
            other.close()
    floor_ingest = complete_ingest_floor(records, tmp, args.repeat)
    line(
        "ingest, one core (SQLite)",
        n,
        t_serial,
        floor_ingest,
        f"prepare {(t_serial - t_append) / n * 1e6:.0f} us + append {t_append / n * 1e6:.0f} us",
    )
    fig["ingest_serial_per_s"] = n / t_serial
    fig["ingest_append_us"] = t_append / n * 1e6

    # 2. ingest through a process pool: wall time, and the speed-up its CPU split allows
    with process_pool(args.workers) as pool:

        def pooled() -> None:
            home = tmp / f"pool-{time.perf_counter_ns()}"
            store = Store.init(home, key=KEY, trust=False)
            store.add(records, executor=pool)
            store.close()

        run = measure(pooled, args.repeat)
    bound = run.bound(t_serial, args.workers)
    line(
        f"ingest, process pool ({args.workers}), wall",
        n,
        run.wall,
        None,
        f"caller CPU {run.cpu / n * 1e6:.0f} us, workers {run.workers / n * 1e6:.0f} us per"
        f" resource: {bound:.2f}x serial on {args.workers} idle cores",
    )
    fig["ingest_pool_wall_per_s"] = n / run.wall
    fig["ingest_pool_speedup_bound"] = bound
    fig["ingest_pool_caller_cpu_us"] = run.cpu / n * 1e6
    fig["ingest_pool_worker_cpu_us"] = run.workers / n * 1e6

    # 3. PostgreSQL: the client's CPU and the server backend's, against SQLite's
    url = args.postgres or os.environ.get("OKEIOS_TEST_POSTGRES_URL")
    if url:
        best_pg: tuple[float, float, float, float] | None = None
        for _ in range(args.repeat):
            with _schema(url) as schema_url:
                wall = time.perf_counter()
                c_pg, a_pg, pg_store, s_pg = ingest_once(records, tmp, None, schema_url)
                wall = time.perf_counter() - wall
                pg_store.close()
            got = (c_pg, a_pg, s_pg, wall)
            if best_pg is None or got[0] < best_pg[0]:
                best_pg = got
        assert best_pg is not None
        c_pg, a_pg, s_pg, w_pg = best_pg
        line(
            "ingest, one core (PostgreSQL client)",
            n,
            c_pg,
            f.ingest,
            f"{c_pg / t_serial:.2f}x SQLite's CPU; append (client) {a_pg / n * 1e6:.0f} us vs"
            f" SQLite's {t_append / n * 1e6:.0f} us, plus the server backend's"
            f" {s_pg / n * 1e6:.0f} us; wall {rate(n, w_pg)}",
        )
        fig["ingest_postgres_cpu_per_s"] = n / c_pg
        fig["ingest_postgres_append_us"] = a_pg / n * 1e6
        fig["ingest_postgres_server_us"] = s_pg / n * 1e6
        fig["ingest_postgres_wall_per_s"] = n / w_pg
    else:
        print("  ingest, one core (PostgreSQL): skipped (no --postgres URL)")

    # 4. verify with record, one core
    bundles = [keep.export(to_hex(rid), reveal_all=True).to_bytes() for rid in keep.record_ids()]
    policy = TrustPolicy(authors=[keep.address], publishers=[keep.address])
    decoded = [Bundle.load(b) for b in bundles]
    path_len = sum(len(b.inclusion.path) for b in decoded) / n

    def verify_serial() -> None:
        verify_many(bundles, policy, records=records)

    reports = verify_many(bundles, policy, records=records)
    failed = [r for r in reports if not all(v.status.value != "fail" for v in r.verdicts)]
    if failed:
        raise SystemExit(f"{len(failed)} bundles failed verification")
    t_verify = best(verify_serial, args.repeat)

    # 5. inclusion proofs vs the same SHA-256 compressions in a bare loop
    proofs = [
        (
            b.inclusion.index,
            b.inclusion.tree_size,
            leaf_hash(b.event.leaf_data()),
            b.inclusion.path,
            b.checkpoint.checkpoint.root,
        )
        for b in decoded
    ]

    def okeios_proofs() -> None:
        for index, size, leaf, path, root in proofs:
            verify_inclusion(index, size, leaf, path, root)

    def bare_proofs() -> None:
        sha = hashlib.sha256
        for index, size, leaf, path, _root in proofs:
            h, i, last = leaf, index, size - 1
            for sibling in path:
                if i & 1 or i == last:
                    h = sha(b"\x01" + sibling + h).digest()
                else:
                    h = sha(b"\x01" + h + sibling).digest()
                i >>= 1
                last >>= 1

    t_inc = best(okeios_proofs, args.repeat * 3)
    t_bare = best(bare_proofs, args.repeat * 3)
    floor_verify = best(lambda: floor.verify(bundles, records, keep.address), args.repeat) / n
    line("verify with record, one core", n, t_verify, floor_verify)
    fig["verify_serial_per_s"] = n / t_verify
    print(
        f"  {'inclusion proofs (' + format(path_len, '.1f') + ' hashes each)':<44}"
        f" {rate(n, t_inc)}   bare SHA-256 loop {rate(n, t_bare)}"
        f"   ({t_inc / t_bare:.2f}x the floor's time)",
        flush=True,
    )
    fig["inclusion_vs_bare"] = t_inc / t_bare

    # 6. bulk verification on Dask: wall time, and the speed-up its CPU split allows
    with dask_executor(args.workers) as dask:
        if dask is None:
            print("  bulk verify, Dask: skipped (distributed is not installed)")
        else:
            executor = dask
            verify_many(bundles[:512], policy, records=records[:512], executor=executor)
            run = measure(
                lambda: verify_many(bundles, policy, records=records, executor=executor),
                args.repeat,
            )
            bound = run.bound(t_verify, args.workers)
            # What the cluster burns doing nothing (event loops, heartbeats, monitors): it
            # grows with wall time, not with the work, so a loaded machine inflates it.
            kids, cpu = _children_cpu(), time.process_time()
            time.sleep(3)
            idle = (_children_cpu() - kids + time.process_time() - cpu) / 3
            print(f"  (an idle Dask cluster here burns {idle * 1e3:.0f} ms of CPU per second)")
            fig["dask_idle_cpu_ms_per_s"] = idle * 1e3
            line(
                f"bulk verify, Dask LocalCluster({args.workers}), wall",
                n,
                run.wall,
                None,
                f"caller CPU {run.cpu / n * 1e6:.0f} us, workers {run.workers / n * 1e6:.0f} us"
                f" per bundle: {bound:.2f}x serial on {args.workers} idle cores",
            )
            fig["verify_dask_wall_per_s"] = n / run.wall
            fig["verify_dask_speedup_bound"] = bound
    keep.close()
    out[name] = fig


def _backend(store: Store) -> Any:
    """The PostgreSQL server process serving this store's connection (same machine)."""
    import psutil

    row = store.db.one("SELECT pg_backend_pid()")
    return psutil.Process(int(row[0]))


def _cpu_of(proc: Any) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


@contextmanager
def _schema(url: str) -> Iterator[str]:
    import secrets
    from urllib.parse import quote

    import psycopg

    schema = "bench_" + secrets.token_hex(4)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options={quote('-csearch_path=' + schema)}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=int, default=5000, help="generated resources (default 5,000)"
    )
    parser.add_argument("--quick", action="store_true", help="1,000 resources, one repeat")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server for figure 3")
    parser.add_argument("--no-shared", action="store_true", help="skip the shared examples")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.repeat = 1000, 1
    print(
        f"okeios scale benchmark (rates per CPU-second of this process unless marked wall;"
        f" load average {os.getloadavg()[0]:.1f}): Python {platform.python_version()}"
        f" on {platform.system()}"
        f" {platform.machine()}, {os.cpu_count()} CPUs, {args.workers} workers, best of"
        f" {args.repeat}, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        flush=True,
    )
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="okeios-scale-") as tmp:
        if not args.no_shared:
            if SHARED.exists():
                run_corpus("shared FHIR R4 examples", shared_examples(), args, Path(tmp), out)
            else:
                print(f"\n(shared examples not found at {SHARED})")
        run_corpus("generated Synthea-like mix", mix(args.count), args, Path(tmp), out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        sys.exit(main())
