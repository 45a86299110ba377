"""The shipped AnchorRegistry artifact is exactly what the pinned build makes of the source.

The rebuild needs the pinned solc-js that ``scripts/install-tools`` installs into ``.tools``;
without it the rebuild tests are skipped, and under ``CI=true`` they fail instead. The checks
that need no compiler always run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from eth_utils import keccak
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from okeios._internal.chain.artifacts import load_anchor_registry

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "contracts" / "AnchorRegistry.sol"
ARTIFACT_FILE = REPO / "okeios" / "_internal" / "chain" / "artifacts" / "AnchorRegistry.json"


def _load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_contracts", REPO / "scripts" / "build_contracts.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build_contracts = _load_build_script()


@pytest.fixture
def compiler() -> Path:
    """The solc shim, when the pinned solc-js behind it is installed."""
    if not build_contracts.solc_available():
        message = "solc-js is not installed in .tools: run scripts/install-tools"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (required under CI=true)")
        pytest.skip(message)
    shim: Path = build_contracts.SOLC_SHIM
    return shim


# --- with the compiler ----------------------------------------------------------------------


def test_rebuild_is_byte_identical_to_the_shipped_artifact(compiler: Path) -> None:
    rebuilt = build_contracts.render(build_contracts.build(SOURCE.parent, compiler))
    assert rebuilt.encode() == ARTIFACT_FILE.read_bytes()


def test_check_flag_passes_on_the_shipped_artifact_and_fails_on_a_changed_one(
    compiler: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build_contracts.main(["--check", "--solc", str(compiler)]) == 0
    changed = json.loads(ARTIFACT_FILE.read_text())
    changed["bytecode"] = changed["bytecode"][:-2] + "00"
    stale = tmp_path / "AnchorRegistry.json"
    stale.write_text(json.dumps(changed))
    assert build_contracts.main(["--check", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert build_contracts.main(["--check", "--output", str(tmp_path / "missing.json")]) == 1


def test_a_source_change_changes_the_build(compiler: Path, tmp_path: Path) -> None:
    source = SOURCE.read_text().replace(
        "if (treeSize == 0) revert AnchorRegistryEmptyTree();",
        "if (treeSize < 2) revert AnchorRegistryEmptyTree();",
    )
    assert source != SOURCE.read_text()
    (tmp_path / "AnchorRegistry.sol").write_text(source)
    artifact = build_contracts.build(tmp_path, compiler)
    shipped = load_anchor_registry()
    assert artifact["deployedBytecode"] != shipped["deployedBytecode"]
    assert artifact["sourceSha256"] == hashlib.sha256(source.encode()).hexdigest()


def test_shim_speaks_the_native_compiler_protocol(compiler: Path) -> None:
    version = subprocess.run(
        [str(compiler), "--version"], capture_output=True, text=True, check=True
    ).stdout
    lines = version.splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert lines[1].startswith("Version: 0.8.28+commit.7893614a.")
    request = {
        "language": "Solidity",
        "sources": {
            "t.sol": {
                "content": "// SPDX-License-Identifier: Apache-2.0\n"
                "pragma solidity 0.8.28; contract T {}"
            }
        },
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    out = subprocess.run(
        [str(compiler), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["contracts"]["t.sol"]["T"]["abi"] == []
    bad = subprocess.run([str(compiler), "--bin"], capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert "unrecognised option" in bad.stderr


# --- without the compiler -------------------------------------------------------------------


def test_artifact_matches_the_source_and_the_pinned_settings() -> None:
    artifact = load_anchor_registry()
    assert artifact["sourceSha256"] == hashlib.sha256(SOURCE.read_bytes()).hexdigest(), (
        "contracts/AnchorRegistry.sol changed: run scripts/build_contracts.py"
    )
    assert artifact["contractName"] == "AnchorRegistry"
    assert artifact["compiler"] == {"name": "solc", "version": build_contracts.SOLC_VERSION}
    assert artifact["settings"]["evmVersion"] == "shanghai"
    assert artifact["settings"]["optimizer"] == {"enabled": True, "runs": 10000}
    assert artifact["settings"]["metadata"] == {"bytecodeHash": "none"}
    assert f"pragma solidity {build_contracts.SOLC_VERSION.split('+')[0]};" in SOURCE.read_text()
    # With bytecodeHash "none" the only metadata is CBOR {"solc": 0.8.28}.
    assert artifact["deployedBytecode"].endswith("a164736f6c634300081c000a")
    assert ARTIFACT_FILE.read_text() == build_contracts.render(artifact)


def test_artifact_abi_is_the_documented_surface() -> None:
    abi = load_anchor_registry()["abi"]

    def signature(item: dict[str, object]) -> str:
        inputs = item["inputs"]
        assert isinstance(inputs, list)
        return f"{item['name']}({','.join(i['type'] for i in inputs)})"

    functions = {signature(i): i["stateMutability"] for i in abi if i["type"] == "function"}
    assert functions == {
        "anchor(bytes32,uint64,bytes32,bytes32[])": "nonpayable",
        "latest(address,bytes32)": "view",
        "anchorCount(address,bytes32)": "view",
        "VERSION()": "view",
        "verifyInclusionProof(uint64,uint64,bytes32,bytes32,bytes32[])": "pure",
        "tryVerifyInclusionProof(uint64,uint64,bytes32,bytes32,bytes32[])": "pure",
        "verifyConsistency(uint64,uint64,bytes32,bytes32,bytes32[])": "pure",
        "tryVerifyConsistency(uint64,uint64,bytes32,bytes32,bytes32[])": "pure",
        "handover(bytes32,address)": "nonpayable",
        "logIdOf(address)": "pure",
        "logOf(address)": "view",
        "successorOf(address,bytes32)": "view",
        "predecessorOf(address,bytes32)": "view",
    }
    errors = {signature(i) for i in abi if i["type"] == "error"}
    assert errors == {
        "AnchorRegistryEmptyTree()",
        "AnchorRegistryTreeSizeNotIncreasing(uint64,uint64)",
        "AnchorRegistryInconsistentHistory(uint64,bytes32,uint64,bytes32)",
        "AnchorRegistryUnexpectedProof(uint256)",
        "AnchorRegistryProofLength(uint256,uint256)",
        "AnchorRegistryConsistencySizes(uint64,uint64)",
        "AnchorRegistryLeafIndexOutOfRange(uint64,uint64)",
        "AnchorRegistryNoAnchor(address,bytes32)",
        "AnchorRegistryLogNotBound(address,bytes32,bytes32)",
        "AnchorRegistryLogHandedOver(address,bytes32,address)",
        "AnchorRegistryBadSuccessor(address)",
    }
    anchored, handed = sorted(
        (i for i in abi if i["type"] == "event"), key=lambda i: str(i["name"])
    )
    # Version 3: the tree size is an indexed topic, so eth_getLogs finds an exact size.
    assert signature(anchored) == "Anchored(address,bytes32,uint64,bytes32,uint64,uint64)"
    assert [i["indexed"] for i in anchored["inputs"]] == [True, True, True, False, False, False]
    assert signature(handed) == "HandedOver(address,bytes32,address,uint64,bytes32)"
    assert [i["indexed"] for i in handed["inputs"]] == [True, True, True, False, False]
    assert not [i for i in abi if i["type"] in ("constructor", "fallback", "receive")]
    identifiers = load_anchor_registry()["methodIdentifiers"]
    for sig, selector in identifiers.items():
        assert keccak(text=sig)[:4].hex() == selector


def test_deployed_code_is_the_artifact_runtime_bytecode() -> None:
    artifact = load_anchor_registry()
    w3 = Web3(EthereumTesterProvider())
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": w3.eth.accounts[0]})
    )
    code = w3.eth.get_code(receipt["contractAddress"])
    assert "0x" + code.hex().removeprefix("0x") == artifact["deployedBytecode"]


def test_loader_returns_a_fresh_copy() -> None:
    first = load_anchor_registry()
    first["abi"].clear()
    assert load_anchor_registry()["abi"]
