"""okeios end to end at scale: store, anchor, export and verify N records against a chain.

A script, not a test. One process, one thread; the figures are meant for a 2-core machine.
Each phase runs once (at 100,000 records a phase is long enough that repeating it would only
multiply the run time) and is timed with ``time.perf_counter``, the garbage collector being run
before it and left on during it, as in real use:

1. generate N synthetic FHIR R4 records (``okeios._internal.cli.demo.synthetic_records``; not in
the total)
2. ``Store.add`` of all N records in one call (one SQLite transaction)
3. anchoring: the signed checkpoint of the whole log, then one anchor transaction
   (``okeios._internal.publish.anchoring.anchor``) and, on the embedded chain, saving the chain to
   disk; the registry is deployed (and the publisher funded) beforehand, untimed
4. ``Store.export`` of every record's bundle, encoded to bytes in memory
5. ``verify_bundle`` of every bundle with the original record bytes, against the chain through
   one ``RegistryView``; every report must pass
6. the same verification offline (no chain), to show what the chain costs

The pipeline total is phases 2 to 5. The chain calls are counted twice: the calls the verifier
makes to the view, and the JSON-RPC requests that actually reach the node (a web3 middleware);
the view caches, so the second figure is a handful whatever N is. Progress goes to stderr every
10% of a phase. Everything is written under a temporary home folder that is deleted at the end.

Usage::

    python benchmarks/anchor_bench.py                     # 100,000 records, embedded chain
    python benchmarks/anchor_bench.py --quick             # 2,000 records: a smoke run
    python benchmarks/anchor_bench.py --records 20000 --json anchor.json
    python benchmarks/anchor_bench.py --chain http://127.0.0.1:8545

A URL chain must be a development node with an unlocked, funded first account (Anvil, Ganache,
Hardhat): it pays for the publisher's transactions. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from web3.middleware.base import Web3Middleware

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from okeios._internal.chain.connect import ChainHandle
from okeios._internal.chain.registry import (
    Registry,
    RegistryView,
)
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.config import open_chain
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.store import Store
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Property, Report, Status

DEFAULT_RECORDS = 100_000
QUICK_RECORDS = 2_000
DEFAULT_SEED = 20261124
FUND_WEI = 10**20  # 100 ether: the deployment and the anchor cost a tiny fraction of it
ANCHOR_TIMEOUT_S = 120.0
# A fixed publisher key, so that runs are comparable (record ids and salts stay random).
PUBLISHER_KEY = hashlib.sha256(b"okeios anchor benchmark publisher").digest()
VIEW_METHODS = ("chain_id", "head", "anchor_at", "latest")


# --- measuring --------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


@dataclass
class Phase:
    """One timed phase of ``records`` records."""

    name: str
    records: int
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    in_total: bool = True
    parts: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "records": self.records,
            "seconds": self.seconds,
            "records_per_s": self.rate,
            "peak_rss_mib": self.peak_rss_mib,
            "in_pipeline_total": self.in_total,
            "parts_s": self.parts,
            **self.extra,
        }


@contextmanager
def timed(phase: Phase, part: str | None = None) -> Iterator[None]:
    """Time the block; add it to the phase (and to ``part`` of it, if named)."""
    gc.collect()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        phase.seconds += elapsed
        if part is not None:
            phase.parts[part] = phase.parts.get(part, 0.0) + elapsed
        phase.peak_rss_mib = peak_rss_mib()


class Progress:
    """Report ``done of total`` on stderr each time another 10% is reached."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.tenths = 0
        self.start = time.perf_counter()

    def __call__(self, count: int = 1) -> None:
        self.done += count
        tenths = self.done * 10 // self.total if self.total else 10
        if tenths > self.tenths:
            self.tenths = tenths
            elapsed = time.perf_counter() - self.start
            print(
                f"  [{self.label}] {self.done:,}/{self.total:,} ({tenths * 10}%) {elapsed:.1f} s",
                file=sys.stderr,
                flush=True,
            )


class RpcCounter(Web3Middleware):
    """Counts every JSON-RPC request that reaches the node, by method.

    A request made while another one is being handled (web3's own middleware asks for the chain
    id, and eth-tester's for the accounts, while preparing an ``eth_call``) is counted under
    ``nested:<method>``; the others are the lookups okeios itself makes.
    """

    counts: ClassVar[Counter[str]] = Counter()
    depth: ClassVar[int] = 0

    def wrap_make_request(self, make_request: Any) -> Any:
        def counted(method: Any, params: Any) -> Any:
            prefix = "nested:" if RpcCounter.depth else ""
            RpcCounter.counts[prefix + str(method)] += 1
            RpcCounter.depth += 1
            try:
                return make_request(method, params)
            finally:
                RpcCounter.depth -= 1

        return counted


def rpc_snapshot() -> Counter[str]:
    return Counter(RpcCounter.counts)


def rpc_since(before: Counter[str]) -> dict[str, int]:
    diff = RpcCounter.counts - before
    return dict(sorted(diff.items()))


def rpc_text(requests: dict[str, int]) -> str:
    """``N lookups (method n, ...) + M nested requests``."""
    top = {k: v for k, v in requests.items() if not k.startswith("nested:")}
    nested = sum(v for k, v in requests.items() if k.startswith("nested:"))
    listed = ", ".join(f"{k} {v}" for k, v in top.items())
    return f"{sum(top.values())} ({listed}), plus {nested} nested requests made by web3"


def count_view_calls(view: RegistryView) -> Counter[str]:
    """Wrap the view's public lookups (on this instance) with call counters."""
    calls: Counter[str] = Counter()

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return fn(*args, **kwargs)

        return counted

    for name in VIEW_METHODS:
        setattr(view, name, wrap(name, getattr(view, name)))
    return calls


# --- the run ----------------------------------------------------------------------------------


def fund_publisher(chain: ChainHandle, address: str) -> None:
    """Give the publisher ether: the handle's faucet on the embedded chain, else the node's
    first (unlocked, funded) account, as development nodes provide."""
    if chain.embedded is not None:
        chain.fund(address, FUND_WEI)
        return
    w3 = chain.w3
    if w3.eth.get_balance(address) >= FUND_WEI // 10:
        return
    accounts = w3.eth.accounts
    if not accounts:
        raise SystemExit(
            f"{chain.label} has no unlocked account to fund the publisher {address} from; "
            "use a development node (Anvil, Ganache, Hardhat)"
        )
    tx_hash = w3.eth.send_transaction({"from": accounts[0], "to": address, "value": FUND_WEI})
    w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)


def passes_online(report: Report) -> bool:
    return report.passed and all(v.status is Status.PASS for v in report.verdicts)


def passes_offline(report: Report) -> bool:
    """Anchoring and consistency are skipped (no chain); every other verdict passes."""
    chain_only = (Property.ANCHORING, Property.CONSISTENCY)
    return report.passed and all(
        v.status is (Status.SKIPPED if v.property in chain_only else Status.PASS)
        for v in report.verdicts
    )


def failure_text(report: Report) -> str:
    bad = [v for v in report.verdicts if v.status is Status.FAIL] or [
        v for v in report.verdicts if v.status is not Status.PASS
    ]
    return "; ".join(f"{v.property} {v.status}: {v.reason} ({v.detail})" for v in bad)


def verify_all(
    label: str,
    bundles: list[bytes],
    records: list[bytes],
    policy: TrustPolicy,
    view: RegistryView | None,
    ok: Callable[[Report], bool],
    phase: Phase,
) -> list[str]:
    """Verify every bundle against its record; return the failures (as text)."""
    failures: list[str] = []
    progress = Progress(label, len(bundles))
    with timed(phase):
        for i, (data, record) in enumerate(zip(bundles, records, strict=True)):
            report = verify_bundle(data, policy, record=record, chain=view)
            if not ok(report):
                failures.append(f"record {i}: {failure_text(report)}")
            progress()
    return failures


def run(count: int, chain_spec: str, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    phases: list[Phase] = []
    home = Path(tempfile.mkdtemp(prefix="okeios-anchor-bench-"))
    try:
        # 1. synthetic records
        gen = Phase("1. generate records", count, in_total=False)
        phases.append(gen)
        with timed(gen):
            records = synthetic_records(count, seed=seed)
        sizes = [len(r) for r in records]
        gen.extra["record_bytes"] = {
            "mean": statistics.fmean(sizes),
            "min": min(sizes),
            "max": max(sizes),
            "total": sum(sizes),
        }
        report_phase(gen, f"{sum(sizes) / 2**20:.1f} MiB, {statistics.fmean(sizes):.0f} B/record")

        setup_start = time.perf_counter()
        store = Store.init(home, key=PUBLISHER_KEY, log_name="bench")
        chain = open_chain(chain_spec, home)
        try:
            chain.w3.middleware_onion.add(RpcCounter, name="okeios-bench-rpc-counter")
            fund_publisher(chain, store.address)
            registry = Registry.deploy(chain.w3, store.signer, label=chain.label)
            chain.save()
            setup_s = time.perf_counter() - setup_start
            print(
                f"   setup (untimed): store, chain, funding and registry deployment "
                f"{setup_s:.2f} s; registry {registry.address}, chain id {registry.chain_id}"
            )
            result = pipeline(store, chain, registry, records, phases)
        finally:
            chain.close()
            store.close()
        result["setup_s"] = setup_s
    finally:
        shutil.rmtree(home, ignore_errors=True)
    result["phases"] = phases
    result["pipeline_total_s"] = sum(p.seconds for p in phases if p.in_total)
    result["wall_s"] = time.perf_counter() - started
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def pipeline(
    store: Store,
    chain: ChainHandle,
    registry: Registry,
    records: list[bytes],
    phases: list[Phase],
) -> dict[str, Any]:
    count = len(records)
    out: dict[str, Any] = {}

    # 2. add every record in one call
    add = Phase("2. Store.add", count)
    phases.append(add)
    with timed(add):
        logged = store.add(records, progress=Progress("add", count))
    report_phase(add, "one call, one SQLite transaction")

    # 3. checkpoint + one anchor transaction (+ saving the embedded chain)
    anc = Phase("3. anchor", count)
    phases.append(anc)
    before = rpc_snapshot()
    with timed(anc, "checkpoint"):
        checkpoint = store.checkpoints.current()
    with timed(anc, "anchor"):
        result = anchor(store, registry, confirmations=1, timeout=ANCHOR_TIMEOUT_S)
    with timed(anc, "chain save"):
        chain.save()
    entry = result.entry
    if not result.final or entry is None or entry.tx_hash is None:
        raise SystemExit(f"the anchor is not final: {entry}")
    receipt = registry.receipt(entry.tx_hash)
    gas = receipt.gas_used if receipt is not None else None
    anc.extra.update(
        tree_size=result.tree_size,
        block=entry.block_number,
        transaction=to_hex(entry.tx_hash),
        gas_used=gas,
        rpc_requests=rpc_since(before),
    )
    parts = ", ".join(f"{k} {v:.3f} s" for k, v in anc.parts.items())
    gas_text = f"{gas:,}" if gas is not None else "unknown (no receipt)"
    report_phase(anc, f"tree of {result.tree_size:,}, block {entry.block_number}, gas {gas_text}")
    print(f"   {parts}")
    print(f"   JSON-RPC requests: {rpc_text(anc.extra['rpc_requests'])}")

    # 4. export every bundle to bytes
    exp = Phase("4. export bundles", count)
    phases.append(exp)
    progress = Progress("export", count)
    with timed(exp):
        ids = store.record_ids()
        bundles = []
        for rid in ids:
            bundles.append(store.export(to_hex(rid), reveal_all=True).to_bytes())
            progress()
    if ids != [item.record_id for item in logged]:
        raise SystemExit("Store.record_ids() is not in the order the records were added")
    sizes = [len(b) for b in bundles]
    exp.extra["bundle_bytes"] = {
        "mean": statistics.fmean(sizes),
        "min": min(sizes),
        "max": max(sizes),
        "total": sum(sizes),
    }
    report_phase(exp, f"{sum(sizes) / 2**20:.1f} MiB of bundles in memory")
    print(
        f"   bundle size: mean {statistics.fmean(sizes):,.0f} B, min {min(sizes):,} B, "
        f"max {max(sizes):,} B"
    )

    # 5. verify against the chain, through one view
    policy = TrustPolicy(
        authors=[store.address],
        publishers=[store.address],
        chain_id=registry.chain_id,
        registry=registry.address,
    )
    view = RegistryView(chain.w3, label=chain.label)
    view_calls = count_view_calls(view)
    ver = Phase("5. verify (chain)", count)
    phases.append(ver)
    before = rpc_snapshot()
    failures = verify_all("verify", bundles, records, policy, view, passes_online, ver)
    rpc = rpc_since(before)
    ver.extra.update(
        failures=len(failures),
        view_calls=dict(view_calls),
        rpc_requests=rpc,
        first_failures=failures[:5],
    )
    report_phase(ver, f"{len(failures)} failures")
    show_failures(failures)
    print(
        f"   calls to the view: {sum(view_calls.values()):,} "
        f"({', '.join(f'{k} {v:,}' for k, v in view_calls.items())})"
    )
    print(f"   chain lookups made (JSON-RPC requests) for 1 checkpoint: {rpc_text(rpc)}")

    # 6. verify offline, for comparison
    off = Phase("6. verify (offline)", count, in_total=False)
    phases.append(off)
    before = rpc_snapshot()
    offline_failures = verify_all(
        "verify offline", bundles, records, policy, None, passes_offline, off
    )
    off.extra.update(
        failures=len(offline_failures),
        rpc_requests=rpc_since(before),
        first_failures=offline_failures[:5],
    )
    cost = ver.seconds - off.seconds
    report_phase(off, f"{len(offline_failures)} failures")
    show_failures(offline_failures)
    print(
        f"   the chain's share of verification: {cost:+.2f} s in all, "
        f"{cost / count * 1e6:+.1f} µs per bundle ({cost / ver.seconds:+.1%})"
    )

    out.update(
        records=count,
        tree_size=result.tree_size,
        checkpoint_root=to_hex(checkpoint.checkpoint.root),
        failures=len(failures),
        offline_failures=len(offline_failures),
    )
    return out


def show_failures(failures: list[str], limit: int = 3) -> None:
    for text in failures[:limit]:
        print(f"   FAILED {text}")
    if len(failures) > limit:
        print(f"   ... and {len(failures) - limit:,} more")


def report_phase(phase: Phase, note: str = "") -> None:
    print(
        f"{phase.name:<22} {phase.rate:>12,.0f} records/s {phase.seconds:>10.2f} s"
        f"   peak RSS {phase.peak_rss_mib:>6,.0f} MiB" + (f"   {note}" if note else ""),
        flush=True,
    )


def summary(result: dict[str, Any]) -> None:
    total = result["pipeline_total_s"]
    print()
    print(f"{'phase':<22} {'records/s':>12} {'seconds':>10} {'share of total':>15}")
    for p in result["phases"]:
        share = f"{p.seconds / total:>14.1%}" if p.in_total else f"{'(not counted)':>15}"
        print(f"{p.name:<22} {p.rate:>12,.0f} {p.seconds:>10.2f} {share}")
    print(f"{'pipeline total (2-5)':<22} {result['records'] / total:>12,.0f} {total:>10.2f}")
    chain, offline = result["failures"], result["offline_failures"]
    print(f"failures: {chain} against the chain, {offline} offline (both must be 0)")
    print(
        f"peak RSS {result['peak_rss_mib']:,.0f} MiB; whole run {result['wall_s']:.1f} s "
        "(with generation, setup, offline verification and cleanup)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--records",
        type=int,
        default=DEFAULT_RECORDS,
        metavar="N",
        help=f"number of records (default {DEFAULT_RECORDS:,})",
    )
    size.add_argument(
        "--quick",
        action="store_const",
        const=QUICK_RECORDS,
        dest="records",
        help=f"a smoke run of {QUICK_RECORDS:,} records",
    )
    parser.add_argument(
        "--chain",
        default="embedded",
        metavar="embedded|URL",
        help="the embedded chain (default) or a development node's http(s) URL",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the synthetic records"
    )
    args = parser.parse_args(argv)
    if args.records < 2:
        parser.error("--records must be at least 2")

    okeios_version = metadata.version("okeios")
    print(
        f"okeios {okeios_version} anchor benchmark: {args.records:,} records, chain "
        f"{args.chain}, Python {platform.python_version()} on {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        flush=True,
    )
    result = run(args.records, args.chain, args.seed)
    summary(result)
    if args.json:
        result["meta"] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "okeios": okeios_version,
            "chain": args.chain,
            "seed": args.seed,
        }
        result["phases"] = [p.to_dict() for p in result["phases"]]
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0 if result["failures"] == 0 and result["offline_failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
