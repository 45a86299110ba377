"""One process of the concurrency test (tests/publish/test_concurrency.py): ``python -m
tests.publish.concurrent_worker MODE HOME ...``. Prints one JSON line with what it did."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from okeios._internal.publish.store import Store
from okeios._internal.verify.audit import audit_log
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.policy import TrustPolicy


def resource(writer: str, i: int, status: str = "preliminary") -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": f"{writer}-{i}",
        "status": status,
        "code": {"text": "glucose"},
        "valueQuantity": {"value": i, "unit": "mmol/L"},
    }


def writer(home: Path, name: str, batches: int, size: int) -> dict[str, object]:
    """Add batches of new resources, then amend each once (a service holding the store)."""
    created = amended = 0
    with Store.open(home) as store:
        for b in range(batches):
            results = store.put([resource(name, b * size + i) for i in range(size)])
            created += sum(r.status == "created" for r in results)
        for b in range(batches):
            results = store.put([resource(name, b * size + i, "final") for i in range(size)])
            amended += sum(r.status == "amended" for r in results)
    return {"created": created, "amended": amended}


def exporter(home: Path, seconds: float) -> dict[str, object]:
    """Hold one store open (a service) while others write; export and verify what they add."""
    exported = 0
    seen_sizes: set[int] = set()
    with Store.open(home) as store:
        policy = TrustPolicy(authors=[store.address], publishers=[store.address])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rows = store.records(limit=None)
            for row in rows[-5:]:
                bundle = store.export("0x" + row.record_id.hex(), fields=[])
                report = verify_bundle(bundle, policy)
                if not report.passed:
                    raise SystemExit(f"bundle of {row.record_id.hex()} fails: {report.to_dict()}")
                seen_sizes.add(bundle.checkpoint.checkpoint.tree_size)
                exported += 1
            time.sleep(0.05)
    return {"exported": exported, "sizes": len(seen_sizes)}


def auditor(home: Path, seconds: float, url: str, registry: str) -> dict[str, object]:
    """Publish the log and audit it against the chain, again and again, while others write
    and anchor."""
    from web3 import Web3

    from okeios._internal.chain.registry import Registry

    chain = Registry(Web3(Web3.HTTPProvider(url)), registry)
    audits = 0
    with Store.open(home) as store:
        deadline = time.monotonic() + seconds
        give_up = deadline + 300
        # Until every writer stopped and at least one audit ran after an anchor.
        while time.monotonic() < deadline or (audits == 0 and time.monotonic() < give_up):
            if store.journal.anchored_for(0) is None:
                time.sleep(0.2)  # not anchored yet: an audit would rightly say so
                continue
            lines: list[str] = []
            store.write_log(lines.append)
            text = "".join(lines).splitlines()
            report = audit_log(text, publisher=store.address, chain=chain, chain_id=chain.chain_id)
            if not report.passed:
                raise SystemExit(f"audit fails: {report.to_dict()}")
            audits += 1
            time.sleep(0.1)
    return {"audits": audits}


def main() -> None:
    mode, home = sys.argv[1], Path(sys.argv[2])
    if mode == "writer":
        out = writer(home, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "exporter":
        out = exporter(home, float(sys.argv[3]))
    elif mode == "auditor":
        out = auditor(home, float(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:  # pragma: no cover
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
