"""A chain view keeps its first failure to reach the node and honours one deadline per run: a
node that never answers costs one timeout, not one per bundle."""

from __future__ import annotations

import socket
import time

import pytest
from web3 import Web3

from okeios._internal.chain.connect import open_chain
from okeios._internal.chain.registry import RegistryView
from okeios.errors import ChainError


def test_the_first_failure_is_kept_and_the_deadline_holds(tmp_path: object) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        handle = open_chain(url, tmp_path, timeout=1.0)  # type: ignore[arg-type]
        view = RegistryView(handle.w3, label="a silent node")
        start = time.monotonic()
        with pytest.raises(ChainError, match="a silent node"):
            view.chain_id()
        first = time.monotonic() - start
        assert first < 5  # one try and at most one retry, one second each
        start = time.monotonic()
        for _ in range(50):
            with pytest.raises(ChainError):
                view.head()
            with pytest.raises(ChainError):
                view.anchor_at("0x" + "11" * 20, "0x" + "22" * 20, b"\x00" * 32, 1)
        assert time.monotonic() - start < 0.5  # the kept failure, at once
    finally:
        silent.close()
    expired = RegistryView(Web3(), label="late", deadline=time.monotonic() - 1)
    with pytest.raises(ChainError, match="deadline"):
        expired.chain_id()
