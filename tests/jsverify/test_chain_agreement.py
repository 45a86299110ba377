"""The TypeScript verifier reads the chain through JSON-RPC as the Python one does: bundles of a
store anchored on a real Anvil node, verified by both command lines against it (anchored, pending
(not yet anchored), another chain id pinned, an unreachable node), with the same verdicts."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.protocol.signing import LocalSigner
from tests.helpers import SMALL_RECORD, CountingRng, run_cli
from tests.nodes import Node

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "js" / "bin" / "okeios-verify.js"


def _normalise(entry: Any) -> Any:
    """What both verifiers must agree on: everything but the free-text details."""
    if isinstance(entry, dict):
        return {k: ("…" if k == "detail" else _normalise(v)) for k, v in entry.items()}
    return entry


def _node_cli(*args: str) -> tuple[int, Any]:
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, str(CLI), *args], capture_output=True, text=True, timeout=120, check=False
    )
    return done.returncode, json.loads(done.stdout)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_both_verifiers_read_the_chain_alike(tmp_path: Path, anvil: Node) -> None:
    if shutil.which("node") is None or not (ROOT / "js" / "dist" / "cli.js").exists():
        pytest.skip("needs node and `npm ci --prefix js`")
    home = tmp_path / "home"
    key = CountingRng(b"js chain publisher")(32)
    publisher = LocalSigner.from_key(key)
    anvil.fund(publisher.address)
    run_cli(home, "init", "--key", key.hex(), "--json")
    records = []
    for n in range(3):
        records.append(tmp_path / f"record{n}.json")
        records[-1].write_bytes(SMALL_RECORD.replace(b'"hba1c"', f'"hba1c-{n}"'.encode()))
    run_cli(home, "add", str(records[0]), str(records[1]), "--json")
    anchored = json.loads(run_cli(home, "anchor", "--chain", anvil.url, "--json").stdout)
    run_cli(home, "add", str(records[2]), "--json")  # logged after the anchor: not anchored
    out = tmp_path / "bundles"
    run_cli(home, "export", "--all", "--reveal-all", "-o", str(out))
    files = [str(p) for p in sorted(out.glob("*.okb"))]
    assert len(files) == 3
    trust = ["--author", publisher.address, "--publisher", publisher.address]
    pin = ["--chain-id", str(anchored["chainId"]), "--registry", anchored["registry"]]
    runs = {
        "pinned": ["--chain", anvil.url, *pin],
        "another chain id": ["--chain", anvil.url, "--chain-id", "5", pin[2], pin[3]],
        "unreachable": ["--chain", f"http://127.0.0.1:{_closed_port()}", *pin],
    }
    results = {}
    for name, chain in runs.items():
        args = [*files, *trust, *chain, "--chain-timeout", "5", "--json"]
        done = run_cli(home, "verify", *args, expect=None)
        expected = (done.returncode, json.loads(done.stdout))
        got = _node_cli(*args)
        assert got[0] == expected[0], name
        assert _normalise(got[1]) == _normalise(expected[1]), name
        results[name] = expected[1]
    pinned = results["pinned"]["bundles"]
    reasons = sorted(str(b["verdicts"]["anchoring"].get("reason", "pass")) for b in pinned.values())
    assert reasons == ["anchor-pending", "pass", "pass"]
    assert {
        b["verdicts"]["anchoring"]["reason"] for b in results["unreachable"]["bundles"].values()
    } == {"chain-unavailable"}
    assert {
        b["verdicts"]["anchoring"]["reason"]
        for b in results["another chain id"]["bundles"].values()
    } == {"chain-mismatch"}
