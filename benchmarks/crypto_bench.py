"""okeios confidentiality benchmarks: sealed payloads, HPKE key wrapping, recipient key
generation and protected secrets.

A script, not a test. One process, one thread (OpenSSL's Argon2id may use a thread per lane).
Every figure is timed with ``time.perf_counter`` ``REPEAT`` times; the best run is the
headline (as ``timeit`` does) and the median is printed next to it. Inputs (keys, payloads,
bindings, wrapped keys) are made before timing; every result is checked after timing.

Usage::

    python benchmarks/crypto_bench.py            # about 8 s on a 2-core machine
    python benchmarks/crypto_bench.py --quick    # every count divided by 10
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from okeios._internal.crypto.keyfile import ARGON2_DEFAULT, protect_secret, unprotect_secret
from okeios._internal.crypto.payload import new_data_key, open_payload, payload_aad, seal_payload
from okeios._internal.crypto.recipients import (
    RecipientBinding,
    RecipientPrivateKey,
    Suite,
    bind_recipient_key,
    unwrap_data_key,
    wrap_data_key,
)
from okeios._internal.protocol.signing import LocalSigner

REPEAT = 3
INFO = b"okeios/grant/v1\x00" + payload_aad(bytes(range(32)), 1)


@dataclass
class Timing:
    ops: int
    runs: list[float]

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def rate(self) -> float:
        return self.ops / self.best


def measure(fn: Callable[[], Any], ops: int) -> tuple[Timing, Any]:
    """Time ``fn`` (which performs ``ops`` operations) ``REPEAT`` times."""
    runs: list[float] = []
    result: Any = None
    for _ in range(REPEAT):
        result = None
        gc.collect()
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return Timing(ops, runs), result


def row(label: str, t: Timing, extra: str = "") -> None:
    per_op = t.best / t.ops
    per = f"{per_op * 1e6:9.1f} us" if per_op < 1e-3 else f"{per_op * 1e3:9.2f} ms"
    rate = f"{t.rate:,.0f}/s" if t.rate >= 100 else f"{t.rate:,.2f}/s"
    print(
        f"  {label:<52} N={t.ops:<6,} {rate:>12} {per}/op   "
        f"best {t.best:7.3f} s  median {statistics.median(t.runs):7.3f} s{extra}"
    )


def heading(text: str) -> None:
    print()
    print(text)
    print("-" * len(text))


def bench_payloads(scale: int) -> None:
    heading("1. Sealed payloads (AES-256-GCM, 'OKC1' format)")
    key = new_data_key()
    aad = payload_aad(bytes(range(32)), 1)
    for size, ops in ((2 * 1024, 20_000 // scale), (64 * 1024, 4_000 // scale)):
        plaintext = os.urandom(size)

        def seal(p: bytes = plaintext, n: int = ops) -> list[bytes]:
            return [seal_payload(key, p, aad=aad) for _ in range(n)]

        t, blobs = measure(seal, ops)
        mib = size * t.rate / (1 << 20)
        row(f"seal_payload {size // 1024} KiB", t, f"  {mib:,.0f} MiB/s")

        def open_(b: bytes = blobs[0], n: int = ops) -> list[bytes]:
            return [open_payload(key, b, aad=aad) for _ in range(n)]

        t, opened = measure(open_, ops)
        assert opened[-1] == plaintext
        mib = size * t.rate / (1 << 20)
        row(f"open_payload {size // 1024} KiB", t, f"  {mib:,.0f} MiB/s")


def bench_wrapping(scale: int) -> None:
    heading("2. Key wrapping (HPKE base mode, 32-byte data key, 'OKW1' format)")
    signer = LocalSigner.generate()
    data_key = new_data_key()
    for suite, ops in ((Suite.X25519, 2_000 // scale), (Suite.HYBRID, 1_000 // scale)):
        private = RecipientPrivateKey.generate(suite)
        binding = bind_recipient_key(private.public_key(), signer)

        def wrap(b: RecipientBinding = binding, n: int = ops) -> list[bytes]:
            return [wrap_data_key(data_key, b, info=INFO) for _ in range(n)]

        t, wrapped = measure(wrap, ops)
        row(f"wrap_data_key {suite} (incl. binding check)", t)

        def unwrap(w: bytes = wrapped[0], k: RecipientPrivateKey = private, n: int = ops) -> Any:
            return [unwrap_data_key(w, k, info=INFO) for _ in range(n)]

        t, keys = measure(unwrap, ops)
        assert keys[-1] == data_key
        assert all(unwrap_data_key(w, private, info=INFO) == data_key for w in wrapped[:50])
        row(f"unwrap_data_key {suite}", t)
    binding = bind_recipient_key(RecipientPrivateKey.generate().public_key(), signer)
    ops = 2_000 // scale
    t, _ = measure(lambda: [binding.verify() for _ in range(ops)], ops)
    row("  of which RecipientBinding.verify() (ecrecover)", t)


def bench_keygen(scale: int) -> None:
    heading("3. Recipient key generation")
    for suite, ops in ((Suite.X25519, 5_000 // scale), (Suite.HYBRID, 2_000 // scale)):

        def generate(s: Suite = suite, n: int = ops) -> list[RecipientPrivateKey]:
            return [RecipientPrivateKey.generate(s) for _ in range(n)]

        t, keys = measure(generate, ops)
        assert len({k.public_key().raw for k in keys}) == ops
        row(f"RecipientPrivateKey.generate({suite})", t)


def bench_protect(scale: int) -> None:
    p = ARGON2_DEFAULT
    heading(
        f"4. Protected secrets (Argon2id t={p.iterations}, p={p.lanes}, "
        f"m={p.memory_kib // 1024} MiB, then AES-256-GCM)"
    )
    ops = max(1, 10 // scale)
    secret = new_data_key()
    t, blobs = measure(
        lambda: [protect_secret(secret, "correct horse battery staple") for _ in range(ops)],
        ops,
    )
    assert unprotect_secret(blobs[0], "correct horse battery staple") == secret
    row("protect_secret (Argon2id)", t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="divide every count by 10")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    print("okeios crypto benchmarks")
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}, "
        f"{platform.system()} {platform.machine()}), cryptography "
        f"{metadata.version('cryptography')}, {os.cpu_count()} CPUs; best of {REPEAT} runs"
    )
    started = time.perf_counter()
    bench_payloads(scale)
    bench_wrapping(scale)
    bench_keygen(scale)
    bench_protect(scale)
    print()
    print(f"total wall time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
