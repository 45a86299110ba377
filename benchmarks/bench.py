"""okeios benchmarks: Merkle log, proofs, signing and the end-to-end pipeline, side by side.

A script, not a test. One process, one thread; the figures are meant for a 2-core machine.
Every figure is timed with ``time.perf_counter`` over ``REPEAT`` runs; the best run is the
headline (as ``timeit`` does) and the median is printed next to it so noise is visible. Inputs
are generated or read before timing, and the garbage collector is left on (as in real use) but
collected before every run.

Usage::

    python benchmarks/bench.py                  # the full run (1,000,000 leaves)
    python benchmarks/bench.py --quick          # a ~20x smaller smoke run (seconds)
    python benchmarks/bench.py --leaves 200000 --json results.json

See ``benchmarks/README.md`` for what each row means.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPEAT = 3
QUICK_SCALE = 20
DEFAULT_LEAVES = 1_000_000
PROOF_OPS = 2_000
SIGN_OPS = 2_000
ETH_ACCOUNT_OPS = 200
# Above this estimated time for one pymerkle append run at full size, pymerkle is measured on a
# smaller log and extrapolated linearly.
PYMERKLE_BUDGET_S = 60.0
PYMERKLE_FALLBACK_LEAVES = 100_000

REPO = Path(__file__).resolve().parent.parent
FHIR_DIR = REPO.parent / "shared" / "fhir" / "r4-examples"

sys.path.insert(0, str(REPO))  # run from a checkout without installing


# --- timing -----------------------------------------------------------------------------------


@dataclass
class Timing:
    """``ops`` operations timed ``len(runs)`` times."""

    ops: int
    runs: list[float]
    note: str = ""

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def rate(self) -> float:
        """Operations per second, from the best run."""
        return self.ops / self.best

    def scaled(self, factor: float, note: str) -> Timing:
        """The same rate for ``ops * factor`` operations (a linear extrapolation)."""
        return Timing(round(self.ops * factor), [r * factor for r in self.runs], note)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ops": self.ops,
            "best_s": self.best,
            "median_s": self.median,
            "runs_s": self.runs,
            "ops_per_s": self.rate,
        }
        if self.note:
            out["note"] = self.note
        return out


def measure(
    fn: Callable[[], Any],
    ops: int,
    *,
    repeat: int = REPEAT,
    setup: Callable[[], None] | None = None,
) -> tuple[Timing, Any]:
    """Time ``fn`` ``repeat`` times; return the timing and the last run's result.

    The previous result is dropped and ``setup`` runs (untimed) before each run, so large
    structures from one run are freed before the next one builds its own.
    """
    runs: list[float] = []
    result: Any = None
    for _ in range(repeat):
        result = None
        if setup is not None:
            setup()
        gc.collect()
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return Timing(ops, runs), result


# --- reporting --------------------------------------------------------------------------------


@dataclass
class Goal:
    name: str
    ratio: float
    limit: float
    higher_is_better: bool
    detail: str = ""

    @property
    def met(self) -> bool:
        return self.ratio >= self.limit if self.higher_is_better else self.ratio <= self.limit

    def line(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        verdict = "MET" if self.met else "NOT MET"
        text = f"  GOAL {self.name}: {self.ratio:.2f}x (goal {sign} {self.limit:g}x) ... {verdict}"
        return text + (f"  [{self.detail}]" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "goal": self.name,
            "ratio": self.ratio,
            "limit": self.limit,
            "higher_is_better": self.higher_is_better,
            "met": self.met,
            "detail": self.detail,
        }


@dataclass
class Report:
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)

    def record(self, section: str, name: str, timing: Timing) -> None:
        self.sections.setdefault(section, {})[name] = timing.to_dict()

    def goal(self, goal: Goal) -> None:
        self.goals.append(goal)
        print(goal.line())


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}/s" if rate >= 100 else f"{rate:,.1f}/s"


def heading(text: str) -> None:
    print()
    print(text)
    print("-" * len(text))


def row(label: str, t: Timing, unit: str, extra: str = "") -> None:
    per_op = t.best / t.ops
    per = f"{per_op * 1e6:9.2f} us" if per_op < 1e-3 else f"{per_op * 1e3:9.3f} ms"
    print(
        f"  {label:<46} {fmt_rate(t.rate):>13} {unit:<8} {per}/op   "
        f"best {t.best:8.3f} s  median {t.median:8.3f} s{extra}"
    )


# --- 1. log append + root ---------------------------------------------------------------------

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def bare_root(data: Sequence[bytes]) -> bytes:
    """RFC 9162 root with nothing but hashlib: hash the leaves, then pair up level by level,
    carrying an odd last node up unchanged (which gives exactly the RFC 9162 tree)."""
    sha = hashlib.sha256
    level = [sha(LEAF_PREFIX + d).digest() for d in data]
    if not level:
        return sha(b"").digest()
    while len(level) > 1:
        it = iter(level)
        pairs = zip(it, it, strict=False)  # the odd last node, if any, is left in `it`
        parents = [sha(NODE_PREFIX + left + right).digest() for left, right in pairs]
        if len(level) & 1:
            parents.append(level[-1])
        level = parents
    return level[0]


def make_leaves(count: int, rng: random.Random) -> list[bytes]:
    return [rng.randbytes(rng.randint(32, 100)) for _ in range(count)]


def bench_append(report: Report, data: list[bytes]) -> tuple[Any, Any, int]:
    """Section 1. Returns the okeios log of ``len(data)`` leaves, the pymerkle tree and its
    size (smaller when pymerkle is measured on a smaller log)."""
    from pymerkle import InmemoryTree

    from okeios._internal.protocol.merkle import MerkleLog

    n = len(data)
    sec = "1_append"
    heading(f"1. Log append + root: {n:,} leaves of 32..100 random bytes, best of {REPEAT}")

    t_bare, root_bare = measure(lambda: bare_root(data), n)

    def okeios_extend() -> Any:
        log = MerkleLog()
        log.extend(data)
        log.root()
        return log

    t_extend, log = measure(okeios_extend, n)

    def okeios_append() -> bytes:
        log = MerkleLog()
        append = log.append
        for d in data:
            append(d)
        return log.root()

    t_append, root_append = measure(okeios_append, n)

    # pymerkle configuration: InmemoryTree(algorithm="sha256") with the defaults
    # disable_security=False (leaf hash SHA-256(0x00 || d), node hash SHA-256(0x01 || l || r),
    # i.e. the RFC 6962 / RFC 9162 prefixes), disable_optimizations=False and
    # disable_cache=False. That is the same hash function, the same tree and the same root as
    # okeios, with pymerkle's fastest in-memory code paths: the fair like-for-like comparison.
    # (disable_security=True would skip the prefixes, computing a different, weaker tree.)
    # InmemoryTree has no bulk append (append_entries just loops over append_entry), so the
    # entries are appended one by one, then the root is read with get_root (get_state is a
    # deprecated alias in pymerkle 7).
    def pymerkle_build(entries: Sequence[bytes]) -> Any:
        tree = InmemoryTree(algorithm="sha256")
        append = tree.append_entry
        for d in entries:
            append(d)
        tree.get_root()
        return tree

    probe = min(n, max(n // QUICK_SCALE, 1_000))
    _, probe_tree = measure(lambda: pymerkle_build(data[:probe]), probe, repeat=1)
    del probe_tree
    t_probe, _ = measure(lambda: pymerkle_build(data[:probe]), probe, repeat=1)
    estimate = t_probe.best * n / probe
    pm_size = n if estimate <= PYMERKLE_BUDGET_S else min(n, PYMERKLE_FALLBACK_LEAVES)
    holder: list[Any] = []
    t_pm_raw, tree = measure(lambda: pymerkle_build(data[:pm_size]), pm_size, setup=holder.clear)
    if pm_size < n:
        note = (
            f"measured on {pm_size:,} leaves (a {n:,}-leaf run was estimated at "
            f"{estimate:.1f} s) and extrapolated linearly x{n / pm_size:g}; pymerkle's append "
            "is O(log n), so this flatters it slightly"
        )
        t_pm = t_pm_raw.scaled(n / pm_size, note)
    else:
        t_pm = t_pm_raw

    row("(a) bare hashlib level-by-level loop", t_bare, "leaves")
    row("(b) okeios MerkleLog().extend + root()", t_extend, "leaves")
    row("(c) okeios MerkleLog.append loop + root()", t_append, "leaves")
    row("(d) pymerkle InmemoryTree.append_entry + root", t_pm, "leaves")
    if t_pm.note:
        print(f"      (d) {t_pm.note}")
    for name, t in (
        ("bare_loop", t_bare),
        ("okeios_extend", t_extend),
        ("okeios_append_loop", t_append),
        ("pymerkle_append_loop", t_pm),
    ):
        report.record(sec, name, t)

    root_extend = log.root()
    assert root_bare == root_extend, "bare loop and okeios extend disagree on the root"
    assert root_append == root_extend, "okeios append and extend disagree on the root"
    pm_root = tree.get_root()
    assert pm_root == log.root(pm_size), "pymerkle and okeios disagree on the root"
    where = "" if pm_size == n else f" (pymerkle at its {pm_size:,}-leaf size)"
    print(f"  roots: (a) == (b) == (c) == (d){where}: {root_extend.hex()[:16]}...")
    report.sections[sec]["root"] = root_extend.hex()
    report.sections[sec]["pymerkle_leaves"] = pm_size

    report.goal(
        Goal(
            "okeios extend within 1.5x of the bare loop (time (b) / time (a))",
            t_extend.best / t_bare.best,
            1.5,
            higher_is_better=False,
        )
    )
    report.goal(
        Goal(
            "okeios extend at least 5x faster than pymerkle (time (d) / time (b))",
            t_extend.rate / t_pm.rate,
            5.0,
            higher_is_better=True,
        )
    )
    print(
        f"  (for reference: okeios append loop is {t_append.rate / t_pm.rate:.2f}x pymerkle, "
        f"{t_append.best / t_bare.best:.2f}x the bare loop's time)"
    )
    return log, tree, pm_size


# --- 2. proofs --------------------------------------------------------------------------------


def bench_proofs(
    report: Report, log: Any, tree: Any, pm_size: int, ops: int, rng: random.Random
) -> None:
    from pymerkle import verify_consistency as pm_verify_consistency
    from pymerkle import verify_inclusion as pm_verify_inclusion

    from okeios._internal.protocol.merkle import verify_consistency, verify_inclusion

    n = log.size
    sec = "2_proofs"
    sizes = f"{n:,} leaves" if pm_size == n else f"okeios {n:,} / pymerkle {pm_size:,} leaves"
    heading(f"2. Proofs: {ops:,} random indices / (old, new) pairs, {sizes}, best of {REPEAT}")

    def draw(size: int) -> tuple[list[int], list[tuple[int, int]]]:
        indices = [rng.randrange(size) for _ in range(ops)]
        pairs = []
        for _ in range(ops):
            new = rng.randint(1, size)
            pairs.append((rng.randint(1, new), new))
        return indices, pairs

    idx, pairs = draw(n)
    pm_idx, pm_pairs = (idx, pairs) if pm_size == n else draw(pm_size)

    # okeios
    root = log.root()
    leaves = [log.leaf_hash_at(i) for i in idx]
    roots = {s: log.root(s) for pair in pairs for s in pair}
    t_inc_gen, inc = measure(lambda: [log.inclusion_proof(i) for i in idx], ops)

    def ok_inc_verify() -> None:
        for i, leaf, proof in zip(idx, leaves, inc, strict=True):
            verify_inclusion(i, n, leaf, proof, root)

    t_inc_ver, _ = measure(ok_inc_verify, ops)
    t_con_gen, con = measure(lambda: [log.consistency_proof(o, m) for o, m in pairs], ops)

    def ok_con_verify() -> None:
        for (o, m), proof in zip(pairs, con, strict=True):
            verify_consistency(o, m, roots[o], roots[m], proof)

    t_con_ver, _ = measure(ok_con_verify, ops)

    # pymerkle (1-based leaf indices; the proof path starts with the leaf hash itself)
    pm_root = tree.get_root()
    pm_leaves = [tree.get_leaf(i + 1) for i in pm_idx]
    pm_roots = {s: tree.get_root(s) for pair in pm_pairs for s in pair}
    t_pm_inc_gen, pm_inc = measure(lambda: [tree.prove_inclusion(i + 1) for i in pm_idx], ops)

    def pm_inc_verify() -> None:
        for i, leaf, proof in zip(pm_idx, pm_leaves, pm_inc, strict=True):
            pm_verify_inclusion(leaf, pm_root, proof, index=i + 1, size=pm_size)

    t_pm_inc_ver, _ = measure(pm_inc_verify, ops)
    t_pm_con_gen, pm_con = measure(lambda: [tree.prove_consistency(o, m) for o, m in pm_pairs], ops)

    def pm_con_verify() -> None:
        for (o, m), proof in zip(pm_pairs, pm_con, strict=True):
            pm_verify_consistency(pm_roots[o], pm_roots[m], proof, prior_size=o, later_size=m)

    t_pm_con_ver, _ = measure(pm_con_verify, ops)

    # Reference floor: only the SHA-256 calls an inclusion proof needs (no checks at all).
    def floor_inc_verify() -> None:
        sha = hashlib.sha256
        for leaf, proof in zip(leaves, inc, strict=True):
            r = leaf
            for p in proof:
                r = sha(NODE_PREFIX + p + r).digest()

    t_floor, _ = measure(floor_inc_verify, ops)
    mean_path = sum(len(p) for p in inc) / ops

    if pm_size == n:  # same tree: the audit paths must be the same hashes
        for i, proof, pm_proof in list(zip(idx, inc, pm_inc, strict=True))[:50]:
            assert pm_proof.path[0] == log.leaf_hash_at(i)
            assert pm_proof.path[1:] == proof, f"inclusion paths differ for index {i}"

    print(f"  {'operation':<30} {'okeios':>14} {'pymerkle':>14} {'okeios/pymerkle':>17}")
    rows = (
        ("inclusion proof generation", "inclusion_generate", t_inc_gen, t_pm_inc_gen),
        ("inclusion proof verification", "inclusion_verify", t_inc_ver, t_pm_inc_ver),
        ("consistency proof generation", "consistency_generate", t_con_gen, t_pm_con_gen),
        ("consistency proof verification", "consistency_verify", t_con_ver, t_pm_con_ver),
    )
    for label, key, ours, theirs in rows:
        ratio = ours.rate / theirs.rate
        print(
            f"  {label:<30} {fmt_rate(ours.rate):>14} {fmt_rate(theirs.rate):>14} "
            f"{ratio:>16.2f}x   (median {ours.median * 1e3:.1f} ms / {theirs.median * 1e3:.1f} ms)"
        )
        report.record(sec, f"okeios_{key}", ours)
        report.record(sec, f"pymerkle_{key}", theirs)
    report.record(sec, "floor_inclusion_verify_hashing_only", t_floor)
    print(
        f"  floor: the {mean_path:.1f} SHA-256 calls of an inclusion proof alone (bare hashlib,"
        f" no checks) run at {fmt_rate(t_floor.rate)}, {t_floor.rate / t_pm_inc_ver.rate:.2f}x"
        " pymerkle's verification: no verifier can be faster than that"
    )
    for label, _key, ours, theirs in rows:
        report.goal(Goal(f"{label} at least 10x pymerkle", ours.rate / theirs.rate, 10.0, True))


# --- 3. signing -------------------------------------------------------------------------------


def bench_signing(report: Report, ops: int, eth_ops: int, rng: random.Random) -> None:
    import coincurve
    from eth_account import Account

    from okeios._internal.protocol.events import Event, EventKind, derive_log_id
    from okeios._internal.protocol.signing import LocalSigner

    sec = "3_signing"
    heading(f"3. Signing (secp256k1, EIP-712): {ops:,} signatures a run, best of {REPEAT}")

    signer = LocalSigner.generate(rng.randbytes)
    key = coincurve.PrivateKey(signer.private_key)
    digests = [rng.randbytes(32) for _ in range(ops)]
    log_id = derive_log_id(signer.address)
    fields = [(rng.randbytes(32), rng.randbytes(32)) for _ in range(ops)]
    base_time = 1_795_000_000

    def build(i: int, record_id: bytes, commitment: bytes) -> Event:
        return Event(
            kind=EventKind.CREATE,
            log_id=log_id,
            record_id=record_id,
            version=1,
            previous=bytes(32),
            commitment=commitment,
            ciphertext_digest=bytes(32),
            author=signer.address,
            time=base_time + i,
        )

    sign_raw = key.sign_recoverable
    t_raw, _ = measure(lambda: [sign_raw(d, hasher=None) for d in digests], ops)
    t_build, events = measure(lambda: [build(i, r, c) for i, (r, c) in enumerate(fields)], ops)
    t_sign, signed = measure(lambda: [e.sign(signer) for e in events], ops)
    t_total, _ = measure(
        lambda: [build(i, r, c).sign(signer) for i, (r, c) in enumerate(fields)], ops
    )
    private_key = signer.private_key
    eth_events = events[:eth_ops]
    t_eth, eth_signed = measure(
        lambda: [
            Account.sign_typed_data(private_key, full_message=e.typed_data()) for e in eth_events
        ],
        len(eth_events),
    )
    t_recover, recovered = measure(lambda: [s.recover() for s in signed], ops)

    assert all(a == signer.address for a in recovered), "a signature did not recover"
    for e, s, es in zip(eth_events, signed, eth_signed, strict=False):
        assert bytes(es.message_hash) == e.id, "eth-account and okeios EIP-712 digests differ"
        assert bytes(es.signature) == s.signature, "eth-account and okeios signatures differ"

    rows = (
        ("raw coincurve sign_recoverable (digest)", "coincurve_sign_recoverable", t_raw, "sigs"),
        ("okeios Event() construction + EIP-712 digest", "okeios_event_build_digest", t_build,
         "events"),
        ("okeios Event.sign(LocalSigner) alone", "okeios_event_sign", t_sign, "sigs"),
        ("okeios event build + digest + sign", "okeios_event_build_digest_sign", t_total,
         "events"),
        ("eth-account sign_typed_data(full_message)", "eth_account_sign_typed_data", t_eth,
         "sigs"),
        ("okeios SignedEvent.recover()", "okeios_recover", t_recover, "checks"),
    )  # fmt: skip
    for label, key_name, t, unit in rows:
        row(label, t, unit)
        report.record(sec, key_name, t)
    print(
        f"  eth-account (on {len(eth_events):,} events) gives the same EIP-712 digests and "
        f"byte-identical signatures (RFC 6979 nonces); okeios build+digest+sign is "
        f"{t_total.rate / t_eth.rate:.1f}x eth-account"
    )
    report.goal(
        Goal(
            "okeios event signing (build + digest + sign) within 3x of raw coincurve signing",
            t_raw.rate / t_total.rate,
            3.0,
            higher_is_better=False,
            detail="time per okeios event / time per raw signature",
        )
    )


# --- 4. end to end ----------------------------------------------------------------------------


def bench_end_to_end(report: Report, fhir_dir: Path, quick: bool, rng: random.Random) -> None:
    from okeios._internal.protocol.signing import LocalSigner
    from okeios._internal.publish.publisher import Publisher
    from okeios._internal.verify.bundle import verify_bundle
    from okeios._internal.verify.policy import TrustPolicy
    from okeios.errors import OkeiosError

    sec = "4_end_to_end"
    files = sorted(fhir_dir.glob("*.json")) if fhir_dir.is_dir() else []
    if not files:
        heading("4. End to end: SKIPPED")
        print(f"  no FHIR R4 examples found in {fhir_dir} (pass --fhir DIR); section skipped")
        report.sections[sec] = {"skipped": f"no FHIR examples in {fhir_dir.name}"}
        return
    if quick:
        files = files[::QUICK_SCALE]
    records_all = [p.read_bytes() for p in files]

    signer = LocalSigner.generate(rng.randbytes)
    clock_time = 1_795_000_000.0

    def new_publisher() -> Publisher:
        return Publisher(signer, clock=lambda: clock_time, rng=rng.randbytes)

    # One untimed pass: keep the records okeios accepts (and warm everything up).
    warm = new_publisher()
    records: list[bytes] = []
    refused: dict[str, int] = {}
    for r in records_all:
        try:
            warm.create(r)
        except OkeiosError as exc:
            refused[type(exc).__name__] = refused.get(type(exc).__name__, 0) + 1
        else:
            records.append(r)
    del warm
    total_bytes = sum(len(r) for r in records)
    mib = total_bytes / 2**20
    heading(
        f"4. End to end: {len(records)} FHIR R4 examples ({mib:.2f} MiB, "
        f"{total_bytes // max(len(records), 1):,} bytes average), best of {REPEAT}"
    )
    if refused:
        print(f"  refused by okeios and left out: {refused}")

    current: list[Publisher] = []

    def fresh() -> None:
        current.clear()
        current.append(new_publisher())

    t_create, logged = measure(
        lambda: [current[0].create(r) for r in records], len(records), setup=fresh
    )
    publisher = current[0]
    checkpoint = publisher.checkpoint()
    t_bundle, blobs = measure(
        lambda: [publisher.bundle(e.id, checkpoint=checkpoint).to_bytes() for e in logged],
        len(records),
    )
    policy = TrustPolicy(authors=[signer.address], publishers=[signer.address])
    t_verify, reports = measure(
        lambda: [verify_bundle(b, policy, record=r) for b, r in zip(blobs, records, strict=True)],
        len(records),
    )
    failed = [r for r in reports if not r.passed]
    assert not failed, f"{len(failed)} bundles failed verification: {failed[0].failures}"
    blob_bytes = sum(len(b) for b in blobs)

    def mib_s(t: Timing, size: int) -> str:
        return f"  ({size / 2**20 / t.best:.2f} MiB/s)"

    row("Publisher.create(record bytes)", t_create, "records", mib_s(t_create, total_bytes))
    row("Publisher.bundle(...).to_bytes()", t_bundle, "bundles", mib_s(t_bundle, blob_bytes))
    row(
        "verify_bundle(bytes, policy, record=...)",
        t_verify,
        "bundles",
        mib_s(t_verify, total_bytes),
    )
    print(
        f"  bundles: {blob_bytes / len(blobs):,.0f} bytes average, all pass (integrity, "
        "authenticity, inclusion); bundles share one signed checkpoint"
    )
    report.record(sec, "publisher_create", t_create)
    report.record(sec, "bundle_build_to_bytes", t_bundle)
    report.record(sec, "verify_bundle", t_verify)
    report.sections[sec].update(
        {"records": len(records), "record_bytes": total_bytes, "bundle_bytes": blob_bytes}
    )


# --- main -------------------------------------------------------------------------------------


def version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def keccak_backend() -> str:
    """The eth-hash keccak backend in use (okeios's EIP-712 hashing and addresses use it)."""
    try:
        from eth_hash.auto import keccak

        keccak(b"")
        return str(type(keccak.hasher.__self__).__module__).rsplit(".", 1)[-1]
    except Exception:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--leaves", type=int, default=DEFAULT_LEAVES, help="log size (default 1,000,000)"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"scale every size down {QUICK_SCALE}x (smoke run)"
    )
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the figures here")
    parser.add_argument(
        "--fhir",
        metavar="DIR",
        type=Path,
        default=FHIR_DIR,
        help="folder of FHIR R4 example JSON files (default ../shared/fhir/...)",
    )
    parser.add_argument("--seed", type=int, default=20261124, help="random seed")
    args = parser.parse_args(argv)

    import okeios

    scale = QUICK_SCALE if args.quick else 1
    leaves = max(args.leaves // scale, 16)
    proof_ops = PROOF_OPS // scale
    sign_ops = SIGN_OPS // scale
    eth_ops = max(ETH_ACCOUNT_OPS // scale, 5)
    rng = random.Random(args.seed)
    started = time.perf_counter()

    print("okeios benchmarks" + (" (--quick: sizes scaled down 20x)" if args.quick else ""))
    print(
        f"  Python {platform.python_version()} ({platform.python_implementation()}), "
        f"okeios {okeios.__version__}"
    )
    print(
        f"  pymerkle {version_of('pymerkle')}, coincurve {version_of('coincurve')}, "
        f"eth-account {version_of('eth-account')}, eth-hash keccak backend {keccak_backend()}"
    )
    print(
        f"  {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs visible; "
        f"one process, one thread"
    )
    print(f"  every figure: best of N={REPEAT} runs (time.perf_counter), median shown too")

    report = Report()
    data = make_leaves(leaves, rng)
    log, tree, pm_size = bench_append(report, data)
    del data
    bench_proofs(report, log, tree, pm_size, proof_ops, rng)
    del log, tree
    gc.collect()
    bench_signing(report, sign_ops, eth_ops, rng)
    bench_end_to_end(report, args.fhir, args.quick, rng)

    heading("Summary")
    for g in report.goals:
        print(g.line())
    met = sum(g.met for g in report.goals)
    print(f"  {met} of {len(report.goals)} goals met")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    elapsed = time.perf_counter() - started
    print(f"  peak RSS {peak_mib:,.0f} MiB; whole run {elapsed:.1f} s")

    if args.json is not None:
        out = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "okeios": okeios.__version__,
            "pymerkle": version_of("pymerkle"),
            "coincurve": version_of("coincurve"),
            "eth_account": version_of("eth-account"),
            "keccak_backend": keccak_backend(),
            "platform": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(),
            "repeat": REPEAT,
            "quick": args.quick,
            "leaves": leaves,
            "proof_ops": proof_ops,
            "sign_ops": sign_ops,
            "sections": report.sections,
            "goals": [g.to_dict() for g in report.goals],
            "peak_rss_mib": peak_mib,
            "elapsed_s": elapsed,
        }
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"  figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
