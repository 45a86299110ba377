#!/usr/bin/env python3
"""Build the AnchorRegistry contract into the artifact the okeios package ships.

Compiles ``contracts/AnchorRegistry.sol`` with py-solc-x, using ``scripts/solc`` (a shim around
the pinned solc-js that ``scripts/install-tools`` installs) as the compiler binary, and writes
``okeios/_internal/chain/artifacts/AnchorRegistry.json``: the ABI, creation and runtime bytecode,
the compiler version, the exact compiler settings and the SHA-256 of the source. Every input is
pinned, so the artifact is byte-for-byte reproducible.

Usage::

    scripts/install-tools                  # once: pinned solc-js into .tools/
    python scripts/build_contracts.py      # rebuild and write the artifact
    python scripts/build_contracts.py --check   # rebuild; exit 1 if the committed one differs
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = REPO / "contracts"
SOLC_SHIM = REPO / "scripts" / "solc"
SOLC_JS_PACKAGE = REPO / ".tools" / "node_modules" / "solc" / "package.json"
ARTIFACT = REPO / "okeios" / "_internal" / "chain" / "artifacts" / "AnchorRegistry.json"

CONTRACT = "AnchorRegistry"
SOURCE_NAME = f"contracts/{CONTRACT}.sol"
SOLC_VERSION = "0.8.28+commit.7893614a"

# The compiler settings, pinned. "shanghai" is the newest EVM revision that all three test
# chains run (Ganache 7.9 stops at shanghai; Anvil and py-evm run later ones too); it gives
# PUSH0. The contract needs nothing from Cancun. bytecodeHash "none" keeps the metadata hash
# out of the bytecode, so comments or whitespace in the source do not change the bytecode.
SETTINGS: dict[str, Any] = {
    "evmVersion": "shanghai",
    "optimizer": {"enabled": True, "runs": 10000},
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {
        SOURCE_NAME: {
            CONTRACT: [
                "abi",
                "evm.bytecode.object",
                "evm.deployedBytecode.object",
                "evm.methodIdentifiers",
            ]
        }
    },
}


class BuildError(RuntimeError):
    """The contract could not be built (missing compiler, wrong version, compile error)."""


def solc_available(solc_binary: Path = SOLC_SHIM) -> bool:
    """Whether the pinned solc-js behind the default shim is installed."""
    return solc_binary != SOLC_SHIM or SOLC_JS_PACKAGE.is_file()


def build(source_dir: Path = CONTRACTS_DIR, solc_binary: Path = SOLC_SHIM) -> dict[str, Any]:
    """Compile ``AnchorRegistry.sol`` from ``source_dir`` and return the artifact as a dict."""
    # Imported here so that --help works without py-solc-x.
    import solcx
    from solcx.exceptions import SolcError
    from solcx.wrapper import get_solc_version

    if not solc_available(solc_binary):
        raise BuildError(f"solc-js is not installed ({SOLC_JS_PACKAGE}): run scripts/install-tools")
    source_path = Path(source_dir) / f"{CONTRACT}.sol"
    source = source_path.read_bytes()
    try:
        version = str(get_solc_version(solc_binary, with_commit_hash=True))
    except (OSError, SolcError) as exc:
        raise BuildError(f"cannot run the compiler {solc_binary}: {exc}") from exc
    if version != SOLC_VERSION:
        raise BuildError(f"compiler {solc_binary} is solc {version}, need {SOLC_VERSION}")
    standard_input = {
        "language": "Solidity",
        "sources": {SOURCE_NAME: {"content": source.decode("utf-8")}},
        "settings": copy.deepcopy(SETTINGS),
    }
    try:
        output = solcx.compile_standard(standard_input, solc_binary=solc_binary)
    except SolcError as exc:
        raise BuildError(f"compilation failed:\n{exc}") from exc
    problems = [e["formattedMessage"] for e in output.get("errors", [])]
    if problems:
        # Warnings count too: the shipped contract compiles cleanly.
        raise BuildError("compiler diagnostics:\n" + "\n".join(problems))
    compiled = output["contracts"][SOURCE_NAME][CONTRACT]
    return {
        "contractName": CONTRACT,
        "sourceName": SOURCE_NAME,
        "sourceSha256": hashlib.sha256(source).hexdigest(),
        "compiler": {"name": "solc", "version": SOLC_VERSION},
        "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
        "abi": compiled["abi"],
        "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
        "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
        "methodIdentifiers": compiled["evm"]["methodIdentifiers"],
    }


def render(artifact: dict[str, Any]) -> str:
    """The artifact's canonical file text (sorted keys, two-space indent, final newline)."""
    return json.dumps(artifact, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild and compare with the committed artifact instead of writing it",
    )
    parser.add_argument("--output", type=Path, default=ARTIFACT, help="artifact path")
    parser.add_argument("--solc", type=Path, default=SOLC_SHIM, help="solc binary to use")
    args = parser.parse_args(argv)
    try:
        text = render(build(CONTRACTS_DIR, args.solc))
    except BuildError as exc:
        print(f"build_contracts: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(
                f"build_contracts: {args.output} is out of date; "
                "run scripts/build_contracts.py and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"build_contracts: {args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"build_contracts: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
