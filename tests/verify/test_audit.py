"""Whole-log audits: a clean log passes, and each kind of defect is found, and only that one."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from okeios._internal.chain.registry import Registry
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.events import Checkpoint, Event, EventKind
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.publisher import Entry
from okeios._internal.publish.store import Store
from okeios._internal.verify.audit import audit_log
from tests.helpers import CountingRng, audit_own_log, run_cli

RECORDS = synthetic_records(8, seed=3)


def _build(
    tmp_path: Path, *, fork: bool = False, backdate: bool = False
) -> tuple[Store, Registry, list[str]]:
    store = Store.init(tmp_path / "home", key=CountingRng(b"auditee")(32))
    w3 = Web3(EthereumTesterProvider())
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": store.address, "value": 10**21})
    registry = Registry.deploy(w3, store.signer)
    first = store.add(RECORDS[:3])
    # A record whose AMEND comes right after its CREATE, then a second AMEND later.
    created = store.add(RECORDS[3:4])[0]
    store.amend("0x" + created.record_id.hex(), RECORDS[3].replace(b"final", b"amended"))
    anchor(store, registry)
    store.add(RECORDS[4:6])
    store.amend("0x" + created.record_id.hex(), RECORDS[3].replace(b"final", b"corrected"))
    store.access.receipt(
        "0x" + first[0].record_id.hex(), LocalSigner.generate().address, purpose="care"
    )
    if fork:  # a second version claiming the same predecessor as an existing one
        head = store.publisher.event(store.event_ids_of(first[1].record_id)[-1]).signed.event
        with store.transaction():
            for text in (b"fork-a", b"fork-b"):
                event = Event(
                    kind=EventKind.AMEND,
                    log_id=store.log_id,
                    record_id=head.record_id,
                    version=2,
                    previous=store.event_ids_of(first[1].record_id)[0],
                    commitment=bytes(32) if text == b"fork-a" else b"\x01" * 32,
                    ciphertext_digest=head.ciphertext_digest,
                    author=store.address,
                    time=int(time.time()),
                    purpose=text.decode(),
                )
                signed = event.sign(store.signer)
                # past the publisher's chain rules, as a forger would
                store.publisher.event_log.append([Entry.of(signed)])
    if backdate:
        with store.transaction():
            store.publisher.create(RECORDS[6], time=int(time.time()) - 10 * 24 * 3600)
    anchor(store, registry)
    lines: list[str] = []
    store.write_log(lines.append)
    return store, registry, lines


def _kinds(store: Store, registry: Registry | None, lines: list[str]) -> set[str]:
    report = audit_own_log(store, lines, registry)
    json.dumps(report.to_dict())  # always serialisable
    return report.defect_kinds()


def _entry_index(lines: list[str], kind: str, nth: int = 0) -> int:
    hits = [i for i, line in enumerate(lines) if '"event"' in line and f'"kind": "{kind}"' in line]
    return hits[nth]


def test_a_clean_log_passes(tmp_path: Path) -> None:
    store, registry, lines = _build(tmp_path)
    report = audit_own_log(store, lines, registry)
    assert report.passed, report.defects
    assert report.entries == store.size
    assert report.records == 6
    assert report.kinds == {"create": 6, "amend": 2, "access": 1}
    assert len(report.anchors) == 2
    assert report.checkpoints == 2


def test_a_missing_entry(tmp_path: Path) -> None:
    store, registry, lines = _build(tmp_path)
    del lines[_entry_index(lines, "amend", 0)]  # the first of the record's two amends
    assert _kinds(store, registry, lines) == {"missing-entry"}


def test_a_duplicated_entry(tmp_path: Path) -> None:
    store, registry, lines = _build(tmp_path)
    i = _entry_index(lines, "create", 1)
    lines.insert(i + 1, lines[i])
    assert _kinds(store, registry, lines) == {"duplicate-entry"}


def test_a_reordered_pair(tmp_path: Path) -> None:
    store, registry, lines = _build(tmp_path)
    i = _entry_index(lines, "amend", 0)  # right after its record's CREATE
    lines[i - 1], lines[i] = lines[i], lines[i - 1]
    assert _kinds(store, registry, lines) == {"reordered"}


def test_a_forked_version(tmp_path: Path) -> None:
    store, registry, lines = _build(tmp_path, fork=True)
    report = audit_log(lines, publisher=store.address, chain=registry, chain_id=registry.chain_id)
    assert report.defect_kinds() == {"fork"}
    assert len(report.defects) == 1


def test_a_backdated_event(tmp_path: Path) -> None:
    store, registry, lines = _build(tmp_path, backdate=True)
    assert _kinds(store, registry, lines) == {"backdated"}
    report = audit_log(
        lines,
        publisher=store.address,
        chain=registry,
        chain_id=registry.chain_id,
        tolerance=11 * 24 * 3600,
    )
    assert report.passed


def test_a_checkpoint_by_another_publisher(tmp_path: Path) -> None:
    store, registry, lines = _build(tmp_path)
    stranger = LocalSigner.generate()
    cp = Checkpoint(store.log_id, store.size, store.publisher.log.root()).sign(stranger)
    lines.append(
        json.dumps(
            {
                "checkpoint": {
                    "treeSize": cp.checkpoint.tree_size,
                    "root": "0x" + cp.checkpoint.root.hex(),
                    "publisher": stranger.address,
                    "signature": "0x" + cp.signature.hex(),
                }
            }
        )
    )
    assert _kinds(store, registry, lines) == {"checkpoint-signature-mismatch"}


def test_a_rewritten_entry_and_an_unreachable_chain(tmp_path: Path) -> None:
    store, registry, lines = _build(tmp_path)
    # Someone re-signs the last entry with a different purpose: lineage intact, history not.
    i = _entry_index(lines, "access")
    item = json.loads(lines[i])
    from okeios._internal.protocol.events import event_from_message

    event = event_from_message({**item["event"], "purpose": "marketing"})
    item["event"] = event.message()
    item["signature"] = "0x" + event.sign(store.signer).signature.hex()
    lines[i] = json.dumps(item)
    assert _kinds(store, registry, lines) == {"history-mismatch", "checkpoint-mismatch"}
    dead = Registry(
        Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2})),
        registry.address,
        label="a dead node",
    )
    _, _, clean = _build(tmp_path / "again")
    report = audit_log(clean, publisher=store.address, chain=dead, chain_id=registry.chain_id)
    assert report.defect_kinds() == {"chain-unavailable"}
    assert "a dead node" in report.defects[0].detail


def test_audit_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(home, *args, expect=None)

    assert run("init").returncode == 0
    for i, record in enumerate(RECORDS[:4]):
        (tmp_path / f"r{i}.json").write_bytes(record)
    assert run("add", *(str(tmp_path / f"r{i}.json") for i in range(4))).returncode == 0
    assert run("anchor").returncode == 0
    publisher = json.loads((home / "trust.json").read_text())["publishers"][0]
    log = tmp_path / "log.jsonl"
    assert run("log", "-o", str(log)).returncode == 0
    html = tmp_path / "audit.html"
    done = run(
        "audit",
        "--log",
        str(log),
        "--publisher",
        publisher,
        "--chain",
        "embedded",
        "--html",
        str(html),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == "pass"
    assert "<svg" in html.read_text()
    lines = log.read_text().splitlines()
    del lines[2]
    log.write_text("\n".join(lines) + "\n")
    done = run(
        "audit", "--log", str(log), "--publisher", publisher, "--chain", "embedded", "--json"
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["result"] == "fail"


@pytest.mark.parametrize("bad", ["", "not json\n", '{"format": "other"}\n'])
def test_bad_log_files_are_input_errors(bad: str) -> None:
    from okeios.errors import InputError

    with pytest.raises(InputError):
        audit_log(bad.splitlines(), publisher="0x" + "11" * 20, chain=None)


def test_an_audit_vouches_for_the_anchored_entries_only(tmp_path: Path) -> None:
    """Entries after the latest anchor carry only the publisher's signature: two forks of that
    tail would both pass an audit, so the report says how far the anchors vouch
    (docs/threat-model.md, row P16)."""
    store, registry, _ = _build(tmp_path)
    anchored = store.size
    store.add(RECORDS[6:8])  # logged, not anchored
    lines: list[str] = []
    store.write_log(lines.append)
    report = audit_own_log(store, lines, registry)
    assert report.passed, report.defects
    assert report.entries == anchored + 2
    assert report.anchored_size == anchored
    assert report.to_dict()["counts"]["anchoredEntries"] == anchored
