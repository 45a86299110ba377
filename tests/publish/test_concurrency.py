"""Many processes on one home: writers (services holding the store open and `okeios add`),
two `okeios anchor` runs on a real Anvil node, a service exporting and verifying what the
others add, and an auditor, all at once; then an audit against the chain that passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from okeios._internal.chain.registry import Registry
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.store import Store
from okeios._internal.verify.audit import audit_log
from tests.nodes import REPO, Node

WRITERS = 3
BATCHES, BATCH = 3, 8
CLI_FILES = 2
CLI_LINES = 10


def _spawn(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OKEIOS_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_many_processes_on_one_home(tmp_path: Path, anvil: Node) -> None:
    home = tmp_path / "home"
    with Store.init(home) as store:
        anvil.fund(store.address)
        registry = Registry.deploy(anvil.web3(), store.signer)
        address = store.address
    ndjson = []
    for f in range(CLI_FILES):
        path = tmp_path / f"bulk{f}.ndjson"
        lines = [
            json.dumps({"resourceType": "Condition", "id": f"cli{f}-{i}", "note": [{"text": "x"}]})
            for i in range(CLI_LINES)
        ]
        path.write_text("\n".join(lines) + "\n")
        ndjson.append(path)

    worker = ["-m", "tests.publish.concurrent_worker"]
    okeios = ["-m", "okeios"]
    procs = {
        "exporter": _spawn(home, *worker, "exporter", str(home), "25"),
        "auditor": _spawn(home, *worker, "auditor", str(home), "25", anvil.url, registry.address),
    }
    for w in range(WRITERS):
        procs[f"writer{w}"] = _spawn(
            home, *worker, "writer", str(home), f"w{w}", str(BATCHES), str(BATCH)
        )
    for f, path in enumerate(ndjson):
        procs[f"add{f}"] = _spawn(home, *okeios, "add", str(path), "--json")
        # The same file twice, at once: one of them creates, the other finds them unchanged.
        procs[f"again{f}"] = _spawn(home, *okeios, "add", str(path), "--json")
    anchor_args = ["anchor", "--chain", anvil.url, "--registry", registry.address, "--json"]
    for a in range(2):
        procs[f"anchor{a}"] = _spawn(home, *okeios, *anchor_args)

    outputs: dict[str, str] = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, (name, out[-2000:], err[-3000:])
        outputs[name] = out

    # Nothing lost, nothing duplicated.
    for w in range(WRITERS):
        done = json.loads(outputs[f"writer{w}"])
        assert done == {"created": BATCHES * BATCH, "amended": BATCHES * BATCH}
    for f in range(CLI_FILES):
        statuses = [
            r["status"]
            for key in (f"add{f}", f"again{f}")
            for r in json.loads(outputs[key])["results"]
        ]
        assert sorted(statuses) == ["created"] * CLI_LINES + ["unchanged"] * CLI_LINES
    assert json.loads(outputs["exporter"])["exported"] > 0
    assert json.loads(outputs["auditor"])["audits"] > 0

    with Store.open(home) as store:
        records = WRITERS * BATCHES * BATCH + CLI_FILES * CLI_LINES
        events = 2 * WRITERS * BATCHES * BATCH + CLI_FILES * CLI_LINES
        assert len(store.records()) == records
        assert store.size == events
        indexes = [
            h["index"] for r in store.records() for h in store.history(f"0x{r.record_id.hex()}")
        ]
        assert sorted(indexes) == list(range(events))
        assert store.check() == []
        result = anchor(store, Registry(anvil.web3(), registry.address))
        assert result.final
        assert result.tree_size == events
        lines: list[str] = []
        store.write_log(lines.append)
    pinned = Registry(anvil.web3(), registry.address)
    report = audit_log(
        "".join(lines).splitlines(), publisher=address, chain=pinned, chain_id=pinned.chain_id
    )
    assert report.passed, report.to_dict()
