"""Issue 9 from the command line: exact disclosure pointers, and an audit pinned to its chain."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.anchors import CANONICAL_REGISTRY
from tests.helpers import run_cli


def test_finding_6_disclose_field_slash_discloses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    record = tmp_path / "r.json"
    record.write_bytes(synthetic_records(1, seed=9)[0])
    assert run_cli(home, "init").returncode == 0
    record_id = run_cli(home, "add", str(record)).stdout.split()[0]
    out = tmp_path / "b.okb"
    done = run_cli(home, "disclose", record_id, "--field", "/", "-o", str(out), expect=None)
    assert done.returncode == 2
    assert "no field at '/'" in done.stderr
    assert not out.exists()
    done = run_cli(
        home, "disclose", record_id, "--field", "/resourceType", "-o", str(out), "--json"
    )
    assert json.loads(done.stdout)["disclosed"] == ["/resourceType"]


def test_finding_5_the_audit_command_pins_the_chain_id(tmp_path: Path) -> None:
    home = tmp_path / "home"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(home, *args, expect=None)

    record = tmp_path / "r.json"
    record.write_bytes(synthetic_records(1, seed=5)[0])
    assert run("init").returncode == 0
    assert run("add", str(record)).returncode == 0
    assert run("anchor").returncode == 0
    trust = json.loads((home / "trust.json").read_text())
    publisher = trust["publishers"][0]
    (pin,) = trust["chains"].values()
    log = tmp_path / "log.jsonl"
    assert run("log", "-o", str(log)).returncode == 0
    base = ("audit", "--log", str(log), "--publisher", publisher, "--chain", "embedded", "--json")
    assert run(*base).returncode == 0
    # The same registry address, pinned for another chain id: the chain answering is not it.
    other = str(pin["chainId"] + 1)
    done = run(*base, "--registry", pin.get("registry", CANONICAL_REGISTRY), "--chain-id", other)
    assert done.returncode == 2, done.stderr  # not decidable here: another chain answers
    refused = json.loads(done.stdout)
    assert refused["error"] == "ChainMismatchError"
    assert f"but {other} is pinned" in refused["message"]
    # --registry alone: the chain id comes from trust.json (flags first, then trust.json),
    # and it is checked against the node like any other pin.
    done = run(*base, "--registry", pin.get("registry", CANONICAL_REGISTRY))
    assert done.returncode == 0, done.stdout
