"""The benchmarks' complete floor (``benchmarks/floor.py``) does okeios's work byte for byte: on
real FHIR resources it writes the very rows ``Store.add`` and ``Store.put`` write (same
commitments, canonical bytes, event ids, signatures and log nodes) and accepts exactly the
bundles okeios accepts. A floor that did less would make every ratio printed beside it a lie."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import msgpack
import pytest

from okeios._internal.protocol.fhir import fhir_resources
from okeios._internal.publish.store import Store
from okeios._internal.verify.bulk import verify_many
from okeios._internal.verify.policy import TrustPolicy
from tests.conftest import shared_dir

ROOT = Path(__file__).resolve().parents[1]


def _floor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("floor", ROOT / "benchmarks" / "floor.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["floor"] = module
    spec.loader.exec_module(module)
    return module


def _examples(count: int) -> list[bytes]:
    out: list[bytes] = []
    for path in sorted(shared_dir("fhir", "r4-examples").glob("*.json")):
        try:
            for r in fhir_resources(path.read_bytes()):
                out.append(r if isinstance(r, bytes) else json.dumps(r).encode())
        except Exception:  # a few examples are not valid okeios input
            continue
    step = max(1, len(out) // count)
    picked, seen = [], set()
    for r in out[::step]:  # distinct identities, so that put creates each one
        ident = json.loads(r)
        key = (ident.get("resourceType"), ident.get("id"))
        if "id" in ident and key not in seen:
            seen.add(key)
            picked.append(r)
    return picked[:count]


@pytest.mark.parametrize("identity", [False, True], ids=["add", "put"])
def test_the_floor_writes_okeios_rows(tmp_path: Path, identity: bool) -> None:
    floor = _floor()
    records = _examples(40)
    assert len(records) == 40
    assert floor.check_ingest(records, tmp_path, identity=identity) == 40


def test_the_floor_notices_a_different_row(tmp_path: Path) -> None:
    floor = _floor()
    records = _examples(3)
    real = floor.commit

    def off_by_one(seed: bytes, leaves: list[tuple[bytes, bytes]]) -> tuple[bytes, list[bytes]]:
        return real(seed, leaves[1:])  # a field left out

    floor.commit = off_by_one
    with pytest.raises(AssertionError, match="differ"):
        floor.check_ingest(records, tmp_path, identity=False)


def test_the_verify_floor_accepts_what_okeios_accepts(tmp_path: Path) -> None:
    floor = _floor()
    records = _examples(25)
    store = Store.init(tmp_path / "home", trust=False)
    logged = store.add(records)
    bundles = [store.export("0x" + e.record_id.hex(), reveal_all=True).to_bytes() for e in logged]
    policy = TrustPolicy(authors=[store.address], publishers=[store.address])
    reports = verify_many(bundles, policy, records=records)
    assert all(r.passed for r in reports)
    floor.check_verify(bundles, records, store.address)
    # a record that differs from its bundle fails both
    other = records[1:] + records[:1]
    assert floor.verify(bundles, other, store.address) == 0
    # without the records: okeios and the floor accept the bundles, and refuse a disclosed
    # value that is not canonical or not a leaf, and paths that are no document
    assert all(r.passed for r in verify_many(bundles, policy))
    assert floor.verify(bundles, None, store.address) == len(bundles)
    fields = msgpack.unpackb(bundles[0][8:], raw=False)["disclosure"]["fields"]
    (path, salt, value), rest = fields[0], fields[1:]
    assert floor._leaves_of_a_document(fields)
    for bad in (
        [[path, salt, b" " + value], *rest],  # not canonical
        [[path, salt, b'{"a":1}'], *rest],  # not a leaf
        [[[], salt, b"1"], *fields],  # the root and a field beneath it
        [[path, salt, value], *fields],  # one path twice
        [[["x", 0], salt, b"1"], [["x", "y"], salt, b"1"], *fields],  # an array and an object
    ):
        assert not floor._leaves_of_a_document(bad)
    store.close()
