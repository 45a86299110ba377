"""Real EVM nodes for the tests: Anvil and Ganache from the pinned npm tools in .tools/,
started on free loopback ports and stopped afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from web3 import Web3

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / ".tools" / "node_modules"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def anvil_command(port: int) -> list[str] | None:
    # The npm package's bin/anvil is a node wrapper; run the native binary it ships directly.
    found = sorted((TOOLS / "@foundry-rs").glob("anvil-*/bin/anvil"))
    if not found:
        return None
    return [str(found[0]), "--host", "127.0.0.1", "--port", str(port), "--silent"]


def ganache_command(port: int) -> list[str] | None:
    cli = TOOLS / "ganache" / "dist" / "node" / "cli.js"
    if not cli.is_file():
        return None
    return [
        "node",
        str(cli),
        "--server.host",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--wallet.deterministic",
        "--logging.quiet",
    ]


NODE_COMMANDS: dict[str, Callable[[int], list[str] | None]] = {
    "anvil": anvil_command,
    "ganache": ganache_command,
}


def missing(message: str) -> None:
    """Skip outside CI, fail under CI=true."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required under CI=true: run scripts/install-tools)")
    pytest.skip(f"{message}: run scripts/install-tools to test on it")


class Node:
    """One node process on a loopback port; can be stopped and started again (same port)."""

    def __init__(self, name: str, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = NODE_COMMANDS[name](self.port)
        if command is None:
            missing(f"{name} is not installed in .tools")
            raise AssertionError("unreachable")
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None

    def persist(self, folder: Path) -> Node:
        """Keep the chain's state in ``folder`` across a stop and a start."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.name == "anvil":
            self.command = [*self.command, "--state", str(folder / "anvil-state.json")]
        else:
            self.command = [*self.command, "--database.dbPath", str(folder)]
        return self

    def start(self) -> Node:
        self.proc = subprocess.Popen(
            self.command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        w3 = self.web3()
        deadline = time.monotonic() + 60
        while not w3.is_connected():
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with status {self.proc.returncode} while starting")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not answer on port {self.port} within 60 s")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def web3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 60}))

    def rpc(self, method: str, *params: object) -> object:
        response = self.web3().provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response.get("result")

    def fund(self, address: str, wei: int = 10**21) -> None:
        if self.name == "anvil":
            self.rpc("anvil_setBalance", address, hex(wei))
        else:
            self.rpc("evm_setAccountBalance", address, hex(wei))
