"""The command line end to end against a real Anvil node, one `okeios` process per step as a
shell user would run it: init, add a FHIR Bundle of 1,000 records, anchor, export, verify all;
then tamper with a record, a bundle and the chain view and see exit 1 with the right reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.chain.registry import Registry
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.signing import LocalSigner
from tests.conftest import shared_dir
from tests.helpers import CountingRng, run_cli
from tests.nodes import Node

RECORD_COUNT = 1000


@pytest.fixture(scope="module", params=["anvil", "ganache"])
def anvil(request: pytest.FixtureRequest) -> Iterator[Node]:
    """A real node: Anvil, then Ganache (the same suite runs on both)."""
    node = Node(request.param).start()
    try:
        yield node
    finally:
        node.stop()


def _fhir_bundle(path: Path) -> list[bytes]:
    """A FHIR R4 Bundle of 1,000 resources: the official examples, then synthetic labs."""
    examples = sorted(shared_dir("fhir", "r4-examples").glob("*.json"))
    resources = [p.read_bytes() for p in examples]
    resources = [r for r in resources if json.loads(r).get("resourceType") != "Bundle"]
    resources += synthetic_records(RECORD_COUNT - len(resources) + 1, seed=11)[1:]
    resources = resources[:RECORD_COUNT]
    # Keep each resource's own text (decimals included) by splicing the raw JSON in.
    entries = ",".join('{"resource":' + r.decode() + "}" for r in resources)
    path.write_text('{"resourceType":"Bundle","type":"collection","entry":[' + entries + "]}")
    return resources


okeios = run_cli


def _reason(out: str, prop: str) -> Any:
    return json.loads(out)["verdicts"][prop].get("reason")


def test_cli_end_to_end_on_a_node(tmp_path: Path, anvil: Node) -> None:
    home = tmp_path / "home"
    key = CountingRng(b"cli publisher")(32)
    publisher = LocalSigner.from_key(key)
    anvil.fund(publisher.address)
    bundle_file = tmp_path / "bundle.json"
    resources = _fhir_bundle(bundle_file)

    init = json.loads(okeios(home, "init", "--key", key.hex(), "--json").stdout)
    assert init["publisher"] == publisher.address
    ids = json.loads(okeios(home, "add", str(bundle_file), "--json").stdout)["records"]
    assert len(ids) == RECORD_COUNT
    assert len(set(ids)) == RECORD_COUNT

    # Ganache cannot reorg on demand; a snapshot taken now and reverted later drops the
    # anchoring block just the same.
    # On Anvil the first anchor deploys the registry itself; on Ganache the registry is
    # deployed first and named, so that the snapshot below holds it.
    extra: list[str] = []
    snapshot = None
    if anvil.name == "ganache":
        extra = ["--registry", Registry.deploy(anvil.web3(), publisher).address]
        snapshot = anvil.rpc("evm_snapshot")
    anchored = json.loads(okeios(home, "anchor", "--chain", anvil.url, *extra, "--json").stdout)
    assert anchored["state"] == "final"
    assert anchored["treeSize"] == RECORD_COUNT
    assert anchored["chainId"] == (31337 if anvil.name == "anvil" else 1337)
    chain_id = str(anchored["chainId"])
    registry = anchored["registry"]

    out = tmp_path / "bundles"
    okeios(home, "export", "--all", "--reveal-all", "-o", str(out))
    files = sorted(out.glob("*.okb"))
    assert len(files) == RECORD_COUNT
    done = okeios(home, "verify", *map(str, files), "--chain", anvil.url, "--json")
    summary = json.loads(done.stdout)
    assert summary["result"] == "pass"
    assert summary["count"] == RECORD_COUNT
    assert summary["failed"] == 0
    one = summary["bundles"][str(files[0])]
    assert {p: v["result"] for p, v in one["verdicts"].items()} == {
        "integrity": "pass",
        "authenticity": "pass",
        "inclusion": "pass",
        "anchoring": "pass",
        "consistency": "pass",
        "confidentiality": "pass",
    }

    # The record file itself, then a tampered copy (one character of a value changed).
    target = out / f"{ids[7]}.okb"
    record = tmp_path / "record.json"
    record.write_bytes(resources[7])
    okeios(home, "verify", str(target), "--record", str(record), "--chain", anvil.url)
    tampered = json.loads(resources[7])
    tampered["id"] = str(tampered.get("id", "")) + "x"
    record.write_text(json.dumps(tampered))
    done = okeios(
        home,
        "verify",
        str(target),
        "--record",
        str(record),
        "--chain",
        anvil.url,
        "--json",
        expect=1,
    )
    assert _reason(done.stdout, "integrity") == "record-mismatch"

    # A bundle with one flipped bit inside the signed event.
    data = bytearray(target.read_bytes())
    data[data.index(b"commitment") + 12] ^= 0x01
    broken = tmp_path / "broken.okb"
    broken.write_bytes(bytes(data))
    done = okeios(home, "verify", str(broken), "--chain", anvil.url, "--json", expect=1)
    assert _reason(done.stdout, "authenticity") == "signature-mismatch"
    assert _reason(done.stdout, "inclusion") == "root-mismatch"

    # The chain view: a different chain id pinned, a look-alike registry, a reorged anchor.
    def anchoring_pinned(pin_chain_id: str, pin_registry: str) -> Any:
        """The anchoring reason of a failed verify with this chain id and registry pinned."""
        done = okeios(
            home,
            "verify",
            str(target),
            "--chain",
            anvil.url,
            "--chain-id",
            pin_chain_id,
            "--registry",
            pin_registry,
            "--json",
            expect=1,
        )
        return _reason(done.stdout, "anchoring")

    assert anchoring_pinned("1", registry) == "chain-mismatch"
    attacker = LocalSigner.generate()
    anvil.fund(attacker.address)
    fake = Registry.deploy(anvil.web3(), attacker)
    assert anchoring_pinned(chain_id, fake.address) == "registry-not-trusted"
    if anvil.name == "anvil":
        anvil.rpc("anvil_reorg", 2, [])  # drop the anchoring block and the attacker's deployment
    else:
        assert anvil.rpc("evm_revert", snapshot) is True
    done = okeios(home, "verify", str(target), "--chain", anvil.url, "--json", expect=1)
    assert _reason(done.stdout, "anchoring") == "not-anchored"
    # The publisher's next anchor run notices and anchors again; the bundles verify again.
    again = json.loads(okeios(home, "anchor", "--chain", anvil.url, "--json").stdout)
    assert again["state"] == "final"
    okeios(home, "verify", str(target), "--chain", anvil.url)

    # Bad input and usage exit with 2.
    done = okeios(home, "verify", str(bundle_file), "--chain", anvil.url, expect=2)
    assert "UNDECIDED (could not be read: BadMagicError" in done.stdout
    okeios(home, "export", "0x1234", expect=2)
    okeios(home, "anchor", "--chain", "ftp://nowhere", expect=2)
